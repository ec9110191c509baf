/*-------------------------------------------------------------------------
 *
 * idle_progress.h
 *	  Notes of how far the runner has read past a projection's saved
 *	  checkpoint without meeting an event the projection handles.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_PROJECTION_IDLE_PROGRESS_H
#define CQRS_PROJECTION_IDLE_PROGRESS_H

#include "postgres.h"

#include "datatype/timestamp.h"

/* Identifies one projection row and the event types it handles. */
typedef struct CqrsIdleKey
{
	const char *name;
	TimestampTz registered_at;	/* a new row of the same name differs */
	uint32		types_hash;		/* see cqrs_idle_types_hash */
} CqrsIdleKey;

/* cqrs_conf.projection_idle_checkpoint (events; 0 = always save) */
extern int	cqrs_idle_checkpoint_events;

extern Size cqrs_idle_shmem_size(void);
extern void cqrs_idle_shmem_init(void);

extern uint32 cqrs_idle_types_hash(char **types, int ntypes);

/*
 * The position up to which the projection is known to have nothing to
 * do, given its saved checkpoint: the end of a note made for that very
 * checkpoint (this transaction's own first, then committed ones), or the
 * checkpoint itself.
 */
extern int64 cqrs_idle_through(const CqrsIdleKey *key, int64 checkpoint);

/*
 * Note, for this transaction's commit, that no event the projection
 * handles lies after checkpoint up to through.  Returns false when no
 * note can be kept (the library is not preloaded, or the name is too
 * long): the caller then saves the checkpoint instead.
 */
extern bool cqrs_idle_note(const CqrsIdleKey *key, int64 checkpoint,
						   int64 through);

#endif							/* CQRS_PROJECTION_IDLE_PROGRESS_H */
