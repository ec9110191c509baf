/*-------------------------------------------------------------------------
 *
 * sequencer.c
 *	  Hands out global positions: dense, gap-free, in commit order.
 *
 *	  Appends insert events with global_position 0.  The sequencer takes
 *	  the row lock on cqrs.sequencer_state (so one sequencer runs at a
 *	  time: the worker, or any session calling cqrs.drain()), then, with a
 *	  snapshot taken after that lock, numbers every event it can see
 *	  without a position.  An event it can see belongs to a committed
 *	  transaction, so an event committed later always gets a later
 *	  position.  A transaction that stays open only delays its own events,
 *	  which get positions at the first batch after it commits.  Rolled-back
 *	  events are never visible and never numbered.
 *
 *	  Positions are written into the rows in place (sequencer_number.c),
 *	  which is not transactional; readers therefore read only up to
 *	  cqrs.sequencer_state.last_position, saved here in the batch's
 *	  transaction: a reader never sees a position before every lower one
 *	  is readable too, so a reader that remembers the last position it
 *	  read never misses anything.
 *
 *	  The work list is the index of events in append order (append_xid,
 *	  append_ordinal).  A scan from its left end would step over every
 *	  event ever numbered; it starts at a horizon instead: the xmin of a
 *	  snapshot taken after the lock and before the numbering.  Every
 *	  transaction below it had ended before the numbering began, so its
 *	  events were visible to it and got numbered (unless the batch was cut
 *	  short by its limit: then the horizon stays) or were rolled back.  No
 *	  one waits for the horizon: a long transaction only holds the scan's
 *	  start back.  The scan ends at the next transaction id, so restored
 *	  events, whose append_xid comes from another cluster, are not stepped
 *	  over again and again.
 *
 *	  A table a DBA changed (row triggers on UPDATE, rules, row-level
 *	  security, another index on the position) is numbered by an UPDATE
 *	  statement instead, so that those apply; so is a batch holding the
 *	  events this transaction appended itself (sequencer_number.c).  Streams carried across a
 *	  multiple of cqrs_conf.snapshot_every get their snapshot in the same
 *	  transaction (snapshot.c).
 *
 *	  A probe without the lock comes first: a step with nothing to number
 *	  takes no row lock and so no transaction id and no WAL flush.  The
 *	  worker skips it right after a batch that numbered something: under a
 *	  steady stream of commits it would find work every time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/transam.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/snapmgr.h"
#include "utils/xid8.h"

#include "cqrs_conf.h"
#include "store/guard.h"
#include "store/sequencer_number.h"
#include "store/snapshot.h"
#include "util/spi_plan.h"

PG_FUNCTION_INFO_V1(cqrs_sequence_events);

static SPIPlanPtr plan_probe = NULL;
static SPIPlanPtr plan_lock_state = NULL;
static SPIPlanPtr plan_last_position = NULL;
static SPIPlanPtr plan_number = NULL;
static SPIPlanPtr plan_save_state = NULL;

#define CQRS_NOTIFY_CHANNEL "cqrs_events"

/* The last position as of this process's last numbering batch. */
int64		cqrs_last_sequenced_position = 0;

/* Did this process's last batch number events?  (cqrs_sequence_batch) */
static bool last_batch_numbered = false;

/*
 * The highest position handed out, read with a SQL aggregate: only for a
 * table without a btree index on global_position.
 */
static int64
highest_position_by_query(void)
{
	int			rc;
	bool		isnull;

	cqrs_spi_plan(&plan_last_position,
				  "SELECT coalesce(max(global_position), 0) FROM cqrs.events",
				  0, NULL);
	rc = SPI_execute_plan(plan_last_position, NULL, NULL, false, 1);
	cqrs_spi_check(rc, SPI_OK_SELECT, "reading the last position");
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Number at most max_count events; *last_position is set to the position
 * the numbering continued from.
 */
static uint64
number_events(int max_count, Datum horizon, int64 *last_position,
			  CqrsDueStreams *due)
{
	Oid			argtypes[3] = {INT4OID, INT8OID, XID8OID};
	Datum		values[3];
	int			rc;
	uint64		i;
	int64		highest;
	uint64		numbered;

	if (cqrs_number_events(max_count, horizon, last_position, &numbered, due))
		return numbered;
	if (*last_position < 0)
		*last_position = highest_position_by_query();
	highest = *last_position;

	cqrs_spi_plan(&plan_number,
				  "WITH batch AS ("
				  "  SELECT ctid AS row_id,"
				  "         row_number() OVER (ORDER BY append_xid, append_ordinal) AS n"
				  "    FROM cqrs.events WHERE global_position = 0"
				  "     AND append_xid >= $3"
				  "     AND append_xid <= GREATEST("
				  "             pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot()),"
				  "             pg_catalog.pg_current_xact_id_if_assigned())"
				  "   ORDER BY append_xid, append_ordinal LIMIT $1)"
				  " UPDATE cqrs.events e SET global_position = $2 + b.n"
				  "   FROM batch b"
				  "  WHERE e.ctid = b.row_id AND e.global_position = 0"
				  " RETURNING e.global_position, e.stream_id, e.version",
				  3, argtypes);
	values[0] = Int32GetDatum(max_count);
	values[1] = Int64GetDatum(*last_position);
	values[2] = horizon;

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
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		int64		pos = DatumGetInt64(SPI_getbinval(row, desc, 1, &isnull));

		if (pos > highest)
			highest = pos;
		cqrs_note_due_stream(due,
							 DatumGetUUIDP(SPI_getbinval(row, desc, 2, &isnull)),
							 DatumGetInt64(SPI_getbinval(row, desc, 3, &isnull)));
	}
	if (highest != *last_position + (int64) SPI_processed)
		elog(ERROR, "sequencer numbered " UINT64_FORMAT " events but reached position " INT64_FORMAT " from " INT64_FORMAT,
			 SPI_processed, highest, *last_position);

	return SPI_processed;
}

/*
 * Is there anything to do?  Events without a position past the horizon, or
 * a stored last position that differs from the log's (after a restore, or
 * a failed batch).  Runs without the lock: a sequencer that gets there
 * first only leaves the locked step less to do.
 */
static bool
work_visible(void)
{
	int			rc;
	bool		isnull;

	cqrs_spi_plan(&plan_probe,
				  "SELECT EXISTS (SELECT 1 FROM cqrs.events e"
				  "                WHERE e.global_position = 0"
				  "                  AND e.append_xid >= s.horizon"
				  "                  AND e.append_xid <= GREATEST("
				  "                          pg_catalog.pg_snapshot_xmax(pg_catalog.pg_current_snapshot()),"
				  "                          pg_catalog.pg_current_xact_id_if_assigned()))"
				  "    OR s.last_position <> (SELECT coalesce(max(global_position), 0)"
				  "                             FROM cqrs.events"
				  "                            WHERE global_position > 0)"
				  "  FROM cqrs.sequencer_state s",
				  0, NULL);
	/* Not read-only: a fresh snapshot that sees this transaction's appends. */
	rc = SPI_execute_plan(plan_probe, NULL, NULL, false, 1);
	cqrs_spi_check(rc, SPI_OK_SELECT, "probing for events to number");
	if (SPI_processed != 1)
		elog(ERROR, "cqrs.sequencer_state must hold exactly one row");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * The xmin of a snapshot taken now, as an xid8: what a new statement's
 * pg_snapshot_xmin(pg_current_snapshot()) would return.  The next
 * transaction id is read after the snapshot, so the xmin is at most
 * 2^31 behind it and its epoch follows.
 */
static Datum
snapshot_xmin_now(void)
{
	TransactionId xmin = GetTransactionSnapshot()->xmin;
	FullTransactionId next = ReadNextFullTransactionId();
	uint32		epoch = EpochFromFullTransactionId(next);

	if (!TransactionIdIsNormal(xmin))
		epoch = 0;
	else if (xmin > XidFromFullTransactionId(next))
		epoch--;
	return FullTransactionIdGetDatum(FullTransactionIdFromEpochAndXid(epoch, xmin));
}

/*
 * Number at most max_count committed events; returns how many events became
 * readable (those numbered, and those adopted from an interrupted batch).
 * Runs in the caller's transaction.
 */
int64
cqrs_sequence_batch(int max_count)
{
	int			rc;
	bool		isnull;
	int64		last_position;
	int64		stored_position;
	Datum		horizon;
	Datum		next_horizon;
	uint64		numbered;
	int64		readable;
	CqrsDueStreams due = {0};
	int			i;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * In the worker, right after a batch that numbered events, more are
	 * likely waiting: go straight to the lock, the probe would only cost a
	 * statement.  (Once, when the commits stop, this takes the lock for
	 * nothing.  Sessions always probe: their cqrs.drain() with nothing to
	 * do writes nothing.)
	 */
	if (!(IsBackgroundWorker && last_batch_numbered) && !work_visible())
	{
		SPI_finish();
		return 0;
	}

	/* The row lock serialises sequencers. */
	cqrs_spi_plan(&plan_lock_state,
				  "SELECT last_position, horizon FROM cqrs.sequencer_state FOR UPDATE",
				  0, NULL);
	rc = SPI_execute_plan(plan_lock_state, NULL, NULL, false, 1);
	cqrs_spi_check(rc, SPI_OK_SELECT, "locking the sequencer state");
	if (SPI_processed != 1)
		elog(ERROR, "cqrs.sequencer_state must hold exactly one row");
	stored_position = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1,
												  &isnull));
	horizon = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2,
							&isnull);

	/*
	 * The next horizon: the xmin of a snapshot taken now, after the lock
	 * and before the numbering statement takes its own (whose xmin can only
	 * be the same or later).
	 */
	next_horizon = snapshot_xmin_now();

	/*
	 * The last position is read from the log itself, with a snapshot taken
	 * after the lock: it sees every batch committed before ours.  So a
	 * restored dump (the state row is not dumped) continues where its log
	 * ends, and what a failed batch wrote is adopted.
	 */
	numbered = number_events(max_count, horizon, &last_position, &due);
	for (i = 0; i < due.count; i++)
		cqrs_snapshot_stream(&due.ids[i]);

	/* A batch cut short by its limit leaves events below the new horizon. */
	if (numbered >= (uint64) max_count)
		next_horizon = horizon;

	/*
	 * Readable now: what this step numbered, and what it adopted from an
	 * interrupted batch or found in a restored log.
	 */
	readable = last_position + (int64) numbered - stored_position;
	if (readable != 0)
	{
		Oid			argtypes[2] = {INT8OID, XID8OID};
		Datum		values[2];
		char		payload[32];

		values[0] = Int64GetDatum(last_position + (int64) numbered);
		values[1] = next_horizon;
		cqrs_spi_plan(&plan_save_state,
					  "UPDATE cqrs.sequencer_state"
					  " SET last_position = $1, horizon = $2,"
					  " last_batch_at = pg_catalog.now()",
					  2, argtypes);
		rc = SPI_execute_plan(plan_save_state, values, NULL, false, 0);
		cqrs_spi_check(rc, SPI_OK_UPDATE, "saving the sequencer state");

		/* The doorbell: only the highest readable position, never data. */
		if (readable > 0)
		{
			snprintf(payload, sizeof(payload), INT64_FORMAT,
					 last_position + (int64) numbered);
			Async_Notify(CQRS_NOTIFY_CHANNEL, payload);
		}
	}

	SPI_finish();
	last_batch_numbered = numbered > 0;
	cqrs_last_sequenced_position = last_position + (int64) numbered;
	return Max(readable, 0);
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
