/*-------------------------------------------------------------------------
 *
 * guard.h
 *	  The append-only guard on cqrs.events.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_GUARD_H
#define CQRS_GUARD_H

extern void cqrs_guard_allow_sequencing(bool allow);

#endif							/* CQRS_GUARD_H */
