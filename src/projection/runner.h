/*-------------------------------------------------------------------------
 *
 * runner.h
 *	  The projection runner, called by each drain step.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_PROJECTION_RUNNER_H
#define CQRS_PROJECTION_RUNNER_H

#include "postgres.h"

#define CQRS_PROJECTION_BATCH 1000

/* Which projections read a full batch in a pass: more events wait. */
typedef struct CqrsProjectionBacklog
{
	bool		live;			/* a running projection */
	bool		rebuild;		/* a rebuild's shadow projection */
} CqrsProjectionBacklog;

/* Runs every projection's next batch. */
extern int64 cqrs_run_projections(int max_events,
								  CqrsProjectionBacklog *backlog);

#endif							/* CQRS_PROJECTION_RUNNER_H */
