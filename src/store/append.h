/*-------------------------------------------------------------------------
 *
 * append.h
 *	  The event store's write path, for other layers of the extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_APPEND_H
#define CQRS_APPEND_H

#include "postgres.h"
#include "store/event_input.h"
#include "utils/uuid.h"

extern uint64 cqrs_events_appended;

/* Caller must be connected to SPI.  Returns the stream's new version. */
extern int64 cqrs_append_events(const pg_uuid_t *stream_id, text *stream_type,
								bool expected_any, int64 expected_version,
								CqrsEventInput *events, int count,
								bool any_id_given);

#endif							/* CQRS_APPEND_H */
