/*-------------------------------------------------------------------------
 *
 * generic_aggregate.c
 *	  The fold for stream types that have no aggregate of their own: the
 *	  data objects of the events merged key by key (a later event's value
 *	  wins, as with jsonb's ||), plus the type of the last event and the
 *	  event count.  It lets
 *	  any application use cqrs.load() and snapshots on its own streams.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "store/aggregate.h"
#include "util/jsonb_util.h"

/* One top-level key of the merged data and its latest value. */
typedef struct GenericPair
{
	char	   *key;
	int			keylen;
	JsonbValue	value;			/* scalar, or jbvBinary: a copied container */
} GenericPair;

/*
 * The merged data is kept unserialised, sorted by key (jsonb's order:
 * length, then bytes): an event replaces only its own keys, instead of
 * rebuilding the whole object as jsonb_concat does for every event.
 */
typedef struct GenericState
{
	GenericPair *pairs;
	int			npairs;
	int			allocated;
	char	   *last_event_type;
	int64		event_count;
} GenericState;

static void *
generic_create(void)
{
	return palloc0(sizeof(GenericState));
}

static int
compare_keys(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

/* A copy of a value read from a short-lived container. */
static void
copy_value(JsonbValue *dst, const JsonbValue *src)
{
	*dst = *src;
	switch (src->type)
	{
		case jbvString:
			dst->val.string.val = palloc(Max(src->val.string.len, 1));
			memcpy(dst->val.string.val, src->val.string.val,
				   src->val.string.len);
			break;
		case jbvNumeric:
			dst->val.numeric = palloc(VARSIZE(src->val.numeric));
			memcpy(dst->val.numeric, src->val.numeric,
				   VARSIZE(src->val.numeric));
			break;
		case jbvBinary:
			dst->val.binary.data = palloc(src->val.binary.len);
			memcpy(dst->val.binary.data, src->val.binary.data,
				   src->val.binary.len);
			break;
		default:
			break;
	}
}

static void
free_value(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			pfree(v->val.string.val);
			break;
		case jbvNumeric:
			pfree(v->val.numeric);
			break;
		case jbvBinary:
			pfree(v->val.binary.data);
			break;
		default:
			break;
	}
}

static void
set_pair(GenericState *state, const char *key, int keylen,
		 const JsonbValue *value)
{
	int			lo = 0;
	int			hi = state->npairs;
	GenericPair *pair;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;
		int			cmp = compare_keys(state->pairs[mid].key,
									   state->pairs[mid].keylen, key, keylen);

		if (cmp == 0)
		{
			free_value(&state->pairs[mid].value);
			copy_value(&state->pairs[mid].value, value);
			return;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}

	if (state->npairs == state->allocated)
	{
		state->allocated = Max(8, state->allocated * 2);
		state->pairs = state->pairs == NULL ?
			palloc(sizeof(GenericPair) * state->allocated) :
			repalloc(state->pairs, sizeof(GenericPair) * state->allocated);
	}
	memmove(&state->pairs[lo + 1], &state->pairs[lo],
			sizeof(GenericPair) * (state->npairs - lo));
	state->npairs++;
	pair = &state->pairs[lo];
	pair->key = palloc(Max(keylen, 1));
	memcpy(pair->key, key, keylen);
	pair->keylen = keylen;
	copy_value(&pair->value, value);
}

/* Merge the top-level keys of an object into the state. */
static void
merge_object(GenericState *state, JsonbContainer *object)
{
	JsonbIterator *it = JsonbIteratorInit(object);
	JsonbValue	key;
	JsonbValue	value;
	JsonbIteratorToken token;

	token = JsonbIteratorNext(&it, &key, true);
	if (token != WJB_BEGIN_OBJECT)
		return;					/* not an object: nothing to merge */
	while ((token = JsonbIteratorNext(&it, &key, true)) == WJB_KEY)
	{
		token = JsonbIteratorNext(&it, &value, true);
		Assert(token == WJB_VALUE);
		set_pair(state, key.val.string.val, key.val.string.len, &value);
	}
}

static void
generic_apply(void *state_ptr, const CqrsStoredEvent *event)
{
	GenericState *state = state_ptr;

	merge_object(state, &event->data->root);
	if (state->last_event_type != NULL)
		pfree(state->last_event_type);
	state->last_event_type = pstrdup(event->event_type);
	state->event_count++;
}

static Jsonb *
generic_to_jsonb(const void *state_ptr)
{
	const GenericState *state = state_ptr;
	JsonbParseState *st = NULL;
	int			i;

	jb_begin_object(&st);
	jb_key(&st, "data");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < state->npairs; i++)
	{
		JsonbValue	key;

		key.type = jbvString;
		key.val.string.val = state->pairs[i].key;
		key.val.string.len = state->pairs[i].keylen;
		pushJsonbValue(&st, WJB_KEY, &key);
		pushJsonbValue(&st, WJB_VALUE, &state->pairs[i].value);
	}
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
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

	if (!jb_get(&snapshot->root, "data", &v) || v.type != jbvBinary)
		elog(ERROR, "generic snapshot has no \"data\" object");
	merge_object(state, v.val.binary.data);
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
