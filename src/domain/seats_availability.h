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
	bool		live;			/* false: removed, its slot not reclaimed yet */
} SeatsReservation;

/* reservation id -> slot in pending[] (seats_availability.c) */
struct seats_pending_hash;

typedef struct SeatsAvailabilityState
{
	MemoryContext cxt;			/* where the state and its parts live */
	MemoryContext scratch;		/* apply's short-lived memory (child of cxt) */
	int			remaining_count;
	int			remaining_cap;
	SeatQuantity *remaining;	/* can go negative after RemoveSeats */
	int			pending_count;	/* live pending reservations */
	int			pending_used;	/* slots of pending[] in use, live or not */
	int			pending_cap;
	SeatsReservation *pending;	/* in the order they were first made */
	struct seats_pending_hash *pending_index;	/* NULL until the first */
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
