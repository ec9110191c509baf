/*-------------------------------------------------------------------------
 *
 * sequencer_number.h
 *	  The sequencer's numbering of events, in place (sequencer_number.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_SEQUENCER_NUMBER_H
#define CQRS_SEQUENCER_NUMBER_H

#include "postgres.h"
#include "utils/uuid.h"

/* Streams whose numbered events made a snapshot due (no duplicates). */
typedef struct CqrsDueStreams
{
	pg_uuid_t  *ids;
	int			count;
	int			allocated;
} CqrsDueStreams;

extern void cqrs_note_due_stream(CqrsDueStreams *due, const pg_uuid_t *id,
								 int64 version);
extern bool cqrs_number_events(int max_count, Datum horizon,
							   int64 *last_position, uint64 *numbered,
							   CqrsDueStreams *due);

#endif							/* CQRS_SEQUENCER_NUMBER_H */
