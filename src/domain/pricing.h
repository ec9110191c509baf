/*-------------------------------------------------------------------------
 *
 * pricing.h
 *	  The pricing service (domain.md section 3.4): line totals of an order
 *	  from the conference's seat-type prices, rounded half to even.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_PRICING_H
#define CQRS_PRICING_H

#include "postgres.h"

#include "domain/domain.h"

/* The prices of one conference's seat types, read by the command layer. */
typedef struct SeatTypePrice
{
	pg_uuid_t	seat_type;
	Numeric		price;
} SeatTypePrice;

typedef struct PriceList
{
	pg_uuid_t	conference_id;
	int			count;
	SeatTypePrice *items;
} PriceList;

/* SeatOrderLine (domain.md section 2) */
typedef struct OrderLine
{
	pg_uuid_t	seat_type;
	Numeric		unit_price;
	int32		quantity;
	Numeric		line_total;
} OrderLine;

typedef struct OrderTotal
{
	int			count;
	OrderLine  *lines;
	Numeric		total;
} OrderTotal;

extern Numeric pricing_round_half_even(Numeric value, int scale);
extern bool pricing_calculate(const PriceList *prices,
							  const SeatQuantities *seats,
							  OrderTotal *out, char **error);
extern bool pricing_is_zero(Numeric n);
extern void pricing_push_totals(JsonbParseState **st, const OrderTotal *t);

#endif							/* CQRS_PRICING_H */
