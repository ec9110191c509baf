/*-------------------------------------------------------------------------
 *
 * event_insert.h
 *	  Writing rows into cqrs.events.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_EVENT_INSERT_H
#define CQRS_EVENT_INSERT_H

#include "postgres.h"
#include "store/event_input.h"
#include "utils/uuid.h"

extern void cqrs_insert_events(const pg_uuid_t *stream_id, text *stream_type,
							   int64 first_version, CqrsEventInput *events,
							   int count, int32 first_ordinal);

#endif							/* CQRS_EVENT_INSERT_H */
