/*-------------------------------------------------------------------------
 *
 * position_write.c
 *	  Writes the global positions of committed events into their rows in
 *	  place: the eight bytes of global_position, 0 until then, become the
 *	  position, on the heap page itself, under the buffer's exclusive
 *	  lock, in a critical section with the WAL record that redoes it.
 *
 *	  Why in place: an UPDATE writes a second copy of every event (a new
 *	  row version with an entry in every index, and later the vacuuming of
 *	  the old one), which was a third of the log's WAL.  In place, the row
 *	  stays where it is, the indexes whose keys do not involve the position
 *	  stay as they are, and the WAL is the eight bytes per event.
 *
 *	  Why that is safe:
 *	  - global_position is the first column and NOT NULL, so it lies at
 *	    the start of the row's data, eight-byte aligned: one aligned store
 *	    changes it, and a session reading the row while holding only a pin
 *	    on the page sees 0 or the position, never a mix.
 *	  - Nothing else ever changes a row of cqrs.events (the append-only
 *	    triggers refuse UPDATE, DELETE and TRUNCATE); VACUUM FULL and
 *	    CLUSTER, which move rows, wait for the caller's lock on the table.
 *	  - The change is not transactional: a position once written stays,
 *	    even if the sequencer's transaction then fails.  Readers therefore
 *	    read positions only up to cqrs.sequencer_state.last_position,
 *	    which commits with the batch, and the next sequencer adopts what a
 *	    failed batch wrote (sequencer_number.c).
 *
 *	  The WAL record is a generic one (access/generic_xlog.h): its redo,
 *	  built into the server, copies each fragment (offset, length, bytes)
 *	  into the page, so recovery and standbys need nothing from this
 *	  library.  The record is built here rather than by GenericXLogFinish,
 *	  which would copy a whole modified page image back over the live
 *	  page, bytes other sessions may be reading with a pin only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/rmgr.h"
#include "access/xloginsert.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"

#include "store/position_write.h"

/* A generic WAL fragment: offset and length in the page, then the bytes. */
#define FRAGMENT_SIZE (2 * sizeof(OffsetNumber) + sizeof(int64))

/*
 * Can positions of this table be written in place?  The position must be
 * the first column, a NOT NULL bigint.
 */
bool
cqrs_position_writable(Relation rel, AttrNumber position_attnum)
{
	Form_pg_attribute att;

	if (position_attnum != 1 || RelationGetDescr(rel)->natts < 1)
		return false;
	att = TupleDescAttr(RelationGetDescr(rel), 0);
	return !att->attisdropped && att->atttypid == INT8OID &&
		att->attlen == sizeof(int64) && att->attbyval && att->attnotnull &&
		att->attalign == TYPALIGN_DOUBLE;
}

/*
 * Where the position of the row at offnum lies in page; the row must be a
 * live row whose position is still 0.
 */
static char *
position_field(Page page, OffsetNumber offnum, const ItemPointerData *tid)
{
	ItemId		lp;
	HeapTupleHeader htup;
	char	   *field;
	int64		current;

	if (offnum < FirstOffsetNumber || offnum > PageGetMaxOffsetNumber(page))
		elog(ERROR, "event row (%u,%u) is beyond its page",
			 ItemPointerGetBlockNumber(tid), offnum);
	lp = PageGetItemId(page, offnum);
	if (!ItemIdIsNormal(lp))
		elog(ERROR, "event row (%u,%u) is not a live row",
			 ItemPointerGetBlockNumber(tid), offnum);
	htup = (HeapTupleHeader) PageGetItem(page, lp);
	if (HeapTupleHeaderGetNatts(htup) < 1 ||
		((htup->t_infomask & HEAP_HASNULL) && att_isnull(0, htup->t_bits)) ||
		ItemIdGetLength(lp) < htup->t_hoff + sizeof(int64))
		elog(ERROR, "event row (%u,%u) has no global position to fill in",
			 ItemPointerGetBlockNumber(tid), offnum);
	field = (char *) htup + htup->t_hoff;
	if (((uintptr_t) field) % sizeof(int64) != 0)
		elog(ERROR, "event row (%u,%u) has a misaligned global position",
			 ItemPointerGetBlockNumber(tid), offnum);
	memcpy(&current, field, sizeof(int64));
	if (current != 0)
		elog(ERROR, "event row (%u,%u) already has global position " INT64_FORMAT,
			 ItemPointerGetBlockNumber(tid), offnum, current);
	return field;
}

/*
 * Give count rows, all on one block of rel, their positions: one WAL
 * record for the lot.
 */
void
cqrs_write_positions(Relation rel, const CqrsPositionWrite *writes, int count)
{
	BlockNumber block = ItemPointerGetBlockNumber(&writes[0].tid);
	char	  **fields = palloc(sizeof(char *) * count);
	char	   *delta = palloc(FRAGMENT_SIZE * count);
	Buffer		buffer;
	Page		page;
	int			i;

	buffer = ReadBuffer(rel, block);
	LockBuffer(buffer, BUFFER_LOCK_EXCLUSIVE);
	page = BufferGetPage(buffer);

	/* Check every row and build the WAL delta before changing anything. */
	for (i = 0; i < count; i++)
	{
		char	   *fragment = delta + FRAGMENT_SIZE * i;
		OffsetNumber offset;
		OffsetNumber length = sizeof(int64);

		Assert(ItemPointerGetBlockNumber(&writes[i].tid) == block);
		fields[i] = position_field(page,
								   ItemPointerGetOffsetNumber(&writes[i].tid),
								   &writes[i].tid);
		offset = (OffsetNumber) (fields[i] - (char *) page);
		memcpy(fragment, &offset, sizeof(OffsetNumber));
		memcpy(fragment + sizeof(OffsetNumber), &length, sizeof(OffsetNumber));
		memcpy(fragment + 2 * sizeof(OffsetNumber), &writes[i].position,
			   sizeof(int64));
	}

	START_CRIT_SECTION();

	/* One aligned eight-byte store per row. */
	for (i = 0; i < count; i++)
		*((volatile int64 *) fields[i]) = writes[i].position;
	MarkBufferDirty(buffer);

	if (RelationNeedsWAL(rel))
	{
		XLogRecPtr	recptr;

		XLogBeginInsert();
		XLogRegisterBuffer(0, buffer, REGBUF_STANDARD);
		XLogRegisterBufData(0, delta, FRAGMENT_SIZE * count);
		recptr = XLogInsert(RM_GENERIC_ID, 0);
		PageSetLSN(page, recptr);
	}

	END_CRIT_SECTION();

	UnlockReleaseBuffer(buffer);
	pfree(delta);
	pfree(fields);
}
