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

/*
 * Runs every projection's next batch.  *behind is set when one of them
 * read a full batch: more events wait for it.
 */
extern int64 cqrs_run_projections(int max_events, bool *behind);

#endif							/* CQRS_PROJECTION_RUNNER_H */
