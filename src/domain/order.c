/*-------------------------------------------------------------------------
 *
 * order.c
 *	  The Order aggregate (reference: Registration/Order.cs), pure C.
 *
 *	  Decisions follow the reference with the quirk decisions of design.md
 *	  section 6: the order remembers that it expired (OrderExpired is
 *	  emitted once; an expired order cannot be confirmed or updated), and
 *	  a confirmed order cannot be updated.  The legacy V1 event
 *	  OrderPaymentConfirmed is upcast to OrderConfirmed on replay, and an
 *	  OrderTotalsCalculated from before V2 gets isFreeOfCharge = false.
 *
 *	  State JSON (cqrs.load, snapshots):
 *	  {"conferenceId", "status", "seats", "isConfirmed", "isExpired",
 *	   "accessCode", "reservationExpiration", "registrant", "total",
 *	   "isFreeOfCharge"}
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"

#include "domain/domain.h"
#include "domain/order.h"
#include "domain/pricing.h"
#include "store/aggregate.h"
#include "util/jsonb_util.h"

/* HandleGenerator's alphabet: no I, L, O and no 0 */
static const char access_code_alphabet[] = "ABCDEFGHJKMNPQRSTUVWXYZ123456789";

static const char *const status_names[] = {
	"pending_reservation",
	"partially_reserved",
	"reservation_completed",
	"confirmed",
	"expired"
};

const char *
order_status_name(OrderStatus status)
{
	return status_names[status];
}

static bool
order_status_from_name(const char *name, OrderStatus *out)
{
	int			i;

	for (i = 0; i < lengthof(status_names); i++)
		if (strcmp(name, status_names[i]) == 0)
		{
			*out = (OrderStatus) i;
			return true;
		}
	return false;
}

/* Six characters drawn uniformly from the 32-letter alphabet. */
void
order_make_access_code(const uint8 *random_bytes, char *out)
{
	int			i;

	for (i = 0; i < ORDER_ACCESS_CODE_LEN; i++)
		out[i] = access_code_alphabet[random_bytes[i] % 32];
	out[ORDER_ACCESS_CODE_LEN] = '\0';
}

/* ---------------------------------------------------------------------
 * Apply
 * ---------------------------------------------------------------------
 */

static void *
order_create(void)
{
	OrderState *s = palloc0(sizeof(OrderState));

	s->status = ORDER_PENDING_RESERVATION;
	return s;
}

static void
order_upcast(CqrsStoredEvent *ev)
{
	/* V1: OrderPaymentConfirmed was renamed OrderConfirmed in V2 */
	if (strcmp(ev->event_type, "OrderPaymentConfirmed") == 0)
		ev->event_type = "OrderConfirmed";
	/* before V2, OrderTotalsCalculated had no isFreeOfCharge (false) */
	else if (strcmp(ev->event_type, "OrderTotalsCalculated") == 0)
	{
		JsonbValue	v;

		if (!jb_get(&ev->data->root, "isFreeOfCharge", &v))
		{
			JsonbParseState *st = NULL;
			Jsonb	   *defaults;

			jb_begin_object(&st);
			jb_key(&st, "isFreeOfCharge");
			jb_value_bool(&st, false);
			defaults = JsonbValueToJsonb(jb_end_object(&st));
			ev->data = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
														  JsonbPGetDatum(defaults),
														  JsonbPGetDatum(ev->data)));
		}
	}
}

static void
order_apply(void *state_ptr, const CqrsStoredEvent *ev)
{
	OrderState *s = state_ptr;
	const JsonbContainer *data = &ev->data->root;
	const char *t = ev->event_type;

	if (strcmp(t, "OrderPlaced") == 0)
	{
		domain_get_uuid(data, "conferenceId", &s->conference_id);
		domain_get_seats(data, "seats", &s->seats);
		s->access_code = domain_get_string(data, "accessCode");
		s->has_expiration = domain_get_timestamp(data, "reservationAutoExpiration",
												 &s->reservation_expiration);
		s->status = ORDER_PENDING_RESERVATION;
	}
	else if (strcmp(t, "OrderUpdated") == 0)
	{
		domain_get_seats(data, "seats", &s->seats);
		s->status = ORDER_PENDING_RESERVATION;
	}
	else if (strcmp(t, "OrderPartiallyReserved") == 0 ||
			 strcmp(t, "OrderReservationCompleted") == 0)
	{
		domain_get_seats(data, "seats", &s->seats);
		if (domain_get_timestamp(data, "reservationExpiration",
								 &s->reservation_expiration))
			s->has_expiration = true;
		s->status = t[5] == 'P' ? ORDER_PARTIALLY_RESERVED :
			ORDER_RESERVATION_COMPLETED;
	}
	else if (strcmp(t, "OrderConfirmed") == 0)
	{
		s->is_confirmed = true;
		s->status = ORDER_CONFIRMED;
	}
	else if (strcmp(t, "OrderExpired") == 0)
	{
		s->is_expired = true;
		s->status = ORDER_EXPIRED;
	}
	else if (strcmp(t, "OrderRegistrantAssigned") == 0)
	{
		s->registrant.first_name = domain_get_string(data, "firstName");
		s->registrant.last_name = domain_get_string(data, "lastName");
		s->registrant.email = domain_get_string(data, "email");
	}
	else if (strcmp(t, "OrderTotalsCalculated") == 0)
	{
		s->total = domain_get_numeric(data, "total");
		if (!domain_get_bool(data, "isFreeOfCharge", &s->is_free_of_charge))
			s->is_free_of_charge = false;
	}
	/* other event types do not change the state */
}

static Jsonb *
order_to_jsonb(const void *state_ptr)
{
	const OrderState *s = state_ptr;
	JsonbParseState *st = NULL;

	jb_begin_object(&st);
	jb_key(&st, "conferenceId");
	jb_value_uuid(&st, &s->conference_id);
	jb_key(&st, "status");
	jb_value_string(&st, order_status_name(s->status));
	jb_key(&st, "seats");
	domain_push_seats(&st, &s->seats);
	jb_key(&st, "isConfirmed");
	jb_value_bool(&st, s->is_confirmed);
	jb_key(&st, "isExpired");
	jb_value_bool(&st, s->is_expired);
	jb_key(&st, "accessCode");
	jb_value_string(&st, s->access_code);
	jb_key(&st, "reservationExpiration");
	if (s->has_expiration)
		domain_push_timestamp(&st, s->reservation_expiration);
	else
		jb_value_null(&st);
	jb_key(&st, "registrant");
	if (s->registrant.email || s->registrant.first_name || s->registrant.last_name)
		domain_push_person(&st, &s->registrant);
	else
		jb_value_null(&st);
	jb_key(&st, "total");
	if (s->total)
		domain_push_numeric(&st, s->total);
	else
		jb_value_null(&st);
	jb_key(&st, "isFreeOfCharge");
	jb_value_bool(&st, s->is_free_of_charge);
	return JsonbValueToJsonb(jb_end_object(&st));
}

static void *
order_from_jsonb(Jsonb *snapshot)
{
	OrderState *s = order_create();
	const JsonbContainer *root = &snapshot->root;
	char	   *status;

	domain_get_uuid(root, "conferenceId", &s->conference_id);
	status = domain_get_string(root, "status");
	if (status == NULL || !order_status_from_name(status, &s->status))
		elog(ERROR, "order snapshot has an unknown status");
	domain_get_seats(root, "seats", &s->seats);
	domain_get_bool(root, "isConfirmed", &s->is_confirmed);
	domain_get_bool(root, "isExpired", &s->is_expired);
	s->access_code = domain_get_string(root, "accessCode");
	s->has_expiration = domain_get_timestamp(root, "reservationExpiration",
											 &s->reservation_expiration);
	domain_get_person(root, "registrant", &s->registrant);
	s->total = domain_get_numeric(root, "total");
	domain_get_bool(root, "isFreeOfCharge", &s->is_free_of_charge);
	return s;
}

static const CqrsAggregateOps order_ops = {
	.stream_type = ORDER_STREAM_TYPE,
	.schema_version = 1,
	.create = order_create,
	.upcast = order_upcast,
	.apply = order_apply,
	.to_jsonb = order_to_jsonb,
	.from_jsonb = order_from_jsonb,
};

void
order_register(void)
{
	cqrs_register_aggregate(&order_ops);
}

/* ---------------------------------------------------------------------
 * Decide
 * ---------------------------------------------------------------------
 */

/* Append OrderTotalsCalculated for seats; false (and a rejection) when
 * a seat type is unknown. */
static bool
emit_totals(const PriceList *prices, const SeatQuantities *seats,
			DomainDecision *d)
{
	OrderTotal	totals;
	char	   *error = NULL;
	JsonbParseState *st = NULL;

	if (!pricing_calculate(prices, seats, &totals, &error))
	{
		domain_reject(d, "%s", error);
		return false;
	}
	jb_begin_object(&st);
	pricing_push_totals(&st, &totals);
	domain_emit(d, "OrderTotalsCalculated", jb_end_object(&st));
	return true;
}

/*
 * RegisterToConference.  A new order: OrderPlaced (items as given, zero
 * quantities included; expiry now + 15 minutes; a fresh access code) and
 * its totals.  An existing order: OrderUpdated and the new totals, priced
 * with the stored conference; refused once confirmed or expired.
 */
void
order_decide_register(const OrderState *state, const RegisterToConference *cmd,
					  const PriceList *prices, TimestampTz now,
					  const char *access_code, DomainDecision *d)
{
	JsonbParseState *st = NULL;

	if (state == NULL)
	{
		jb_begin_object(&st);
		jb_key(&st, "conferenceId");
		jb_value_uuid(&st, &cmd->conference_id);
		jb_key(&st, "seats");
		domain_push_seats(&st, &cmd->seats);
		jb_key(&st, "reservationAutoExpiration");
		domain_push_timestamp(&st, now + ORDER_RESERVATION_WINDOW_USECS);
		jb_key(&st, "accessCode");
		jb_value_string(&st, access_code);
		domain_emit(d, "OrderPlaced", jb_end_object(&st));
	}
	else
	{
		if (state->is_confirmed)
		{
			domain_reject(d, "Cannot modify a confirmed order.");
			return;
		}
		if (state->is_expired)
		{
			domain_reject(d, "Cannot modify an expired order.");
			return;
		}
		jb_begin_object(&st);
		jb_key(&st, "seats");
		domain_push_seats(&st, &cmd->seats);
		domain_emit(d, "OrderUpdated", jb_end_object(&st));
	}
	emit_totals(prices, &cmd->seats, d);
}

/*
 * MarkSeatsAsReserved: partial when some current item with a non-zero
 * quantity has no reserved entry of the same seat type and quantity; a
 * partial reservation is priced again, a complete one keeps its totals.
 */
void
order_decide_mark_reserved(const OrderState *state,
						   const MarkSeatsAsReserved *cmd,
						   const PriceList *prices, DomainDecision *d)
{
	bool		partial = false;
	int			i;
	int			j;
	JsonbParseState *st = NULL;

	if (state->is_confirmed)
	{
		domain_reject(d, "Cannot modify a confirmed order.");
		return;
	}

	for (i = 0; i < state->seats.count && !partial; i++)
	{
		const SeatQuantity *item = &state->seats.items[i];
		bool		matched = false;

		if (item->quantity == 0)
			continue;
		for (j = 0; j < cmd->seats.count; j++)
			if (domain_uuid_equal(&cmd->seats.items[j].seat_type, &item->seat_type) &&
				cmd->seats.items[j].quantity == item->quantity)
			{
				matched = true;
				break;
			}
		if (!matched)
			partial = true;
	}

	jb_begin_object(&st);
	jb_key(&st, "reservationExpiration");
	domain_push_timestamp(&st, cmd->expiration);
	jb_key(&st, "seats");
	domain_push_seats(&st, &cmd->seats);
	domain_emit(d, partial ? "OrderPartiallyReserved" : "OrderReservationCompleted",
				jb_end_object(&st));
	if (partial)
		emit_totals(prices, &cmd->seats, d);
}

/*
 * RejectOrder: explicitly idempotent.  A missing order and an order that
 * already expired give no event; a confirmed order cannot expire.
 */
void
order_decide_reject(const OrderState *state, DomainDecision *d)
{
	if (state == NULL || state->is_expired)
		return;
	if (state->is_confirmed)
	{
		domain_reject(d, "Cannot expire a confirmed order.");
		return;
	}
	domain_emit(d, "OrderExpired", domain_empty_object());
}

/*
 * ConfirmOrder: an expired order cannot be confirmed (the reference has no
 * guard); confirming a confirmed order again changes nothing.
 */
void
order_decide_confirm(const OrderState *state, DomainDecision *d)
{
	if (state->is_expired)
	{
		domain_reject(d, "Cannot confirm an expired order.");
		return;
	}
	if (state->is_confirmed)
		return;
	domain_emit(d, "OrderConfirmed", domain_empty_object());
}

/*
 * ConfirmPaidOrder (internal, sent by the registration process manager
 * only): a payment completed after the order expired and the process
 * manager got the same seats again, so the order is confirmed after all
 * (design.md section 6).  Unlike ConfirmOrder it accepts an expired order;
 * the event says so.  Confirming a confirmed order changes nothing.
 */
void
order_decide_confirm_paid(const OrderState *state,
						  const OrderPaymentCommand *cmd, DomainDecision *d)
{
	JsonbParseState *st = NULL;

	if (state->is_confirmed)
		return;
	jb_begin_object(&st);
	jb_key(&st, "paymentId");
	jb_value_uuid(&st, &cmd->payment_id);
	jb_key(&st, "afterExpiry");
	jb_value_bool(&st, state->is_expired);
	domain_emit(d, "OrderConfirmed", jb_end_object(&st));
}

/*
 * MarkOrderNeedsAttention (internal): a payment completed after expiry and
 * the seats could not be had again; the business customer must act
 * (refund, or find seats).  A confirmed order needs nothing.
 */
void
order_decide_needs_attention(const OrderState *state,
							 const OrderPaymentCommand *cmd, DomainDecision *d)
{
	JsonbParseState *st = NULL;

	if (state->is_confirmed)
		return;
	jb_begin_object(&st);
	jb_key(&st, "paymentId");
	jb_value_uuid(&st, &cmd->payment_id);
	jb_key(&st, "reason");
	jb_value_string(&st, cmd->reason);
	domain_emit(d, "OrderNeedsAttention", jb_end_object(&st));
}

/* AssignRegistrantDetails: no guard, as in the reference. */
void
order_decide_assign_registrant(const OrderState *state,
							   const AssignRegistrantDetails *cmd,
							   DomainDecision *d)
{
	JsonbParseState *st = NULL;

	jb_begin_object(&st);
	jb_key(&st, "firstName");
	jb_value_string(&st, cmd->person.first_name);
	jb_key(&st, "lastName");
	jb_value_string(&st, cmd->person.last_name);
	jb_key(&st, "email");
	jb_value_string(&st, cmd->person.email);
	domain_emit(d, "OrderRegistrantAssigned", jb_end_object(&st));
}
