/*-------------------------------------------------------------------------
 *
 * command_log.c
 *	  The command log (cqrs.commands) and the life of a command in it:
 *	  send (handle now), enqueue (store as pending, optionally due at a
 *	  time), and the handling of pending commands by the worker and
 *	  cqrs.drain().
 *
 *	  Exactly-once effect: a command id is locked (a transaction-level
 *	  advisory lock of our own kind) before the log is consulted, so two
 *	  sessions sending the same id at the same moment queue; the second
 *	  one, once the first commits, finds the logged result and returns it
 *	  without writing anything.  Under READ COMMITTED each SPI query takes
 *	  a fresh snapshot, so the lookup after the lock sees the first
 *	  session's row.  If the first session rolls back, the second handles
 *	  the command itself.
 *
 *	  A payload that fails validation raises its error before the lock is
 *	  taken or anything is written.  A business rejection is logged with
 *	  its reason, so a retry gets the same answer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "command/command.h"
#include "command/command_row.h"
#include "command/payload.h"
#include "util/jsonb_util.h"
#include "util/spi_plan.h"
#include "util/uuid_util.h"

/* A transient failure (SQLSTATE class 40) of a pending command is retried this often. */
#define PENDING_MAX_ATTEMPTS 3

static SPIPlanPtr plan_lookup = NULL;
static SPIPlanPtr plan_events = NULL;
static SPIPlanPtr plan_insert = NULL;
static SPIPlanPtr plan_pending = NULL;
static SPIPlanPtr plan_done = NULL;
static SPIPlanPtr plan_failed = NULL;

static const char *const status_names[] = {"pending", "accepted", "rejected"};

const char *
cqrs_command_status_name(CqrsCommandStatus status)
{
	return status_names[status];
}

CqrsCommandStatus
cqrs_command_status_from_name(const char *name)
{
	int			i;

	for (i = 0; i < lengthof(status_names); i++)
		if (strcmp(name, status_names[i]) == 0)
			return (CqrsCommandStatus) i;
	elog(ERROR, "unknown command status \"%s\"", name);
	return CQRS_COMMAND_PENDING;	/* keep the compiler quiet */
}

/* Exclusive transaction lock on one command id. */
static void
lock_command_id(const pg_uuid_t *id)
{
	LOCKTAG		tag;
	uint32		key1 = 0;
	uint32		key2 = 0;
	int			i;

	for (i = 0; i < 4; i++)
	{
		key1 = (key1 << 8) | (id->data[i] ^ id->data[i + 8]);
		key2 = (key2 << 8) | (id->data[i + 4] ^ id->data[i + 12]);
	}
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, key1, key2, CQRS_COMMAND_LOCK_KIND);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}

/*
 * Validate the command type and the payload and parse it.  Raises 22023
 * for an unknown type or a payload that is not an object, and whatever the
 * type's parser raises for its fields.
 */
static void *
parse_command(const char *command_type, Jsonb *payload,
			  const CqrsCommandHandler **handler_out)
{
	const CqrsCommandHandler *handler = cqrs_command_handler(command_type);
	CqrsPayload p;

	if (handler == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown command type \"%s\"", command_type),
				 errhint("Command types are the reference names, such as \"RegisterToConference\"; see docs/commands.md.")));
	if (!JB_ROOT_IS_OBJECT(payload))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payload of %s command must be a JSON object",
						command_type)));
	p.command_type = handler->command_type;
	p.root = &payload->root;
	*handler_out = handler;
	return handler->parse(&p);
}

/*
 * The events a logged command appended, rebuilt from its stream (the log
 * keeps only their number; see cqrs.command_events).  Allocated in
 * result_cxt.  Caller is connected to SPI.
 */
static Jsonb *
logged_command_events(const CqrsCommandResult *res, MemoryContext result_cxt)
{
	Oid			argtypes[3] = {UUIDOID, INT8OID, INT4OID};
	Datum		values[3];
	int			rc;
	bool		isnull;
	Datum		d;
	MemoryContext old;
	Jsonb	   *events;

	if (res->event_count == 0 || !res->has_stream || !res->has_version)
	{
		old = MemoryContextSwitchTo(result_cxt);
		events = jb_empty_array();
		MemoryContextSwitchTo(old);
		return events;
	}

	cqrs_spi_plan(&plan_events,
				  "SELECT cqrs.command_events($1, $2, $3)", 3, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) &res->stream_id);
	values[1] = Int64GetDatum(res->version);
	values[2] = Int32GetDatum(res->event_count);
	rc = SPI_execute_plan(plan_events, values, NULL, false, 1);
	cqrs_spi_check(rc, SPI_OK_SELECT, "reading a logged command's events");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	old = MemoryContextSwitchTo(result_cxt);
	events = DatumGetJsonbPCopy(d);
	MemoryContextSwitchTo(old);
	return events;
}

/*
 * The look-up through a SELECT statement, for a command log a DBA has
 * changed (see cqrs_command_row_lookup).  The result's events are left
 * out.
 */
static bool
lookup_command_by_statement(const pg_uuid_t *id, MemoryContext result_cxt,
							CqrsCommandResult *res, char **type,
							Jsonb **payload)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	int			rc;
	HeapTuple	tuple;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;
	MemoryContext old;

	cqrs_spi_plan(&plan_lookup,
				  "SELECT command_type, payload, status, stream_id, version,"
				  " event_count, reason FROM cqrs.commands"
				  " WHERE command_id = $1",
				  1, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) id);
	rc = SPI_execute_plan(plan_lookup, values, NULL, false, 1);
	cqrs_spi_check(rc, SPI_OK_SELECT, "looking up a command");
	if (SPI_processed == 0)
		return false;

	tuple = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	old = MemoryContextSwitchTo(result_cxt);
	memset(res, 0, sizeof(CqrsCommandResult));
	res->command_id = *id;
	*type = TextDatumGetCString(SPI_getbinval(tuple, desc, 1, &isnull));
	*payload = DatumGetJsonbPCopy(SPI_getbinval(tuple, desc, 2, &isnull));
	res->status = cqrs_command_status_from_name(TextDatumGetCString(SPI_getbinval(tuple, desc, 3, &isnull)));
	d = SPI_getbinval(tuple, desc, 4, &isnull);
	if (!isnull)
	{
		res->has_stream = true;
		res->stream_id = *DatumGetUUIDP(d);
	}
	d = SPI_getbinval(tuple, desc, 5, &isnull);
	if (!isnull)
	{
		res->has_version = true;
		res->version = DatumGetInt64(d);
	}
	res->event_count = DatumGetInt32(SPI_getbinval(tuple, desc, 6, &isnull));
	d = SPI_getbinval(tuple, desc, 7, &isnull);
	res->reason = isnull ? NULL : TextDatumGetCString(d);
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * The logged command with this id, if any: its result (allocated in
 * result_cxt; its events only if want_events), type and payload.  Caller
 * holds the command id's lock and is connected to SPI.
 */
static bool
lookup_command(const pg_uuid_t *id, MemoryContext result_cxt, bool want_events,
			   CqrsCommandResult *res, char **type, Jsonb **payload)
{
	bool		found;

	if (!cqrs_command_row_lookup(id, result_cxt, res, type, payload, &found))
		found = lookup_command_by_statement(id, result_cxt, res, type,
											payload);
	if (found && want_events)
		res->events = logged_command_events(res, result_cxt);
	return found;
}

/* The same id again must be the same command. */
static void
check_same_command(const pg_uuid_t *id, const char *type, Jsonb *payload,
				   const char *stored_type, Jsonb *stored_payload)
{
	if (strcmp(type, stored_type) != 0 ||
		compareJsonbContainers(&payload->root, &stored_payload->root) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("command id %s was already used for a different command",
						cqrs_uuid_to_cstring(id)),
				 errdetail("It was used for a %s command%s.", stored_type,
						   strcmp(type, stored_type) == 0 ?
						   " with another payload" : ""),
				 errhint("Use a new command id for a new command; resend a command with its original type and payload.")));
}

/* Log a command: handled (res given) or pending (res NULL). */
static void
insert_command(const pg_uuid_t *id, const char *type, Jsonb *payload,
			   const CqrsCommandResult *res, const char *origin,
			   bool has_due_at, TimestampTz due_at)
{
	Oid			argtypes[10] = {UUIDOID, TEXTOID, JSONBOID, TEXTOID, UUIDOID,
	INT8OID, INT4OID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', 'n', 'n', ' ', 'n', ' ', 'n'};
	int			rc;
	CqrsCommandRow row;

	row.command_id = id;
	row.command_type = type;
	row.payload = payload;
	row.result = res;
	row.origin = origin;
	row.has_due_at = has_due_at;
	row.due_at = due_at;
	if (cqrs_command_row_insert(&row))
		return;

	/* A changed table: the statement applies whatever the DBA added. */
	cqrs_spi_plan(&plan_insert,
				  "INSERT INTO cqrs.commands (command_id, command_type, payload,"
				  " status, stream_id, version, event_count, reason, origin,"
				  " due_at, handled_at)"
				  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
				  " CASE WHEN $4 = 'pending' THEN NULL"
				  " ELSE pg_catalog.clock_timestamp() END)",
				  10, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) id);
	values[1] = CStringGetTextDatum(type);
	values[2] = JsonbPGetDatum(payload);
	values[3] = CStringGetTextDatum(res ? cqrs_command_status_name(res->status) :
									"pending");
	if (res && res->has_stream)
	{
		values[4] = UUIDPGetDatum((pg_uuid_t *) &res->stream_id);
		nulls[4] = ' ';
	}
	if (res && res->has_version)
	{
		values[5] = Int64GetDatum(res->version);
		nulls[5] = ' ';
	}
	values[6] = Int32GetDatum(res ? res->event_count : 0);
	if (res && res->reason)
	{
		values[7] = CStringGetTextDatum(res->reason);
		nulls[7] = ' ';
	}
	values[8] = CStringGetTextDatum(origin);
	if (has_due_at)
	{
		values[9] = TimestampTzGetDatum(due_at);
		nulls[9] = ' ';
	}
	rc = SPI_execute_plan(plan_insert, values, nulls, false, 0);
	cqrs_spi_check(rc, SPI_OK_INSERT, "logging a command");
}

/* Run a parsed command; the result is allocated in result_cxt. */
static void
execute_command(const CqrsCommandHandler *handler, void *command,
				const pg_uuid_t *id, MemoryContext result_cxt,
				CqrsCommandResult *res_out)
{
	CqrsCommandCall call;
	CqrsCommandResult *res;

	res = MemoryContextAllocZero(result_cxt, sizeof(CqrsCommandResult));
	res->command_id = *id;
	call.command_id = *id;
	call.command_type = handler->command_type;
	call.now = GetCurrentTransactionStartTimestamp();
	call.result = res;
	handler->execute(&call, command);
	if (res->events == NULL)
		elog(ERROR, "command handler for %s produced no result",
			 handler->command_type);
	*res_out = *res;
}

/*
 * Send a command: handle it now, in the caller's transaction, and log it.
 * command_id NULL: a new id.  Caller is not connected to SPI; the result
 * is allocated in the caller's memory context.
 */
void
cqrs_send_command(const char *command_type, Jsonb *payload,
				  const pg_uuid_t *command_id, CqrsCommandResult *result)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	const CqrsCommandHandler *handler;
	void	   *command;
	pg_uuid_t	id;
	char	   *stored_type;
	Jsonb	   *stored_payload;

	command = parse_command(command_type, payload, &handler);
	if (command_id)
		id = *command_id;
	else
		cqrs_uuid_time_ordered(&id);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * An id of the caller's may have been logged before.  A new one (74
	 * random bits after the time) cannot have been: no other session can
	 * know it, so neither the lock nor the look-up is needed (a duplicate
	 * would still fail on the primary key, never take effect twice).
	 */
	if (command_id != NULL)
		lock_command_id(&id);
	if (command_id != NULL &&
		lookup_command(&id, caller_cxt, true, result, &stored_type,
					   &stored_payload))
		check_same_command(&id, handler->command_type, payload, stored_type,
						   stored_payload);
	else
	{
		execute_command(handler, command, &id, caller_cxt, result);
		insert_command(&id, handler->command_type, payload, result, "send",
					   false, 0);
	}
	SPI_finish();
}

/*
 * Enqueue a command for the worker (or cqrs.drain()), due at once or at
 * due_at.  The payload is validated now.  An id already logged (the same
 * command) is not stored again.  Caller is not connected to SPI.
 */
void
cqrs_enqueue_command(const char *command_type, Jsonb *payload,
					 const pg_uuid_t *command_id, bool has_due_at,
					 TimestampTz due_at, pg_uuid_t *out_id)
{
	const CqrsCommandHandler *handler;
	CqrsCommandResult existing;
	char	   *stored_type;
	Jsonb	   *stored_payload;

	(void) parse_command(command_type, payload, &handler);
	if (command_id)
		*out_id = *command_id;
	else
		cqrs_uuid_time_ordered(out_id);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* A new id cannot have been logged (see cqrs_send_command). */
	if (command_id != NULL)
		lock_command_id(out_id);
	if (command_id != NULL &&
		lookup_command(out_id, CurrentMemoryContext, false, &existing,
					   &stored_type, &stored_payload))
		check_same_command(out_id, handler->command_type, payload,
						   stored_type, stored_payload);
	else
		insert_command(out_id, handler->command_type, payload, NULL,
					   "enqueue", has_due_at, due_at);
	SPI_finish();
}

/* Record the outcome of a pending command. */
static void
mark_done(const CqrsCommandResult *res)
{
	Oid			argtypes[6] = {UUIDOID, TEXTOID, UUIDOID, INT8OID, INT4OID,
	TEXTOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', 'n', 'n', ' ', 'n'};
	int			rc;

	cqrs_spi_plan(&plan_done,
				  "UPDATE cqrs.commands SET status = $2, stream_id = $3,"
				  " version = $4, event_count = $5, reason = $6,"
				  " attempts = attempts + 1,"
				  " handled_at = pg_catalog.clock_timestamp()"
				  " WHERE command_id = $1",
				  6, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) &res->command_id);
	values[1] = CStringGetTextDatum(cqrs_command_status_name(res->status));
	if (res->has_stream)
	{
		values[2] = UUIDPGetDatum((pg_uuid_t *) &res->stream_id);
		nulls[2] = ' ';
	}
	if (res->has_version)
	{
		values[3] = Int64GetDatum(res->version);
		nulls[3] = ' ';
	}
	values[4] = Int32GetDatum(res->event_count);
	if (res->reason)
	{
		values[5] = CStringGetTextDatum(res->reason);
		nulls[5] = ' ';
	}
	rc = SPI_execute_plan(plan_done, values, nulls, false, 0);
	cqrs_spi_check(rc, SPI_OK_UPDATE, "recording a command's outcome");
}

/*
 * Record a failed attempt: a transient error (class 40: serialization
 * failure, deadlock) leaves the command pending for another try, up to
 * PENDING_MAX_ATTEMPTS; any other error rejects it with the error as
 * reason.
 */
static void
mark_failed(const pg_uuid_t *id, ErrorData *edata)
{
	Oid			argtypes[4] = {UUIDOID, TEXTOID, BOOLOID, INT4OID};
	Datum		values[4];
	int			rc;
	bool		transient = ERRCODE_TO_CATEGORY(edata->sqlerrcode) ==
		ERRCODE_TRANSACTION_ROLLBACK;

	cqrs_spi_plan(&plan_failed,
				  "UPDATE cqrs.commands SET attempts = attempts + 1,"
				  " last_error = $2,"
				  " status = CASE WHEN $3 AND attempts + 1 < $4 THEN 'pending'"
				  " ELSE 'rejected' END,"
				  " reason = CASE WHEN $3 AND attempts + 1 < $4 THEN NULL"
				  " ELSE 'command failed: ' || $2 END,"
				  " handled_at = CASE WHEN $3 AND attempts + 1 < $4 THEN NULL"
				  " ELSE pg_catalog.clock_timestamp() END"
				  " WHERE command_id = $1",
				  4, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) id);
	values[1] = CStringGetTextDatum(edata->message ? edata->message : "unknown error");
	values[2] = BoolGetDatum(transient);
	values[3] = Int32GetDatum(PENDING_MAX_ATTEMPTS);
	rc = SPI_execute_plan(plan_failed, values, NULL, false, 0);
	cqrs_spi_check(rc, SPI_OK_UPDATE, "recording a command failure");
}

/*
 * Handle one pending command in a subtransaction, so that an error in it
 * is recorded against the command and does not stop the others.  Caller
 * is connected to SPI and holds the row lock on the command.
 */
static void
handle_one_pending(const pg_uuid_t *id, const char *type, Jsonb *payload,
				   MemoryContext work_cxt)
{
	MemoryContext old = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(old);

	PG_TRY();
	{
		const CqrsCommandHandler *handler;
		void	   *command;
		CqrsCommandResult res;

		lock_command_id(id);
		command = parse_command(type, payload, &handler);
		execute_command(handler, command, id, work_cxt, &res);
		mark_done(&res);

		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(work_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = oldowner;

		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			ReThrowError(edata);
		mark_failed(id, edata);
	}
	PG_END_TRY();
}

/*
 * Handle up to max_count pending commands that are due at as_of, in the
 * order they are due (then enqueued).  Rows are claimed with FOR UPDATE
 * SKIP LOCKED, so the worker and a concurrent cqrs.drain() never handle
 * the same command.  Returns how many were handled (successfully or not).
 * Caller need not be connected to SPI.
 */
int64
cqrs_handle_pending_commands(int max_count, TimestampTz as_of)
{
	Oid			argtypes[2] = {TIMESTAMPTZOID, INT4OID};
	Datum		values[2];
	int			rc;
	MemoryContext work_cxt;
	MemoryContext old;
	uint64		n;
	uint64		i;
	pg_uuid_t  *ids;
	char	  **types;
	Jsonb	  **payloads;

	work_cxt = AllocSetContextCreate(CurrentMemoryContext,
									 "cqrs pending commands",
									 ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	cqrs_spi_plan(&plan_pending,
				  "SELECT command_id, command_type, payload FROM cqrs.commands"
				  " WHERE status = 'pending'"
				  " AND coalesce(due_at, '-infinity'::timestamptz) <= $1"
				  " ORDER BY coalesce(due_at, '-infinity'::timestamptz), seq"
				  " LIMIT $2 FOR UPDATE SKIP LOCKED",
				  2, argtypes);
	values[0] = TimestampTzGetDatum(as_of);
	values[1] = Int32GetDatum(max_count);
	rc = SPI_execute_plan(plan_pending, values, NULL, false, 0);
	cqrs_spi_check(rc, SPI_OK_SELECT, "reading pending commands");

	n = SPI_processed;
	old = MemoryContextSwitchTo(work_cxt);
	ids = palloc(sizeof(pg_uuid_t) * Max(n, 1));
	types = palloc(sizeof(char *) * Max(n, 1));
	payloads = palloc(sizeof(Jsonb *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		ids[i] = *DatumGetUUIDP(SPI_getbinval(tuple, desc, 1, &isnull));
		types[i] = TextDatumGetCString(SPI_getbinval(tuple, desc, 2, &isnull));
		payloads[i] = DatumGetJsonbPCopy(SPI_getbinval(tuple, desc, 3, &isnull));
	}
	MemoryContextSwitchTo(old);

	for (i = 0; i < n; i++)
	{
		CHECK_FOR_INTERRUPTS();
		handle_one_pending(&ids[i], types[i], payloads[i], work_cxt);
	}

	SPI_finish();
	MemoryContextDelete(work_cxt);
	return (int64) n;
}
