/*-------------------------------------------------------------------------
 *
 * payment.h
 *	  ThirdPartyProcessorPayment (domain.md section 5): CQRS without event
 *	  sourcing.  The table conference.payments is the state; these pure
 *	  functions decide the transitions and the integration events.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_PAYMENT_H
#define CQRS_PAYMENT_H

#include "postgres.h"

#include "domain/domain.h"

#define PAYMENT_STREAM_TYPE "ThirdPartyProcessorPayment"

typedef enum PaymentStateValue
{
	PAYMENT_INITIATED = 0,
	PAYMENT_ACCEPTED = 1,		/* never used, as in the reference */
	PAYMENT_COMPLETED = 2,
	PAYMENT_REJECTED = 3
} PaymentStateValue;

typedef struct PaymentItem
{
	char	   *description;
	Numeric		amount;
} PaymentItem;

typedef struct PaymentState
{
	pg_uuid_t	payment_id;
	pg_uuid_t	payment_source_id;	/* the order id */
	PaymentStateValue state;
	char	   *description;
	Numeric		total_amount;
} PaymentState;

typedef struct InitiatePayment
{
	pg_uuid_t	payment_id;
	pg_uuid_t	payment_source_id;
	pg_uuid_t	conference_id;	/* not stored, as in the reference */
	bool		has_conference_id;
	char	   *description;
	Numeric		total_amount;
	int			item_count;
	PaymentItem *items;
} InitiatePayment;

/* CompleteThirdPartyProcessorPayment, CancelThirdPartyProcessorPayment */
typedef struct PaymentIdCommand
{
	pg_uuid_t	payment_id;
} PaymentIdCommand;

extern const char *payment_state_name(PaymentStateValue state);
extern void payment_decide_initiate(const PaymentState *state,
									const InitiatePayment *cmd,
									DomainDecision *d);
extern void payment_decide_complete(const PaymentState *state,
									DomainDecision *d);
extern void payment_decide_cancel(const PaymentState *state,
								  DomainDecision *d);

#endif							/* CQRS_PAYMENT_H */
