/*-------------------------------------------------------------------------
 *
 * seat_assignments.h
 *	  The SeatAssignments aggregate (domain.md section 3.6): who sits in
 *	  each seat of a confirmed order.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_SEAT_ASSIGNMENTS_H
#define CQRS_SEAT_ASSIGNMENTS_H

#include "postgres.h"

#include "domain/domain.h"
#include "domain/order.h"

#define SEAT_ASSIGNMENTS_STREAM_TYPE "SeatAssignments"

typedef struct SeatAssignment
{
	pg_uuid_t	seat_type;
	PersonalInfo attendee;		/* all NULL until assigned */
} SeatAssignment;

typedef struct SeatAssignmentsState
{
	pg_uuid_t	order_id;
	int			count;			/* positions 0..count-1 */
	SeatAssignment *seats;
} SeatAssignmentsState;

typedef struct AssignSeat
{
	pg_uuid_t	assignments_id;
	int32		position;
	PersonalInfo attendee;
} AssignSeat;

typedef struct UnassignSeat
{
	pg_uuid_t	assignments_id;
	int32		position;
} UnassignSeat;

extern void seat_assignments_decide_create(const SeatAssignmentsState *state,
										   const pg_uuid_t *order_id,
										   const OrderState *order,
										   DomainDecision *d);
extern void seat_assignments_decide_assign(const SeatAssignmentsState *state,
										   const AssignSeat *cmd,
										   DomainDecision *d);
extern void seat_assignments_decide_unassign(const SeatAssignmentsState *state,
											 const UnassignSeat *cmd,
											 DomainDecision *d);

#endif							/* CQRS_SEAT_ASSIGNMENTS_H */
