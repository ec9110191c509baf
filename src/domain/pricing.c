/*-------------------------------------------------------------------------
 *
 * pricing.c
 *	  The pricing service of the reference (PricingService.CalculateTotal):
 *	  one line per requested seat item, in input order, with
 *	  LineTotal = Round(UnitPrice * Quantity, 2) and Total = the sum of the
 *	  line totals (not rounded again).  .NET's Math.Round rounds half to
 *	  even (banker's rounding), PostgreSQL's round() half away from zero,
 *	  so the rounding is done here, on exact decimal numerics: 0.125 gives
 *	  0.12, 0.135 gives 0.14, 2.675 gives 2.68.
 *
 *	  Pure: the command layer reads the prices (PriceList) from
 *	  conference.seat_types in the command's transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

#include "domain/pricing.h"
#include "util/jsonb_util.h"
#include "util/uuid_util.h"

PG_FUNCTION_INFO_V1(cqrs_round_half_even);

static int
num_cmp(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
											 NumericGetDatum(a),
											 NumericGetDatum(b)));
}

/* value with exactly `scale` decimals, a display scale of `scale` */
static Numeric
num_with_scale(Numeric value, int scale)
{
	return DatumGetNumeric(DirectFunctionCall2(numeric_round,
											   NumericGetDatum(value),
											   Int32GetDatum(scale)));
}

bool
pricing_is_zero(Numeric n)
{
	return num_cmp(n, int64_to_numeric(0)) == 0;
}

/*
 * Round value to `scale` decimals, a tie going to the even neighbour
 * (MidpointRounding.ToEven).  Symmetric for negative values.
 */
Numeric
pricing_round_half_even(Numeric value, int scale)
{
	Numeric		factor;
	Numeric		scaled;
	Numeric		floor_n;
	Numeric		frac;
	Numeric		half;
	Numeric		one = int64_to_numeric(1);
	int			c;
	int64		pow10 = 1;
	int			i;

	if (numeric_is_nan(value) || numeric_is_inf(value))
		return value;
	if (scale < 0 || scale > 18)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rounding scale %d is out of range", scale),
				 errhint("Use a scale between 0 and 18.")));
	for (i = 0; i < scale; i++)
		pow10 *= 10;
	factor = int64_to_numeric(pow10);
	half = int64_div_fast_to_numeric(5, 1);

	scaled = numeric_mul_opt_error(value, factor, NULL);
	floor_n = DatumGetNumeric(DirectFunctionCall1(numeric_floor,
												  NumericGetDatum(scaled)));
	frac = numeric_sub_opt_error(scaled, floor_n, NULL);
	c = num_cmp(frac, half);
	if (c > 0)
		floor_n = numeric_add_opt_error(floor_n, one, NULL);
	else if (c == 0)
	{
		Numeric		rem = numeric_mod_opt_error(floor_n,
												int64_to_numeric(2), NULL);

		if (!pricing_is_zero(rem))
			floor_n = numeric_add_opt_error(floor_n, one, NULL);
	}
	return num_with_scale(numeric_div_opt_error(floor_n, factor, NULL), scale);
}

/*
 * Price seats with prices.  Returns false with *error set to the
 * reference's message when a seat type is not one of the conference's.
 * Zero-quantity items give zero lines; a seat type listed twice gives two
 * lines, as in the reference.
 */
bool
pricing_calculate(const PriceList *prices, const SeatQuantities *seats,
				  OrderTotal *out, char **error)
{
	int			i;
	Numeric		total = int64_to_numeric(0);

	out->count = 0;
	out->lines = palloc0(sizeof(OrderLine) * Max(seats->count, 1));
	for (i = 0; i < seats->count; i++)
	{
		const SeatQuantity *item = &seats->items[i];
		const SeatTypePrice *found = NULL;
		OrderLine  *line = &out->lines[out->count];
		int			j;

		for (j = 0; j < prices->count; j++)
			if (memcmp(prices->items[j].seat_type.data, item->seat_type.data,
					   UUID_LEN) == 0)
			{
				found = &prices->items[j];
				break;
			}
		if (found == NULL)
		{
			*error = psprintf("Invalid seat type ID '%s' for conference with ID '%s'",
							  cqrs_uuid_to_cstring(&item->seat_type),
							  cqrs_uuid_to_cstring(&prices->conference_id));
			return false;
		}
		line->seat_type = item->seat_type;
		line->quantity = item->quantity;
		line->unit_price = found->price;
		line->line_total =
			pricing_round_half_even(numeric_mul_opt_error(found->price,
														  int64_to_numeric(item->quantity),
														  NULL), 2);
		total = numeric_add_opt_error(total, line->line_total, NULL);
		out->count++;
	}
	out->total = num_with_scale(total, 2);
	return true;
}

/*
 * The data of OrderTotalsCalculated:
 * {"total", "lines": [{"seatType", "unitPrice", "quantity", "lineTotal"}],
 *  "isFreeOfCharge"}; the caller has begun the object.
 */
void
pricing_push_totals(JsonbParseState **st, const OrderTotal *t)
{
	int			i;

	jb_key(st, "total");
	domain_push_numeric(st, t->total);
	jb_key(st, "lines");
	jb_begin_array(st);
	for (i = 0; i < t->count; i++)
	{
		jb_begin_object(st);
		jb_key(st, "seatType");
		jb_value_uuid(st, &t->lines[i].seat_type);
		jb_key(st, "unitPrice");
		domain_push_numeric(st, t->lines[i].unit_price);
		jb_key(st, "quantity");
		jb_value_int64(st, t->lines[i].quantity);
		jb_key(st, "lineTotal");
		domain_push_numeric(st, t->lines[i].line_total);
		jb_end_object(st);
	}
	jb_end_array(st);
	jb_key(st, "isFreeOfCharge");
	jb_value_bool(st, pricing_is_zero(t->total));
}

/*
 * conference.round_half_even(value numeric, scale integer): the rounding
 * the pricing service uses, for tests and for SQL that must agree with it.
 */
Datum
cqrs_round_half_even(PG_FUNCTION_ARGS)
{
	PG_RETURN_NUMERIC(pricing_round_half_even(PG_GETARG_NUMERIC(0),
											  PG_GETARG_INT32(1)));
}
