/*-------------------------------------------------------------------------
 *
 * horizon.h
 *	  The projection horizon: one position that stands for the checkpoint
 *	  of every idle projection (see horizon.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_PROJECTION_HORIZON_H
#define CQRS_PROJECTION_HORIZON_H

#include "postgres.h"

extern bool cqrs_horizon_try_lock(void);
extern void cqrs_horizon_save(int64 position);
extern void cqrs_horizon_runner_writes(bool writing);

#endif							/* CQRS_PROJECTION_HORIZON_H */
