/*-------------------------------------------------------------------------
 *
 * fold.c
 *	  Rebuilds an aggregate's state: the latest usable snapshot, then the
 *	  events after it, read through a cursor in batches and applied by the
 *	  aggregate's C functions.  Loading costs O(events since the snapshot),
 *	  not O(stream length).  A state this backend folded before is kept
 *	  (state_cache.c) and only the events after it are applied.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "store/aggregate.h"
#include "store/state_cache.h"
#include "util/spi_plan.h"
#include "util/uuid_util.h"

#define FOLD_FETCH_SIZE 256

static SPIPlanPtr plan_snapshot = NULL;
static SPIPlanPtr plan_snapshot_as_of = NULL;
static SPIPlanPtr plan_tail = NULL;

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

/*
 * Apply the stream's events from version from_version on to result (whose
 * state lives in state_cxt).  With cached, result already holds the state
 * at from_version: the event at that version is read only to prove it is
 * still visible; returns false when it is not.
 */
static bool
fold_tail(const pg_uuid_t *stream_id, int64 from_version, bool cached,
		  const char *expected_type, bool has_as_of, TimestampTz as_of,
		  bool read_only, MemoryContext state_cxt, CqrsFoldResult *result)
{
	Oid			argtypes[2] = {UUIDOID, INT8OID};
	Datum		values[2];
	Portal		portal;
	MemoryContext event_cxt;
	bool		done = false;
	bool		first = true;
	bool		usable = true;

	cqrs_spi_plan(&plan_tail,
				  "SELECT version, stream_type, event_type, data, metadata,"
				  " recorded_at FROM cqrs.events"
				  " WHERE stream_id = $1 AND version >= $2 ORDER BY version",
				  2, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) stream_id);
	values[1] = Int64GetDatum(from_version);
	portal = SPI_cursor_open(NULL, plan_tail, values, NULL, read_only);

	event_cxt = AllocSetContextCreate(CurrentMemoryContext, "cqrs fold events",
									  ALLOCSET_DEFAULT_SIZES);

	while (!done)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, FOLD_FETCH_SIZE);
		if (SPI_processed == 0)
		{
			if (first && cached)
				usable = false;
			break;
		}

		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			CqrsStoredEvent ev;
			bool		isnull;
			MemoryContext old;

			ev.version = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
			if (first && cached)
			{
				/* The cached state's last event: visible, so usable. */
				first = false;
				if (ev.version != from_version)
				{
					usable = false;
					done = true;
					break;
				}
				continue;
			}
			first = false;

			MemoryContextReset(event_cxt);
			old = MemoryContextSwitchTo(event_cxt);
			ev.recorded_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 6, &isnull));
			if (has_as_of && ev.recorded_at > as_of)
			{
				MemoryContextSwitchTo(old);
				done = true;
				break;
			}
			if (ev.version != result->version + 1)
				elog(ERROR, "stream %s jumps from version " INT64_FORMAT " to " INT64_FORMAT,
					 cqrs_uuid_to_cstring(stream_id), result->version, ev.version);
			ev.event_type = TextDatumGetCString(SPI_getbinval(tuple, desc, 3, &isnull));
			ev.data = DatumGetJsonbP(SPI_getbinval(tuple, desc, 4, &isnull));
			ev.metadata = DatumGetJsonbP(SPI_getbinval(tuple, desc, 5, &isnull));

			MemoryContextSwitchTo(state_cxt);
			if (result->state == NULL)
			{
				char	   *stream_type = SPI_getvalue(tuple, desc, 2);

				result->stream_type = pstrdup(stream_type);
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
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(event_cxt);
	return usable;
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
	Oid			events_relid = use_cache ? cqrs_events_relid() : InvalidOid;
	MemoryContext state_cxt = result_cxt;

	memset(result, 0, sizeof(CqrsFoldResult));
	result->version = -1;
	result->snapshot_version = -1;

	if (use_cache &&
		fold_from_cache(stream_id, events_relid, expected_type, read_only,
						result))
		return;

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
