/*-------------------------------------------------------------------------
 *
 * sequencer_number.h
 *	  The sequencer's numbering of events, without an UPDATE statement.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_SEQUENCER_NUMBER_H
#define CQRS_SEQUENCER_NUMBER_H

#include "postgres.h"

extern bool cqrs_number_events_directly(int64 last_position, int max_count,
										Datum horizon, uint64 *numbered);

#endif							/* CQRS_SEQUENCER_NUMBER_H */
