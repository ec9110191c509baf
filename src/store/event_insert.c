/*-------------------------------------------------------------------------
 *
 * event_insert.c
 *	  Writes an append's events into cqrs.events.
 *
 *	  The table as the extension installs it is written directly: the heap
 *	  tuples through the table access method (one multi-insert for a batch)
 *	  and their entries through the executor's index maintenance, as COPY
 *	  does.  An INSERT statement would add what an append does not need:
 *	  the plan cache check, executor start-up and shutdown, the CHECK
 *	  constraint read back from the catalog and evaluated for versions the
 *	  append computed itself, and defaults it fills in anyway.  The unique
 *	  indexes still check every row (same errors as an INSERT).
 *
 *	  A DBA who adds an INSERT trigger, a CHECK constraint, a column,
 *	  row-level security or a rule to the table gets the INSERT statement
 *	  instead, so that all of them apply.
 *
 *	  Global positions stay NULL: the sequencer fills them in once the
 *	  transaction has committed (sequencer.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "store/event_insert.h"
#include "store/event_relation.h"
#include "util/direct_write.h"
#include "util/spi_plan.h"

/* Rows per multi-insert call (COPY's batch size). */
#define INSERT_BATCH 1000

static SPIPlanPtr plan_insert = NULL;

/* cqrs.events as the install script creates it. */
static const char *const event_checks[] = {"events_version_check"};
static const CqrsInstalledShape events_shape = {
	EVCOL_COUNT, lengthof(event_checks), event_checks
};

/* Fill slot with one event's row (every column not set here is NULL). */
static void
fill_slot(TupleTableSlot *slot, const CqrsEventRelation *er,
		  const pg_uuid_t *stream_id, text *stream_type, int64 version,
		  CqrsEventInput *ev, int32 ordinal, Datum recorded_at,
		  Datum append_xid)
{
	int			natts = slot->tts_tupleDescriptor->natts;

#define SET_COLUMN(col, value) \
	do { \
		slot->tts_values[er->attnum[col] - 1] = (value); \
		slot->tts_isnull[er->attnum[col] - 1] = false; \
	} while (0)

	ExecClearTuple(slot);
	memset(slot->tts_isnull, true, natts * sizeof(bool));
	SET_COLUMN(EVCOL_GLOBAL_POSITION, Int64GetDatum(0));
	SET_COLUMN(EVCOL_STREAM_ID, UUIDPGetDatum((pg_uuid_t *) stream_id));
	SET_COLUMN(EVCOL_STREAM_TYPE, PointerGetDatum(stream_type));
	SET_COLUMN(EVCOL_VERSION, Int64GetDatum(version));
	SET_COLUMN(EVCOL_EVENT_TYPE, CStringGetTextDatum(ev->event_type));
	SET_COLUMN(EVCOL_DATA, JsonbPGetDatum(ev->data));
	SET_COLUMN(EVCOL_METADATA, JsonbPGetDatum(ev->metadata));
	SET_COLUMN(EVCOL_EVENT_ID, UUIDPGetDatum(&ev->event_id));
	SET_COLUMN(EVCOL_RECORDED_AT, recorded_at);
	SET_COLUMN(EVCOL_APPEND_XID, append_xid);
	SET_COLUMN(EVCOL_APPEND_ORDINAL, Int32GetDatum(ordinal));
#undef SET_COLUMN
	ExecStoreVirtualTuple(slot);
}

static void
insert_direct(Relation rel, const pg_uuid_t *stream_id, text *stream_type,
			  int64 first_version, CqrsEventInput *events, int count,
			  int32 first_ordinal)
{
	const CqrsEventRelation *er = cqrs_event_relation();
	Datum		recorded_at = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	Datum		append_xid = FullTransactionIdGetDatum(GetTopFullTransactionId());
	CommandId	cid = GetCurrentCommandId(true);
	CqrsIndexWriter writer;
	int			nslots = Min(count, INSERT_BATCH);
	TupleTableSlot **slots = palloc(sizeof(TupleTableSlot *) * nslots);
	BulkInsertState bistate = NULL;
	int			done = 0;
	int			i;

	cqrs_index_writer_begin(&writer, rel);
	for (i = 0; i < nslots; i++)
		slots[i] = table_slot_create(rel, NULL);
	if (count > 1)
		bistate = GetBulkInsertState();

	while (done < count)
	{
		int			n = Min(count - done, INSERT_BATCH);

		for (i = 0; i < n; i++)
			fill_slot(slots[i], er, stream_id, stream_type,
					  first_version + done + i, &events[done + i],
					  first_ordinal + done + i, recorded_at, append_xid);
		if (n == 1)
			table_tuple_insert(rel, slots[0], cid, 0, NULL);
		else
			table_multi_insert(rel, slots, n, cid, 0, bistate);
		for (i = 0; i < n; i++)
			cqrs_index_writer_insert(&writer, slots[i]);
		done += n;
	}

	if (bistate != NULL)
		FreeBulkInsertState(bistate);
	for (i = 0; i < nslots; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	cqrs_index_writer_end(&writer);

	/* Later statements of the transaction see the rows. */
	CommandCounterIncrement();
}

/* Through an INSERT statement, for a table that has been changed. */
static void
insert_statement(const pg_uuid_t *stream_id, text *stream_type,
				 int64 first_version, CqrsEventInput *events, int count,
				 int32 first_ordinal)
{
	Oid			argtypes[8] = {UUIDOID, TEXTOID, INT8OID, INT4OID,
	TEXTARRAYOID, JSONBARRAYOID, JSONBARRAYOID, UUIDARRAYOID};
	Datum		values[8];
	Datum	   *types = palloc(sizeof(Datum) * count);
	Datum	   *datas = palloc(sizeof(Datum) * count);
	Datum	   *metas = palloc(sizeof(Datum) * count);
	Datum	   *ids = palloc(sizeof(Datum) * count);
	int			i;
	int			rc;

	for (i = 0; i < count; i++)
	{
		types[i] = CStringGetTextDatum(events[i].event_type);
		datas[i] = JsonbPGetDatum(events[i].data);
		metas[i] = JsonbPGetDatum(events[i].metadata);
		ids[i] = UUIDPGetDatum(&events[i].event_id);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cqrs_spi_plan(&plan_insert,
				  "INSERT INTO cqrs.events (stream_id, stream_type, version,"
				  " event_type, data, metadata, event_id, append_xid,"
				  " append_ordinal)"
				  " SELECT $1, $2, $3 + u.n - 1, u.t, u.d, u.m, u.i,"
				  " pg_catalog.pg_current_xact_id(), $4 + (u.n - 1)::integer"
				  " FROM unnest($5, $6, $7, $8)"
				  " WITH ORDINALITY AS u(t, d, m, i, n)",
				  8, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) stream_id);
	values[1] = PointerGetDatum(stream_type);
	values[2] = Int64GetDatum(first_version);
	values[3] = Int32GetDatum(first_ordinal);
	values[4] = PointerGetDatum(construct_array(types, count, TEXTOID,
												-1, false, TYPALIGN_INT));
	values[5] = PointerGetDatum(construct_array(datas, count, JSONBOID,
												-1, false, TYPALIGN_INT));
	values[6] = PointerGetDatum(construct_array(metas, count, JSONBOID,
												-1, false, TYPALIGN_INT));
	values[7] = PointerGetDatum(construct_array(ids, count, UUIDOID,
												UUID_LEN, false, TYPALIGN_CHAR));
	rc = SPI_execute_plan(plan_insert, values, NULL, false, 0);
	cqrs_spi_check(rc, SPI_OK_INSERT, "inserting events");
	if (SPI_processed != (uint64) count)
		elog(ERROR, "inserted " UINT64_FORMAT " events instead of %d",
			 SPI_processed, count);
	SPI_finish();
}

/*
 * Insert count events of one stream with versions first_version onwards
 * and append ordinals first_ordinal onwards.  The caller holds the
 * stream's lock.
 */
void
cqrs_insert_events(const pg_uuid_t *stream_id, text *stream_type,
				   int64 first_version, CqrsEventInput *events, int count,
				   int32 first_ordinal)
{
	Relation	rel;

	rel = table_open(cqrs_event_relation()->relid, RowExclusiveLock);
	if (cqrs_table_as_installed(rel, &events_shape))
		insert_direct(rel, stream_id, stream_type, first_version, events,
					  count, first_ordinal);
	else
		insert_statement(stream_id, stream_type, first_version, events,
						 count, first_ordinal);
	table_close(rel, NoLock);
}
