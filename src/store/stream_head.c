/*-------------------------------------------------------------------------
 *
 * stream_head.c
 *	  The head of a stream: its current version and its type, for the
 *	  append's version check.  Read with one backward scan of events_pkey
 *	  (stream_id, version) that stops at the first visible row, instead of
 *	  an SPI statement: no plan-cache check and no executor start-up on the
 *	  hottest path of the store.
 *
 *	  A btree scan reads every matching item of the leaf page it lands on
 *	  before it returns the first, so a plain "stream_id = $1" backward scan
 *	  of a long stream evaluates a whole page of its versions (about 200)
 *	  for every append.  The caller passes the version it expects: with
 *	  "version >= expected" as a second key the scan stops after the head;
 *	  only when the stream is behind the expectation (a failing append) does
 *	  a second, unbounded scan run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "store/event_relation.h"
#include "store/stream_head.h"
#include "util/direct_write.h"

/*
 * The highest version of the stream at or above min_version visible to
 * snapshot, and its type; false when there is none.
 */
static bool
scan_head(Relation events, Relation pkey, Snapshot snapshot,
		  const pg_uuid_t *stream_id, int64 min_version,
		  int64 *version, char **stream_type)
{
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData keys[2];
	int			nkeys = 1;
	bool		found;

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum((pg_uuid_t *) stream_id));
	if (min_version > 0)
	{
		ScanKeyInit(&keys[1], 2, BTGreaterEqualStrategyNumber, F_INT8GE,
					Int64GetDatum(min_version));
		nkeys = 2;
	}

	slot = table_slot_create(events, NULL);
	scan = index_beginscan(events, pkey, snapshot, nkeys, 0);
	index_rescan(scan, keys, nkeys, NULL, 0);
	found = index_getnext_slot(scan, BackwardScanDirection, slot);
	if (found)
	{
		bool		isnull;

		const CqrsEventRelation *rel = cqrs_event_relation();

		*version = DatumGetInt64(slot_getattr(slot,
											  rel->attnum[EVCOL_VERSION],
											  &isnull));
		if (stream_type)
			*stream_type = TextDatumGetCString(slot_getattr(slot,
															rel->attnum[EVCOL_STREAM_TYPE],
															&isnull));
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

/*
 * Current version and type of a stream, as seen by snapshot; -1 (and a
 * NULL type) for a missing stream.  InvalidSnapshot means a fresh snapshot
 * that also sees this transaction's earlier changes, as a statement of its
 * own would (what a non-read-only SPI statement does).  expected_version
 * (< 0: none) is the caller's guess, which makes the lookup cheap when it
 * is right or the stream is ahead of it.
 */
int64
cqrs_stream_head(const pg_uuid_t *stream_id, Snapshot snapshot,
				 int64 expected_version, char **stream_type)
{
	const CqrsEventRelation *rel = cqrs_event_relation();

	/* Copied: opening a relation may process an invalidation of the cache. */
	Oid			events_relid = rel->relid;
	Oid			pkey_relid = rel->pkey_relid;
	Relation	events;
	Relation	pkey;
	bool		pushed = false;
	int64		version = -1;

	if (snapshot == InvalidSnapshot)
	{
		cqrs_push_statement_snapshot();
		snapshot = GetActiveSnapshot();
		pushed = true;
	}

	events = table_open(events_relid, AccessShareLock);
	pkey = index_open(pkey_relid, AccessShareLock);

	if (stream_type)
		*stream_type = NULL;
	if (!scan_head(events, pkey, snapshot, stream_id, expected_version,
				   &version, stream_type) &&
		expected_version > 0)
		(void) scan_head(events, pkey, snapshot, stream_id, -1,
						 &version, stream_type);

	index_close(pkey, AccessShareLock);
	table_close(events, AccessShareLock);
	if (pushed)
		PopActiveSnapshot();

	return version;
}
