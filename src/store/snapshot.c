/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *	  Automatic snapshots: when an append carries a stream across a
 *	  multiple of cqrs_conf.snapshot_every events, the state after the
 *	  append is folded and stored in the same transaction, so a snapshot
 *	  can never describe events that were rolled back.
 *
 *	  A big state (a conference's seats with thousands of pending
 *	  reservations) is not stored every snapshot_every events: a snapshot
 *	  is stored only once the events since the last one could have paid
 *	  for it, at SNAPSHOT_BYTES_PER_EVENT each.  Writing snapshots then
 *	  costs at most that much per event, and a cold load reads one
 *	  snapshot and no more events than the snapshot is worth.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "cqrs_conf.h"
#include "store/aggregate.h"
#include "store/snapshot.h"
#include "store/state_cache.h"
#include "util/spi_plan.h"

#define SNAPSHOT_BYTES_PER_EVENT 256

static SPIPlanPtr plan_insert_snapshot = NULL;
static SPIPlanPtr plan_latest_snapshot = NULL;

/*
 * The latest stored snapshot of the stream, if later than *version: its
 * version and (at least) its size.
 */
static void
latest_stored_snapshot(const pg_uuid_t *stream_id, int64 *version, Size *bytes)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	int			rc;
	bool		isnull;
	int64		stored;

	cqrs_spi_plan(&plan_latest_snapshot,
				  "SELECT version, pg_catalog.pg_column_size(state)"
				  " FROM cqrs.snapshots WHERE stream_id = $1"
				  " ORDER BY version DESC LIMIT 1",
				  1, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) stream_id);
	rc = SPI_execute_plan(plan_latest_snapshot, values, NULL, false, 1);
	cqrs_spi_check(rc, SPI_OK_SELECT, "reading the latest snapshot");
	if (SPI_processed != 1)
		return;
	stored = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));
	if (stored > *version)
	{
		Size		stored_bytes = (Size) DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
																	  SPI_tuptable->tupdesc, 2, &isnull));

		*version = stored;
		*bytes = Max(*bytes, stored_bytes);
	}
}

void
cqrs_snapshot_after_append(const pg_uuid_t *stream_id, int64 old_version,
						   int64 new_version)
{
	CqrsFoldResult fold;
	Oid			argtypes[6] = {UUIDOID, INT8OID, TEXTOID, INT4OID, JSONBOID,
	TIMESTAMPTZOID};
	Datum		values[6];
	int			rc;
	Jsonb	   *state;

	if (cqrs_snapshot_every <= 0)
		return;
	if ((new_version + 1) / cqrs_snapshot_every ==
		(old_version + 1) / cqrs_snapshot_every)
		return;

	cqrs_fold_stream(stream_id, NULL, false, 0, false, CurrentMemoryContext,
					 &fold);
	if (fold.version != new_version)
		elog(ERROR, "snapshot fold reached version " INT64_FORMAT ", expected " INT64_FORMAT,
			 fold.version, new_version);
	if (fold.snapshot_version == fold.version)
		return;
	if (fold.snapshot_version >= 0)
	{
		int64		latest = fold.snapshot_version;
		Size		latest_bytes = fold.snapshot_bytes;

		/*
		 * Another session may have stored a later snapshot than the one
		 * this fold started from (a cached state does not see it).
		 */
		latest_stored_snapshot(stream_id, &latest, &latest_bytes);
		if (latest >= fold.version ||
			(Size) (fold.version - latest) * SNAPSHOT_BYTES_PER_EVENT < latest_bytes)
			return;
	}

	state = fold.ops->to_jsonb(fold.state);
	cqrs_spi_plan(&plan_insert_snapshot,
				  "INSERT INTO cqrs.snapshots (stream_id, version, stream_type,"
				  " schema_version, state, max_recorded_at)"
				  " VALUES ($1, $2, $3, $4, $5, $6)"
				  " ON CONFLICT (stream_id, version) DO NOTHING",
				  6, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) stream_id);
	values[1] = Int64GetDatum(fold.version);
	values[2] = CStringGetTextDatum(fold.stream_type);
	values[3] = Int32GetDatum(fold.ops->schema_version);
	values[4] = JsonbPGetDatum(state);
	values[5] = TimestampTzGetDatum(fold.max_recorded_at);
	rc = SPI_execute_plan(plan_insert_snapshot, values, NULL, false, 0);
	cqrs_spi_check(rc, SPI_OK_INSERT, "storing a snapshot");
	cqrs_state_cache_note_snapshot(stream_id, fold.version, VARSIZE(state));
}
