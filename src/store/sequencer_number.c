/*-------------------------------------------------------------------------
 *
 * sequencer_number.c
 *	  Gives the next global positions to committed events, in place.
 *
 *	  The work list is the index of events in append order (append_xid,
 *	  append_ordinal).  It is scanned from the sequencer's horizon to the
 *	  next transaction id, with a snapshot taken after the sequencer lock;
 *	  each visible row whose position is still 0 gets the next position,
 *	  written into the row where it lies (position_write.c), and an entry in
 *	  the index of positions.  No new row version, no entry in the other
 *	  indexes, nothing for VACUUM to clean.  The rows' event types are
 *	  noted for the projection pass that follows (numbered_types.c).
 *
 *	  Order of the writes, and what a failed batch leaves.  A batch first
 *	  inserts the index entries of all its positions, then writes the
 *	  positions into the rows in increasing order (one WAL record per run
 *	  of rows on at most four heap blocks, so a crash keeps a prefix of
 *	  them).  A write in place is not undone when the sequencer's
 *	  transaction aborts or the server crashes, so after a failure the
 *	  index of positions may hold entries beyond
 *	  cqrs.sequencer_state.last_position (where readers stop), and the rows
 *	  of the last of them may still hold 0.  The next sequencer adopts them
 *	  before numbering anything new: it walks the index down from its
 *	  highest entry, fills in the rows still at 0, stops at the first row
 *	  that has its position, and continues from the highest entry.  So
 *	  positions stay dense and are never given twice, and the events of the
 *	  failed batch keep the positions they got, which were in commit order
 *	  then.  After a restore (the state is not dumped) the highest entry is
 *	  complete and the walk stops at once.
 *
 *	  In-place writing needs the table as installed: global_position the
 *	  first column, NOT NULL; every index that involves it a valid btree
 *	  on that column alone whose predicate leaves out 0 (the installed
 *	  events_global_position_key, or a copy REINDEX CONCURRENTLY made); no
 *	  row triggers on UPDATE, rules or row-level security.  (The other
 *	  indexes, exclusion constraints included, are not touched: their keys
 *	  do not change and the row stays where it is.)  It also needs a batch
 *	  of other transactions' rows only: rows of the numbering transaction
 *	  itself die if it aborts, and positions written in place around them
 *	  would stay, leaving holes.  Otherwise cqrs_number_events() only
 *	  adopts, and the caller (sequencer.c) numbers with an UPDATE
 *	  statement, which makes new row versions (so that what the DBA added
 *	  applies) and which an abort undoes as a whole.
 *
 *	  The caller holds the sequencer lock: no one else numbers events.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "optimizer/optimizer.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/xid8.h"

#include "store/event_relation.h"
#include "store/numbered_types.h"
#include "store/position_write.h"
#include "store/sequencer_number.h"
#include "store/snapshot.h"

/* A row of the work list. */
typedef struct WorkItem
{
	ItemPointerData tid;
	pg_uuid_t	stream_id;
	int64		version;
	int16		type_id;		/* see numbered_types.c */
} WorkItem;

typedef struct WorkList
{
	WorkItem   *items;
	int			count;
	int			allocated;
} WorkList;

/* The indexes of cqrs.events whose entries involve global_position. */
typedef struct PositionIndexes
{
	int			count;
	Relation   *indexes;
	IndexInfo **infos;
	ExprState **predicates;
	bool		maintainable;	/* all of a shape in-place writing keeps */
} PositionIndexes;

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

/* Would numbering through the heap bypass what a DBA added? */
static bool
table_changed_for_updates(Relation rel)
{
	TriggerDesc *trig = rel->trigdesc;

	if (trig != NULL &&
		(trig->trig_update_before_row || trig->trig_update_after_row ||
		 trig->trig_update_instead_row || trig->trig_update_old_table ||
		 trig->trig_update_new_table))
		return true;
	return rel->rd_rel->relrowsecurity || rel->rd_rel->relhasrules;
}

/* The column numbers an index's key, expressions and predicate use. */
static Bitmapset *
index_columns(IndexInfo *ii)
{
	Bitmapset  *columns = NULL;
	int			i;

	for (i = 0; i < ii->ii_NumIndexAttrs; i++)
		columns = bms_add_member(columns, ii->ii_IndexAttrNumbers[i] -
								 FirstLowInvalidHeapAttributeNumber);
	pull_varattnos((Node *) ii->ii_Expressions, 1, &columns);
	pull_varattnos((Node *) ii->ii_Predicate, 1, &columns);
	return columns;
}

/* A slot of rel's row type with only the position set. */
static void
set_position_only(TupleTableSlot *slot, AttrNumber position_attnum,
				  int64 position)
{
	ExecClearTuple(slot);
	memset(slot->tts_isnull, true,
		   slot->tts_tupleDescriptor->natts * sizeof(bool));
	slot->tts_values[position_attnum - 1] = Int64GetDatum(position);
	slot->tts_isnull[position_attnum - 1] = false;
	ExecStoreVirtualTuple(slot);
}

/* A valid btree on the position column alone? */
static bool
is_position_btree(Relation index, IndexInfo *ii, AttrNumber position_attnum)
{
	return index->rd_rel->relam == BTREE_AM_OID &&
		index->rd_index->indisvalid &&
		ii->ii_NumIndexAttrs == 1 &&
		ii->ii_IndexAttrNumbers[0] == position_attnum;
}

/*
 * Is the index one in-place writing keeps right?  A valid, ready btree on
 * the position alone, whose predicate depends on the position only and
 * leaves out 0 (so a row had no entry before it was numbered).
 */
static bool
index_maintainable(Relation index, IndexInfo *ii, ExprState *predicate,
				   AttrNumber position_attnum, TupleTableSlot *probe,
				   ExprContext *econtext)
{
	Bitmapset  *used = NULL;

	if (!is_position_btree(index, ii, position_attnum) ||
		!ii->ii_ReadyForInserts || ii->ii_ExclusionOps != NULL ||
		predicate == NULL)
		return false;
	pull_varattnos((Node *) ii->ii_Predicate, 1, &used);
	if (bms_num_members(used) != 1 ||
		!bms_is_member(position_attnum - FirstLowInvalidHeapAttributeNumber,
					   used))
		return false;
	set_position_only(probe, position_attnum, 0);
	econtext->ecxt_scantuple = probe;
	return !ExecQual(predicate, econtext);
}

static void
open_position_indexes(Relation rel, AttrNumber position_attnum,
					  EState *estate, TupleTableSlot *probe,
					  PositionIndexes *pi)
{
	List	   *oids = RelationGetIndexList(rel);
	int			whole_row = InvalidAttrNumber - FirstLowInvalidHeapAttributeNumber;
	int			position_bit = position_attnum - FirstLowInvalidHeapAttributeNumber;
	ListCell   *lc;

	pi->count = 0;
	pi->indexes = palloc(sizeof(Relation) * Max(list_length(oids), 1));
	pi->infos = palloc(sizeof(IndexInfo *) * Max(list_length(oids), 1));
	pi->predicates = palloc0(sizeof(ExprState *) * Max(list_length(oids), 1));
	pi->maintainable = true;
	foreach(lc, oids)
	{
		Relation	index = index_open(lfirst_oid(lc), RowExclusiveLock);
		IndexInfo  *ii = BuildIndexInfo(index);
		Bitmapset  *columns = index_columns(ii);
		ExprState  *predicate = NULL;

		if (!bms_is_member(position_bit, columns) &&
			!bms_is_member(whole_row, columns))
		{
			index_close(index, RowExclusiveLock);
			continue;
		}
		if (ii->ii_Predicate != NIL)
			predicate = ExecPrepareQual(ii->ii_Predicate, estate);
		if (!index_maintainable(index, ii, predicate, position_attnum, probe,
								GetPerTupleExprContext(estate)))
			pi->maintainable = false;
		pi->indexes[pi->count] = index;
		pi->infos[pi->count] = ii;
		pi->predicates[pi->count] = predicate;
		pi->count++;
	}
	list_free(oids);
	if (pi->count == 0)
		pi->maintainable = false;
}

static void
close_position_indexes(PositionIndexes *pi)
{
	int			i;

	for (i = 0; i < pi->count; i++)
		index_close(pi->indexes[i], RowExclusiveLock);
}

static void
worklist_add(WorkList *list, TupleTableSlot *slot, const CqrsEventRelation *er)
{
	WorkItem   *item;
	bool		isnull;

	if (list->count == list->allocated)
	{
		list->allocated = Max(64, list->allocated * 2);
		list->items = list->items == NULL ?
			palloc(sizeof(WorkItem) * list->allocated) :
			repalloc(list->items, sizeof(WorkItem) * list->allocated);
	}
	item = &list->items[list->count++];
	item->tid = slot->tts_tid;
	item->stream_id = *DatumGetUUIDP(slot_getattr(slot, er->attnum[EVCOL_STREAM_ID], &isnull));
	item->version = DatumGetInt64(slot_getattr(slot, er->attnum[EVCOL_VERSION], &isnull));
	item->type_id = (int16)
		cqrs_numbered_types_intern(DatumGetTextPP(slot_getattr(slot, er->attnum[EVCOL_EVENT_TYPE], &isnull)));
}

/*
 * Scan the work list from the horizon to the next transaction id for rows
 * without a position: at most max_count of them, in numbering order.
 */
static void
collect_work(Relation rel, const CqrsEventRelation *er, Snapshot snapshot,
			 Datum horizon, int max_count, WorkList *fresh, bool *own_rows)
{
	Relation	worklist = index_open(er->append_order_relid, AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	FullTransactionId next = ReadNextFullTransactionId();
	IndexScanDesc scan;
	ScanKeyData keys[2];

	/* Later transactions are invisible to the snapshot taken before. */
	ScanKeyInit(&keys[0], 1, BTGreaterEqualStrategyNumber, F_XID8GE, horizon);
	ScanKeyInit(&keys[1], 1, BTLessStrategyNumber, F_XID8LT,
				FullTransactionIdGetDatum(next));
	scan = index_beginscan(rel, worklist, snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while (fresh->count < max_count &&
		   index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull;
		Datum		position;

		position = slot_getattr(slot, er->attnum[EVCOL_GLOBAL_POSITION],
								&isnull);
		if (!isnull && DatumGetInt64(position) == 0)
		{
			Datum		xid = slot_getattr(slot, er->attnum[EVCOL_APPEND_XID],
										   &isnull);

			if (!isnull &&
				TransactionIdIsCurrentTransactionId(XidFromFullTransactionId(DatumGetFullTransactionId(xid))))
				*own_rows = true;
			worklist_add(fresh, slot, er);
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(worklist, AccessShareLock);
}

/* The entries of a row that now has this position. */
static void
insert_position_entries(Relation rel, PositionIndexes *pi,
						const ItemPointerData *tid, int64 position,
						TupleTableSlot *probe, EState *estate,
						AttrNumber position_attnum)
{
	ExprContext *econtext = GetPerTupleExprContext(estate);
	int			i;

	set_position_only(probe, position_attnum, position);
	econtext->ecxt_scantuple = probe;
	for (i = 0; i < pi->count; i++)
	{
		Relation	index = pi->indexes[i];
		Datum		value = Int64GetDatum(position);
		bool		isnull = false;

		if (pi->predicates[i] != NULL && !ExecQual(pi->predicates[i], econtext))
			continue;
		(void) index_insert(index, &value, &isnull, (ItemPointer) tid, rel,
							index->rd_index->indisunique ?
							UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
							false, pi->infos[i]);
	}
	ResetPerTupleExprContext(estate);
}

/* The index of positions to read the highest one from, or NULL. */
static Relation
ordering_index(PositionIndexes *pi, AttrNumber position_attnum)
{
	int			i;

	for (i = 0; i < pi->count; i++)
		if (is_position_btree(pi->indexes[i], pi->infos[i], position_attnum))
			return pi->indexes[i];
	return NULL;
}

/*
 * The highest position handed out, after adopting what a failed batch
 * left: walking the index of positions down from its highest entry whose
 * row the snapshot sees, the rows still at 0 get their entry's position;
 * the walk stops at the first row that has it.  0 when there is none.
 */
static int64
adopt_positions(Relation rel, Relation index, AttrNumber position_attnum,
				Snapshot snapshot, const CqrsEventRelation *er,
				CqrsDueStreams *due)
{
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	IndexScanDesc scan;
	CqrsPositionWrite *writes = NULL;
	int			count = 0;
	int			allocated = 0;
	int64		highest = 0;
	int			i;

	scan = index_beginscan(rel, index, snapshot, 0, 0);
	scan->xs_want_itup = true;
	index_rescan(scan, NULL, 0, NULL, 0);
	while (index_getnext_slot(scan, BackwardScanDirection, slot))
	{
		bool		isnull;
		int64		key;
		int64		stored;

		key = DatumGetInt64(index_getattr(scan->xs_itup, 1, scan->xs_itupdesc,
										  &isnull));
		stored = DatumGetInt64(slot_getattr(slot, position_attnum, &isnull));
		if (highest == 0)
			highest = key;
		if (stored == key)
			break;
		if (stored != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("index \"%s\" has position " INT64_FORMAT " for an event whose position is " INT64_FORMAT,
							RelationGetRelationName(index), key, stored)));
		if (count == allocated)
		{
			allocated = Max(16, allocated * 2);
			writes = writes == NULL ?
				palloc(sizeof(CqrsPositionWrite) * allocated) :
				repalloc(writes, sizeof(CqrsPositionWrite) * allocated);
		}
		writes[count].tid = slot->tts_tid;
		writes[count].position = key;
		count++;
		cqrs_note_due_stream(due,
							 DatumGetUUIDP(slot_getattr(slot, er->attnum[EVCOL_STREAM_ID], &isnull)),
							 DatumGetInt64(slot_getattr(slot, er->attnum[EVCOL_VERSION], &isnull)));
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);

	/* In increasing order, as they were meant to be written. */
	for (i = 0; i < count / 2; i++)
	{
		CqrsPositionWrite swap = writes[i];

		writes[i] = writes[count - 1 - i];
		writes[count - 1 - i] = swap;
	}
	cqrs_write_positions(rel, writes, count);
	return highest;
}

/*
 * Number the fresh rows from last + 1: their index entries, then the
 * positions in place, in increasing order.
 */
static void
number_in_place(Relation rel, PositionIndexes *pi, WorkList *fresh,
				int64 last, TupleTableSlot *probe, EState *estate,
				AttrNumber position_attnum, CqrsDueStreams *due)
{
	CqrsPositionWrite *writes = palloc(sizeof(CqrsPositionWrite) *
									   Max(fresh->count, 1));
	int16	   *type_ids = palloc(sizeof(int16) * Max(fresh->count, 1));
	int			i;

	for (i = 0; i < fresh->count; i++)
	{
		writes[i].tid = fresh->items[i].tid;
		writes[i].position = last + 1 + i;
		type_ids[i] = fresh->items[i].type_id;
		insert_position_entries(rel, pi, &writes[i].tid, writes[i].position,
								probe, estate, position_attnum);
		cqrs_note_due_stream(due, &fresh->items[i].stream_id,
							 fresh->items[i].version);
	}
	cqrs_write_positions(rel, writes, fresh->count);
	cqrs_numbered_types_record(last + 1, fresh->count, type_ids);
	pfree(type_ids);
	pfree(writes);
}

/*
 * Adopt what a failed batch left, then number at most max_count committed
 * events from the horizon on; streams that need a snapshot are added to
 * due.  *last_position is set to the highest position before this step's
 * numbering, or -1 when the table has no btree index on global_position to
 * read it from.  Returns false, having numbered nothing, when the table,
 * or a batch holding this transaction's own rows, must be numbered
 * through the UPDATE statement.
 */
bool
cqrs_number_events(int max_count, Datum horizon, int64 *last_position,
				   uint64 *numbered, CqrsDueStreams *due)
{
	const CqrsEventRelation *er = cqrs_event_relation();
	AttrNumber	position_attnum = er->attnum[EVCOL_GLOBAL_POSITION];
	Relation	rel;
	Relation	order_index;
	EState	   *estate;
	TupleTableSlot *probe;
	PositionIndexes pi;
	Snapshot	snapshot;
	WorkList	fresh = {0};
	bool		in_place;
	int64		last = -1;

	/* The executor's check, which writing the heap directly bypasses. */
	PreventCommandIfReadOnly("UPDATE");

	rel = table_open(er->relid, RowExclusiveLock);
	estate = CreateExecutorState();
	probe = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	open_position_indexes(rel, position_attnum, estate, probe, &pi);
	order_index = ordering_index(&pi, position_attnum);
	in_place = order_index != NULL && pi.maintainable &&
		!table_changed_for_updates(rel) &&
		cqrs_position_writable(rel, position_attnum);

	/* See this transaction's earlier work, then take a fresh snapshot. */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	if (order_index != NULL)
		last = adopt_positions(rel, order_index, position_attnum, snapshot,
							   er, due);
	if (in_place)
	{
		bool		own_rows = false;

		collect_work(rel, er, snapshot, horizon, max_count, &fresh,
					 &own_rows);

		/*
		 * Rows this transaction appended die if it aborts, while positions
		 * written in place stay: numbered in place together with other
		 * transactions' rows, they would leave holes in the positions the
		 * others keep.  Such a batch takes the UPDATE statement, which an
		 * abort undoes as a whole.
		 */
		if (own_rows)
		{
			in_place = false;
			fresh.count = 0;
		}
		else
			number_in_place(rel, &pi, &fresh, last, probe, estate,
							position_attnum, due);
	}
	UnregisterSnapshot(snapshot);

	/* The statement's positions may yet be undone: see numbered_types.c. */
	if (!in_place)
		cqrs_numbered_types_forget();

	ExecDropSingleTupleTableSlot(probe);
	close_position_indexes(&pi);
	FreeExecutorState(estate);
	table_close(rel, NoLock);

	/* Later statements of the transaction see the positions. */
	CommandCounterIncrement();
	*last_position = last;
	*numbered = (uint64) fresh.count;
	return in_place;
}
