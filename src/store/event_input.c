/*-------------------------------------------------------------------------
 *
 * event_input.c
 *	  Validation of the events argument of cqrs.append: a non-empty JSON
 *	  array of {"type": text, "data": object, "metadata"?: object,
 *	  "id"?: uuid}.  Every problem is reported before anything is written,
 *	  naming the event (1-based) and the field.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "store/event_input.h"
#include "util/jsonb_util.h"
#include "util/uuid_util.h"

static Jsonb *empty_object = NULL;

static Jsonb *
make_empty_object(void)
{
	JsonbParseState *st = NULL;

	jb_begin_object(&st);
	return JsonbValueToJsonb(jb_end_object(&st));
}

static Jsonb *
container_to_jsonb(JsonbValue *v)
{
	return JsonbValueToJsonb(v);
}

static bool
value_is_object(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

/* Parse one event object (element number n, 1-based). */
static void
parse_one_event(JsonbContainer *obj, int n, CqrsEventInput *ev)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	JsonbValue	field;

	/* Refuse unknown keys: a misspelt "metadata" must not vanish silently. */
	it = JsonbIteratorInit(obj);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		if (!((v.val.string.len == 4 && strncmp(v.val.string.val, "type", 4) == 0) ||
			  (v.val.string.len == 4 && strncmp(v.val.string.val, "data", 4) == 0) ||
			  (v.val.string.len == 8 && strncmp(v.val.string.val, "metadata", 8) == 0) ||
			  (v.val.string.len == 2 && strncmp(v.val.string.val, "id", 2) == 0)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event %d has an unknown key \"%.*s\"", n,
							v.val.string.len, v.val.string.val),
					 errhint("An event has the keys \"type\", \"data\", \"metadata\" and \"id\".")));
	}

	if (!jb_get(obj, "type", &field))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event %d has no \"type\"", n)));
	if (field.type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"type\" of event %d must be a string, not %s",
						n, jb_type_name(&field))));
	if (field.val.string.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"type\" of event %d must not be empty", n)));
	ev->event_type = jb_string_cstring(&field);

	if (!jb_get(obj, "data", &field))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event %d has no \"data\"", n),
				 errhint("Use an empty object for an event without data.")));
	if (!value_is_object(&field))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"data\" of event %d must be an object, not %s",
						n, jb_type_name(&field))));
	ev->data = container_to_jsonb(&field);

	if (jb_get(obj, "metadata", &field) && field.type != jbvNull)
	{
		if (!value_is_object(&field))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"metadata\" of event %d must be an object, not %s",
							n, jb_type_name(&field))));
		ev->metadata = container_to_jsonb(&field);
	}
	else
		ev->metadata = empty_object;

	ev->id_given = false;
	if (jb_get(obj, "id", &field) && field.type != jbvNull)
	{
		char	   *text;

		if (field.type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"id\" of event %d must be a uuid string, not %s",
							n, jb_type_name(&field))));
		text = jb_string_cstring(&field);
		if (!cqrs_uuid_parse(text, &ev->event_id))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("\"id\" of event %d is not a valid uuid: \"%s\"",
							n, text)));
		ev->id_given = true;
	}
	else
		cqrs_uuid_time_ordered(&ev->event_id);
}

/*
 * Validate events and return the number of events; *out gets a palloc'd
 * array in the current memory context.
 */
int
cqrs_parse_event_array(Jsonb *events, CqrsEventInput **out, bool *any_id_given)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			count;
	int			n = 0;
	CqrsEventInput *result;

	if (!JB_ROOT_IS_ARRAY(events) || JB_ROOT_IS_SCALAR(events))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("events must be a JSON array"),
				 errhint("Pass an array such as '[{\"type\": \"Happened\", \"data\": {}}]'.")));

	count = JB_ROOT_COUNT(events);
	if (count == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("events must contain at least one event")));

	if (empty_object == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		empty_object = make_empty_object();
		MemoryContextSwitchTo(old);
	}

	result = palloc(sizeof(CqrsEventInput) * count);
	*any_id_given = false;

	it = JsonbIteratorInit(&events->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (!value_is_object(&v))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("event %d must be a JSON object, not %s",
							n + 1, jb_type_name(&v))));
		parse_one_event(v.val.binary.data, n + 1, &result[n]);
		if (result[n].id_given)
			*any_id_given = true;
		n++;
	}
	Assert(n == count);

	*out = result;
	return n;
}
