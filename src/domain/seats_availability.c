/*-------------------------------------------------------------------------
 *
 * seats_availability.c
 *	  The SeatsAvailability aggregate (reference:
 *	  Registration/SeatsAvailability.cs), pure C.
 *
 *	  One per conference; its stream id is
 *	  cqrs.derived_stream_id('SeatsAvailability', conference_id).  It holds
 *	  the remaining seats per seat type (negative after a RemoveSeats below
 *	  zero, as in the reference) and the pending reservations, and grants
 *	  reservations partially by the reference's formula:
 *	    Actual = min(Wanted, max(Remaining, 0) + Existing)
 *
 *	  State JSON (cqrs.load, snapshots):
 *	  {"remainingSeats": [{"seatType", "quantity"}],
 *	   "pendingReservations": [{"reservationId", "seats": [...]}]}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/jsonb.h"

#include "domain/domain.h"
#include "domain/seats_availability.h"
#include "store/aggregate.h"
#include "util/jsonb_util.h"

/* One row of the reservation algorithm's diff. */
typedef struct ReservationDiff
{
	pg_uuid_t	seat_type;
	int32		wanted;
	int32		existing;
	int32		remaining;
} ReservationDiff;

static SeatQuantity *
find_remaining(const SeatsAvailabilityState *s, const pg_uuid_t *seat_type)
{
	int			i;

	for (i = 0; i < s->remaining_count; i++)
		if (domain_uuid_equal(&s->remaining[i].seat_type, seat_type))
			return &s->remaining[i];
	return NULL;
}

static int
find_pending(const SeatsAvailabilityState *s, const pg_uuid_t *reservation_id)
{
	int			i;

	for (i = 0; i < s->pending_count; i++)
		if (domain_uuid_equal(&s->pending[i].reservation_id, reservation_id))
			return i;
	return -1;
}

/* remaining[t] += q, creating the key */
static void
add_remaining(SeatsAvailabilityState *s, const pg_uuid_t *seat_type, int32 q)
{
	SeatQuantity *r = find_remaining(s, seat_type);

	if (r == NULL)
	{
		if (s->remaining_count == s->remaining_cap)
		{
			s->remaining_cap = Max(8, s->remaining_cap * 2);
			s->remaining = s->remaining ?
				repalloc(s->remaining, sizeof(SeatQuantity) * s->remaining_cap) :
				palloc(sizeof(SeatQuantity) * s->remaining_cap);
		}
		r = &s->remaining[s->remaining_count++];
		r->seat_type = *seat_type;
		r->quantity = 0;
	}
	r->quantity += q;
}

static void
add_all_remaining(SeatsAvailabilityState *s, const SeatQuantities *changes)
{
	int			i;

	for (i = 0; i < changes->count; i++)
		add_remaining(s, &changes->items[i].seat_type, changes->items[i].quantity);
}

static void
remove_pending(SeatsAvailabilityState *s, const pg_uuid_t *reservation_id)
{
	int			i = find_pending(s, reservation_id);

	if (i < 0)
		return;
	memmove(&s->pending[i], &s->pending[i + 1],
			sizeof(SeatsReservation) * (s->pending_count - i - 1));
	s->pending_count--;
}

/* A new last entry of the pending reservations (not looked up first). */
static int
append_pending(SeatsAvailabilityState *s, const pg_uuid_t *reservation_id)
{
	if (s->pending_count == s->pending_cap)
	{
		s->pending_cap = Max(8, s->pending_cap * 2);
		s->pending = s->pending ?
			repalloc(s->pending, sizeof(SeatsReservation) * s->pending_cap) :
			palloc(sizeof(SeatsReservation) * s->pending_cap);
	}
	s->pending[s->pending_count].reservation_id = *reservation_id;
	return s->pending_count++;
}

static void
set_pending(SeatsAvailabilityState *s, const pg_uuid_t *reservation_id,
			const SeatQuantities *seats)
{
	int			i = find_pending(s, reservation_id);

	if (i < 0)
		i = append_pending(s, reservation_id);
	domain_copy_seats(&s->pending[i].seats, seats);
}

/* ---------------------------------------------------------------------
 * Apply
 * ---------------------------------------------------------------------
 */

static void *
seats_create(void)
{
	return palloc0(sizeof(SeatsAvailabilityState));
}

static void
seats_apply(void *state_ptr, const CqrsStoredEvent *ev)
{
	SeatsAvailabilityState *s = state_ptr;
	const JsonbContainer *data = &ev->data->root;
	const char *t = ev->event_type;
	SeatQuantities seats;
	pg_uuid_t	reservation_id;

	if (strcmp(t, "AvailableSeatsChanged") == 0)
	{
		domain_get_seats(data, "seats", &seats);
		add_all_remaining(s, &seats);
	}
	else if (strcmp(t, "SeatsReserved") == 0)
	{
		domain_get_uuid(data, "reservationId", &reservation_id);
		domain_get_seats(data, "reservationDetails", &seats);
		if (seats.count > 0)
			set_pending(s, &reservation_id, &seats);
		else
			remove_pending(s, &reservation_id);
		domain_get_seats(data, "availableSeatsChanged", &seats);
		add_all_remaining(s, &seats);
	}
	else if (strcmp(t, "SeatsReservationCommitted") == 0)
	{
		domain_get_uuid(data, "reservationId", &reservation_id);
		remove_pending(s, &reservation_id);
	}
	else if (strcmp(t, "SeatsReservationCancelled") == 0)
	{
		domain_get_uuid(data, "reservationId", &reservation_id);
		remove_pending(s, &reservation_id);
		domain_get_seats(data, "availableSeatsChanged", &seats);
		add_all_remaining(s, &seats);
	}
}

static Jsonb *
seats_to_jsonb(const void *state_ptr)
{
	const SeatsAvailabilityState *s = state_ptr;
	JsonbParseState *st = NULL;
	SeatQuantities remaining;
	int			i;

	remaining.count = s->remaining_count;
	remaining.items = s->remaining;

	jb_begin_object(&st);
	jb_key(&st, "remainingSeats");
	domain_push_seats(&st, &remaining);
	jb_key(&st, "pendingReservations");
	jb_begin_array(&st);
	for (i = 0; i < s->pending_count; i++)
	{
		jb_begin_object(&st);
		jb_key(&st, "reservationId");
		jb_value_uuid(&st, &s->pending[i].reservation_id);
		jb_key(&st, "seats");
		domain_push_seats(&st, &s->pending[i].seats);
		jb_end_object(&st);
	}
	jb_end_array(&st);
	return JsonbValueToJsonb(jb_end_object(&st));
}

static void *
seats_from_jsonb(Jsonb *snapshot)
{
	SeatsAvailabilityState *s = seats_create();
	SeatQuantities seats;
	JsonbContainer *pending;
	int			i;
	int			n;

	domain_get_seats(&snapshot->root, "remainingSeats", &seats);
	add_all_remaining(s, &seats);
	pending = domain_get_container(&snapshot->root, "pendingReservations");
	if (pending == NULL)
		return s;
	for (i = 0; i < (int) JsonContainerSize(pending); i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(pending, i);
		pg_uuid_t	reservation_id;

		if (elem == NULL || elem->type != jbvBinary ||
			!domain_get_uuid(elem->val.binary.data, "reservationId", &reservation_id))
			elog(ERROR, "malformed SeatsAvailability snapshot");
		domain_get_seats(elem->val.binary.data, "seats", &seats);

		/*
		 * A snapshot lists each reservation once (to_jsonb wrote it from
		 * the state), so append without a lookup: reading thousands of
		 * pending reservations stays linear.  The seats were just read
		 * into fresh memory: keep them.  (append_pending may move the
		 * array, so take the index first.)
		 */
		n = append_pending(s, &reservation_id);
		s->pending[n].seats = seats;
	}
	return s;
}

static const CqrsAggregateOps seats_ops = {
	.stream_type = SEATS_AVAILABILITY_STREAM_TYPE,
	.schema_version = 1,
	.create = seats_create,
	.upcast = NULL,
	.apply = seats_apply,
	.to_jsonb = seats_to_jsonb,
	.from_jsonb = seats_from_jsonb,
};

void
seats_availability_register(void)
{
	cqrs_register_aggregate(&seats_ops);
}

/* ---------------------------------------------------------------------
 * Decide
 * ---------------------------------------------------------------------
 */

static void
emit_available_seats_changed(const pg_uuid_t *seat_type, int32 delta,
							 DomainDecision *d)
{
	JsonbParseState *st = NULL;
	SeatQuantity one;
	SeatQuantities seats;

	one.seat_type = *seat_type;
	one.quantity = delta;
	seats.count = 1;
	seats.items = &one;
	jb_begin_object(&st);
	jb_key(&st, "seats");
	domain_push_seats(&st, &seats);
	domain_emit(d, "AvailableSeatsChanged", jb_end_object(&st));
}

/* AddSeats: AvailableSeatsChanged(+q), no validation. */
void
seats_decide_add(const SeatsAvailabilityState *state,
				 const SeatsChangeCommand *cmd, DomainDecision *d)
{
	emit_available_seats_changed(&cmd->seat_type, cmd->quantity, d);
}

/* RemoveSeats: AvailableSeatsChanged(-q), no floor at 0. */
void
seats_decide_remove(const SeatsAvailabilityState *state,
					const SeatsChangeCommand *cmd, DomainDecision *d)
{
	emit_available_seats_changed(&cmd->seat_type, -cmd->quantity, d);
}

/*
 * MakeSeatReservation: the reference's algorithm, exactly.  Always one
 * SeatsReserved, even when nothing changes; an unknown seat type rejects
 * the command (ArgumentOutOfRangeException("wantedSeats")).
 */
void
seats_decide_reserve(const SeatsAvailabilityState *state,
					 const MakeSeatReservation *cmd, DomainDecision *d)
{
	ReservationDiff *diff;
	int			ndiff = 0;
	int			pending;
	int			i;
	int			j;
	SeatQuantities details;
	SeatQuantities changes;
	JsonbParseState *st = NULL;

	for (i = 0; i < cmd->seats.count; i++)
		if (find_remaining(state, &cmd->seats.items[i].seat_type) == NULL)
		{
			domain_reject(d, "Specified argument was out of the range of valid values. Parameter name: wantedSeats");
			return;
		}

	pending = find_pending(state, &cmd->reservation_id);
	diff = palloc0(sizeof(ReservationDiff) *
				   (cmd->seats.count +
					(pending >= 0 ? state->pending[pending].seats.count : 0) + 1));

	for (i = 0; i < cmd->seats.count; i++)
	{
		const SeatQuantity *w = &cmd->seats.items[i];

		for (j = 0; j < ndiff; j++)
			if (domain_uuid_equal(&diff[j].seat_type, &w->seat_type))
				break;
		if (j == ndiff)
			diff[ndiff++].seat_type = w->seat_type;
		diff[j].wanted = w->quantity;
		diff[j].remaining = find_remaining(state, &w->seat_type)->quantity;
	}
	if (pending >= 0)
	{
		const SeatQuantities *existing = &state->pending[pending].seats;

		for (i = 0; i < existing->count; i++)
		{
			for (j = 0; j < ndiff; j++)
				if (domain_uuid_equal(&diff[j].seat_type, &existing->items[i].seat_type))
					break;
			if (j == ndiff)
				diff[ndiff++].seat_type = existing->items[i].seat_type;
			diff[j].existing = existing->items[i].quantity;
		}
	}

	details.count = 0;
	details.items = palloc(sizeof(SeatQuantity) * Max(ndiff, 1));
	changes.count = 0;
	changes.items = palloc(sizeof(SeatQuantity) * Max(ndiff, 1));
	for (i = 0; i < ndiff; i++)
	{
		int32		actual = Min(diff[i].wanted,
								 Max(diff[i].remaining, 0) + diff[i].existing);
		int32		delta = actual - diff[i].existing;

		if (actual != 0)
		{
			details.items[details.count].seat_type = diff[i].seat_type;
			details.items[details.count++].quantity = actual;
		}
		if (delta != 0)
		{
			changes.items[changes.count].seat_type = diff[i].seat_type;
			changes.items[changes.count++].quantity = -delta;
		}
	}

	jb_begin_object(&st);
	jb_key(&st, "reservationId");
	jb_value_uuid(&st, &cmd->reservation_id);
	jb_key(&st, "reservationDetails");
	domain_push_seats(&st, &details);
	jb_key(&st, "availableSeatsChanged");
	domain_push_seats(&st, &changes);
	domain_emit(d, "SeatsReserved", jb_end_object(&st));
}

/* CancelSeatReservation: give the seats back; unknown reservation: no-op. */
void
seats_decide_cancel(const SeatsAvailabilityState *state,
					const ReservationCommand *cmd, DomainDecision *d)
{
	int			i = find_pending(state, &cmd->reservation_id);
	JsonbParseState *st = NULL;

	if (i < 0)
		return;
	jb_begin_object(&st);
	jb_key(&st, "reservationId");
	jb_value_uuid(&st, &cmd->reservation_id);
	jb_key(&st, "availableSeatsChanged");
	domain_push_seats(&st, &state->pending[i].seats);
	domain_emit(d, "SeatsReservationCancelled", jb_end_object(&st));
}

/* CommitSeatReservation: the seats stay consumed; unknown: no-op. */
void
seats_decide_commit(const SeatsAvailabilityState *state,
					const ReservationCommand *cmd, DomainDecision *d)
{
	JsonbParseState *st = NULL;

	if (find_pending(state, &cmd->reservation_id) < 0)
		return;
	jb_begin_object(&st);
	jb_key(&st, "reservationId");
	jb_value_uuid(&st, &cmd->reservation_id);
	domain_emit(d, "SeatsReservationCommitted", jb_end_object(&st));
}
