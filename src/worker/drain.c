/*-------------------------------------------------------------------------
 *
 * drain.c
 *	  One step of the worker's work, and cqrs.drain(as_of), which runs
 *	  steps in the caller's session until nothing is left.  The background
 *	  worker calls cqrs_drain_step() too, one transaction per step, so the
 *	  two can never diverge.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/timestamp.h"

#include "command/command.h"
#include "cqrs_conf.h"
#include "projection/runner.h"
#include "store/append.h"

PG_FUNCTION_INFO_V1(cqrs_drain);

/* Sequencer + projection rounds in one step (one transaction). */
#define CQRS_DRAIN_ROUNDS 4

/*
 * Do one bounded unit of work; returns the number of items processed
 * (0 when there was nothing to do).
 */
int64
cqrs_drain_step(TimestampTz as_of)
{
	int64		done = 0;
	int			round;

	/*
	 * Global order first: everything downstream reads sequenced events.
	 * Then the projections, whose effects and checkpoints commit together,
	 * then the enqueued commands and the scheduled ones due at as_of.
	 * Reactors (the process manager) and commands append new events in
	 * this transaction; the next round numbers them too (they become
	 * readable when it commits, with the rest of its batch), so a few
	 * rounds carry a chain of reactions forward with one commit instead of
	 * one commit per link.
	 */
	for (round = 0; round < CQRS_DRAIN_ROUNDS; round++)
	{
		uint64		appended_before = cqrs_events_appended;

		done += cqrs_sequence_batch(cqrs_sequencer_batch_size);
		done += cqrs_run_projections(CQRS_PROJECTION_BATCH);
		done += cqrs_handle_pending_commands(CQRS_PENDING_COMMAND_BATCH, as_of);

		/*
		 * Another round only for what this round appended: other sessions'
		 * new events wait for the next step, so a busy log does not keep
		 * one transaction going.
		 */
		if (cqrs_events_appended == appended_before)
			break;
	}

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
		step = cqrs_drain_step(as_of);
		total += step;
	} while (step > 0);

	PG_RETURN_INT64(total);
}
