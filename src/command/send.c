/*-------------------------------------------------------------------------
 *
 * send.c
 *	  SQL entry points of the command API (design.md section 4):
 *	    cqrs.send(command_type, payload, command_id) -> cqrs.command_result
 *	    cqrs.enqueue(command_type, payload, command_id, not_before) -> uuid
 *	  (cqrs.command_status is plain SQL over cqrs.commands).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "command/command.h"
#include "cqrs_conf.h"

PG_FUNCTION_INFO_V1(cqrs_send);
PG_FUNCTION_INFO_V1(cqrs_enqueue);

static void
require_argument(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be null", name)));
}

/* A cqrs.command_result row. */
static Datum
result_datum(FunctionCallInfo fcinfo, const CqrsCommandResult *res)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {false, false, true, true, true, true};
	pg_uuid_t  *id;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);

	id = palloc(sizeof(pg_uuid_t));
	*id = res->command_id;
	values[0] = UUIDPGetDatum(id);
	values[1] = CStringGetTextDatum(cqrs_command_status_name(res->status));
	if (res->has_stream)
	{
		pg_uuid_t  *stream = palloc(sizeof(pg_uuid_t));

		*stream = res->stream_id;
		values[2] = UUIDPGetDatum(stream);
		nulls[2] = false;
	}
	if (res->has_version)
	{
		values[3] = Int64GetDatum(res->version);
		nulls[3] = false;
	}
	if (res->events)
	{
		values[4] = JsonbPGetDatum(res->events);
		nulls[4] = false;
	}
	if (res->reason)
	{
		values[5] = CStringGetTextDatum(res->reason);
		nulls[5] = false;
	}
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/*
 * cqrs.send(command_type text, payload jsonb, command_id uuid default null)
 * Handles the command in the caller's transaction and returns its result
 * (or, for a command id seen before, the original result).
 */
Datum
cqrs_send(PG_FUNCTION_ARGS)
{
	CqrsCommandResult res;
	char	   *command_type;

	require_argument(fcinfo, 0, "command_type");
	require_argument(fcinfo, 1, "payload");
	command_type = text_to_cstring(PG_GETARG_TEXT_PP(0));

	cqrs_send_command(command_type, PG_GETARG_JSONB_P(1),
					  PG_ARGISNULL(2) ? NULL : PG_GETARG_UUID_P(2), &res);
	PG_RETURN_DATUM(result_datum(fcinfo, &res));
}

/*
 * cqrs.enqueue(command_type text, payload jsonb, command_id uuid default
 * null, not_before timestamptz default null): validate and store the
 * command for the worker; returns its id.
 */
Datum
cqrs_enqueue(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));
	char	   *command_type;

	require_argument(fcinfo, 0, "command_type");
	require_argument(fcinfo, 1, "payload");
	command_type = text_to_cstring(PG_GETARG_TEXT_PP(0));

	cqrs_enqueue_command(command_type, PG_GETARG_JSONB_P(1),
						 PG_ARGISNULL(2) ? NULL : PG_GETARG_UUID_P(2),
						 !PG_ARGISNULL(3),
						 PG_ARGISNULL(3) ? 0 : PG_GETARG_TIMESTAMPTZ(3), id);
	cqrs_wake_worker_at_commit();
	PG_RETURN_UUID_P(id);
}
