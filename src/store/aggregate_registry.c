/*-------------------------------------------------------------------------
 *
 * aggregate_registry.c
 *	  Which aggregate folds which stream type.  The domain registers its
 *	  aggregates at load time; everything else folds generically.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "store/aggregate.h"

#define MAX_AGGREGATE_TYPES 32

static const CqrsAggregateOps *registered[MAX_AGGREGATE_TYPES];
static int	registered_count = 0;

void
cqrs_register_aggregate(const CqrsAggregateOps *ops)
{
	if (registered_count >= MAX_AGGREGATE_TYPES)
		elog(ERROR, "too many aggregate types registered");
	registered[registered_count++] = ops;
}

const CqrsAggregateOps *
cqrs_aggregate_for(const char *stream_type)
{
	int			i;

	for (i = 0; i < registered_count; i++)
		if (strcmp(registered[i]->stream_type, stream_type) == 0)
			return registered[i];
	return &cqrs_generic_aggregate;
}
