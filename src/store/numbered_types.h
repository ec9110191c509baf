/*-------------------------------------------------------------------------
 *
 * numbered_types.h
 *	  The event types of the positions this process's sequencer numbered
 *	  lately (numbered_types.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_NUMBERED_TYPES_H
#define CQRS_NUMBERED_TYPES_H

#include "postgres.h"

/* Distinct types a window can name; more start it anew. */
#define CQRS_NUMBERED_TYPES_MAX 64

extern int	cqrs_numbered_types_intern(text *event_type);
extern void cqrs_numbered_types_record(int64 first_position, int count,
									   const int16 *type_ids);
extern void cqrs_numbered_types_forget(void);
extern bool cqrs_numbered_types_lookup(int64 after, int64 up_to,
									   const uint8 **type_ids,
									   const char *const **names,
									   int *nnames);

#endif							/* CQRS_NUMBERED_TYPES_H */
