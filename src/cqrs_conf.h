/*-------------------------------------------------------------------------
 *
 * cqrs_conf.h
 *	  Declarations shared by the whole extension: settings, shared memory,
 *	  and the entry points one layer offers the others.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_CONF_H
#define CQRS_CONF_H

#include "postgres.h"

#include "port/atomics.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

/* Settings (see src/cqrs_conf.c and docs/configuration.md). */
extern char *cqrs_worker_database;
extern int	cqrs_worker_naptime_ms;
extern int	cqrs_worker_batch_delay_ms;
extern int	cqrs_snapshot_every;
extern int	cqrs_sequencer_batch_size;

/*
 * Cached plans are planned again, at most this often, so that they follow
 * tables that grow fast between two analyses by autovacuum: in sessions
 * the extension's statements once they are this old (src/util/spi_plan.c),
 * in the worker all of its plans whenever the log has doubled (worker.c).
 */
#define CQRS_REPLAN_INTERVAL_MS 1000

/* Shared memory: how committing backends find the background worker. */
typedef struct CqrsSharedState
{
	slock_t		mutex;
	pid_t		worker_pid;
	Oid			worker_database;
	Latch	   *worker_latch;

	/*
	 * Set while the worker polls (it looks for work every batch delay, see
	 * worker.c): committing backends then leave its latch alone.
	 */
	pg_atomic_uint32 worker_polling;
} CqrsSharedState;

extern CqrsSharedState *cqrs_shared;

/* src/worker/commit_wakeup.c */
extern void cqrs_wake_worker_at_commit(void);
extern void cqrs_wake_worker(void);

/* src/store/sequencer.c */
extern int64 cqrs_sequence_batch(int max_count);
/* The last position as of this process's last numbering batch. */
extern int64 cqrs_last_sequenced_position;

/* src/worker/drain.c */

/*
 * Called by a step between its phases: the worker commits there and starts
 * a new transaction; cqrs.drain() passes NULL (one transaction, the
 * caller's).
 */
typedef void (*CqrsCommitPoint) (void);

extern int64 cqrs_drain_step(TimestampTz as_of, CqrsCommitPoint commit_point,
							 bool *cut_short);

/* src/domain/registry.c: registers the domain's aggregates with the store */
extern void cqrs_domain_register(void);

/* src/worker/worker.c */
extern void cqrs_register_worker(void);
extern void cqrs_worker_replan_if_log_grew(void);

#endif							/* CQRS_CONF_H */
