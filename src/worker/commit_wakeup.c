/*-------------------------------------------------------------------------
 *
 * commit_wakeup.c
 *	  Wakes the background worker when a transaction that appended events
 *	  commits: the append sets a backend-local flag, and a transaction
 *	  callback sets the worker's latch on commit.  Abort and PREPARE clear
 *	  the flag, so nothing is left behind (a prepared transaction is picked
 *	  up by the worker's naptime once it commits).
 *
 *	  While the worker polls (it has had work in the last moments and looks
 *	  again every batch delay, see worker.c) the latch is left alone: the
 *	  worker will look anyway, and a sleeping worker's latch costs the
 *	  committer a signal.  The worker clears the flag, then looks once more
 *	  before it sleeps, so a commit that saw the flag set is never left
 *	  waiting for the naptime.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "storage/latch.h"
#include "storage/spin.h"

#include "cqrs_conf.h"

static bool wake_at_commit = false;
static bool callback_registered = false;

void
cqrs_wake_worker(void)
{
	Latch	   *latch;

	if (cqrs_shared == NULL)
		return;
	SpinLockAcquire(&cqrs_shared->mutex);
	latch = cqrs_shared->worker_latch;
	SpinLockRelease(&cqrs_shared->mutex);
	if (latch != NULL)
		SetLatch(latch);
}

static void
commit_wakeup_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit)
			{
				wake_at_commit = false;

				/*
				 * Our commit is visible by now; read the flag after that
				 * (the worker clears it before its last look).
				 */
				pg_memory_barrier();
				if (cqrs_shared == NULL ||
					pg_atomic_read_u32(&cqrs_shared->worker_polling) == 0)
					cqrs_wake_worker();
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

void
cqrs_wake_worker_at_commit(void)
{
	if (!callback_registered)
	{
		RegisterXactCallback(commit_wakeup_callback, NULL);
		callback_registered = true;
	}
	wake_at_commit = true;
}
