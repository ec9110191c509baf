/*-------------------------------------------------------------------------
 *
 * payment.c
 *	  ThirdPartyProcessorPayment's state transitions (reference:
 *	  Payments/ThirdPartyProcessorPayment.cs), pure C.
 *
 *	  The payment is not event sourced: conference.payments holds its
 *	  state (src/command/payments.c does the SQL).  The integration events
 *	  PaymentInitiated, PaymentCompleted and PaymentRejected are appended
 *	  to the stream of type ThirdPartyProcessorPayment with the payment's
 *	  id, in the transaction that changes the row, so they are published
 *	  exactly when the change commits.  A small fold over that stream is
 *	  registered too, so cqrs.load() shows a payment readably.
 *
 *	  Event data: PaymentInitiated {"paymentSourceId", "conferenceId",
 *	  "description", "totalAmount", "items": [{"description", "amount"}]};
 *	  PaymentCompleted and PaymentRejected {"paymentSourceId"}.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/jsonb.h"

#include "domain/domain.h"
#include "domain/payment.h"
#include "store/aggregate.h"
#include "util/jsonb_util.h"
#include "util/uuid_util.h"

/* InvalidOperationException's default message */
#define INVALID_OPERATION "Operation is not valid due to the current state of the object."

static const char *const state_names[] = {
	"initiated", "accepted", "completed", "rejected"
};

const char *
payment_state_name(PaymentStateValue state)
{
	return state_names[state];
}

/* ---------------------------------------------------------------------
 * The fold over the payment's event stream (for cqrs.load)
 * ---------------------------------------------------------------------
 */

static void *
payment_create(void)
{
	return palloc0(sizeof(PaymentState));
}

static void
payment_apply(void *state_ptr, const CqrsStoredEvent *ev)
{
	PaymentState *s = state_ptr;
	const JsonbContainer *data = &ev->data->root;

	domain_get_uuid(data, "paymentSourceId", &s->payment_source_id);
	if (strcmp(ev->event_type, "PaymentInitiated") == 0)
	{
		s->state = PAYMENT_INITIATED;
		s->description = domain_get_string(data, "description");
		s->total_amount = domain_get_numeric(data, "totalAmount");
	}
	else if (strcmp(ev->event_type, "PaymentCompleted") == 0)
		s->state = PAYMENT_COMPLETED;
	else if (strcmp(ev->event_type, "PaymentRejected") == 0)
		s->state = PAYMENT_REJECTED;
}

static Jsonb *
payment_to_jsonb(const void *state_ptr)
{
	const PaymentState *s = state_ptr;
	JsonbParseState *st = NULL;

	jb_begin_object(&st);
	jb_key(&st, "paymentSourceId");
	jb_value_uuid(&st, &s->payment_source_id);
	jb_key(&st, "state");
	jb_value_string(&st, payment_state_name(s->state));
	jb_key(&st, "description");
	jb_value_string(&st, s->description);
	jb_key(&st, "totalAmount");
	if (s->total_amount)
		domain_push_numeric(&st, s->total_amount);
	else
		jb_value_null(&st);
	return JsonbValueToJsonb(jb_end_object(&st));
}

static void *
payment_from_jsonb(Jsonb *snapshot)
{
	PaymentState *s = payment_create();
	char	   *state = domain_get_string(&snapshot->root, "state");
	int			i;

	domain_get_uuid(&snapshot->root, "paymentSourceId", &s->payment_source_id);
	for (i = 0; i < lengthof(state_names); i++)
		if (state && strcmp(state, state_names[i]) == 0)
			s->state = (PaymentStateValue) i;
	s->description = domain_get_string(&snapshot->root, "description");
	s->total_amount = domain_get_numeric(&snapshot->root, "totalAmount");
	return s;
}

static const CqrsAggregateOps payment_ops = {
	.stream_type = PAYMENT_STREAM_TYPE,
	.schema_version = 1,
	.create = payment_create,
	.upcast = NULL,
	.apply = payment_apply,
	.to_jsonb = payment_to_jsonb,
	.from_jsonb = payment_from_jsonb,
};

void
payment_register(void)
{
	cqrs_register_aggregate(&payment_ops);
}

/* ---------------------------------------------------------------------
 * Decide (state is NULL when the payment does not exist)
 * ---------------------------------------------------------------------
 */

static JsonbValue *
source_only(const pg_uuid_t *payment_source_id)
{
	JsonbParseState *st = NULL;

	jb_begin_object(&st);
	jb_key(&st, "paymentSourceId");
	jb_value_uuid(&st, payment_source_id);
	return jb_end_object(&st);
}

/* InitiateThirdPartyProcessorPayment: a new payment, state Initiated. */
void
payment_decide_initiate(const PaymentState *state, const InitiatePayment *cmd,
						DomainDecision *d)
{
	JsonbParseState *st = NULL;
	int			i;

	if (state != NULL)
	{
		domain_reject(d, "A payment with ID '%s' already exists.",
					  cqrs_uuid_to_cstring(&cmd->payment_id));
		return;
	}
	jb_begin_object(&st);
	jb_key(&st, "paymentSourceId");
	jb_value_uuid(&st, &cmd->payment_source_id);
	jb_key(&st, "conferenceId");
	if (cmd->has_conference_id)
		jb_value_uuid(&st, &cmd->conference_id);
	else
		jb_value_null(&st);
	jb_key(&st, "description");
	jb_value_string(&st, cmd->description);
	jb_key(&st, "totalAmount");
	domain_push_numeric(&st, cmd->total_amount);
	jb_key(&st, "items");
	jb_begin_array(&st);
	for (i = 0; i < cmd->item_count; i++)
	{
		jb_begin_object(&st);
		jb_key(&st, "description");
		jb_value_string(&st, cmd->items[i].description);
		jb_key(&st, "amount");
		domain_push_numeric(&st, cmd->items[i].amount);
		jb_end_object(&st);
	}
	jb_end_array(&st);
	domain_emit(d, "PaymentInitiated", jb_end_object(&st));
}

/* Complete(): only from Initiated; a missing payment is a no-op. */
void
payment_decide_complete(const PaymentState *state, DomainDecision *d)
{
	if (state == NULL)
		return;
	if (state->state != PAYMENT_INITIATED)
	{
		domain_reject(d, INVALID_OPERATION);
		return;
	}
	domain_emit(d, "PaymentCompleted", source_only(&state->payment_source_id));
}

/* Cancel(): only from Initiated, to Rejected; a missing payment is a no-op. */
void
payment_decide_cancel(const PaymentState *state, DomainDecision *d)
{
	if (state == NULL)
		return;
	if (state->state != PAYMENT_INITIATED)
	{
		domain_reject(d, INVALID_OPERATION);
		return;
	}
	domain_emit(d, "PaymentRejected", source_only(&state->payment_source_id));
}
