/*-------------------------------------------------------------------------
 *
 * fold.c
 *	  Rebuilds an aggregate's state: the latest usable snapshot, then the
 *	  events after it, read with one scan of the stream's index and applied
 *	  by the aggregate's C functions.  Loading costs O(events since the
 *	  snapshot), not O(stream length).  A state this backend folded before
 *	  is kept (state_cache.c) and only the events after it are applied.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "store/aggregate.h"
#include "store/event_relation.h"
#include "store/state_cache.h"
#include "store/stream_head.h"
#include "util/direct_write.h"
#include "util/spi_plan.h"
#include "util/uuid_util.h"

static SPIPlanPtr plan_snapshot = NULL;
static SPIPlanPtr plan_snapshot_as_of = NULL;

/* Start from the latest snapshot usable at as_of, if any. */
static void
start_from_snapshot(const pg_uuid_t *stream_id, const char *expected_type,
					bool has_as_of, TimestampTz as_of, bool read_only,
					MemoryContext result_cxt, CqrsFoldResult *result)
{
	Oid			argtypes[2] = {UUIDOID, TIMESTAMPTZOID};
	Datum		values[2];
	int			rc;
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	char	   *stream_type;
	const CqrsAggregateOps *ops;
	MemoryContext old;
	Jsonb	   *snapshot;

	/*
	 * Two plans, so the common case (no as_of) has a condition the
	 * planner can fix once instead of a "$2 IS NULL OR ..." that forces a
	 * custom plan per call.
	 */
	values[0] = UUIDPGetDatum((pg_uuid_t *) stream_id);
	if (!has_as_of)
	{
		cqrs_spi_plan(&plan_snapshot,
					  "SELECT version, stream_type, schema_version, state,"
					  " max_recorded_at FROM cqrs.snapshots"
					  " WHERE stream_id = $1"
					  " ORDER BY version DESC LIMIT 1",
					  1, argtypes);
		rc = SPI_execute_plan(plan_snapshot, values, NULL, read_only, 1);
	}
	else
	{
		cqrs_spi_plan(&plan_snapshot_as_of,
					  "SELECT version, stream_type, schema_version, state,"
					  " max_recorded_at FROM cqrs.snapshots"
					  " WHERE stream_id = $1 AND max_recorded_at <= $2"
					  " ORDER BY version DESC LIMIT 1",
					  2, argtypes);
		values[1] = TimestampTzGetDatum(as_of);
		rc = SPI_execute_plan(plan_snapshot_as_of, values, NULL, read_only, 1);
	}
	cqrs_spi_check(rc, SPI_OK_SELECT, "reading a snapshot");
	if (SPI_processed == 0)
		return;

	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	stream_type = SPI_getvalue(tuple, desc, 2);
	if (expected_type != NULL && strcmp(expected_type, stream_type) != 0)
		return;
	ops = cqrs_aggregate_for(stream_type);
	if (DatumGetInt32(SPI_getbinval(tuple, desc, 3, &isnull)) != ops->schema_version)
		return;					/* taken by an older state layout: ignore */

	old = MemoryContextSwitchTo(result_cxt);
	result->ops = ops;
	result->stream_type = pstrdup(stream_type);
	result->version = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	result->snapshot_version = result->version;
	snapshot = DatumGetJsonbPCopy(SPI_getbinval(tuple, desc, 4, &isnull));
	result->snapshot_bytes = VARSIZE(snapshot);
	result->state = ops->from_jsonb(snapshot);
	pfree(snapshot);
	result->max_recorded_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 5, &isnull));
	MemoryContextSwitchTo(old);
}

/* What apply_event found. */
typedef enum TailStep
{
	TAIL_MORE,					/* the event was applied: there may be more */
	TAIL_DONE,					/* stopped at an event after as_of */
	TAIL_UNUSABLE				/* the cached state's last event is not visible */
} TailStep;

/*
 * Apply the event in slot (a row of cqrs.events) to result.  *check: this
 * is the cached state's last event, read only to prove it is still visible.
 */
static TailStep
apply_event(TupleTableSlot *slot, const CqrsEventRelation *rel,
			const pg_uuid_t *stream_id, int64 from_version, bool *check,
			const char *expected_type, bool has_as_of, TimestampTz as_of,
			MemoryContext state_cxt, MemoryContext event_cxt,
			CqrsFoldResult *result)
{
	CqrsStoredEvent ev;
	bool		isnull;
	MemoryContext old;

	ev.version = DatumGetInt64(slot_getattr(slot, rel->attnum[EVCOL_VERSION],
											&isnull));
	if (*check)
	{
		*check = false;
		return ev.version == from_version ? TAIL_MORE : TAIL_UNUSABLE;
	}

	MemoryContextReset(event_cxt);
	old = MemoryContextSwitchTo(event_cxt);
	ev.recorded_at = DatumGetTimestampTz(slot_getattr(slot,
													  rel->attnum[EVCOL_RECORDED_AT],
													  &isnull));
	if (has_as_of && ev.recorded_at > as_of)
	{
		MemoryContextSwitchTo(old);
		return TAIL_DONE;
	}
	if (ev.version != result->version + 1)
		elog(ERROR, "stream %s jumps from version " INT64_FORMAT " to " INT64_FORMAT,
			 cqrs_uuid_to_cstring(stream_id), result->version, ev.version);

	/*
	 * data and metadata may point into the pinned buffer: the aggregate
	 * copies what it keeps, and the slot holds the row until the next one.
	 */
	ev.event_type = TextDatumGetCString(slot_getattr(slot,
													 rel->attnum[EVCOL_EVENT_TYPE],
													 &isnull));
	ev.data = DatumGetJsonbP(slot_getattr(slot, rel->attnum[EVCOL_DATA],
										  &isnull));
	ev.metadata = DatumGetJsonbP(slot_getattr(slot, rel->attnum[EVCOL_METADATA],
											  &isnull));

	MemoryContextSwitchTo(state_cxt);
	if (result->state == NULL)
	{
		char	   *stream_type = TextDatumGetCString(slot_getattr(slot,
																	rel->attnum[EVCOL_STREAM_TYPE],
																	&isnull));

		result->stream_type = stream_type;
		result->ops = cqrs_aggregate_for(expected_type ? expected_type : stream_type);
		result->state = result->ops->create();
	}
	MemoryContextSwitchTo(event_cxt);
	if (result->ops->upcast)
		result->ops->upcast(&ev);
	MemoryContextSwitchTo(state_cxt);
	result->ops->apply(result->state, &ev);
	MemoryContextSwitchTo(old);

	result->version = ev.version;
	if (ev.recorded_at > result->max_recorded_at)
		result->max_recorded_at = ev.recorded_at;
	result->events_applied++;
	return TAIL_MORE;
}

/*
 * Apply the stream's events from version from_version on to result (whose
 * state lives in state_cxt).  With cached, result already holds the state
 * at from_version: the event at that version is read only to prove it is
 * still visible; returns false when it is not.
 *
 * One forward scan of events_pkey (stream_id, version >= from_version), as
 * stream_head.c reads the head: a command on a cached state reads one or
 * two events, and a statement's plan-cache check and executor start-up
 * cost more than that (the worker's snapshots spent three quarters of
 * their fold there).  Unless read_only, the scan runs under a fresh
 * snapshot that sees this transaction's writes, as a statement would.
 */
static bool
fold_tail(const pg_uuid_t *stream_id, int64 from_version, bool cached,
		  const char *expected_type, bool has_as_of, TimestampTz as_of,
		  bool read_only, MemoryContext state_cxt, CqrsFoldResult *result)
{
	const CqrsEventRelation *rel = cqrs_event_relation();

	/* Copied: opening a relation may process an invalidation of the cache. */
	Oid			events_relid = rel->relid;
	Oid			pkey_relid = rel->pkey_relid;
	Relation	events;
	Relation	pkey;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData keys[2];
	MemoryContext event_cxt;
	bool		check = cached;
	bool		any = false;
	bool		pushed = false;
	TailStep	step = TAIL_DONE;

	if (!read_only || !ActiveSnapshotSet())
	{
		cqrs_push_statement_snapshot();
		pushed = true;
	}

	events = table_open(events_relid, AccessShareLock);
	pkey = index_open(pkey_relid, AccessShareLock);
	rel = cqrs_event_relation();

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum((pg_uuid_t *) stream_id));
	ScanKeyInit(&keys[1], 2, BTGreaterEqualStrategyNumber, F_INT8GE,
				Int64GetDatum(from_version));

	event_cxt = AllocSetContextCreate(CurrentMemoryContext, "cqrs fold events",
									  ALLOCSET_DEFAULT_SIZES);
	slot = table_slot_create(events, NULL);
	scan = index_beginscan(events, pkey, GetActiveSnapshot(), 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		any = true;
		step = apply_event(slot, rel, stream_id, from_version, &check,
						   expected_type, has_as_of, as_of, state_cxt,
						   event_cxt, result);
		if (step != TAIL_MORE)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	/* The end at once: not even the cached state's last event. */
	if (!any && cached)
		step = TAIL_UNUSABLE;

	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(pkey, AccessShareLock);
	table_close(events, AccessShareLock);
	MemoryContextDelete(event_cxt);
	if (pushed)
		PopActiveSnapshot();
	return step != TAIL_UNUSABLE;
}

/* Fold from this backend's cached state; false when there is none usable. */
static bool
fold_from_cache(const pg_uuid_t *stream_id, Oid events_relid,
				const char *expected_type, bool read_only,
				CqrsFoldResult *result)
{
	CqrsCachedState *e = cqrs_state_cache_lookup(stream_id, events_relid);

	if (e == NULL)
		return false;
	if (expected_type != NULL && strcmp(expected_type, e->stream_type) != 0)
		return false;

	result->ops = e->ops;
	result->stream_type = e->stream_type;
	result->state = e->state;
	result->version = e->version;
	result->max_recorded_at = e->max_recorded_at;
	result->snapshot_version = e->snapshot_version;
	result->snapshot_bytes = e->snapshot_bytes;
	if (!fold_tail(stream_id, e->version, true, expected_type, false, 0,
				   read_only, e->cxt, result))
	{
		cqrs_state_cache_forget(stream_id);
		memset(result, 0, sizeof(CqrsFoldResult));
		result->version = -1;
		result->snapshot_version = -1;
		return false;
	}
	e->version = result->version;
	e->max_recorded_at = result->max_recorded_at;
	return true;
}

void
cqrs_fold_stream(const pg_uuid_t *stream_id, const char *expected_type,
				 bool has_as_of, TimestampTz as_of, bool read_only,
				 MemoryContext result_cxt, CqrsFoldResult *result)
{
	bool		use_cache = !has_as_of && cqrs_state_cache_kb > 0;
	Oid			events_relid = use_cache ? cqrs_event_relation()->relid : InvalidOid;
	MemoryContext state_cxt = result_cxt;

	memset(result, 0, sizeof(CqrsFoldResult));
	result->version = -1;
	result->snapshot_version = -1;

	if (use_cache &&
		fold_from_cache(stream_id, events_relid, expected_type, read_only,
						result))
		return;

	/*
	 * Not in the cache: a stream that does not exist yet (a command that
	 * creates an aggregate) is told by one index probe, instead of the
	 * snapshot and tail queries.  The log is append-only, so a stream
	 * missing now was missing at any as_of too.
	 */
	if (use_cache && (!read_only || ActiveSnapshotSet()) &&
		cqrs_stream_head(stream_id,
						 read_only ? GetActiveSnapshot() : InvalidSnapshot,
						 -1, NULL) < 0)
	{
		if (expected_type != NULL)
			result->ops = cqrs_aggregate_for(expected_type);
		return;
	}

	/* A context of its own, which the cache adopts if it keeps the state. */
	if (use_cache)
		state_cxt = AllocSetContextCreate(result_cxt, "cqrs cached state",
										  ALLOCSET_SMALL_SIZES);

	start_from_snapshot(stream_id, expected_type, has_as_of, as_of, read_only,
						state_cxt, result);
	(void) fold_tail(stream_id, result->version + 1, false, expected_type,
					 has_as_of, as_of, read_only, state_cxt, result);

	if (result->ops == NULL && expected_type != NULL)
		result->ops = cqrs_aggregate_for(expected_type);

	/* Only the stream's own aggregate's state can serve every caller. */
	if (use_cache && result->version >= 0 &&
		(expected_type == NULL || strcmp(expected_type, result->stream_type) == 0))
		cqrs_state_cache_store(stream_id, events_relid, state_cxt, result);
}
