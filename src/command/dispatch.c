/*-------------------------------------------------------------------------
 *
 * dispatch.c
 *	  The command table and the generic handling of a command on an event-
 *	  sourced aggregate: lock the target stream, fold it (snapshot + tail,
 *	  seeing whatever committed before the lock was granted), decide in
 *	  pure C, append the new events with the folded version as the expected
 *	  version, and describe the outcome as a command result.
 *
 *	  The per-stream lock is the store's (cqrs_lock_stream): commands on one
 *	  aggregate queue behind each other instead of failing, and commands on
 *	  different aggregates never wait on each other.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "command/command.h"
#include "store/aggregate.h"
#include "store/append.h"
#include "store/event_input.h"
#include "store/stream_lock.h"
#include "util/jsonb_util.h"
#include "util/uuid_util.h"

#define MAX_COMMAND_HANDLERS 64

static const CqrsCommandHandler *handlers[MAX_COMMAND_HANDLERS];
static int	handler_count = 0;

/*
 * Add a command type (once per backend; the domain's are added on first
 * use).  A second handler for a type replaces the first.
 */
void
cqrs_register_command(const CqrsCommandHandler *handler)
{
	int			i;

	for (i = 0; i < handler_count; i++)
		if (strcmp(handlers[i]->command_type, handler->command_type) == 0)
		{
			handlers[i] = handler;
			return;
		}
	if (handler_count >= MAX_COMMAND_HANDLERS)
		elog(ERROR, "too many command types");
	handlers[handler_count++] = handler;
}

/* The handler of a command type, or NULL. */
const CqrsCommandHandler *
cqrs_command_handler(const char *command_type)
{
	static bool registered = false;
	int			i;

	if (!registered)
	{
		registered = true;
		cqrs_domain_commands_register();
		cqrs_payments_register();
		cqrs_process_commands_register();
	}
	for (i = 0; i < handler_count; i++)
		if (strcmp(handlers[i]->command_type, command_type) == 0)
			return handlers[i];
	return NULL;
}

static void
check_stream_type(const pg_uuid_t *stream_id, const CqrsFoldResult *fold,
				  const char *stream_type)
{
	if (fold->version >= 0 && strcmp(fold->stream_type, stream_type) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("stream %s has type \"%s\", not \"%s\"",
						cqrs_uuid_to_cstring(stream_id), fold->stream_type,
						stream_type)));
}

/*
 * The state of another aggregate a decision needs to see (the Order when
 * seat assignments are created), or NULL when it does not exist.  Not
 * locked: callers only read facts that cannot be undone.
 */
void *
cqrs_command_load_aux(const pg_uuid_t *stream_id, const char *stream_type)
{
	CqrsFoldResult fold;

	cqrs_fold_stream(stream_id, stream_type, false, 0, false,
					 CurrentMemoryContext, &fold);
	check_stream_type(stream_id, &fold, stream_type);
	return fold.version >= 0 ? fold.state : NULL;
}

/*
 * Handle a command on one event-sourced aggregate.  Caller is connected to
 * SPI.  The stream is locked until the end of the transaction, then folded
 * with fresh snapshots (read_only = false), so under READ COMMITTED the
 * fold sees every event committed before the lock was granted.
 */
void
cqrs_command_on_stream(CqrsCommandCall *call, void *command,
					   const pg_uuid_t *stream_id, const char *stream_type,
					   CqrsLoadMode mode, CqrsDecideFn decide)
{
	CqrsFoldResult fold;
	DomainDecision d;
	const void *state;

	cqrs_lock_stream(stream_id);
	cqrs_fold_stream(stream_id, stream_type, false, 0, false,
					 CurrentMemoryContext, &fold);
	check_stream_type(stream_id, &fold, stream_type);
	state = fold.version >= 0 ? fold.state : NULL;

	domain_decision_init(&d);
	if (state == NULL && mode == CQRS_LOAD_GET)
		domain_reject(&d, "Entity '%s' of type '%s' was not found.",
					  cqrs_uuid_to_cstring(stream_id), stream_type);
	else
		decide(call, command, state, &d);

	cqrs_command_store_decision(call, stream_id, stream_type, false,
								fold.version, &d);
}

/* {"commandId": id, "correlationId": id} (domain.md section 0) */
static Jsonb *
event_metadata(const pg_uuid_t *command_id)
{
	JsonbParseState *st = NULL;

	jb_begin_object(&st);
	jb_key(&st, "commandId");
	jb_value_uuid(&st, command_id);
	jb_key(&st, "correlationId");
	jb_value_uuid(&st, command_id);
	return JsonbValueToJsonb(jb_end_object(&st));
}

/*
 * Turn a decision into the command's result: append its events (after
 * current_version, or anywhere when expected_any) or record the
 * rejection.  The result's events and reason are allocated in the result's
 * memory context, so they outlive SPI_finish.
 */
void
cqrs_command_store_decision(CqrsCommandCall *call, const pg_uuid_t *stream_id,
							const char *stream_type, bool expected_any,
							int64 current_version, DomainDecision *d)
{
	CqrsCommandResult *res = call->result;
	MemoryContext result_cxt = GetMemoryChunkContext(res);
	MemoryContext old;
	Jsonb	   *events_json;
	char	   *reason = NULL;
	int64		version = current_version;

	res->has_stream = true;
	res->stream_id = *stream_id;

	if (d->rejected || d->count == 0)
	{
		res->status = d->rejected ? CQRS_COMMAND_REJECTED : CQRS_COMMAND_ACCEPTED;
		events_json = jb_empty_array();
		reason = d->rejected ? d->reason : NULL;
	}
	else
	{
		CqrsEventInput *inputs = palloc0(sizeof(CqrsEventInput) * d->count);
		Jsonb	   *metadata = event_metadata(&call->command_id);
		JsonbParseState *st = NULL;
		int64		first;
		int			i;

		for (i = 0; i < d->count; i++)
		{
			inputs[i].event_type = (char *) d->events[i].type;
			inputs[i].data = d->events[i].data;
			inputs[i].metadata = metadata;
			cqrs_uuid_time_ordered(&inputs[i].event_id);
			inputs[i].id_given = false;
		}
		version = cqrs_append_events(stream_id, cstring_to_text(stream_type),
									 expected_any, current_version, inputs,
									 d->count, false);
		first = version - d->count + 1;

		jb_begin_array(&st);
		for (i = 0; i < d->count; i++)
		{
			jb_begin_object(&st);
			jb_key(&st, "streamId");
			jb_value_uuid(&st, stream_id);
			jb_key(&st, "version");
			jb_value_int64(&st, first + i);
			jb_key(&st, "type");
			jb_value_string(&st, d->events[i].type);
			jb_key(&st, "data");
			jb_value_jsonb(&st, d->events[i].data);
			jb_end_object(&st);
		}
		events_json = JsonbValueToJsonb(jb_end_array(&st));
		res->status = CQRS_COMMAND_ACCEPTED;
	}

	res->has_version = version >= 0;
	res->version = version;
	res->event_count = res->status == CQRS_COMMAND_ACCEPTED ? d->count : 0;
	old = MemoryContextSwitchTo(result_cxt);
	res->events = palloc(VARSIZE(events_json));
	memcpy(res->events, events_json, VARSIZE(events_json));
	res->reason = reason ? pstrdup(reason) : NULL;
	MemoryContextSwitchTo(old);
}
