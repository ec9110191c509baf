/*-------------------------------------------------------------------------
 *
 * jsonb_util.h
 *	  Small helpers to read fields of jsonb objects and to build jsonb.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_JSONB_UTIL_H
#define CQRS_JSONB_UTIL_H

#include "postgres.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

/* Reading */
extern bool jb_get(const JsonbContainer *obj, const char *key, JsonbValue *out);
extern const char *jb_type_name(const JsonbValue *v);
extern char *jb_string_cstring(const JsonbValue *v);

/* Building: thin wrappers around pushJsonbValue */
extern void jb_begin_object(JsonbParseState **st);
extern void jb_begin_array(JsonbParseState **st);
extern JsonbValue *jb_end_object(JsonbParseState **st);
extern JsonbValue *jb_end_array(JsonbParseState **st);
extern Jsonb *jb_empty_array(void);
extern void jb_key(JsonbParseState **st, const char *key);
extern void jb_value_string(JsonbParseState **st, const char *s);
extern void jb_value_int64(JsonbParseState **st, int64 i);
extern void jb_value_bool(JsonbParseState **st, bool b);
extern void jb_value_null(JsonbParseState **st);
extern void jb_value_uuid(JsonbParseState **st, const pg_uuid_t *id);
extern void jb_value_jsonb(JsonbParseState **st, const Jsonb *value);

#endif							/* CQRS_JSONB_UTIL_H */
