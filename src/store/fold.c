/*-------------------------------------------------------------------------
 *
 * fold.c
 *	  Rebuilds an aggregate's state: the latest usable snapshot, then the
 *	  events after it, read through a cursor in batches and applied by the
 *	  aggregate's C functions.  Loading costs O(events since the snapshot),
 *	  not O(stream length).
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
#include "util/spi_plan.h"
#include "util/uuid_util.h"

#define FOLD_FETCH_SIZE 256

static SPIPlanPtr plan_snapshot = NULL;
static SPIPlanPtr plan_tail = NULL;

/* Start from the latest snapshot usable at as_of, if any. */
static void
start_from_snapshot(const pg_uuid_t *stream_id, const char *expected_type,
					bool has_as_of, TimestampTz as_of, bool read_only,
					MemoryContext result_cxt, CqrsFoldResult *result)
{
	Oid			argtypes[2] = {UUIDOID, TIMESTAMPTZOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	int			rc;
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	char	   *stream_type;
	const CqrsAggregateOps *ops;
	MemoryContext old;

	cqrs_spi_plan(&plan_snapshot,
				  "SELECT version, stream_type, schema_version, state,"
				  " max_recorded_at FROM cqrs.snapshots"
				  " WHERE stream_id = $1"
				  " AND ($2 IS NULL OR max_recorded_at <= $2)"
				  " ORDER BY version DESC LIMIT 1",
				  2, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) stream_id);
	values[1] = TimestampTzGetDatum(as_of);
	if (!has_as_of)
		nulls[1] = 'n';
	rc = SPI_execute_plan(plan_snapshot, values, nulls, read_only, 1);
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
	result->state = ops->from_jsonb(DatumGetJsonbPCopy(SPI_getbinval(tuple, desc, 4, &isnull)));
	result->max_recorded_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 5, &isnull));
	MemoryContextSwitchTo(old);
}

void
cqrs_fold_stream(const pg_uuid_t *stream_id, const char *expected_type,
				 bool has_as_of, TimestampTz as_of, bool read_only,
				 MemoryContext result_cxt, CqrsFoldResult *result)
{
	Oid			argtypes[2] = {UUIDOID, INT8OID};
	Datum		values[2];
	Portal		portal;
	MemoryContext event_cxt;
	bool		done = false;

	memset(result, 0, sizeof(CqrsFoldResult));
	result->version = -1;
	result->snapshot_version = -1;

	start_from_snapshot(stream_id, expected_type, has_as_of, as_of, read_only,
						result_cxt, result);

	cqrs_spi_plan(&plan_tail,
				  "SELECT version, stream_type, event_type, data, metadata,"
				  " recorded_at FROM cqrs.events"
				  " WHERE stream_id = $1 AND version > $2 ORDER BY version",
				  2, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) stream_id);
	values[1] = Int64GetDatum(result->version);
	portal = SPI_cursor_open(NULL, plan_tail, values, NULL, read_only);

	event_cxt = AllocSetContextCreate(CurrentMemoryContext, "cqrs fold events",
									  ALLOCSET_DEFAULT_SIZES);

	while (!done)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, FOLD_FETCH_SIZE);
		if (SPI_processed == 0)
			break;

		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			CqrsStoredEvent ev;
			bool		isnull;
			MemoryContext old;

			MemoryContextReset(event_cxt);
			old = MemoryContextSwitchTo(event_cxt);
			ev.version = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
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

			MemoryContextSwitchTo(result_cxt);
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
			MemoryContextSwitchTo(result_cxt);
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

	if (result->ops == NULL && expected_type != NULL)
		result->ops = cqrs_aggregate_for(expected_type);
}
