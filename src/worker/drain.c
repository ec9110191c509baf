/*-------------------------------------------------------------------------
 *
 * drain.c
 *	  One step of the worker's work, and cqrs.drain(as_of), which runs
 *	  steps in the caller's session until nothing is left.  The background
 *	  worker calls cqrs_drain_step() too, so the two can never diverge; it
 *	  commits at the step's commit points, cqrs.drain() runs everything in
 *	  the caller's transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/timestamp.h"

#include "command/command.h"
#include "cqrs_conf.h"
#include "projection/runner.h"
#include "store/append.h"

PG_FUNCTION_INFO_V1(cqrs_drain);

/* Rounds of sequencer, projections and commands in one step. */
#define CQRS_DRAIN_ROUNDS 4

/* Commands per round while a projection is more than a batch behind. */
#define CQRS_PENDING_COMMAND_BATCH_BEHIND 10

/*
 * A commit point is worth its WAL flush once the transaction holds work
 * that readers should not wait for any longer: a batch of some size, or
 * work that has been open for a few milliseconds.  A step for a commit or
 * two (one order, say) commits once, at its end, so the chain of reactions
 * behind a single order still costs one flush.
 */
#define CQRS_COMMIT_POINT_WORK 64
#define CQRS_COMMIT_POINT_MS 5

static void
reach_commit_point(CqrsCommitPoint commit_point, int64 work_done)
{
	TimestampTz started;

	if (commit_point == NULL || work_done <= 0)
		return;
	started = GetCurrentTransactionStartTimestamp();
	if (work_done >= CQRS_COMMIT_POINT_WORK ||
		TimestampDifferenceExceeds(started, GetCurrentTimestamp(),
								   CQRS_COMMIT_POINT_MS))
		commit_point();
}

/*
 * Do one bounded unit of work; returns the number of items processed
 * (0 when there was nothing to do).  *cut_short, if given, tells whether
 * the step stopped at one of its limits with work certainly left: the
 * sequencer's batch size, a projection (or a rebuild's shadow projection)
 * more than a batch behind, a full batch of pending commands, or a chain
 * of reactions longer than the step's rounds.
 */
int64
cqrs_drain_step(TimestampTz as_of, CqrsCommitPoint commit_point,
				bool *cut_short)
{
	int64		done = 0;
	int			round;
	bool		limited = false;

	/*
	 * Global order first: everything downstream reads sequenced events.
	 * Then the projections, whose effects and checkpoints commit together;
	 * a commit point follows (see reach_commit_point), so the read models
	 * show the new events without waiting for what the events set off.  Then the enqueued
	 * commands (the process manager's among them) and the scheduled ones
	 * due at as_of.  What those commands append is numbered and projected
	 * by the next round (the sequencer sees its own transaction's appends)
	 * and committed with it, so a chain of reactions (OrderPlaced ->
	 * MakeSeatReservation -> SeatsReserved -> ...) moves forward within one
	 * step, one commit per link, instead of one step per link.
	 */
	for (round = 0; round < CQRS_DRAIN_ROUNDS; round++)
	{
		uint64		appended_before = cqrs_events_appended;
		int64		published;
		int64		commands;
		int			command_batch;
		CqrsProjectionBacklog backlog;

		published = cqrs_sequence_batch(cqrs_sequencer_batch_size);
		if (published >= cqrs_sequencer_batch_size)
			limited = true;
		if (IsBackgroundWorker)
			cqrs_worker_replan_if_log_grew();
		published += cqrs_run_projections(CQRS_PROJECTION_BATCH, &backlog);
		reach_commit_point(commit_point, published);
		done += published;

		/*
		 * Read models first: while a projection has a backlog of more than a
		 * batch, only a few commands run per round, so a load beyond what
		 * the worker can do makes the reactions fall behind, not the read
		 * models (the commands still move on).
		 */
		command_batch = backlog.live ?
			CQRS_PENDING_COMMAND_BATCH_BEHIND : CQRS_PENDING_COMMAND_BATCH;
		commands = cqrs_handle_pending_commands(command_batch, as_of);
		done += commands;
		if (backlog.live || backlog.rebuild || commands >= command_batch)
			limited = true;

		/*
		 * Another round only for what this round appended: a busy log alone
		 * does not keep a step going (the worker's loop starts the next).
		 */
		if (cqrs_events_appended == appended_before)
			break;
	}
	if (round == CQRS_DRAIN_ROUNDS)
		limited = true;			/* the last round's appends wait */

	if (cut_short != NULL)
		*cut_short = limited;
	return done;
}

Datum
cqrs_drain(PG_FUNCTION_ARGS)
{
	TimestampTz as_of = PG_ARGISNULL(0) ? GetCurrentTimestamp() :
	PG_GETARG_TIMESTAMPTZ(0);
	int64		total = 0;
	int64		step;

	do
	{
		CHECK_FOR_INTERRUPTS();
		step = cqrs_drain_step(as_of, NULL, NULL);
		total += step;
	} while (step > 0);

	PG_RETURN_INT64(total);
}
