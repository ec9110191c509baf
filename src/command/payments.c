/*-------------------------------------------------------------------------
 *
 * payments.c
 *	  The Payments commands (domain.md section 5): CQRS without event
 *	  sourcing.  The row in conference.payments (and its items) is the
 *	  state; the pure transitions are in src/domain/payment.c.  The
 *	  integration events are appended to the payment's stream (type
 *	  ThirdPartyProcessorPayment, id = paymentId) in the same transaction
 *	  as the row change, so they commit together or not at all (the
 *	  reference published after SaveChanges, without a transaction).
 *
 *	  The payment's stream lock serialises commands on one payment.
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
#include "domain/payment.h"
#include "store/stream_lock.h"
#include "util/jsonb_util.h"
#include "util/spi_plan.h"
#include "util/uuid_util.h"

static SPIPlanPtr plan_load = NULL;
static SPIPlanPtr plan_insert = NULL;
static SPIPlanPtr plan_insert_item = NULL;
static SPIPlanPtr plan_set_state = NULL;

/* The payment's row, or false when there is none. */
static bool
load_payment(const pg_uuid_t *payment_id, PaymentState *out)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	int			rc;
	bool		isnull;
	char	   *state;
	int			i;

	cqrs_spi_plan(&plan_load,
				  "SELECT state, payment_source_id, description, total_amount"
				  " FROM conference.payments WHERE id = $1 FOR UPDATE",
				  1, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) payment_id);
	rc = SPI_execute_plan(plan_load, values, NULL, false, 1);
	cqrs_spi_check(rc, SPI_OK_SELECT, "reading a payment");
	if (SPI_processed == 0)
		return false;

	memset(out, 0, sizeof(PaymentState));
	out->payment_id = *payment_id;
	state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	out->state = PAYMENT_INITIATED;
	for (i = PAYMENT_INITIATED; i <= PAYMENT_REJECTED; i++)
		if (strcmp(state, payment_state_name((PaymentStateValue) i)) == 0)
			out->state = (PaymentStateValue) i;
	out->payment_source_id =
		*DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0],
									 SPI_tuptable->tupdesc, 2, &isnull));
	out->description = SPI_getvalue(SPI_tuptable->vals[0],
									SPI_tuptable->tupdesc, 3);
	out->total_amount =
		DatumGetNumericCopy(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 4, &isnull));
	return true;
}

static void
insert_payment(const InitiatePayment *c)
{
	Oid			argtypes[4] = {UUIDOID, UUIDOID, TEXTOID, NUMERICOID};
	Oid			item_types[5] = {UUIDOID, UUIDOID, INT4OID, TEXTOID, NUMERICOID};
	Datum		values[5];
	int			rc;
	int			i;

	cqrs_spi_plan(&plan_insert,
				  "INSERT INTO conference.payments (id, state, payment_source_id,"
				  " description, total_amount)"
				  " VALUES ($1, 'initiated', $2, $3, $4)",
				  4, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) &c->payment_id);
	values[1] = UUIDPGetDatum((pg_uuid_t *) &c->payment_source_id);
	values[2] = CStringGetTextDatum(c->description ? c->description : "");
	values[3] = NumericGetDatum(c->total_amount);
	rc = SPI_execute_plan(plan_insert, values, NULL, false, 0);
	cqrs_spi_check(rc, SPI_OK_INSERT, "inserting a payment");

	cqrs_spi_plan(&plan_insert_item,
				  "INSERT INTO conference.payment_items (id, payment_id, position,"
				  " description, amount) VALUES ($1, $2, $3, $4, $5)",
				  5, item_types);
	for (i = 0; i < c->item_count; i++)
	{
		pg_uuid_t	item_id;

		cqrs_uuid_time_ordered(&item_id);
		values[0] = UUIDPGetDatum(&item_id);
		values[1] = UUIDPGetDatum((pg_uuid_t *) &c->payment_id);
		values[2] = Int32GetDatum(i);
		values[3] = CStringGetTextDatum(c->items[i].description ?
										c->items[i].description : "");
		values[4] = NumericGetDatum(c->items[i].amount);
		rc = SPI_execute_plan(plan_insert_item, values, NULL, false, 0);
		cqrs_spi_check(rc, SPI_OK_INSERT, "inserting a payment item");
	}
}

static void
set_state(const pg_uuid_t *payment_id, PaymentStateValue state)
{
	Oid			argtypes[2] = {UUIDOID, TEXTOID};
	Datum		values[2];
	int			rc;

	cqrs_spi_plan(&plan_set_state,
				  "UPDATE conference.payments SET state = $2, updated_at = now()"
				  " WHERE id = $1",
				  2, argtypes);
	values[0] = UUIDPGetDatum((pg_uuid_t *) payment_id);
	values[1] = CStringGetTextDatum(payment_state_name(state));
	rc = SPI_execute_plan(plan_set_state, values, NULL, false, 0);
	cqrs_spi_check(rc, SPI_OK_UPDATE, "updating a payment");
}

/* ---------------------------------------------------------------------
 * Commands
 * ---------------------------------------------------------------------
 */

static void *
parse_initiate(CqrsPayload *p)
{
	InitiatePayment *c = palloc0(sizeof(InitiatePayment));
	JsonbValue	v;

	pl_uuid(p, p->root, "", "paymentId", &c->payment_id);
	pl_uuid(p, p->root, "", "paymentSourceId", &c->payment_source_id);
	c->has_conference_id = pl_uuid_opt(p, p->root, "", "conferenceId",
									   &c->conference_id);
	c->description = pl_string(p, p->root, "", "description", false);
	c->total_amount = pl_money(p, p->root, "", "totalAmount");
	if (jb_get(p->root, "items", &v) && v.type != jbvNull)
	{
		JsonbContainer *arr = pl_array(p, p->root, "", "items");
		int			i;

		c->item_count = JsonContainerSize(arr);
		c->items = palloc0(sizeof(PaymentItem) * Max(c->item_count, 1));
		for (i = 0; i < c->item_count; i++)
		{
			char	   *path;
			JsonbContainer *item = pl_array_object(p, arr, "items", i, &path);

			c->items[i].description = pl_string(p, item, path, "description", false);
			c->items[i].amount = pl_money(p, item, path, "amount");
		}
	}
	return c;
}

static void
execute_initiate(CqrsCommandCall *call, void *command)
{
	InitiatePayment *c = command;
	PaymentState existing;
	bool		exists;
	DomainDecision d;

	cqrs_lock_stream(&c->payment_id);
	exists = load_payment(&c->payment_id, &existing);
	domain_decision_init(&d);
	payment_decide_initiate(exists ? &existing : NULL, c, &d);
	if (!d.rejected && d.count > 0)
		insert_payment(c);
	cqrs_command_store_decision(call, &c->payment_id, PAYMENT_STREAM_TYPE,
								true, -1, &d);
}

static void *
parse_payment_id(CqrsPayload *p)
{
	PaymentIdCommand *c = palloc0(sizeof(PaymentIdCommand));

	pl_uuid(p, p->root, "", "paymentId", &c->payment_id);
	return c;
}

static void
execute_transition(CqrsCommandCall *call, PaymentIdCommand *c, bool complete)
{
	PaymentState existing;
	bool		exists;
	DomainDecision d;

	cqrs_lock_stream(&c->payment_id);
	exists = load_payment(&c->payment_id, &existing);
	domain_decision_init(&d);
	if (complete)
		payment_decide_complete(exists ? &existing : NULL, &d);
	else
		payment_decide_cancel(exists ? &existing : NULL, &d);
	if (!d.rejected && d.count > 0)
		set_state(&c->payment_id, complete ? PAYMENT_COMPLETED : PAYMENT_REJECTED);
	cqrs_command_store_decision(call, &c->payment_id, PAYMENT_STREAM_TYPE,
								true, -1, &d);
}

static void
execute_complete(CqrsCommandCall *call, void *command)
{
	execute_transition(call, command, true);
}

static void
execute_cancel(CqrsCommandCall *call, void *command)
{
	execute_transition(call, command, false);
}

static const CqrsCommandHandler payment_commands[] = {
	{"InitiateThirdPartyProcessorPayment", parse_initiate, execute_initiate},
	{"CompleteThirdPartyProcessorPayment", parse_payment_id, execute_complete},
	{"CancelThirdPartyProcessorPayment", parse_payment_id, execute_cancel},
};

void
cqrs_payments_register(void)
{
	int			i;

	for (i = 0; i < lengthof(payment_commands); i++)
		cqrs_register_command(&payment_commands[i]);
}
