/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The database worker: connected to cqrs_conf.database, it runs
 *	  cqrs_drain_step(), committing at the step's commit points, whenever
 *	  a committing transaction sets its latch, or every
 *	  cqrs_conf.worker_naptime.  While it has work, and for
 *	  CQRS_POLL_WINDOW_MS after, it polls instead: a step every
 *	  cqrs_conf.worker_batch_delay, and committers do not signal it (see
 *	  commit_wakeup.c).  Under a dense stream of commits the delay grows,
 *	  up to CQRS_GATHER_MAX_FACTOR times the setting, so that a step's
 *	  fixed cost is shared by more events (see next_gather_delay).  The
 *	  launcher (launcher.c) starts it once the database exists.
 *
 *	  Exactly one instance runs (it publishes its latch in shared memory
 *	  and refuses to start twice).  SIGTERM ends it (the launcher starts it
 *	  again), SIGHUP reloads the configuration.  An error in a step is
 *	  logged, the transaction is rolled back, and the worker backs off for
 *	  one naptime instead of exiting.
 *
 *	  Whenever the log has doubled (at most once a second) it resets its
 *	  cached plans, its own statements' and its handlers', so that none
 *	  outlives the growth of the tables it was made for: a key lookup
 *	  planned on a one-page table stays a sequential scan until autovacuum
 *	  next analyses the table otherwise.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "cqrs_conf.h"

PGDLLEXPORT void cqrs_worker_main(Datum main_arg);

static void
worker_detach_shmem(int code, Datum arg)
{
	SpinLockAcquire(&cqrs_shared->mutex);
	if (cqrs_shared->worker_pid == MyProcPid)
	{
		cqrs_shared->worker_pid = 0;
		cqrs_shared->worker_database = InvalidOid;
		cqrs_shared->worker_latch = NULL;
		pg_atomic_write_u32(&cqrs_shared->worker_polling, 0);
	}
	SpinLockRelease(&cqrs_shared->mutex);
}

static void
worker_attach_shmem(void)
{
	pid_t		other;

	SpinLockAcquire(&cqrs_shared->mutex);
	other = cqrs_shared->worker_pid;
	if (other == 0)
	{
		cqrs_shared->worker_pid = MyProcPid;
		cqrs_shared->worker_database = MyDatabaseId;
		cqrs_shared->worker_latch = &MyProc->procLatch;
		pg_atomic_write_u32(&cqrs_shared->worker_polling, 0);
	}
	SpinLockRelease(&cqrs_shared->mutex);

	if (other != 0)
	{
		ereport(LOG,
				(errmsg("cqrs_conf worker already running with PID %d", (int) other)));
		proc_exit(0);
	}
	before_shmem_exit(worker_detach_shmem, (Datum) 0);
}

/* Events the log must grow by, beyond doubling, before plans are reset. */
#define CQRS_REPLAN_MIN_EVENTS 1000

/*
 * Plans made while a table was small go stale as it grows: plan every
 * statement again, the handlers' included, whenever the log (and the tables
 * that grow with it: commands, snapshots, read models) has doubled since
 * the last time, at most once a second.  Doubling keeps this rare on a large
 * log; no plan is used on a table more than twice the size it was made for.
 * Called by a step right after the sequencer, before the handlers run.
 */
void
cqrs_worker_replan_if_log_grew(void)
{
	static TimestampTz reset_at = 0;
	static int64 position_at_reset = 0;

	if (cqrs_last_sequenced_position >=
		2 * position_at_reset + CQRS_REPLAN_MIN_EVENTS &&
		TimestampDifferenceExceeds(reset_at, GetCurrentTimestamp(),
								   CQRS_REPLAN_INTERVAL_MS))
	{
		ResetPlanCache();
		reset_at = GetCurrentTimestamp();
		position_at_reset = cqrs_last_sequenced_position;
	}
}

/*
 * The wait between steps under a steady stream of commits ("gathering"):
 * cqrs_conf.worker_batch_delay while the stream is thin; doubled, up to
 * CQRS_GATHER_MAX_FACTOR times the setting, after a step that found at
 * least CQRS_GATHER_DENSE_PER_MS items per millisecond of its wait;
 * halved again after one that found less than a quarter of that.
 */
#define CQRS_GATHER_MAX_FACTOR 4
#define CQRS_GATHER_DENSE_PER_MS 2

/*
 * After its last work the worker keeps polling (a step every batch delay)
 * this long before it goes back to sleeping on its latch.
 */
#define CQRS_POLL_WINDOW_MS 50

/* Does the worker poll?  Mirrors cqrs_shared->worker_polling. */
static bool polling = false;

static void
set_polling(bool on)
{
	if (polling == on)
		return;
	polling = on;
	pg_atomic_write_u32(&cqrs_shared->worker_polling, on ? 1 : 0);
	/* Cleared before the next step's snapshot is taken. */
	pg_memory_barrier();
}

/*
 * The wait before the next step, after a step that found done items
 * following a wait of waited_ms (0: it ran at once).  A step has a fixed
 * cost: CPU for the sequencer's lock and state, the projection list and
 * the commit, of the order of what numbering and projecting a hundred
 * events or more costs; and with synchronous_commit on, a WAL flush,
 * which the committers' own flushes wait behind.  Under thousands of
 * commits a second, steps a few milliseconds apart take a good part of a
 * CPU, or of the disk's flushes, from the committers; a longer wait
 * serves more events with one step.  Readers wait for at most the longer
 * delay, and only while that many commits arrive.
 */
static int
next_gather_delay(int current_ms, int waited_ms, int64 done)
{
	int			base = cqrs_worker_batch_delay_ms;
	int			most = base * CQRS_GATHER_MAX_FACTOR;

	if (waited_ms > 0 && done >= (int64) CQRS_GATHER_DENSE_PER_MS * waited_ms)
		current_ms *= 2;
	else if (waited_ms > 0 &&
			 done * 4 < (int64) CQRS_GATHER_DENSE_PER_MS * waited_ms)
		current_ms /= 2;
	/* A reload may have changed the setting. */
	return Max(base, Min(current_ms, most));
}

/* Is the extension installed in our database?  (Own transaction.) */
static bool
extension_installed(void)
{
	bool		installed;

	StartTransactionCommand();
	installed = OidIsValid(get_extension_oid("cqrs_conf", true));
	CommitTransactionCommand();
	return installed;
}

static void
begin_step_transaction(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	XactIsoLevel = XACT_READ_COMMITTED;
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
end_step_transaction(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
}

/* A step's commit point: what it did so far becomes visible. */
static void
commit_and_continue(void)
{
	end_step_transaction();
	begin_step_transaction();
}

/*
 * Run one step, committing at its commit points and at its end.  Returns
 * the items processed, or -1 when the step failed (the error has been
 * logged and the open transaction rolled back; what earlier commit points
 * committed stays).  *cut_short: see cqrs_drain_step().
 */
static int64
run_one_step(MemoryContext worker_cxt, bool *cut_short)
{
	int64		done = 0;

	PG_TRY();
	{
		begin_step_transaction();
		pgstat_report_activity(STATE_RUNNING, "cqrs_conf: drain step");
		done = cqrs_drain_step(GetCurrentTimestamp(), commit_and_continue,
								cut_short);
		end_step_transaction();
		pgstat_report_stat(false);
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(worker_cxt);
		HOLD_INTERRUPTS();
		EmitErrorReport();
		AbortOutOfAnyTransaction();
		FlushErrorState();
		RESUME_INTERRUPTS();
		pgstat_report_activity(STATE_IDLE, NULL);
		done = -1;
	}
	PG_END_TRY();

	return done;
}

void
cqrs_worker_main(Datum main_arg)
{
	MemoryContext worker_cxt;
	TimestampTz last_work = 0;
	int64		last_done = 0;
	int			gather_ms = 0;
	int			waited_ms = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(cqrs_worker_database, NULL, 0);
	worker_attach_shmem();

	/*
	 * No JIT: the worker runs short statements, many times over.  Their
	 * generic plans' estimates can pass jit_above_cost once the tables are
	 * large (an index range whose bound is a parameter counts as a third of
	 * the table), and compiling costs milliseconds at every execution.
	 */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	worker_cxt = AllocSetContextCreate(TopMemoryContext, "cqrs_conf worker",
									   ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(worker_cxt);

	ereport(LOG,
			(errmsg("cqrs_conf worker started in database \"%s\"",
					cqrs_worker_database)));

	for (;;)
	{
		int64		done = 0;
		bool		cut_short = false;
		int			rc;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/*
		 * After a step that did work the extension was there a moment ago:
		 * skip the catalog look-up (a transaction of its own) while busy.
		 * Had it been dropped since, the step fails and the next iteration
		 * looks again.
		 */
		if (last_done > 0 || extension_installed())
			done = run_one_step(worker_cxt, &cut_short);
		last_done = done;
		MemoryContextReset(worker_cxt);
		gather_ms = next_gather_delay(gather_ms, waited_ms, done);
		waited_ms = 0;

		if (done > 0 && cqrs_worker_batch_delay_ms > 0)
		{
			/* Work: poll from now on, committers need not wake us. */
			last_work = GetCurrentTimestamp();
			set_polling(true);
		}
		if (done > 0 && cut_short)
			continue;			/* a backlog: carry on at once */

		if (done < 0)
			set_polling(false); /* a failed step: back off for a naptime */
		else if (polling)
		{
			/*
			 * A small step, or none, under a steady stream of commits: let
			 * the next commits gather instead of taking a step (and a commit
			 * flush) for every commit or two.  The latch is not waited on:
			 * committers leave it alone while we poll.
			 */
			if (cqrs_worker_batch_delay_ms > 0 &&
				(done > 0 ||
				 !TimestampDifferenceExceeds(last_work, GetCurrentTimestamp(),
											 CQRS_POLL_WINDOW_MS)))
			{
				(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 gather_ms, PG_WAIT_EXTENSION);
				waited_ms = gather_ms;
				continue;
			}

			/*
			 * Quiet for a while: back to sleeping on the latch.  One more
			 * step first, after the flag is cleared: it sees every commit
			 * that skipped the wake-up because the flag was still set.
			 */
			set_polling(false);
			continue;
		}

		/* Read the naptime now: a reload above may just have changed it. */
		rc = WaitLatch(MyLatch,
					   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   cqrs_worker_naptime_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);

		/*
		 * Woken by a commit: let the commits right behind it arrive, so one
		 * batch (and one WAL flush) serves many appending transactions.
		 */
		if ((rc & WL_LATCH_SET) && cqrs_worker_batch_delay_ms > 0)
		{
			(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 cqrs_worker_batch_delay_ms, PG_WAIT_EXTENSION);
			waited_ms = cqrs_worker_batch_delay_ms;
		}
	}
}
