/*-------------------------------------------------------------------------
 *
 * position_write.h
 *	  Filling in the global position of committed events where their rows
 *	  lie, without a new row version (see position_write.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_POSITION_WRITE_H
#define CQRS_POSITION_WRITE_H

#include "postgres.h"

#include "storage/itemptr.h"
#include "utils/rel.h"

/* One event's row and the position it gets. */
typedef struct CqrsPositionWrite
{
	ItemPointerData tid;
	int64		position;
} CqrsPositionWrite;

extern bool cqrs_position_writable(Relation rel, AttrNumber position_attnum);
extern void cqrs_write_positions(Relation rel, const CqrsPositionWrite *writes,
								 int count);

#endif							/* CQRS_POSITION_WRITE_H */
