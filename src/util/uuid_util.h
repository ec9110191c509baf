/*-------------------------------------------------------------------------
 *
 * uuid_util.h
 *	  uuid helpers: time-ordered ids, name-based ids, text form.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_UUID_UTIL_H
#define CQRS_UUID_UTIL_H

#include "postgres.h"
#include "utils/uuid.h"

extern void cqrs_uuid_time_ordered(pg_uuid_t *out);
extern void cqrs_uuid_name_based(const pg_uuid_t *namespace_id,
								 const char *name, size_t name_len,
								 pg_uuid_t *out);
extern char *cqrs_uuid_to_cstring(const pg_uuid_t *id);
extern bool cqrs_uuid_parse(const char *text, pg_uuid_t *out);

#endif							/* CQRS_UUID_UTIL_H */
