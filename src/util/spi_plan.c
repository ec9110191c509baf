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
 *	  A kept plan is not kept unchanged for long, though.  The plan cache
 *	  replans when a table's statistics change, that is when autovacuum
 *	  has analysed it; a plan made while a table was small (a sequential
 *	  scan of its one page beats any index) stays in use while the table
 *	  grows by tens of thousands of rows in the minute before that, and a
 *	  key lookup then reads the whole table.  So at most every
 *	  CQRS_REPLAN_INTERVAL_MS, our plans' generic plans are marked stale
 *	  and the next use of each one plans it again for the table's current
 *	  size.  (The background worker instead resets every cached plan of its
 *	  process, its handlers' included, whenever the log has doubled:
 *	  worker.c.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/timestamp.h"

#include "cqrs_conf.h"
#include "util/spi_plan.h"

/* Every slot that holds a kept plan (in TopMemoryContext). */
static List *kept_slots = NIL;

/* When our plans were last marked stale. */
static TimestampTz plans_marked_stale_at = 0;

/*
 * Mark the generic plans of our kept plans stale, as the plan cache does on
 * an invalidation: the next execution plans anew; one running now keeps
 * its plan until it ends.
 */
static void
mark_plans_stale(void)
{
	ListCell   *lc;

	foreach(lc, kept_slots)
	{
		SPIPlanPtr	plan = *(SPIPlanPtr *) lfirst(lc);
		ListCell   *src;

		if (plan == NULL)
			continue;
		foreach(src, SPI_plan_get_plan_sources(plan))
		{
			CachedPlanSource *ps = (CachedPlanSource *) lfirst(src);

			if (ps->gplan != NULL)
				ps->gplan->is_valid = false;
		}
	}
}

SPIPlanPtr
cqrs_spi_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	/* The background worker resets all its plans itself (worker.c). */
	if (!IsBackgroundWorker)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (TimestampDifferenceExceeds(plans_marked_stale_at, now,
									   CQRS_REPLAN_INTERVAL_MS))
		{
			mark_plans_stale();
			plans_marked_stale_at = now;
		}
	}

	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes,
											  CURSOR_OPT_GENERIC_PLAN);
		MemoryContext old;

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		old = MemoryContextSwitchTo(TopMemoryContext);
		kept_slots = lappend(kept_slots, slot);
		MemoryContextSwitchTo(old);
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
