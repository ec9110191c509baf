/*-------------------------------------------------------------------------
 *
 * spi_plan.c
 *	  Prepare-once SPI plans.  Each caller owns a static slot; the plan is
 *	  prepared on first use and kept (SPI_keepplan), and the plan cache
 *	  revalidates it when the objects it uses change.
 *
 *	  The plans are generic (CURSOR_OPT_GENERIC_PLAN).  Left to itself, the
 *	  plan cache plans a statement five times with its parameter values and
 *	  then keeps planning every execution anew whenever the generic plan's
 *	  estimate is the higher one -- as it is for "version > $2" on one
 *	  stream, whose generic estimate assumes a third of the table.  Our
 *	  statements are key lookups and short index ranges whose best plan
 *	  does not depend on the values, so planning them per call is pure
 *	  overhead.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "util/spi_plan.h"

SPIPlanPtr
cqrs_spi_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes,
												  CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

void
cqrs_spi_check(int rc, int expected, const char *what)
{
	if (rc != expected)
		elog(ERROR, "%s failed: %s", what, SPI_result_code_string(rc));
}
