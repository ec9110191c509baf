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

/* The blocks one generic WAL record may change (its redo's limit). */
#define BLOCKS_PER_RECORD 4

/*
 * Write the positions of count rows on nblocks distinct blocks: one WAL
 * record.  The buffers are locked in block order, as heap updates do.
 */
static void
write_group(Relation rel, const CqrsPositionWrite *writes, int count,
			BlockNumber *blocks, int nblocks)
{
	Buffer		buffers[BLOCKS_PER_RECORD];
	char	   *deltas[BLOCKS_PER_RECORD];
	int			lengths[BLOCKS_PER_RECORD];
	char	  **fields = palloc(sizeof(char *) * count);
	int			i;
	int			b;

	/* Insertion sort of at most four block numbers. */
	for (i = 1; i < nblocks; i++)
		for (b = i; b > 0 && blocks[b - 1] > blocks[b]; b--)
		{
			BlockNumber swap = blocks[b];

			blocks[b] = blocks[b - 1];
			blocks[b - 1] = swap;
		}
	for (b = 0; b < nblocks; b++)
	{
		buffers[b] = ReadBuffer(rel, blocks[b]);
		LockBuffer(buffers[b], BUFFER_LOCK_EXCLUSIVE);
		deltas[b] = palloc(FRAGMENT_SIZE * count);
		lengths[b] = 0;
	}

	/* Check every row and build the WAL deltas before changing anything. */
	for (i = 0; i < count; i++)
	{
		BlockNumber block = ItemPointerGetBlockNumber(&writes[i].tid);
		Page		page;
		char	   *fragment;
		OffsetNumber offset;
		OffsetNumber length = sizeof(int64);

		for (b = 0; blocks[b] != block; b++)
			;
		page = BufferGetPage(buffers[b]);
		fields[i] = position_field(page,
								   ItemPointerGetOffsetNumber(&writes[i].tid),
								   &writes[i].tid);
		offset = (OffsetNumber) (fields[i] - (char *) page);
		fragment = deltas[b] + lengths[b];
		memcpy(fragment, &offset, sizeof(OffsetNumber));
		memcpy(fragment + sizeof(OffsetNumber), &length, sizeof(OffsetNumber));
		memcpy(fragment + 2 * sizeof(OffsetNumber), &writes[i].position,
			   sizeof(int64));
		lengths[b] += FRAGMENT_SIZE;
	}

	START_CRIT_SECTION();

	/* One aligned eight-byte store per row. */
	for (i = 0; i < count; i++)
		*((volatile int64 *) fields[i]) = writes[i].position;
	for (b = 0; b < nblocks; b++)
		MarkBufferDirty(buffers[b]);

	if (RelationNeedsWAL(rel))
	{
		XLogRecPtr	recptr;

		XLogBeginInsert();
		for (b = 0; b < nblocks; b++)
		{
			XLogRegisterBuffer(b, buffers[b], REGBUF_STANDARD);
			XLogRegisterBufData(b, deltas[b], lengths[b]);
		}
		recptr = XLogInsert(RM_GENERIC_ID, 0);
		for (b = 0; b < nblocks; b++)
			PageSetLSN(BufferGetPage(buffers[b]), recptr);
	}

	END_CRIT_SECTION();

	for (b = 0; b < nblocks; b++)
	{
		UnlockReleaseBuffer(buffers[b]);
		pfree(deltas[b]);
	}
	pfree(fields);
}

/*
 * Give count rows their positions, in the order given: one WAL record per
 * run of rows that lie on at most four blocks.  A crash keeps a prefix of
 * the writes.
 */
void
cqrs_write_positions(Relation rel, const CqrsPositionWrite *writes, int count)
{
	int			start = 0;

	while (start < count)
	{
		BlockNumber blocks[BLOCKS_PER_RECORD];
		int			nblocks = 0;
		int			end = start;

		while (end < count)
		{
			BlockNumber block = ItemPointerGetBlockNumber(&writes[end].tid);
			int			b;

			for (b = 0; b < nblocks && blocks[b] != block; b++)
				;
			if (b == nblocks)
			{
				if (nblocks == BLOCKS_PER_RECORD)
					break;
				blocks[nblocks++] = block;
			}
			end++;
		}
		write_group(rel, writes + start, end - start, blocks, nblocks);
		start = end;
	}
}
