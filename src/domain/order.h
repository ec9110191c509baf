/*-------------------------------------------------------------------------
 *
 * order.h
 *	  The Order aggregate (domain.md section 3.3): state, commands and
 *	  decisions, pure C.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_ORDER_H
#define CQRS_ORDER_H

#include "postgres.h"

#include "domain/domain.h"
#include "domain/pricing.h"

#define ORDER_STREAM_TYPE "Order"
/*
 * The reservation window: the reference's 15-minute constant, as the GUC
 * cqrs_conf.reservation_window (milliseconds; src/process/settings.c).
 */
extern int	cqrs_reservation_window_ms;
#define ORDER_RESERVATION_WINDOW_USECS ((int64) cqrs_reservation_window_ms * 1000)
#define ORDER_ACCESS_CODE_LEN 6

typedef enum OrderStatus
{
	ORDER_PENDING_RESERVATION,	/* placed or updated, not reserved yet */
	ORDER_PARTIALLY_RESERVED,
	ORDER_RESERVATION_COMPLETED,
	ORDER_CONFIRMED,
	ORDER_EXPIRED
} OrderStatus;

typedef struct OrderState
{
	pg_uuid_t	conference_id;
	SeatQuantities seats;		/* the current requested or reserved list */
	bool		is_confirmed;
	bool		is_expired;		/* unlike the reference, remembered */
	OrderStatus status;			/* readable state, as the draft order shows */
	char	   *access_code;
	bool		has_expiration;
	TimestampTz reservation_expiration;
	PersonalInfo registrant;
	Numeric		total;			/* NULL before the first totals */
	bool		is_free_of_charge;
} OrderState;

/* Commands */
typedef struct RegisterToConference
{
	pg_uuid_t	order_id;
	pg_uuid_t	conference_id;
	SeatQuantities seats;
} RegisterToConference;

typedef struct MarkSeatsAsReserved
{
	pg_uuid_t	order_id;
	SeatQuantities seats;
	TimestampTz expiration;
} MarkSeatsAsReserved;

typedef struct AssignRegistrantDetails
{
	pg_uuid_t	order_id;
	PersonalInfo person;
} AssignRegistrantDetails;

/*
 * ConfirmPaidOrder and MarkOrderNeedsAttention: internal commands of the
 * registration process manager for a payment that completed after expiry.
 */
typedef struct OrderPaymentCommand
{
	pg_uuid_t	order_id;
	pg_uuid_t	payment_id;
	char	   *reason;			/* MarkOrderNeedsAttention only */
} OrderPaymentCommand;

/* RejectOrder, ConfirmOrder, CreateSeatAssignments */
typedef struct OrderIdCommand
{
	pg_uuid_t	order_id;
} OrderIdCommand;

extern const char *order_status_name(OrderStatus status);
extern void order_make_access_code(const uint8 *random_bytes, char *out);

/* Decisions; state is NULL when the order does not exist. */
extern void order_decide_register(const OrderState *state,
								  const RegisterToConference *cmd,
								  const PriceList *prices, TimestampTz now,
								  const char *access_code,
								  DomainDecision *d);
extern void order_decide_mark_reserved(const OrderState *state,
									   const MarkSeatsAsReserved *cmd,
									   const PriceList *prices,
									   DomainDecision *d);
extern void order_decide_reject(const OrderState *state, DomainDecision *d);
extern void order_decide_confirm(const OrderState *state, DomainDecision *d);
extern void order_decide_confirm_paid(const OrderState *state,
									  const OrderPaymentCommand *cmd,
									  DomainDecision *d);
extern void order_decide_needs_attention(const OrderState *state,
										 const OrderPaymentCommand *cmd,
										 DomainDecision *d);
extern void order_decide_assign_registrant(const OrderState *state,
										   const AssignRegistrantDetails *cmd,
										   DomainDecision *d);

#endif							/* CQRS_ORDER_H */
