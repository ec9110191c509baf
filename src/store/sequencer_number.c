/*-------------------------------------------------------------------------
 *
 * sequencer_number.c
 *	  Gives the next global positions to committed events without an
 *	  UPDATE statement: the work-list index (events without a position,
 *	  in (append_xid, append_ordinal) order) is scanned from the horizon
 *	  with a fresh snapshot, and each row found gets its position through
 *	  the heap access method, its index entries through index_insert.
 *
 *	  What this saves over the statement, per event: the executor's
 *	  window, join and ModifyTable nodes, and two unique checks.  A new
 *	  row version needs entries in events_pkey and events_event_id_key,
 *	  whose keys it does not change; an INSERT of such an entry looks the
 *	  key up and visits the heap to find the old version being replaced by
 *	  this very transaction.  Here they are inserted without the check
 *	  (the key was unique before and the old version is gone once the
 *	  numbering commits) and with the "unchanged key" hint that lets btree
 *	  remove the old entries bottom-up.  A unique index whose key includes
 *	  global_position (or an expression) is checked as usual.
 *
 *	  The caller (sequencer.c) holds the sequencer lock: no one else
 *	  numbers events, and nothing else may update cqrs.events.  A table a
 *	  DBA changed (row triggers on UPDATE, rules, row-level security, an
 *	  exclusion constraint) is left to the UPDATE statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "miscadmin.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "store/event_relation.h"
#include "store/sequencer_number.h"
#include "store/snapshot.h"

/*
 * Remember the stream of a numbered event if the event makes a snapshot
 * due (see snapshot.c).
 */
void
cqrs_note_due_stream(CqrsDueStreams *due, const pg_uuid_t *id, int64 version)
{
	int			i;

	if (!cqrs_snapshot_due(version))
		return;
	for (i = 0; i < due->count; i++)
		if (memcmp(due->ids[i].data, id->data, UUID_LEN) == 0)
			return;
	if (due->count == due->allocated)
	{
		due->allocated = Max(8, due->allocated * 2);
		due->ids = due->ids == NULL ?
			palloc(sizeof(pg_uuid_t) * due->allocated) :
			repalloc(due->ids, sizeof(pg_uuid_t) * due->allocated);
	}
	due->ids[due->count++] = *id;
}

/* Can the rows of this table be numbered without the UPDATE statement? */
static bool
direct_update_allowed(Relation rel, ResultRelInfo *rri)
{
	TriggerDesc *trig = rel->trigdesc;
	int			i;

	if (trig != NULL &&
		(trig->trig_update_before_row || trig->trig_update_after_row ||
		 trig->trig_update_instead_row || trig->trig_update_old_table ||
		 trig->trig_update_new_table))
		return false;
	if (rel->rd_rel->relrowsecurity || rel->rd_rel->relhasrules)
		return false;
	for (i = 0; i < rri->ri_NumIndices; i++)
		if (rri->ri_IndexRelationInfo[i]->ii_ExclusionOps != NULL)
			return false;
	return true;
}

/* Does a new row version change the key of this index? */
static bool
key_changes(IndexInfo *ii, AttrNumber position_attnum)
{
	int			i;

	if (ii->ii_Expressions != NIL)
		return true;
	for (i = 0; i < ii->ii_NumIndexAttrs; i++)
		if (ii->ii_IndexAttrNumbers[i] == position_attnum)
			return true;
	return false;
}

/*
 * The committed events without a position at or after the horizon, in
 * numbering order, at most max_count: copies of their row versions.
 */
static int
collect_work(Relation rel, Oid worklist_relid, Datum horizon, int max_count,
			 AttrNumber position_attnum, HeapTuple *rows)
{
	Relation	worklist = index_open(worklist_relid, AccessShareLock);
	Snapshot	snapshot = RegisterSnapshot(GetLatestSnapshot());
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	IndexScanDesc scan;
	ScanKeyData key;
	int			n = 0;

	ScanKeyInit(&key, 1, BTGreaterEqualStrategyNumber, F_XID8GE, horizon);
	scan = index_beginscan(rel, worklist, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (n < max_count &&
		   index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;

		/* The entry's row version may have been numbered since. */
		(void) slot_getattr(slot, position_attnum, &isnull);
		if (!isnull)
			continue;
		rows[n++] = ExecCopySlotHeapTuple(slot);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	index_close(worklist, AccessShareLock);
	return n;
}

/* Index entries for a new, non-HOT row version. */
static void
insert_index_entries(ResultRelInfo *rri, ExprState **predicates,
					 bool *changes_key, TupleTableSlot *slot, EState *estate)
{
	ExprContext *econtext = GetPerTupleExprContext(estate);
	int			i;

	econtext->ecxt_scantuple = slot;
	for (i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	index = rri->ri_IndexRelationDescs[i];
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];
		Datum		values[INDEX_MAX_KEYS];
		bool		isnull[INDEX_MAX_KEYS];
		IndexUniqueCheck check;

		if (index == NULL || !ii->ii_ReadyForInserts)
			continue;
		if (predicates[i] != NULL && !ExecQual(predicates[i], econtext))
			continue;
		FormIndexDatum(ii, slot, estate, values, isnull);
		check = (index->rd_index->indisunique && changes_key[i]) ?
			UNIQUE_CHECK_YES : UNIQUE_CHECK_NO;
		(void) index_insert(index, values, isnull, &slot->tts_tid,
							rri->ri_RelationDesc, check, !changes_key[i], ii);
	}
	ResetPerTupleExprContext(estate);
}

/*
 * Number at most max_count committed events from the horizon on, with
 * positions last_position + 1 onwards; streams that need a snapshot are
 * added to due.  Returns false, having done nothing, when the table must
 * be numbered through the UPDATE statement.
 */
bool
cqrs_number_events_directly(int64 last_position, int max_count,
							Datum horizon, uint64 *numbered,
							CqrsDueStreams *due)
{
	const CqrsEventRelation *er = cqrs_event_relation();
	Oid			worklist_relid = er->unsequenced_relid;
	AttrNumber	position_attnum = er->attnum[EVCOL_GLOBAL_POSITION];
	Relation	rel;
	EState	   *estate;
	ResultRelInfo *rri;
	ExprState **predicates;
	bool	   *changes_key;
	HeapTuple  *rows;
	TupleTableSlot *slot;
	int			n;
	int			i;

	/* The executor's check, which writing the heap directly bypasses. */
	PreventCommandIfReadOnly("UPDATE");

	rel = table_open(er->relid, RowExclusiveLock);
	estate = CreateExecutorState();
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	if (!direct_update_allowed(rel, rri))
	{
		ExecCloseIndices(rri);
		FreeExecutorState(estate);
		table_close(rel, NoLock);
		return false;
	}

	predicates = palloc0(sizeof(ExprState *) * Max(rri->ri_NumIndices, 1));
	changes_key = palloc0(sizeof(bool) * Max(rri->ri_NumIndices, 1));
	for (i = 0; i < rri->ri_NumIndices; i++)
	{
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];

		if (ii->ii_Predicate != NIL)
			predicates[i] = ExecPrepareQual(ii->ii_Predicate, estate);
		changes_key[i] = key_changes(ii, position_attnum);
	}

	/* See this transaction's earlier work, then take a fresh snapshot. */
	CommandCounterIncrement();
	rows = palloc(sizeof(HeapTuple) * max_count);
	n = collect_work(rel, worklist_relid, horizon, max_count, position_attnum,
					 rows);

	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsHeapTuple);
	for (i = 0; i < n; i++)
	{
		Datum		position = Int64GetDatum(last_position + i + 1);
		bool		isnull = false;
		int			column = position_attnum;
		HeapTuple	row;

		row = heap_modify_tuple_by_cols(rows[i], RelationGetDescr(rel), 1,
										&column, &position, &isnull);
		simple_heap_update(rel, &rows[i]->t_self, row);
		ExecStoreHeapTuple(row, slot, false);
		if (!HeapTupleIsHeapOnly(row))
			insert_index_entries(rri, predicates, changes_key, slot, estate);
		cqrs_note_due_stream(due,
							 DatumGetUUIDP(slot_getattr(slot, er->attnum[EVCOL_STREAM_ID], &isnull)),
							 DatumGetInt64(slot_getattr(slot, er->attnum[EVCOL_VERSION], &isnull)));
		ExecClearTuple(slot);
		heap_freetuple(row);
		heap_freetuple(rows[i]);
	}
	ExecDropSingleTupleTableSlot(slot);

	ExecCloseIndices(rri);
	FreeExecutorState(estate);
	table_close(rel, NoLock);

	/* Later statements of the transaction see the positions. */
	CommandCounterIncrement();
	*numbered = (uint64) n;
	return true;
}
