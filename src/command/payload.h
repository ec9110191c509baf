/*-------------------------------------------------------------------------
 *
 * payload.h
 *	  Readers for the fields of a command's JSON payload.  Each raises an
 *	  error naming the field (as a path such as "seats[1].quantity") and
 *	  the command: SQLSTATE 22023 for a missing field, a wrong JSON type,
 *	  a negative or fractional number or a broken rule, 22P02 for text
 *	  that is not a uuid or a timestamp.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_PAYLOAD_H
#define CQRS_PAYLOAD_H

#include "postgres.h"

#include "domain/domain.h"
#include "utils/jsonb.h"

typedef struct CqrsPayload
{
	const char *command_type;
	JsonbContainer *root;		/* the payload object */
} CqrsPayload;

/*
 * obj is the object holding the field, prefix the path of obj ("" at the
 * top level), key the field's name.
 */
extern void pl_uuid(const CqrsPayload *p, const JsonbContainer *obj,
					const char *prefix, const char *key, pg_uuid_t *out);
extern bool pl_uuid_opt(const CqrsPayload *p, const JsonbContainer *obj,
						const char *prefix, const char *key, pg_uuid_t *out);
extern int32 pl_int32_nonneg(const CqrsPayload *p, const JsonbContainer *obj,
							 const char *prefix, const char *key);
extern char *pl_string(const CqrsPayload *p, const JsonbContainer *obj,
					   const char *prefix, const char *key, bool required);
extern TimestampTz pl_timestamptz(const CqrsPayload *p,
								  const JsonbContainer *obj,
								  const char *prefix, const char *key);
extern Numeric pl_money(const CqrsPayload *p, const JsonbContainer *obj,
						const char *prefix, const char *key);
extern JsonbContainer *pl_array(const CqrsPayload *p,
								const JsonbContainer *obj,
								const char *prefix, const char *key);
extern JsonbContainer *pl_object(const CqrsPayload *p,
								 const JsonbContainer *obj,
								 const char *prefix, const char *key);
extern JsonbContainer *pl_array_object(const CqrsPayload *p,
									   JsonbContainer *arr,
									   const char *path, int index,
									   char **elem_path);
extern void pl_seats(const CqrsPayload *p, const JsonbContainer *obj,
					 const char *prefix, const char *key,
					 SeatQuantities *out);
extern void pl_email(const CqrsPayload *p, const char *path,
					 const char *email);
extern void pl_invalid(const CqrsPayload *p, const char *path,
					   const char *detail) pg_attribute_noreturn();
extern char *pl_path(const char *prefix, const char *key);

#endif							/* CQRS_PAYLOAD_H */
