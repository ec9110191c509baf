/*-------------------------------------------------------------------------
 *
 * jsonb_util.c
 *	  Small helpers to read fields of jsonb objects and to build jsonb
 *	  values key by key.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "util/jsonb_util.h"
#include "util/uuid_util.h"

/*
 * Look up key in a jsonb object container; false when absent (or when the
 * container is not an object).
 */
bool
jb_get(const JsonbContainer *obj, const char *key, JsonbValue *out)
{
	if (!JsonContainerIsObject(obj))
		return false;
	return getKeyJsonValueFromContainer((JsonbContainer *) obj, key,
										strlen(key), out) != NULL;
}

const char *
jb_type_name(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvArray:
			return "array";
		case jbvObject:
			return "object";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "array" :
				JsonContainerIsObject(v->val.binary.data) ? "object" : "scalar";
		default:
			return "unknown";
	}
}

char *
jb_string_cstring(const JsonbValue *v)
{
	Assert(v->type == jbvString);
	return pnstrdup(v->val.string.val, v->val.string.len);
}

void
jb_begin_object(JsonbParseState **st)
{
	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
}

void
jb_begin_array(JsonbParseState **st)
{
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
}

/* Returns the finished value; pass it to JsonbValueToJsonb at the top level. */
JsonbValue *
jb_end_object(JsonbParseState **st)
{
	return pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

JsonbValue *
jb_end_array(JsonbParseState **st)
{
	return pushJsonbValue(st, WJB_END_ARRAY, NULL);
}

/* A new empty JSON array, [] (in the current memory context). */
Jsonb *
jb_empty_array(void)
{
	JsonbParseState *st = NULL;

	jb_begin_array(&st);
	return JsonbValueToJsonb(jb_end_array(&st));
}

void
jb_key(JsonbParseState **st, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &k);
}

/* Values go in as object values or as array elements, as the state says. */
static void
push_value(JsonbParseState **st, JsonbValue *v)
{
	if ((*st)->contVal.type == jbvArray)
		pushJsonbValue(st, WJB_ELEM, v);
	else
		pushJsonbValue(st, WJB_VALUE, v);
}

void
jb_value_string(JsonbParseState **st, const char *s)
{
	JsonbValue	v;

	if (s == NULL)
	{
		jb_value_null(st);
		return;
	}
	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	push_value(st, &v);
}

void
jb_value_int64(JsonbParseState **st, int64 i)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(i);
	push_value(st, &v);
}

void
jb_value_bool(JsonbParseState **st, bool b)
{
	JsonbValue	v;

	v.type = jbvBool;
	v.val.boolean = b;
	push_value(st, &v);
}

void
jb_value_null(JsonbParseState **st)
{
	JsonbValue	v;

	v.type = jbvNull;
	push_value(st, &v);
}

void
jb_value_uuid(JsonbParseState **st, const pg_uuid_t *id)
{
	jb_value_string(st, cqrs_uuid_to_cstring(id));
}

/* Push a whole jsonb value (object, array or scalar). */
void
jb_value_jsonb(JsonbParseState **st, const Jsonb *value)
{
	JsonbValue	v;

	if (JB_ROOT_IS_SCALAR(value))
	{
		JsonbValue	scalar;

		if (!JsonbExtractScalar((JsonbContainer *) &value->root, &scalar))
			elog(ERROR, "could not extract jsonb scalar");
		push_value(st, &scalar);
		return;
	}
	v.type = jbvBinary;
	v.val.binary.data = (JsonbContainer *) &value->root;
	v.val.binary.len = VARSIZE(value) - VARHDRSZ;
	push_value(st, &v);
}
