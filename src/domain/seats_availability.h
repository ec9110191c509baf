/*-------------------------------------------------------------------------
 *
 * seats_availability.h
 *	  The SeatsAvailability aggregate (domain.md section 3.5), one per
 *	  conference: remaining seats per seat type and pending reservations.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_SEATS_AVAILABILITY_H
#define CQRS_SEATS_AVAILABILITY_H

#include "postgres.h"

#include "domain/domain.h"

#define SEATS_AVAILABILITY_STREAM_TYPE "SeatsAvailability"

typedef struct SeatsReservation
{
	pg_uuid_t	reservation_id;
	SeatQuantities seats;
} SeatsReservation;

typedef struct SeatsAvailabilityState
{
	int			remaining_count;
	int			remaining_cap;
	SeatQuantity *remaining;	/* can go negative after RemoveSeats */
	int			pending_count;
	int			pending_cap;
	SeatsReservation *pending;	/* in the order they were first made */
} SeatsAvailabilityState;

/* AddSeats, RemoveSeats */
typedef struct SeatsChangeCommand
{
	pg_uuid_t	conference_id;
	pg_uuid_t	seat_type;
	int32		quantity;
} SeatsChangeCommand;

typedef struct MakeSeatReservation
{
	pg_uuid_t	conference_id;
	pg_uuid_t	reservation_id;
	SeatQuantities seats;
} MakeSeatReservation;

/* CancelSeatReservation, CommitSeatReservation */
typedef struct ReservationCommand
{
	pg_uuid_t	conference_id;
	pg_uuid_t	reservation_id;
} ReservationCommand;

extern void seats_decide_add(const SeatsAvailabilityState *state,
							 const SeatsChangeCommand *cmd, DomainDecision *d);
extern void seats_decide_remove(const SeatsAvailabilityState *state,
								const SeatsChangeCommand *cmd, DomainDecision *d);
extern void seats_decide_reserve(const SeatsAvailabilityState *state,
								 const MakeSeatReservation *cmd,
								 DomainDecision *d);
extern void seats_decide_cancel(const SeatsAvailabilityState *state,
								const ReservationCommand *cmd,
								DomainDecision *d);
extern void seats_decide_commit(const SeatsAvailabilityState *state,
								const ReservationCommand *cmd,
								DomainDecision *d);

#endif							/* CQRS_SEATS_AVAILABILITY_H */
