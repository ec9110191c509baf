/*-------------------------------------------------------------------------
 *
 * domain.h
 *	  Types and helpers shared by the conference domain's aggregates.
 *
 *	  The aggregates are pure C: apply(state, event) folds a stored event
 *	  into a plain struct, and the decide functions look at a state and a
 *	  parsed command and produce a DomainDecision: either a list of new
 *	  events (type + jsonb data, camelCase fields) or a business rejection
 *	  with the reference implementation's message.  Nothing here runs SQL;
 *	  whatever a decision needs from the database (prices, the clock, random
 *	  bytes) is handed in by the command layer.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_DOMAIN_H
#define CQRS_DOMAIN_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#define DOMAIN_MAX_EVENTS 4

/* SeatQuantity (domain.md section 2) */
typedef struct SeatQuantity
{
	pg_uuid_t	seat_type;
	int32		quantity;
} SeatQuantity;

/* A list of SeatQuantity in list order; count may be 0. */
typedef struct SeatQuantities
{
	int			count;
	SeatQuantity *items;
} SeatQuantities;

/* PersonalInfo (domain.md section 2); any field may be NULL. */
typedef struct PersonalInfo
{
	char	   *first_name;
	char	   *last_name;
	char	   *email;
} PersonalInfo;

/* One new event, not yet stored. */
typedef struct DomainEvent
{
	const char *type;
	Jsonb	   *data;
} DomainEvent;

/* The outcome of a decide function. */
typedef struct DomainDecision
{
	bool		rejected;		/* true: a business rejection, no events */
	char	   *reason;			/* the rejection's message */
	int			count;			/* number of events */
	DomainEvent events[DOMAIN_MAX_EVENTS];
} DomainDecision;

/* Decisions */
extern void domain_decision_init(DomainDecision *d);
extern void domain_emit(DomainDecision *d, const char *type, JsonbValue *data);
extern void domain_reject(DomainDecision *d, const char *fmt,...) pg_attribute_printf(2, 3);

/* Building event data */
extern JsonbValue *domain_empty_object(void);
extern void domain_push_seats(JsonbParseState **st, const SeatQuantities *seats);
extern void domain_push_numeric(JsonbParseState **st, Numeric n);
extern void domain_push_timestamp(JsonbParseState **st, TimestampTz ts);
extern void domain_push_person(JsonbParseState **st, const PersonalInfo *p);
extern char *domain_timestamp_iso(TimestampTz ts);

/* Reading stored event data (trusted input: malformed data is an internal error) */
extern bool domain_get_uuid(const JsonbContainer *obj, const char *key, pg_uuid_t *out);
extern bool domain_get_int32(const JsonbContainer *obj, const char *key, int32 *out);
extern bool domain_get_bool(const JsonbContainer *obj, const char *key, bool *out);
extern char *domain_get_string(const JsonbContainer *obj, const char *key);
extern Numeric domain_get_numeric(const JsonbContainer *obj, const char *key);
extern bool domain_get_timestamp(const JsonbContainer *obj, const char *key, TimestampTz *out);
extern void domain_get_seats(const JsonbContainer *obj, const char *key, SeatQuantities *out);
extern void domain_get_person(const JsonbContainer *obj, const char *key, PersonalInfo *out);
extern JsonbContainer *domain_get_container(const JsonbContainer *obj, const char *key);

/* Value helpers */
extern void domain_copy_seats(SeatQuantities *dst, const SeatQuantities *src);
extern bool domain_uuid_equal(const pg_uuid_t *a, const pg_uuid_t *b);
extern bool domain_is_valid_email(const char *email);
extern bool domain_is_blank(const char *s);
extern int	domain_strcasecmp_null(const char *a, const char *b);

/* src/domain/registry.c helpers registered by each aggregate file */
extern void order_register(void);
extern void seats_availability_register(void);
extern void seat_assignments_register(void);
extern void payment_register(void);

#endif							/* CQRS_DOMAIN_H */
