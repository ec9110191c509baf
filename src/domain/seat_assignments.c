/*-------------------------------------------------------------------------
 *
 * seat_assignments.c
 *	  The SeatAssignments aggregate (reference:
 *	  Registration/SeatAssignments.cs and Order.CreateSeatAssignments),
 *	  pure C.
 *
 *	  Created from a confirmed order: positions 0..N-1 across the order's
 *	  seat list in list order, Quantity consecutive positions per item.
 *	  Its stream id is cqrs.derived_stream_id('SeatAssignments', order_id),
 *	  so creating it twice for one order finds the first one and does
 *	  nothing (the reference made a second one: design.md section 6).
 *	  Emails compare case-insensitively, names case-insensitively for
 *	  deciding whether an assignment changed.
 *
 *	  State JSON (cqrs.load, snapshots):
 *	  {"orderId", "seats": [{"position", "seatType", "attendee"}]}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/jsonb.h"

#include "domain/domain.h"
#include "domain/seat_assignments.h"
#include "store/aggregate.h"
#include "util/jsonb_util.h"
#include "util/uuid_util.h"

#define POSITION_OUT_OF_RANGE \
	"Specified argument was out of the range of valid values. Parameter name: position"

/* ---------------------------------------------------------------------
 * Apply
 * ---------------------------------------------------------------------
 */

static void *
assignments_create(void)
{
	return palloc0(sizeof(SeatAssignmentsState));
}

static SeatAssignment *
seat_at(const SeatAssignmentsState *s, int32 position)
{
	if (position < 0 || position >= s->count)
		return NULL;
	return &s->seats[position];
}

/* Positions listed as [{"position", "seatType", ...}], any order. */
static void
load_positions(SeatAssignmentsState *s, JsonbContainer *arr, bool with_attendee)
{
	int			n = arr ? JsonContainerSize(arr) : 0;
	int			i;
	int32		max_position = -1;

	for (i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(arr, i);
		int32		pos;

		if (elem->type != jbvBinary ||
			!domain_get_int32(elem->val.binary.data, "position", &pos) || pos < 0)
			elog(ERROR, "malformed seat position in SeatAssignments data");
		max_position = Max(max_position, pos);
	}
	s->count = max_position + 1;
	s->seats = palloc0(sizeof(SeatAssignment) * Max(s->count, 1));
	for (i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(arr, i);
		int32		pos;
		SeatAssignment *seat;

		domain_get_int32(elem->val.binary.data, "position", &pos);
		seat = &s->seats[pos];
		domain_get_uuid(elem->val.binary.data, "seatType", &seat->seat_type);
		if (with_attendee)
			domain_get_person(elem->val.binary.data, "attendee", &seat->attendee);
	}
}

static void
assignments_apply(void *state_ptr, const CqrsStoredEvent *ev)
{
	SeatAssignmentsState *s = state_ptr;
	const JsonbContainer *data = &ev->data->root;
	const char *t = ev->event_type;
	int32		pos;
	SeatAssignment *seat;

	if (strcmp(t, "SeatAssignmentsCreated") == 0)
	{
		domain_get_uuid(data, "orderId", &s->order_id);
		load_positions(s, domain_get_container(data, "seats"), false);
		return;
	}
	if (!domain_get_int32(data, "position", &pos) ||
		(seat = seat_at(s, pos)) == NULL)
		return;
	if (strcmp(t, "SeatAssigned") == 0)
	{
		domain_get_uuid(data, "seatType", &seat->seat_type);
		domain_get_person(data, "attendee", &seat->attendee);
	}
	else if (strcmp(t, "SeatUnassigned") == 0)
		memset(&seat->attendee, 0, sizeof(PersonalInfo));
	else if (strcmp(t, "SeatAssignmentUpdated") == 0)
		domain_get_person(data, "attendee", &seat->attendee);
}

static bool
has_attendee(const PersonalInfo *p)
{
	return p->email != NULL || p->first_name != NULL || p->last_name != NULL;
}

static Jsonb *
assignments_to_jsonb(const void *state_ptr)
{
	const SeatAssignmentsState *s = state_ptr;
	JsonbParseState *st = NULL;
	int			i;

	jb_begin_object(&st);
	jb_key(&st, "orderId");
	jb_value_uuid(&st, &s->order_id);
	jb_key(&st, "seats");
	jb_begin_array(&st);
	for (i = 0; i < s->count; i++)
	{
		jb_begin_object(&st);
		jb_key(&st, "position");
		jb_value_int64(&st, i);
		jb_key(&st, "seatType");
		jb_value_uuid(&st, &s->seats[i].seat_type);
		jb_key(&st, "attendee");
		if (has_attendee(&s->seats[i].attendee))
			domain_push_person(&st, &s->seats[i].attendee);
		else
			jb_value_null(&st);
		jb_end_object(&st);
	}
	jb_end_array(&st);
	return JsonbValueToJsonb(jb_end_object(&st));
}

static void *
assignments_from_jsonb(Jsonb *snapshot)
{
	SeatAssignmentsState *s = assignments_create();

	domain_get_uuid(&snapshot->root, "orderId", &s->order_id);
	load_positions(s, domain_get_container(&snapshot->root, "seats"), true);
	return s;
}

static const CqrsAggregateOps assignments_ops = {
	.stream_type = SEAT_ASSIGNMENTS_STREAM_TYPE,
	.schema_version = 1,
	.create = assignments_create,
	.upcast = NULL,
	.apply = assignments_apply,
	.to_jsonb = assignments_to_jsonb,
	.from_jsonb = assignments_from_jsonb,
};

void
seat_assignments_register(void)
{
	cqrs_register_aggregate(&assignments_ops);
}

/* ---------------------------------------------------------------------
 * Decide
 * ---------------------------------------------------------------------
 */

/*
 * CreateSeatAssignments (Order.CreateSeatAssignments + the handler): the
 * order must exist and be confirmed; if the assignments exist already,
 * nothing happens.
 */
void
seat_assignments_decide_create(const SeatAssignmentsState *state,
							   const pg_uuid_t *order_id,
							   const OrderState *order, DomainDecision *d)
{
	JsonbParseState *st = NULL;
	int			position = 0;
	int			i;
	int			j;

	if (order == NULL)
	{
		domain_reject(d, "Entity '%s' of type 'Order' was not found.",
					  cqrs_uuid_to_cstring(order_id));
		return;
	}
	if (!order->is_confirmed)
	{
		domain_reject(d, "Cannot create seat assignments for an order that isn't confirmed yet.");
		return;
	}
	if (state != NULL)
		return;

	jb_begin_object(&st);
	jb_key(&st, "orderId");
	jb_value_uuid(&st, order_id);
	jb_key(&st, "seats");
	jb_begin_array(&st);
	for (i = 0; i < order->seats.count; i++)
		for (j = 0; j < order->seats.items[i].quantity; j++)
		{
			jb_begin_object(&st);
			jb_key(&st, "position");
			jb_value_int64(&st, position++);
			jb_key(&st, "seatType");
			jb_value_uuid(&st, &order->seats.items[i].seat_type);
			jb_end_object(&st);
		}
	jb_end_array(&st);
	domain_emit(d, "SeatAssignmentsCreated", jb_end_object(&st));
}

static JsonbValue *
position_event(int32 position, const pg_uuid_t *seat_type,
			   const PersonalInfo *attendee)
{
	JsonbParseState *st = NULL;

	jb_begin_object(&st);
	jb_key(&st, "position");
	jb_value_int64(&st, position);
	if (seat_type)
	{
		jb_key(&st, "seatType");
		jb_value_uuid(&st, seat_type);
	}
	if (attendee)
	{
		jb_key(&st, "attendee");
		domain_push_person(&st, attendee);
	}
	return jb_end_object(&st);
}

/*
 * AssignSeat: a new email (case-insensitive) unassigns the previous
 * attendee, if any, and assigns; the same email with another first or last
 * name (case-insensitive) updates; otherwise nothing.
 */
void
seat_assignments_decide_assign(const SeatAssignmentsState *state,
							   const AssignSeat *cmd, DomainDecision *d)
{
	const SeatAssignment *seat;

	if (cmd->attendee.email == NULL || cmd->attendee.email[0] == '\0')
	{
		domain_reject(d, "Value cannot be null. Parameter name: email");
		return;
	}
	seat = seat_at(state, cmd->position);
	if (seat == NULL)
	{
		domain_reject(d, POSITION_OUT_OF_RANGE);
		return;
	}
	if (domain_strcasecmp_null(cmd->attendee.email, seat->attendee.email) != 0)
	{
		if (seat->attendee.email != NULL)
			domain_emit(d, "SeatUnassigned",
						position_event(cmd->position, NULL, NULL));
		domain_emit(d, "SeatAssigned",
					position_event(cmd->position, &seat->seat_type,
								   &cmd->attendee));
	}
	else if (domain_strcasecmp_null(cmd->attendee.first_name,
									seat->attendee.first_name) != 0 ||
			 domain_strcasecmp_null(cmd->attendee.last_name,
									seat->attendee.last_name) != 0)
		domain_emit(d, "SeatAssignmentUpdated",
					position_event(cmd->position, NULL, &cmd->attendee));
}

/* UnassignSeat: only when someone is assigned. */
void
seat_assignments_decide_unassign(const SeatAssignmentsState *state,
								 const UnassignSeat *cmd, DomainDecision *d)
{
	const SeatAssignment *seat = seat_at(state, cmd->position);

	if (seat == NULL)
	{
		domain_reject(d, POSITION_OUT_OF_RANGE);
		return;
	}
	if (seat->attendee.email != NULL)
		domain_emit(d, "SeatUnassigned", position_event(cmd->position, NULL, NULL));
}
