/*-------------------------------------------------------------------------
 *
 * state_cache.h
 *	  Per-backend cache of folded aggregate states (see state_cache.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_STATE_CACHE_H
#define CQRS_STATE_CACHE_H

#include "postgres.h"

#include "store/aggregate.h"

/* One cached state: the fold of a stream up to version, in cxt. */
typedef struct CqrsCachedState
{
	pg_uuid_t	stream_id;		/* hash key: keep first */
	Oid			events_relid;	/* cqrs.events when it was folded */
	MemoryContext cxt;			/* holds state and stream_type */
	const CqrsAggregateOps *ops;
	char	   *stream_type;
	void	   *state;
	int64		version;
	TimestampTz max_recorded_at;
	int64		snapshot_version;	/* latest snapshot known, -1: none */
	Size		snapshot_bytes; /* its size */
	Size		base_bytes;		/* cxt's size when the entry was stored */
	uint64		last_used;
	bool		touched;		/* changed by the current transaction */
} CqrsCachedState;

extern int	cqrs_state_cache_kb;

extern CqrsCachedState *cqrs_state_cache_lookup(const pg_uuid_t *stream_id,
												Oid events_relid);
extern void cqrs_state_cache_store(const pg_uuid_t *stream_id,
								   Oid events_relid, MemoryContext cxt,
								   const CqrsFoldResult *fold);
extern void cqrs_state_cache_forget(const pg_uuid_t *stream_id);
extern void cqrs_state_cache_note_snapshot(const pg_uuid_t *stream_id,
										   int64 version, Size bytes);

#endif							/* CQRS_STATE_CACHE_H */
