/*-------------------------------------------------------------------------
 *
 * sequencer.c
 *	  Hands out global positions: dense, gap-free, in commit order.
 *
 *	  Appends insert events with global_position NULL.  The sequencer
 *	  takes the row lock on cqrs.sequencer_state (so one sequencer runs at
 *	  a time: the worker, or any session calling cqrs.drain()), then, in a
 *	  statement whose snapshot was taken after that lock, numbers every
 *	  event it can see without a position.  An event it can see belongs to
 *	  a committed transaction, so an event committed later always gets a
 *	  later position: a reader that remembers the last position it read
 *	  never misses anything.  A transaction that stays open only delays its
 *	  own events, which get positions at the first batch after it commits.
 *	  Rolled-back events are never visible and never numbered.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "fmgr.h"

#include "cqrs_conf.h"
#include "store/guard.h"
#include "util/spi_plan.h"

PG_FUNCTION_INFO_V1(cqrs_sequence_events);

static SPIPlanPtr plan_lock_state = NULL;
static SPIPlanPtr plan_last_position = NULL;
static SPIPlanPtr plan_number = NULL;
static SPIPlanPtr plan_save_state = NULL;

#define CQRS_NOTIFY_CHANNEL "cqrs_events"

static uint64
number_events(int64 last_position, int max_count)
{
	Oid			argtypes[2] = {INT4OID, INT8OID};
	Datum		values[2];
	int			rc;
	uint64		i;
	int64		highest = last_position;

	cqrs_spi_plan(&plan_number,
				  "WITH batch AS ("
				  "  SELECT ctid AS row_id,"
				  "         row_number() OVER (ORDER BY append_xid, append_ordinal) AS n"
				  "    FROM cqrs.events WHERE global_position IS NULL"
				  "   ORDER BY append_xid, append_ordinal LIMIT $1)"
				  " UPDATE cqrs.events e SET global_position = $2 + b.n"
				  "   FROM batch b"
				  "  WHERE e.ctid = b.row_id AND e.global_position IS NULL"
				  " RETURNING e.global_position",
				  2, argtypes);
	values[0] = Int32GetDatum(max_count);
	values[1] = Int64GetDatum(last_position);

	cqrs_guard_allow_sequencing(true);
	PG_TRY();
	{
		rc = SPI_execute_plan(plan_number, values, NULL, false, 0);
	}
	PG_FINALLY();
	{
		cqrs_guard_allow_sequencing(false);
	}
	PG_END_TRY();
	cqrs_spi_check(rc, SPI_OK_UPDATE_RETURNING, "numbering events");

	/* Positions must be exactly last+1 .. last+processed: no hole. */
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		pos = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													  SPI_tuptable->tupdesc,
													  1, &isnull));

		if (pos > highest)
			highest = pos;
	}
	if (highest != last_position + (int64) SPI_processed)
		elog(ERROR, "sequencer numbered " UINT64_FORMAT " events but reached position " INT64_FORMAT " from " INT64_FORMAT,
			 SPI_processed, highest, last_position);

	return SPI_processed;
}

/*
 * Number at most max_count committed events; returns how many.  Runs in
 * the caller's transaction.
 */
int64
cqrs_sequence_batch(int max_count)
{
	int			rc;
	bool		isnull;
	int64		last_position;
	int64		stored_position;
	uint64		numbered;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* The row lock serialises sequencers. */
	cqrs_spi_plan(&plan_lock_state,
				  "SELECT last_position FROM cqrs.sequencer_state FOR UPDATE",
				  0, NULL);
	rc = SPI_execute_plan(plan_lock_state, NULL, NULL, false, 1);
	cqrs_spi_check(rc, SPI_OK_SELECT, "locking the sequencer state");
	if (SPI_processed != 1)
		elog(ERROR, "cqrs.sequencer_state must hold exactly one row");
	stored_position = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1,
												  &isnull));

	/*
	 * The last position is read from the log itself, in a statement whose
	 * snapshot is taken after the lock: it sees every batch committed
	 * before ours.  So a restored dump (the state row is not dumped)
	 * continues where its log ends.
	 */
	cqrs_spi_plan(&plan_last_position,
				  "SELECT coalesce(max(global_position), 0) FROM cqrs.events",
				  0, NULL);
	rc = SPI_execute_plan(plan_last_position, NULL, NULL, false, 1);
	cqrs_spi_check(rc, SPI_OK_SELECT, "reading the last position");
	last_position = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1,
												&isnull));

	numbered = number_events(last_position, max_count);

	if (numbered > 0 || stored_position != last_position)
	{
		Oid			argtypes[1] = {INT8OID};
		Datum		values[1];
		char		payload[32];

		values[0] = Int64GetDatum(last_position + (int64) numbered);
		cqrs_spi_plan(&plan_save_state,
					  "UPDATE cqrs.sequencer_state"
					  " SET last_position = $1, last_batch_at = pg_catalog.now()",
					  1, argtypes);
		rc = SPI_execute_plan(plan_save_state, values, NULL, false, 0);
		cqrs_spi_check(rc, SPI_OK_UPDATE, "saving the sequencer state");

		/* The doorbell: only the highest readable position, never data. */
		if (numbered > 0)
		{
			snprintf(payload, sizeof(payload), INT64_FORMAT,
					 last_position + (int64) numbered);
			Async_Notify(CQRS_NOTIFY_CHANNEL, payload);
		}
	}

	SPI_finish();
	return (int64) numbered;
}

Datum
cqrs_sequence_events(PG_FUNCTION_ARGS)
{
	int32		max_count = PG_GETARG_INT32(0);

	if (max_count <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_count must be positive")));
	PG_RETURN_INT64(cqrs_sequence_batch(max_count));
}
