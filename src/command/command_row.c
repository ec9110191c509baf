/*-------------------------------------------------------------------------
 *
 * command_row.c
 *	  Reads and writes one row of the command log (cqrs.commands) without
 *	  an SQL statement: every command looks up its id (a probe of the
 *	  primary key) and writes one row (a heap insert and its index
 *	  entries, as COPY writes them; see util/direct_write.c).  A statement
 *	  would parse the table's CHECK constraints again for every row and
 *	  start up and shut down an executor around a single-row access.
 *
 *	  The look-up sees what an SQL query of the command's transaction would
 *	  see: the transaction snapshot, which under READ COMMITTED is taken
 *	  afresh (after the command id's lock, so a command the lock waited for
 *	  is found once it has committed).
 *
 *	  A table a DBA has changed (see cqrs_table_as_installed) is left to
 *	  the SQL statements of command_log.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "commands/sequence.h"
#include "executor/tuptable.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "command/command_row.h"
#include "util/direct_write.h"

/* The columns of cqrs.commands, in the order of the install script. */
typedef enum CommandColumn
{
	CMDCOL_COMMAND_ID,
	CMDCOL_COMMAND_TYPE,
	CMDCOL_PAYLOAD,
	CMDCOL_STATUS,
	CMDCOL_STREAM_ID,
	CMDCOL_VERSION,
	CMDCOL_EVENT_COUNT,
	CMDCOL_REASON,
	CMDCOL_ORIGIN,
	CMDCOL_SEQ,
	CMDCOL_RECEIVED_AT,
	CMDCOL_DUE_AT,
	CMDCOL_HANDLED_AT,
	CMDCOL_ATTEMPTS,
	CMDCOL_LAST_ERROR,
	CMDCOL_COUNT
} CommandColumn;

static const char *const column_names[CMDCOL_COUNT] = {
	"command_id", "command_type", "payload", "status", "stream_id",
	"version", "event_count", "reason", "origin", "seq", "received_at", "due_at",
	"handled_at", "attempts", "last_error"
};

static const char *const command_checks[] = {
	"commands_status_check", "commands_origin_check", "commands_handled_check"
};

static const CqrsInstalledShape commands_shape = {
	CMDCOL_COUNT, lengthof(command_checks), command_checks
};

/* Where cqrs.commands lives; forgotten on relcache invalidation. */
typedef struct CommandRelation
{
	Oid			relid;
	Oid			pkey_relid;
	Oid			seq_relid;		/* the identity sequence of seq, if any */
	AttrNumber	attnum[CMDCOL_COUNT];
} CommandRelation;

static CommandRelation cached;
static bool callback_registered = false;

static void
forget_relation(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cached.relid ||
		relid == cached.pkey_relid || relid == cached.seq_relid)
		cached.relid = InvalidOid;
}

static const CommandRelation *
command_relation(void)
{
	Oid			relid;

	if (OidIsValid(cached.relid))
		return &cached;
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(forget_relation, (Datum) 0);
		callback_registered = true;
	}

	cached.pkey_relid = cqrs_relation_oid("commands_pkey");
	relid = IndexGetRelation(cached.pkey_relid, false);
	cqrs_column_numbers(relid, "cqrs.commands", column_names, CMDCOL_COUNT,
						cached.attnum);
	/* InvalidOid if a DBA made seq an ordinary column: no direct inserts. */
	cached.seq_relid = getIdentitySequence(relid, cached.attnum[CMDCOL_SEQ],
										   true);
	cached.relid = relid;		/* valid from now on */
	return &cached;
}

#define COLUMN(cr, col) ((cr)->attnum[col] - 1)

bool
cqrs_command_row_lookup(const pg_uuid_t *id, MemoryContext result_cxt,
						CqrsCommandResult *res, char **type, Jsonb **payload,
						bool *found)
{
	const CommandRelation *cr = command_relation();
	Relation	rel;
	Relation	index;
	Snapshot	snapshot;
	ScanKeyData key;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	MemoryContext old;
	Datum	   *values;
	bool	   *isnull;

	rel = table_open(cr->relid, AccessShareLock);
	if (!cqrs_table_as_installed(rel, &commands_shape))
	{
		table_close(rel, NoLock);
		return false;
	}
	index = index_open(cr->pkey_relid, AccessShareLock);

	/* What a query would see: earlier writes of ours, a fresh snapshot. */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetTransactionSnapshot());

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ,
				UUIDPGetDatum((pg_uuid_t *) id));
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, index, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	*found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (*found)
	{
		slot_getallattrs(slot);
		values = slot->tts_values;
		isnull = slot->tts_isnull;

		old = MemoryContextSwitchTo(result_cxt);
		memset(res, 0, sizeof(CqrsCommandResult));
		res->command_id = *id;
		*type = TextDatumGetCString(values[COLUMN(cr, CMDCOL_COMMAND_TYPE)]);
		*payload = DatumGetJsonbPCopy(values[COLUMN(cr, CMDCOL_PAYLOAD)]);
		res->status = cqrs_command_status_from_name(TextDatumGetCString(values[COLUMN(cr, CMDCOL_STATUS)]));
		if (!isnull[COLUMN(cr, CMDCOL_STREAM_ID)])
		{
			res->has_stream = true;
			res->stream_id = *DatumGetUUIDP(values[COLUMN(cr, CMDCOL_STREAM_ID)]);
		}
		if (!isnull[COLUMN(cr, CMDCOL_VERSION)])
		{
			res->has_version = true;
			res->version = DatumGetInt64(values[COLUMN(cr, CMDCOL_VERSION)]);
		}
		res->event_count = DatumGetInt32(values[COLUMN(cr, CMDCOL_EVENT_COUNT)]);
		if (!isnull[COLUMN(cr, CMDCOL_REASON)])
			res->reason = TextDatumGetCString(values[COLUMN(cr, CMDCOL_REASON)]);
		MemoryContextSwitchTo(old);
	}

	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	UnregisterSnapshot(snapshot);
	/* Locks are kept to the end of the transaction, as a query's are. */
	index_close(index, NoLock);
	table_close(rel, NoLock);
	return true;
}

bool
cqrs_command_row_insert(const CqrsCommandRow *row)
{
	const CommandRelation *cr = command_relation();
	const CqrsCommandResult *res = row->result;
	Relation	rel;
	TupleTableSlot *slot;
	CqrsIndexWriter writer;
	Datum	   *values;
	bool	   *isnull;

	rel = table_open(cr->relid, RowExclusiveLock);
	if (!OidIsValid(cr->seq_relid) ||
		!cqrs_table_as_installed(rel, &commands_shape))
	{
		table_close(rel, NoLock);
		return false;
	}

	/* First: refuses a read-only transaction before nextval() does. */
	cqrs_index_writer_begin(&writer, rel);

	slot = table_slot_create(rel, NULL);
	values = slot->tts_values;
	isnull = slot->tts_isnull;
	ExecClearTuple(slot);
	memset(isnull, true, slot->tts_tupleDescriptor->natts * sizeof(bool));

#define SET_COLUMN(col, value) \
	do { \
		values[COLUMN(cr, col)] = (value); \
		isnull[COLUMN(cr, col)] = false; \
	} while (0)

	/* The values of the INSERT statement of command_log.c, defaults too. */
	SET_COLUMN(CMDCOL_COMMAND_ID, UUIDPGetDatum((pg_uuid_t *) row->command_id));
	SET_COLUMN(CMDCOL_COMMAND_TYPE, CStringGetTextDatum(row->command_type));
	SET_COLUMN(CMDCOL_PAYLOAD, JsonbPGetDatum(row->payload));
	SET_COLUMN(CMDCOL_STATUS,
			   CStringGetTextDatum(cqrs_command_status_name(res ? res->status :
															CQRS_COMMAND_PENDING)));
	if (res && res->has_stream)
		SET_COLUMN(CMDCOL_STREAM_ID, UUIDPGetDatum((pg_uuid_t *) &res->stream_id));
	if (res && res->has_version)
		SET_COLUMN(CMDCOL_VERSION, Int64GetDatum(res->version));
	SET_COLUMN(CMDCOL_EVENT_COUNT, Int32GetDatum(res ? res->event_count : 0));
	if (res && res->reason)
		SET_COLUMN(CMDCOL_REASON, CStringGetTextDatum(res->reason));
	SET_COLUMN(CMDCOL_ORIGIN, CStringGetTextDatum(row->origin));
	SET_COLUMN(CMDCOL_SEQ, Int64GetDatum(nextval_internal(cr->seq_relid, false)));
	SET_COLUMN(CMDCOL_RECEIVED_AT,
			   TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
	if (row->has_due_at)
		SET_COLUMN(CMDCOL_DUE_AT, TimestampTzGetDatum(row->due_at));
	if (res && res->status != CQRS_COMMAND_PENDING)
		SET_COLUMN(CMDCOL_HANDLED_AT, TimestampTzGetDatum(GetCurrentTimestamp()));
	SET_COLUMN(CMDCOL_ATTEMPTS, Int32GetDatum(0));
#undef SET_COLUMN
	ExecStoreVirtualTuple(slot);

	table_tuple_insert(rel, slot, GetCurrentCommandId(true), 0, NULL);
	cqrs_index_writer_insert(&writer, slot);
	cqrs_index_writer_end(&writer);

	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);

	/* Later statements of the transaction see the row. */
	CommandCounterIncrement();
	return true;
}
