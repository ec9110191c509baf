/*-------------------------------------------------------------------------
 *
 * domain_common.c
 *	  Helpers shared by the domain's aggregates: decisions, the JSON shapes
 *	  of the value types (SeatQuantity, PersonalInfo, money, timestamps),
 *	  and the reference's email rule.
 *
 *	  Event data is camelCase JSON.  Timestamps are ISO 8601 strings in UTC
 *	  ("2024-05-01T10:15:00Z", fractional seconds only when non-zero);
 *	  money is a JSON number with the scale it was computed with (2).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "domain/domain.h"
#include "util/jsonb_util.h"
#include "util/uuid_util.h"

void
domain_decision_init(DomainDecision *d)
{
	memset(d, 0, sizeof(DomainDecision));
}

/* Queue one new event; data is a finished object from the builders. */
void
domain_emit(DomainDecision *d, const char *type, JsonbValue *data)
{
	if (d->count >= DOMAIN_MAX_EVENTS)
		elog(ERROR, "too many events in one decision");
	d->events[d->count].type = type;
	d->events[d->count].data = JsonbValueToJsonb(data);
	d->count++;
}

/* A business rejection: no events, the reference's message as reason. */
void
domain_reject(DomainDecision *d, const char *fmt,...)
{
	va_list		args;
	StringInfoData buf;

	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	d->rejected = true;
	d->reason = buf.data;
	d->count = 0;
}

JsonbValue *
domain_empty_object(void)
{
	JsonbParseState *st = NULL;

	jb_begin_object(&st);
	return jb_end_object(&st);
}

/* [{"seatType": uuid, "quantity": int}, ...] */
void
domain_push_seats(JsonbParseState **st, const SeatQuantities *seats)
{
	int			i;

	jb_begin_array(st);
	for (i = 0; i < seats->count; i++)
	{
		jb_begin_object(st);
		jb_key(st, "seatType");
		jb_value_uuid(st, &seats->items[i].seat_type);
		jb_key(st, "quantity");
		jb_value_int64(st, seats->items[i].quantity);
		jb_end_object(st);
	}
	jb_end_array(st);
}

void
domain_push_numeric(JsonbParseState **st, Numeric n)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = n;
	if ((*st)->contVal.type == jbvArray)
		pushJsonbValue(st, WJB_ELEM, &v);
	else
		pushJsonbValue(st, WJB_VALUE, &v);
}

/* ISO 8601 in UTC, e.g. 2024-05-01T10:15:00.25Z */
char *
domain_timestamp_iso(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char		frac[16] = "";

	if (TIMESTAMP_NOT_FINITE(ts) ||
		timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		elog(ERROR, "timestamp out of range");
	if (fsec != 0)
	{
		int			len;

		snprintf(frac, sizeof(frac), ".%06d", (int) fsec);
		len = strlen(frac);
		while (len > 1 && frac[len - 1] == '0')
			frac[--len] = '\0';
	}
	return psprintf("%04d-%02d-%02dT%02d:%02d:%02d%sZ",
					tm.tm_year, tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

void
domain_push_timestamp(JsonbParseState **st, TimestampTz ts)
{
	jb_value_string(st, domain_timestamp_iso(ts));
}

/* {"firstName", "lastName", "email"}; missing parts are null */
void
domain_push_person(JsonbParseState **st, const PersonalInfo *p)
{
	jb_begin_object(st);
	jb_key(st, "firstName");
	jb_value_string(st, p->first_name);
	jb_key(st, "lastName");
	jb_value_string(st, p->last_name);
	jb_key(st, "email");
	jb_value_string(st, p->email);
	jb_end_object(st);
}

bool
domain_get_uuid(const JsonbContainer *obj, const char *key, pg_uuid_t *out)
{
	JsonbValue	v;

	if (!jb_get(obj, key, &v) || v.type == jbvNull)
		return false;
	if (v.type != jbvString || !cqrs_uuid_parse(jb_string_cstring(&v), out))
		elog(ERROR, "stored event field \"%s\" is not a uuid", key);
	return true;
}

bool
domain_get_int32(const JsonbContainer *obj, const char *key, int32 *out)
{
	JsonbValue	v;

	if (!jb_get(obj, key, &v) || v.type == jbvNull)
		return false;
	if (v.type != jbvNumeric)
		elog(ERROR, "stored event field \"%s\" is not a number", key);
	*out = DatumGetInt32(DirectFunctionCall1(numeric_int4,
											 NumericGetDatum(v.val.numeric)));
	return true;
}

bool
domain_get_bool(const JsonbContainer *obj, const char *key, bool *out)
{
	JsonbValue	v;

	if (!jb_get(obj, key, &v) || v.type == jbvNull)
		return false;
	if (v.type != jbvBool)
		elog(ERROR, "stored event field \"%s\" is not a boolean", key);
	*out = v.val.boolean;
	return true;
}

/* A palloc'd copy, or NULL when absent or null. */
char *
domain_get_string(const JsonbContainer *obj, const char *key)
{
	JsonbValue	v;

	if (!jb_get(obj, key, &v) || v.type == jbvNull)
		return NULL;
	if (v.type != jbvString)
		elog(ERROR, "stored event field \"%s\" is not a string", key);
	return jb_string_cstring(&v);
}

/* A palloc'd copy, or NULL when absent or null. */
Numeric
domain_get_numeric(const JsonbContainer *obj, const char *key)
{
	JsonbValue	v;
	Numeric		copy;

	if (!jb_get(obj, key, &v) || v.type == jbvNull)
		return NULL;
	if (v.type != jbvNumeric)
		elog(ERROR, "stored event field \"%s\" is not a number", key);
	copy = palloc(VARSIZE(v.val.numeric));
	memcpy(copy, v.val.numeric, VARSIZE(v.val.numeric));
	return copy;
}

bool
domain_get_timestamp(const JsonbContainer *obj, const char *key,
					 TimestampTz *out)
{
	char	   *s = domain_get_string(obj, key);

	if (s == NULL)
		return false;
	*out = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in,
												   CStringGetDatum(s),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
	return true;
}

/* The container of an object or array field, or NULL. */
JsonbContainer *
domain_get_container(const JsonbContainer *obj, const char *key)
{
	JsonbValue	v;

	if (!jb_get(obj, key, &v) || v.type == jbvNull)
		return NULL;
	if (v.type != jbvBinary)
		elog(ERROR, "stored event field \"%s\" is not an object or array", key);
	return v.val.binary.data;
}

/* A seat list; absent or null gives the empty list. */
void
domain_get_seats(const JsonbContainer *obj, const char *key,
				 SeatQuantities *out)
{
	JsonbContainer *arr = domain_get_container(obj, key);
	int			n;
	int			i;

	out->count = 0;
	out->items = NULL;
	if (arr == NULL)
		return;
	if (!JsonContainerIsArray(arr))
		elog(ERROR, "stored event field \"%s\" is not an array", key);
	n = JsonContainerSize(arr);
	out->items = palloc0(sizeof(SeatQuantity) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(arr, i);

		if (elem == NULL || elem->type != jbvBinary ||
			!JsonContainerIsObject(elem->val.binary.data))
			elog(ERROR, "stored event field \"%s\" holds a non-object", key);
		if (!domain_get_uuid(elem->val.binary.data, "seatType",
							 &out->items[i].seat_type))
			elog(ERROR, "stored seat quantity has no seatType");
		if (!domain_get_int32(elem->val.binary.data, "quantity",
							  &out->items[i].quantity))
			out->items[i].quantity = 0;
	}
	out->count = n;
}

void
domain_get_person(const JsonbContainer *obj, const char *key, PersonalInfo *out)
{
	JsonbContainer *p = domain_get_container(obj, key);

	memset(out, 0, sizeof(PersonalInfo));
	if (p == NULL)
		return;
	out->first_name = domain_get_string(p, "firstName");
	out->last_name = domain_get_string(p, "lastName");
	out->email = domain_get_string(p, "email");
}

void
domain_copy_seats(SeatQuantities *dst, const SeatQuantities *src)
{
	dst->count = src->count;
	dst->items = palloc(sizeof(SeatQuantity) * Max(src->count, 1));
	if (src->count > 0)
		memcpy(dst->items, src->items, sizeof(SeatQuantity) * src->count);
}

bool
domain_uuid_equal(const pg_uuid_t *a, const pg_uuid_t *b)
{
	return memcmp(a->data, b->data, UUID_LEN) == 0;
}

/* Required(AllowEmptyStrings=false): NULL, empty and whitespace are blank. */
bool
domain_is_blank(const char *s)
{
	if (s == NULL)
		return true;
	for (; *s; s++)
		if (!isspace((unsigned char) *s))
			return false;
	return true;
}

/* Case-insensitive comparison where NULL equals only NULL. */
int
domain_strcasecmp_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a == NULL) == (b == NULL) ? 0 : 1;
	return pg_strcasecmp(a, b);
}

/*
 * \w of the reference's .NET regex: Unicode letters, digits and the
 * connector punctuation.  Bytes of multibyte characters count as word
 * characters (every non-ASCII letter a registrant would type is one).
 */
static bool
email_word_char(unsigned char c)
{
	return isalnum(c) || c == '_' || c == '-' || c >= 0x80;
}

/*
 * The reference's email rule, anchored at both ends:
 *   [\w-]+(\.?[\w-])*@[\w-]+(\.[\w-]+)+
 * that is, a local part of word characters and single dots that starts and
 * ends with a word character, '@', then at least two dot-separated labels.
 */
bool
domain_is_valid_email(const char *email)
{
	const char *p = email;
	int			labels = 0;

	if (email == NULL)
		return false;

	/* local part */
	if (!email_word_char((unsigned char) *p))
		return false;
	while (*p && *p != '@')
	{
		if (*p == '.')
		{
			if (!email_word_char((unsigned char) p[1]))
				return false;	/* two dots, or a dot before '@' */
		}
		else if (!email_word_char((unsigned char) *p))
			return false;
		p++;
	}
	if (*p != '@')
		return false;
	p++;

	/* domain: label ('.' label)+ */
	for (;;)
	{
		const char *start = p;

		while (*p && email_word_char((unsigned char) *p))
			p++;
		if (p == start)
			return false;
		labels++;
		if (*p == '\0')
			break;
		if (*p != '.')
			return false;
		p++;
	}
	return labels >= 2;
}
