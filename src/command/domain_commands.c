/*-------------------------------------------------------------------------
 *
 * domain_commands.c
 *	  The Orders & Registrations commands (domain.md section 3.1): payload
 *	  parsing, target stream, load mode, and the glue that hands a pure
 *	  decide function what it needs from the database (prices, the clock,
 *	  random bytes).
 *
 *	  Targets:
 *	    Order              stream id = orderId
 *	    SeatsAvailability  derived_stream_id('SeatsAvailability', conferenceId)
 *	    SeatAssignments    derived_stream_id('SeatAssignments', orderId)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/numeric.h"

#include "command/command.h"
#include "command/payload.h"
#include "domain/order.h"
#include "domain/pricing.h"
#include "domain/seat_assignments.h"
#include "domain/seats_availability.h"
#include "store/stream_lock.h"
#include "util/spi_plan.h"
#include "util/uuid_util.h"

static SPIPlanPtr plan_prices = NULL;

/* ---------------------------------------------------------------------
 * Helpers
 * ---------------------------------------------------------------------
 */

static void
derived_stream(const pg_uuid_t *source_id, const char *stream_type,
			   pg_uuid_t *out)
{
	cqrs_uuid_name_based(source_id, stream_type, strlen(stream_type), out);
}

/*
 * The prices of a conference's seat types, read in the command's
 * transaction from the Conference Management table (the reference read an
 * eventually consistent read model).
 */
static PriceList *
load_prices(const pg_uuid_t *conference_id)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	int			rc;
	PriceList  *prices = palloc0(sizeof(PriceList));
	uint64		i;

	cqrs_spi_plan(&plan_prices,
				  "SELECT id, price FROM conference.seat_types"
				  " WHERE conference_id = $1",
				  1, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) conference_id);
	rc = SPI_execute_plan(plan_prices, values, NULL, false, 0);
	cqrs_spi_check(rc, SPI_OK_SELECT, "reading seat type prices");

	prices->conference_id = *conference_id;
	prices->count = (int) SPI_processed;
	prices->items = palloc0(sizeof(SeatTypePrice) * Max(prices->count, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		prices->items[i].seat_type =
			*DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[i],
										 SPI_tuptable->tupdesc, 1, &isnull));
		prices->items[i].price =
			DatumGetNumericCopy(SPI_getbinval(SPI_tuptable->vals[i],
											  SPI_tuptable->tupdesc, 2,
											  &isnull));
	}
	return prices;
}

/* ---------------------------------------------------------------------
 * Order
 * ---------------------------------------------------------------------
 */

static void *
parse_register(CqrsPayload *p)
{
	RegisterToConference *c = palloc0(sizeof(RegisterToConference));
	bool		any = false;
	int			i;

	pl_uuid(p, p->root, "", "orderId", &c->order_id);
	pl_uuid(p, p->root, "", "conferenceId", &c->conference_id);
	pl_seats(p, p->root, "", "seats", &c->seats);
	for (i = 0; i < c->seats.count; i++)
		if (c->seats.items[i].quantity > 0)
			any = true;
	if (!any)
		pl_invalid(p, "seats", "One or more items are required.");
	return c;
}

static void
decide_register(CqrsCommandCall *call, void *command, const void *state,
				DomainDecision *d)
{
	RegisterToConference *c = command;
	const OrderState *order = state;
	uint8		random_bytes[ORDER_ACCESS_CODE_LEN];
	char		access_code[ORDER_ACCESS_CODE_LEN + 1];
	PriceList  *prices;

	if (!pg_strong_random(random_bytes, sizeof(random_bytes)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random bytes for an access code")));
	order_make_access_code(random_bytes, access_code);
	prices = load_prices(order ? &order->conference_id : &c->conference_id);
	order_decide_register(order, c, prices, call->now, access_code, d);
}

static void
execute_register(CqrsCommandCall *call, void *command)
{
	RegisterToConference *c = command;

	cqrs_command_on_stream(call, c, &c->order_id, ORDER_STREAM_TYPE,
						   CQRS_LOAD_FIND, decide_register);
}

static void *
parse_mark_reserved(CqrsPayload *p)
{
	MarkSeatsAsReserved *c = palloc0(sizeof(MarkSeatsAsReserved));

	pl_uuid(p, p->root, "", "orderId", &c->order_id);
	pl_seats(p, p->root, "", "seats", &c->seats);
	c->expiration = pl_timestamptz(p, p->root, "", "expiration");
	return c;
}

static void
decide_mark_reserved(CqrsCommandCall *call, void *command, const void *state,
					 DomainDecision *d)
{
	const OrderState *order = state;

	order_decide_mark_reserved(order, command,
							   load_prices(&order->conference_id), d);
}

static void
execute_mark_reserved(CqrsCommandCall *call, void *command)
{
	MarkSeatsAsReserved *c = command;

	cqrs_command_on_stream(call, c, &c->order_id, ORDER_STREAM_TYPE,
						   CQRS_LOAD_GET, decide_mark_reserved);
}

static void *
parse_order_id(CqrsPayload *p)
{
	OrderIdCommand *c = palloc0(sizeof(OrderIdCommand));

	pl_uuid(p, p->root, "", "orderId", &c->order_id);
	return c;
}

static void
decide_reject(CqrsCommandCall *call, void *command, const void *state,
			  DomainDecision *d)
{
	order_decide_reject(state, d);
}

static void
execute_reject(CqrsCommandCall *call, void *command)
{
	OrderIdCommand *c = command;

	/* Find: RejectOrder on a missing order is a no-op ("explicitly idempotent") */
	cqrs_command_on_stream(call, c, &c->order_id, ORDER_STREAM_TYPE,
						   CQRS_LOAD_FIND, decide_reject);
}

static void
decide_confirm(CqrsCommandCall *call, void *command, const void *state,
			   DomainDecision *d)
{
	order_decide_confirm(state, d);
}

static void
execute_confirm(CqrsCommandCall *call, void *command)
{
	OrderIdCommand *c = command;

	cqrs_command_on_stream(call, c, &c->order_id, ORDER_STREAM_TYPE,
						   CQRS_LOAD_GET, decide_confirm);
}

static void *
parse_order_payment(CqrsPayload *p)
{
	OrderPaymentCommand *c = palloc0(sizeof(OrderPaymentCommand));

	pl_uuid(p, p->root, "", "orderId", &c->order_id);
	pl_uuid(p, p->root, "", "paymentId", &c->payment_id);
	if (strcmp(p->command_type, "MarkOrderNeedsAttention") == 0)
		c->reason = pl_string(p, p->root, "", "reason", true);
	return c;
}

static void
decide_confirm_paid(CqrsCommandCall *call, void *command, const void *state,
					DomainDecision *d)
{
	order_decide_confirm_paid(state, command, d);
}

static void
execute_confirm_paid(CqrsCommandCall *call, void *command)
{
	OrderPaymentCommand *c = command;

	cqrs_command_on_stream(call, c, &c->order_id, ORDER_STREAM_TYPE,
						   CQRS_LOAD_GET, decide_confirm_paid);
}

static void
decide_needs_attention(CqrsCommandCall *call, void *command, const void *state,
					   DomainDecision *d)
{
	order_decide_needs_attention(state, command, d);
}

static void
execute_needs_attention(CqrsCommandCall *call, void *command)
{
	OrderPaymentCommand *c = command;

	cqrs_command_on_stream(call, c, &c->order_id, ORDER_STREAM_TYPE,
						   CQRS_LOAD_GET, decide_needs_attention);
}

static void *
parse_assign_registrant(CqrsPayload *p)
{
	AssignRegistrantDetails *c = palloc0(sizeof(AssignRegistrantDetails));

	pl_uuid(p, p->root, "", "orderId", &c->order_id);
	c->person.first_name = pl_string(p, p->root, "", "firstName", true);
	c->person.last_name = pl_string(p, p->root, "", "lastName", true);
	c->person.email = pl_string(p, p->root, "", "email", true);
	pl_email(p, "email", c->person.email);
	return c;
}

static void
decide_assign_registrant(CqrsCommandCall *call, void *command,
						 const void *state, DomainDecision *d)
{
	order_decide_assign_registrant(state, command, d);
}

static void
execute_assign_registrant(CqrsCommandCall *call, void *command)
{
	AssignRegistrantDetails *c = command;

	cqrs_command_on_stream(call, c, &c->order_id, ORDER_STREAM_TYPE,
						   CQRS_LOAD_GET, decide_assign_registrant);
}

/* ---------------------------------------------------------------------
 * SeatAssignments
 * ---------------------------------------------------------------------
 */

typedef struct CreateAssignmentsCall
{
	pg_uuid_t	order_id;
	OrderState *order;
} CreateAssignmentsCall;

static void
decide_create_assignments(CqrsCommandCall *call, void *command,
						  const void *state, DomainDecision *d)
{
	CreateAssignmentsCall *c = command;

	seat_assignments_decide_create(state, &c->order_id, c->order, d);
}

/*
 * CreateSeatAssignments {orderId}: the internal command the OrderConfirmed
 * handler sends.  Reads the Order, creates the assignments at their
 * derived stream id unless they exist.
 */
static void
execute_create_assignments(CqrsCommandCall *call, void *command)
{
	OrderIdCommand *c = command;
	CreateAssignmentsCall *cc = palloc0(sizeof(CreateAssignmentsCall));
	pg_uuid_t	stream_id;

	cc->order_id = c->order_id;
	derived_stream(&c->order_id, SEAT_ASSIGNMENTS_STREAM_TYPE, &stream_id);
	/* lock the assignments first, then read the order */
	cqrs_lock_stream(&stream_id);
	cc->order = cqrs_command_load_aux(&c->order_id, ORDER_STREAM_TYPE);
	cqrs_command_on_stream(call, cc, &stream_id, SEAT_ASSIGNMENTS_STREAM_TYPE,
						   CQRS_LOAD_FIND, decide_create_assignments);
}

static void *
parse_assign_seat(CqrsPayload *p)
{
	AssignSeat *c = palloc0(sizeof(AssignSeat));
	JsonbContainer *attendee;

	pl_uuid(p, p->root, "", "seatAssignmentsId", &c->assignments_id);
	c->position = pl_int32_nonneg(p, p->root, "", "position");
	attendee = pl_object(p, p->root, "", "attendee");
	c->attendee.first_name = pl_string(p, attendee, "attendee", "firstName", false);
	c->attendee.last_name = pl_string(p, attendee, "attendee", "lastName", false);
	c->attendee.email = pl_string(p, attendee, "attendee", "email", true);
	pl_email(p, "attendee.email", c->attendee.email);
	return c;
}

static void
decide_assign_seat(CqrsCommandCall *call, void *command, const void *state,
				   DomainDecision *d)
{
	seat_assignments_decide_assign(state, command, d);
}

static void
execute_assign_seat(CqrsCommandCall *call, void *command)
{
	AssignSeat *c = command;

	cqrs_command_on_stream(call, c, &c->assignments_id,
						   SEAT_ASSIGNMENTS_STREAM_TYPE, CQRS_LOAD_GET,
						   decide_assign_seat);
}

static void *
parse_unassign_seat(CqrsPayload *p)
{
	UnassignSeat *c = palloc0(sizeof(UnassignSeat));

	pl_uuid(p, p->root, "", "seatAssignmentsId", &c->assignments_id);
	c->position = pl_int32_nonneg(p, p->root, "", "position");
	return c;
}

static void
decide_unassign_seat(CqrsCommandCall *call, void *command, const void *state,
					 DomainDecision *d)
{
	seat_assignments_decide_unassign(state, command, d);
}

static void
execute_unassign_seat(CqrsCommandCall *call, void *command)
{
	UnassignSeat *c = command;

	cqrs_command_on_stream(call, c, &c->assignments_id,
						   SEAT_ASSIGNMENTS_STREAM_TYPE, CQRS_LOAD_GET,
						   decide_unassign_seat);
}

/* ---------------------------------------------------------------------
 * SeatsAvailability
 * ---------------------------------------------------------------------
 */

static const SeatsAvailabilityState empty_availability;

static void *
parse_seats_change(CqrsPayload *p)
{
	SeatsChangeCommand *c = palloc0(sizeof(SeatsChangeCommand));

	pl_uuid(p, p->root, "", "conferenceId", &c->conference_id);
	pl_uuid(p, p->root, "", "seatType", &c->seat_type);
	c->quantity = pl_int32_nonneg(p, p->root, "", "quantity");
	return c;
}

static void
decide_add_seats(CqrsCommandCall *call, void *command, const void *state,
				 DomainDecision *d)
{
	seats_decide_add(state ? state : &empty_availability, command, d);
}

static void
decide_remove_seats(CqrsCommandCall *call, void *command, const void *state,
					DomainDecision *d)
{
	seats_decide_remove(state ? state : &empty_availability, command, d);
}

static void
execute_seats_change(CqrsCommandCall *call, void *command, CqrsDecideFn decide)
{
	SeatsChangeCommand *c = command;
	pg_uuid_t	stream_id;

	derived_stream(&c->conference_id, SEATS_AVAILABILITY_STREAM_TYPE, &stream_id);
	/* Find + create: the conference's first seat command creates it */
	cqrs_command_on_stream(call, c, &stream_id, SEATS_AVAILABILITY_STREAM_TYPE,
						   CQRS_LOAD_FIND, decide);
}

static void
execute_add_seats(CqrsCommandCall *call, void *command)
{
	execute_seats_change(call, command, decide_add_seats);
}

static void
execute_remove_seats(CqrsCommandCall *call, void *command)
{
	execute_seats_change(call, command, decide_remove_seats);
}

static void *
parse_make_reservation(CqrsPayload *p)
{
	MakeSeatReservation *c = palloc0(sizeof(MakeSeatReservation));

	pl_uuid(p, p->root, "", "conferenceId", &c->conference_id);
	pl_uuid(p, p->root, "", "reservationId", &c->reservation_id);
	pl_seats(p, p->root, "", "seats", &c->seats);
	return c;
}

static void
decide_make_reservation(CqrsCommandCall *call, void *command,
						const void *state, DomainDecision *d)
{
	seats_decide_reserve(state, command, d);
}

static void
execute_make_reservation(CqrsCommandCall *call, void *command)
{
	MakeSeatReservation *c = command;
	pg_uuid_t	stream_id;

	derived_stream(&c->conference_id, SEATS_AVAILABILITY_STREAM_TYPE, &stream_id);
	cqrs_command_on_stream(call, c, &stream_id, SEATS_AVAILABILITY_STREAM_TYPE,
						   CQRS_LOAD_GET, decide_make_reservation);
}

static void *
parse_reservation(CqrsPayload *p)
{
	ReservationCommand *c = palloc0(sizeof(ReservationCommand));

	pl_uuid(p, p->root, "", "conferenceId", &c->conference_id);
	pl_uuid(p, p->root, "", "reservationId", &c->reservation_id);
	return c;
}

static void
decide_cancel_reservation(CqrsCommandCall *call, void *command,
						  const void *state, DomainDecision *d)
{
	seats_decide_cancel(state, command, d);
}

static void
decide_commit_reservation(CqrsCommandCall *call, void *command,
						  const void *state, DomainDecision *d)
{
	seats_decide_commit(state, command, d);
}

static void
execute_reservation(CqrsCommandCall *call, void *command, CqrsDecideFn decide)
{
	ReservationCommand *c = command;
	pg_uuid_t	stream_id;

	derived_stream(&c->conference_id, SEATS_AVAILABILITY_STREAM_TYPE, &stream_id);
	cqrs_command_on_stream(call, c, &stream_id, SEATS_AVAILABILITY_STREAM_TYPE,
						   CQRS_LOAD_GET, decide);
}

static void
execute_cancel_reservation(CqrsCommandCall *call, void *command)
{
	execute_reservation(call, command, decide_cancel_reservation);
}

static void
execute_commit_reservation(CqrsCommandCall *call, void *command)
{
	execute_reservation(call, command, decide_commit_reservation);
}

/* ---------------------------------------------------------------------
 * The table
 * ---------------------------------------------------------------------
 */

static const CqrsCommandHandler domain_commands[] = {
	{"RegisterToConference", parse_register, execute_register},
	{"MarkSeatsAsReserved", parse_mark_reserved, execute_mark_reserved},
	{"RejectOrder", parse_order_id, execute_reject},
	{"AssignRegistrantDetails", parse_assign_registrant, execute_assign_registrant},
	{"ConfirmOrder", parse_order_id, execute_confirm},
	{"CreateSeatAssignments", parse_order_id, execute_create_assignments},
	{"ConfirmPaidOrder", parse_order_payment, execute_confirm_paid},
	{"MarkOrderNeedsAttention", parse_order_payment, execute_needs_attention},
	{"AssignSeat", parse_assign_seat, execute_assign_seat},
	{"UnassignSeat", parse_unassign_seat, execute_unassign_seat},
	{"AddSeats", parse_seats_change, execute_add_seats},
	{"RemoveSeats", parse_seats_change, execute_remove_seats},
	{"MakeSeatReservation", parse_make_reservation, execute_make_reservation},
	{"CancelSeatReservation", parse_reservation, execute_cancel_reservation},
	{"CommitSeatReservation", parse_reservation, execute_commit_reservation},
};

void
cqrs_domain_commands_register(void)
{
	int			i;

	for (i = 0; i < lengthof(domain_commands); i++)
		cqrs_register_command(&domain_commands[i]);
}
