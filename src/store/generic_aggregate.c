/*-------------------------------------------------------------------------
 *
 * generic_aggregate.c
 *	  The fold for stream types that have no aggregate of their own: the
 *	  data objects of the events merged key by key (a later event's value
 *	  wins), plus the type of the last event and the event count.  It lets
 *	  any application use cqrs.load() and snapshots on its own streams.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "store/aggregate.h"
#include "util/jsonb_util.h"

typedef struct GenericState
{
	Jsonb	   *merged;
	char	   *last_event_type;
	int64		event_count;
} GenericState;

static void *
generic_create(void)
{
	GenericState *state = palloc0(sizeof(GenericState));
	JsonbParseState *st = NULL;

	jb_begin_object(&st);
	state->merged = JsonbValueToJsonb(jb_end_object(&st));
	return state;
}

static void
generic_apply(void *state_ptr, const CqrsStoredEvent *event)
{
	GenericState *state = state_ptr;
	Jsonb	   *merged;

	merged = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
												JsonbPGetDatum(state->merged),
												JsonbPGetDatum(event->data)));

	/*
	 * jsonb_concat hands back an argument unchanged when the other one is
	 * empty; the event's data is short-lived, so keep a copy of our own.
	 */
	if (merged == event->data)
	{
		merged = palloc(VARSIZE(event->data));
		memcpy(merged, event->data, VARSIZE(event->data));
	}
	state->merged = merged;
	state->last_event_type = pstrdup(event->event_type);
	state->event_count++;
}

static Jsonb *
generic_to_jsonb(const void *state_ptr)
{
	const GenericState *state = state_ptr;
	JsonbParseState *st = NULL;

	jb_begin_object(&st);
	jb_key(&st, "data");
	jb_value_jsonb(&st, state->merged);
	jb_key(&st, "lastEventType");
	jb_value_string(&st, state->last_event_type);
	jb_key(&st, "eventCount");
	jb_value_int64(&st, state->event_count);
	return JsonbValueToJsonb(jb_end_object(&st));
}

static void *
generic_from_jsonb(Jsonb *snapshot)
{
	GenericState *state = palloc0(sizeof(GenericState));
	JsonbValue	v;

	if (!jb_get(&snapshot->root, "data", &v))
		elog(ERROR, "generic snapshot has no \"data\"");
	state->merged = JsonbValueToJsonb(&v);
	if (jb_get(&snapshot->root, "lastEventType", &v) && v.type == jbvString)
		state->last_event_type = jb_string_cstring(&v);
	if (jb_get(&snapshot->root, "eventCount", &v) && v.type == jbvNumeric)
		state->event_count = DatumGetInt64(DirectFunctionCall1(numeric_int8,
															   NumericGetDatum(v.val.numeric)));
	return state;
}

const CqrsAggregateOps cqrs_generic_aggregate = {
	.stream_type = NULL,
	.schema_version = 1,
	.create = generic_create,
	.upcast = NULL,
	.apply = generic_apply,
	.to_jsonb = generic_to_jsonb,
	.from_jsonb = generic_from_jsonb,
};
