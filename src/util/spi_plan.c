/*-------------------------------------------------------------------------
 *
 * spi_plan.c
 *	  Prepare-once SPI plans.  Each caller owns a static slot; the plan is
 *	  prepared on first use and kept (SPI_keepplan), and the plan cache
 *	  revalidates it when the objects it uses change.
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
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

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
