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

extern int64 cqrs_run_projections(int max_events);

#endif							/* CQRS_PROJECTION_RUNNER_H */
