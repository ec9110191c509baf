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

#include "common/hashfn.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

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

/*
 * The index of the pending reservations: reservation id -> slot in
 * pending[].  A removed reservation leaves a dead slot behind (the array
 * keeps the order the reservations were made in); the slots are compacted
 * once the dead outnumber the live.  Lookups, additions and removals take
 * constant time (amortised) whatever the number of pending reservations.
 */
typedef struct PendingSlot
{
	pg_uuid_t	reservation_id;
	uint32		hash;
	int32		index;			/* in pending[] */
	char		status;			/* simplehash's */
} PendingSlot;

#define SH_PREFIX seats_pending
#define SH_ELEMENT_TYPE PendingSlot
#define SH_KEY_TYPE pg_uuid_t
#define SH_KEY reservation_id
#define SH_HASH_KEY(tb, key) hash_bytes((const unsigned char *) (key).data, UUID_LEN)
#define SH_EQUAL(tb, a, b) (memcmp((a).data, (b).data, UUID_LEN) == 0)
#define SH_STORE_HASH
#define SH_GET_HASH(tb, a) ((a)->hash)
#define SH_SCOPE static inline
#define SH_DECLARE
#define SH_DEFINE
#include "lib/simplehash.h"

/* Compact once this many slots are dead (and more than are live). */
#define MIN_DEAD_TO_COMPACT 16

static SeatQuantity *
find_remaining(const SeatsAvailabilityState *s, const pg_uuid_t *seat_type)
{
	int			i;

	for (i = 0; i < s->remaining_count; i++)
		if (domain_uuid_equal(&s->remaining[i].seat_type, seat_type))
			return &s->remaining[i];
	return NULL;
}

/* The slot of a pending reservation, or -1. */
static int
find_pending(const SeatsAvailabilityState *s, const pg_uuid_t *reservation_id)
{
	PendingSlot *slot;

	if (s->pending_index == NULL)
		return -1;
	slot = seats_pending_lookup(s->pending_index, *reservation_id);
	return slot != NULL ? slot->index : -1;
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
				MemoryContextAlloc(s->cxt, sizeof(SeatQuantity) * s->remaining_cap);
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

/* A reservation's seats, replacing (and freeing) those it had. */
static void
store_seats(SeatsAvailabilityState *s, SeatsReservation *r,
			const SeatQuantities *seats)
{
	SeatQuantity *items = MemoryContextAlloc(s->cxt,
											 sizeof(SeatQuantity) * Max(seats->count, 1));

	if (seats->count > 0)
		memcpy(items, seats->items, sizeof(SeatQuantity) * seats->count);
	if (r->seats.items != NULL)
		pfree(r->seats.items);
	r->seats.items = items;
	r->seats.count = seats->count;
}

/* Move the live slots down over the dead ones, keeping their order. */
static void
compact_pending(SeatsAvailabilityState *s)
{
	int			i;
	int			n = 0;

	for (i = 0; i < s->pending_used; i++)
	{
		PendingSlot *slot;

		if (!s->pending[i].live)
			continue;
		if (n != i)
		{
			s->pending[n] = s->pending[i];
			slot = seats_pending_lookup(s->pending_index,
										s->pending[n].reservation_id);
			Assert(slot != NULL && slot->index == i);
			slot->index = n;
		}
		n++;
	}
	Assert(n == s->pending_count);
	s->pending_used = n;
}

static void
remove_pending(SeatsAvailabilityState *s, const pg_uuid_t *reservation_id)
{
	int			i = find_pending(s, reservation_id);
	int			dead;

	if (i < 0)
		return;
	seats_pending_delete(s->pending_index, *reservation_id);
	s->pending[i].live = false;
	if (s->pending[i].seats.items != NULL)
		pfree(s->pending[i].seats.items);
	s->pending[i].seats.items = NULL;
	s->pending[i].seats.count = 0;
	s->pending_count--;

	dead = s->pending_used - s->pending_count;
	if (s->pending_count == 0)
		s->pending_used = 0;
	else if (dead >= MIN_DEAD_TO_COMPACT && dead > s->pending_count)
		compact_pending(s);
}

/* A new last pending reservation, without seats (not looked up first). */
static int
append_pending(SeatsAvailabilityState *s, const pg_uuid_t *reservation_id)
{
	PendingSlot *slot;
	bool		found;
	int			n;

	if (s->pending_index == NULL)
		s->pending_index = seats_pending_create(s->cxt, 16, NULL);
	if (s->pending_used == s->pending_cap)
	{
		s->pending_cap = Max(8, s->pending_cap * 2);
		s->pending = s->pending ?
			repalloc_huge(s->pending, sizeof(SeatsReservation) * s->pending_cap) :
			MemoryContextAlloc(s->cxt, sizeof(SeatsReservation) * s->pending_cap);
	}
	n = s->pending_used++;
	s->pending[n].reservation_id = *reservation_id;
	s->pending[n].seats.count = 0;
	s->pending[n].seats.items = NULL;
	s->pending[n].live = true;
	s->pending_count++;

	slot = seats_pending_insert(s->pending_index, *reservation_id, &found);
	Assert(!found);
	slot->index = n;
	return n;
}

/* pending[reservation_id] = seats, appended when new */
static void
set_pending(SeatsAvailabilityState *s, const pg_uuid_t *reservation_id,
			const SeatQuantities *seats)
{
	int			i = find_pending(s, reservation_id);

	if (i < 0)
		i = append_pending(s, reservation_id);
	store_seats(s, &s->pending[i], seats);
}

/* ---------------------------------------------------------------------
 * Apply
 * ---------------------------------------------------------------------
 */

static void *
seats_create(void)
{
	SeatsAvailabilityState *s = palloc0(sizeof(SeatsAvailabilityState));

	s->cxt = CurrentMemoryContext;
	return s;
}

static void
seats_apply(void *state_ptr, const CqrsStoredEvent *ev)
{
	SeatsAvailabilityState *s = state_ptr;
	const JsonbContainer *data = &ev->data->root;
	const char *t = ev->event_type;
	SeatQuantities seats;
	pg_uuid_t	reservation_id;
	MemoryContext old;

	/*
	 * Reading the event allocates; none of it is kept (what the state
	 * keeps is allocated in s->cxt), so a cached state does not grow with
	 * every event it folds.
	 */
	if (s->scratch == NULL)
		s->scratch = AllocSetContextCreate(s->cxt, "SeatsAvailability apply",
										   ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(s->scratch);

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

	MemoryContextSwitchTo(old);
	MemoryContextReset(s->scratch);
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
	for (i = 0; i < s->pending_used; i++)
	{
		if (!s->pending[i].live)
			continue;
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
	MemoryContext parse_cxt;
	MemoryContext old;
	int			i;

	domain_get_seats(&snapshot->root, "remainingSeats", &seats);
	add_all_remaining(s, &seats);
	pending = domain_get_container(&snapshot->root, "pendingReservations");
	if (pending == NULL)
		return s;

	/* What reading the JSON allocates does not stay with the state. */
	parse_cxt = AllocSetContextCreate(CurrentMemoryContext,
									  "SeatsAvailability snapshot",
									  ALLOCSET_SMALL_SIZES);
	for (i = 0; i < (int) JsonContainerSize(pending); i++)
	{
		JsonbValue *elem;
		pg_uuid_t	reservation_id;

		old = MemoryContextSwitchTo(parse_cxt);
		elem = getIthJsonbValueFromContainer(pending, i);
		if (elem == NULL || elem->type != jbvBinary ||
			!domain_get_uuid(elem->val.binary.data, "reservationId", &reservation_id))
			elog(ERROR, "malformed SeatsAvailability snapshot");
		domain_get_seats(elem->val.binary.data, "seats", &seats);
		MemoryContextSwitchTo(old);

		/* A snapshot lists each reservation once; set_pending copes anyway. */
		set_pending(s, &reservation_id, &seats);
		MemoryContextReset(parse_cxt);
	}
	MemoryContextDelete(parse_cxt);
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
