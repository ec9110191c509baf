/*-------------------------------------------------------------------------
 *
 * event_input.h
 *	  Validation of the events argument of cqrs.append.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_EVENT_INPUT_H
#define CQRS_EVENT_INPUT_H

#include "postgres.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

typedef struct CqrsEventInput
{
	char	   *event_type;
	Jsonb	   *data;
	Jsonb	   *metadata;		/* an empty object when not given */
	pg_uuid_t	event_id;		/* generated when not given */
	bool		id_given;
} CqrsEventInput;

extern int	cqrs_parse_event_array(Jsonb *events, CqrsEventInput **out,
								   bool *any_id_given);

#endif							/* CQRS_EVENT_INPUT_H */
