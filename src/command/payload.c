/*-------------------------------------------------------------------------
 *
 * payload.c
 *	  Field readers for command payloads.  A payload that fails here is
 *	  refused before anything is written: not even the command log sees it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "command/payload.h"
#include "util/jsonb_util.h"
#include "util/uuid_util.h"

/* "a.b", or "b" at the top level */
char *
pl_path(const char *prefix, const char *key)
{
	if (prefix == NULL || prefix[0] == '\0')
		return pstrdup(key);
	return psprintf("%s.%s", prefix, key);
}

static void
pl_missing(const CqrsPayload *p, const char *path)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("missing field \"%s\" in %s command", path, p->command_type)));
}

static void
pl_wrong_type(const CqrsPayload *p, const char *path, const char *expected,
			  const JsonbValue *v)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("field \"%s\" in %s command must be %s", path,
					p->command_type, expected),
			 errdetail("The value is a JSON %s.", jb_type_name(v))));
}

/* A rule about the field's value is broken; detail says which. */
void
pl_invalid(const CqrsPayload *p, const char *path, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid field \"%s\" in %s command", path, p->command_type),
			 errdetail("%s", detail)));
	pg_unreachable();
}

/* The field's value; false when absent or JSON null. */
static bool
pl_get(const JsonbContainer *obj, const char *key, JsonbValue *out)
{
	return jb_get(obj, key, out) && out->type != jbvNull;
}

bool
pl_uuid_opt(const CqrsPayload *p, const JsonbContainer *obj,
			const char *prefix, const char *key, pg_uuid_t *out)
{
	JsonbValue	v;
	char	   *path;
	char	   *text;

	if (!pl_get(obj, key, &v))
		return false;
	path = pl_path(prefix, key);
	if (v.type != jbvString)
		pl_wrong_type(p, path, "a uuid string", &v);
	text = jb_string_cstring(&v);
	if (!cqrs_uuid_parse(text, out))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid uuid in field \"%s\" of %s command: \"%s\"",
						path, p->command_type, text)));
	return true;
}

void
pl_uuid(const CqrsPayload *p, const JsonbContainer *obj, const char *prefix,
		const char *key, pg_uuid_t *out)
{
	if (!pl_uuid_opt(p, obj, prefix, key, out))
		pl_missing(p, pl_path(prefix, key));
}

int32
pl_int32_nonneg(const CqrsPayload *p, const JsonbContainer *obj,
				const char *prefix, const char *key)
{
	JsonbValue	v;
	char	   *path = pl_path(prefix, key);
	Numeric		n;
	Numeric		floor_n;
	bool		error = false;
	int32		result;

	if (!pl_get(obj, key, &v))
		pl_missing(p, path);
	if (v.type != jbvNumeric)
		pl_wrong_type(p, path, "an integer", &v);
	n = v.val.numeric;
	floor_n = DatumGetNumeric(DirectFunctionCall1(numeric_floor,
												  NumericGetDatum(n)));
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(n),
										  NumericGetDatum(floor_n))) != 0)
		pl_wrong_type(p, path, "an integer", &v);
	if (DatumGetBool(DirectFunctionCall2(numeric_lt, NumericGetDatum(n),
										 NumericGetDatum(int64_to_numeric(0)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"%s\" in %s command must not be negative",
						path, p->command_type)));
	result = numeric_int4_opt_error(n, &error);
	if (error)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"%s\" in %s command is out of range",
						path, p->command_type)));
	return result;
}

/*
 * A string field.  required: it must be present and not blank (null,
 * empty and whitespace are blank: Required(AllowEmptyStrings=false)).
 * Otherwise NULL when absent.
 */
char *
pl_string(const CqrsPayload *p, const JsonbContainer *obj, const char *prefix,
		  const char *key, bool required)
{
	JsonbValue	v;
	char	   *path = pl_path(prefix, key);
	char	   *s;

	if (!pl_get(obj, key, &v))
	{
		if (required)
			pl_missing(p, path);
		return NULL;
	}
	if (v.type != jbvString)
		pl_wrong_type(p, path, "a string", &v);
	s = jb_string_cstring(&v);
	if (required && domain_is_blank(s))
		pl_invalid(p, path, "The field is required and must not be blank.");
	return s;
}

TimestampTz
pl_timestamptz(const CqrsPayload *p, const JsonbContainer *obj,
			   const char *prefix, const char *key)
{
	JsonbValue	v;
	char	   *path = pl_path(prefix, key);
	char	   *text;
	volatile TimestampTz result = 0;
	MemoryContext cxt = CurrentMemoryContext;

	if (!pl_get(obj, key, &v))
		pl_missing(p, path);
	if (v.type != jbvString)
		pl_wrong_type(p, path, "a timestamp string", &v);
	text = jb_string_cstring(&v);

	/*
	 * timestamptz_in raises 22007/22008; the contract promises 22P02 naming
	 * the field, so the error is caught and raised again at once.
	 */
	PG_TRY();
	{
		result = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
														 CStringGetDatum(text),
														 ObjectIdGetDatum(InvalidOid),
														 Int32GetDatum(-1)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid timestamp in field \"%s\" of %s command: \"%s\"",
						path, p->command_type, text)));
	}
	PG_END_TRY();
	if (TIMESTAMP_NOT_FINITE(result))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid timestamp in field \"%s\" of %s command: \"%s\"",
						path, p->command_type, text),
				 errdetail("The timestamp must be finite.")));
	return result;
}

/* A non-negative amount of money, rounded to 2 decimals as decimal(18,2) */
Numeric
pl_money(const CqrsPayload *p, const JsonbContainer *obj, const char *prefix,
		 const char *key)
{
	JsonbValue	v;
	char	   *path = pl_path(prefix, key);
	Numeric		n;

	if (!pl_get(obj, key, &v))
		pl_missing(p, path);
	if (v.type != jbvNumeric)
		pl_wrong_type(p, path, "a number", &v);
	if (DatumGetBool(DirectFunctionCall2(numeric_lt,
										 NumericGetDatum(v.val.numeric),
										 NumericGetDatum(int64_to_numeric(0)))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"%s\" in %s command must not be negative",
						path, p->command_type)));
	n = DatumGetNumeric(DirectFunctionCall2(numeric,
											NumericGetDatum(v.val.numeric),
											Int32GetDatum(((18 << 16) | 2) + VARHDRSZ)));
	return n;
}

JsonbContainer *
pl_array(const CqrsPayload *p, const JsonbContainer *obj, const char *prefix,
		 const char *key)
{
	JsonbValue	v;
	char	   *path = pl_path(prefix, key);

	if (!pl_get(obj, key, &v))
		pl_missing(p, path);
	if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
		pl_wrong_type(p, path, "an array", &v);
	return v.val.binary.data;
}

JsonbContainer *
pl_object(const CqrsPayload *p, const JsonbContainer *obj, const char *prefix,
		  const char *key)
{
	JsonbValue	v;
	char	   *path = pl_path(prefix, key);

	if (!pl_get(obj, key, &v))
		pl_missing(p, path);
	if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
		pl_wrong_type(p, path, "an object", &v);
	return v.val.binary.data;
}

/* Element index of array arr (at path) that must be an object. */
JsonbContainer *
pl_array_object(const CqrsPayload *p, JsonbContainer *arr, const char *path,
				int index, char **elem_path)
{
	JsonbValue *elem = getIthJsonbValueFromContainer(arr, index);

	*elem_path = psprintf("%s[%d]", path, index);
	if (elem == NULL || elem->type != jbvBinary ||
		!JsonContainerIsObject(elem->val.binary.data))
		pl_wrong_type(p, *elem_path, "an object", elem);
	return elem->val.binary.data;
}

/* [{"seatType": uuid, "quantity": integer >= 0}, ...] */
void
pl_seats(const CqrsPayload *p, const JsonbContainer *obj, const char *prefix,
		 const char *key, SeatQuantities *out)
{
	JsonbContainer *arr = pl_array(p, obj, prefix, key);
	char	   *path = pl_path(prefix, key);
	int			n = JsonContainerSize(arr);
	int			i;

	out->count = n;
	out->items = palloc0(sizeof(SeatQuantity) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		char	   *elem_path;
		JsonbContainer *elem = pl_array_object(p, arr, path, i, &elem_path);

		pl_uuid(p, elem, elem_path, "seatType", &out->items[i].seat_type);
		out->items[i].quantity = pl_int32_nonneg(p, elem, elem_path, "quantity");
	}
}

/* The reference's email pattern, on a non-blank email. */
void
pl_email(const CqrsPayload *p, const char *path, const char *email)
{
	if (!domain_is_valid_email(email))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid field \"%s\" in %s command", path, p->command_type),
				 errdetail("\"%s\" is not a valid email address.", email)));
}
