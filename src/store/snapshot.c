/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *	  Automatic snapshots, taken by the sequencer: when it numbers an event
 *	  that carries its stream across a multiple of
 *	  cqrs_conf.snapshot_every events, the stream's latest state is folded
 *	  and stored in the sequencer's transaction.  The append itself does
 *	  not pay for the fold (a 1,000-event append spent a third of its time
 *	  on it), and a snapshot only ever describes committed events: the
 *	  sequencer sees nothing else, except the events of its own transaction
 *	  when cqrs.drain() runs inside an appending one (they commit or roll
 *	  back together).
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

#include "access/detoast.h"
#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "cqrs_conf.h"
#include "store/aggregate.h"
#include "store/snapshot.h"
#include "store/state_cache.h"
#include "util/direct_write.h"
#include "util/spi_plan.h"

#define SNAPSHOT_BYTES_PER_EVENT 256

static SPIPlanPtr plan_insert_snapshot = NULL;

/*
 * The latest stored snapshot of the stream, if later than *version: its
 * version and (at least) its stored size.  One backward scan of
 * snapshots_pkey (stream_id, version), under a fresh snapshot that sees
 * this transaction's writes, instead of a statement.
 */
static void
latest_stored_snapshot(const pg_uuid_t *stream_id, int64 *version, Size *bytes)
{
	Oid			relid = cqrs_relation_oid("snapshots");
	Oid			pkey_relid = cqrs_relation_oid("snapshots_pkey");
	AttrNumber	version_attnum = get_attnum(relid, "version");
	AttrNumber	state_attnum = get_attnum(relid, "state");
	Relation	snapshots;
	Relation	pkey;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData keys[2];

	if (version_attnum == InvalidAttrNumber || state_attnum == InvalidAttrNumber)
		elog(ERROR, "cqrs.snapshots lacks its version or state column");

	cqrs_push_statement_snapshot();
	snapshots = table_open(relid, AccessShareLock);
	pkey = index_open(pkey_relid, AccessShareLock);

	/*
	 * Only versions above *version: a backward scan reads every matching
	 * item of its leaf page before it returns the first, and a long
	 * stream has a page of older snapshots.
	 */
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum((pg_uuid_t *) stream_id));
	ScanKeyInit(&keys[1], 2, BTGreaterStrategyNumber, F_INT8GT,
				Int64GetDatum(*version));
	slot = table_slot_create(snapshots, NULL);
	scan = index_beginscan(snapshots, pkey, GetActiveSnapshot(), 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	if (index_getnext_slot(scan, BackwardScanDirection, slot))
	{
		bool		isnull;
		Datum		state = slot_getattr(slot, state_attnum, &isnull);

		*version = DatumGetInt64(slot_getattr(slot, version_attnum, &isnull));
		*bytes = Max(*bytes, toast_datum_size(state));
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(pkey, AccessShareLock);
	table_close(snapshots, AccessShareLock);
	PopActiveSnapshot();
}

/*
 * Does the event at this version carry its stream across a multiple of
 * cqrs_conf.snapshot_every?
 */
bool
cqrs_snapshot_due(int64 version)
{
	return cqrs_snapshot_every > 0 && (version + 1) % cqrs_snapshot_every == 0;
}

/*
 * Fold the stream's latest state and store it as a snapshot, unless the
 * latest snapshot is recent enough for its size.  The caller is connected
 * to SPI.
 */
void
cqrs_snapshot_stream(const pg_uuid_t *stream_id)
{
	CqrsFoldResult fold;
	Oid			argtypes[6] = {UUIDOID, INT8OID, TEXTOID, INT4OID, JSONBOID,
	TIMESTAMPTZOID};
	Datum		values[6];
	int			rc;
	Jsonb	   *state;

	cqrs_fold_stream(stream_id, NULL, false, 0, false, CurrentMemoryContext,
					 &fold);
	if (fold.version < 0 || fold.snapshot_version == fold.version)
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
