/*-------------------------------------------------------------------------
 *
 * aggregate.h
 *	  The fold machinery's contract with aggregates.
 *
 *	  An aggregate type is a set of pure functions over a C struct of its
 *	  own: no SPI, no catalog access.  The store reads the latest snapshot
 *	  and the events after it and calls apply() for each; to_jsonb() gives
 *	  the readable state that cqrs.load() returns and that snapshots store,
 *	  and from_jsonb() reads it back.  Bump schema_version whenever the
 *	  state's JSON form changes: snapshots of another version are ignored.
 *
 *	  Stream types without a registered aggregate fold with the generic
 *	  aggregate (generic_aggregate.c): the event data objects merged key by
 *	  key.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_AGGREGATE_H
#define CQRS_AGGREGATE_H

#include "postgres.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* One stored event as the fold sees it. */
typedef struct CqrsStoredEvent
{
	int64		version;
	const char *event_type;
	Jsonb	   *data;
	Jsonb	   *metadata;
	TimestampTz recorded_at;
} CqrsStoredEvent;

typedef struct CqrsAggregateOps
{
	const char *stream_type;
	int32		schema_version;
	/* A fresh state, allocated in CurrentMemoryContext. */
	void	   *(*create) (void);
	/* Rewrite an older event shape in place (optional). */
	void		(*upcast) (CqrsStoredEvent *event);
	/* Fold one event; copy anything kept from event (it is short-lived). */
	void		(*apply) (void *state, const CqrsStoredEvent *event);
	Jsonb	   *(*to_jsonb) (const void *state);
	void	   *(*from_jsonb) (Jsonb *snapshot);
} CqrsAggregateOps;

extern void cqrs_register_aggregate(const CqrsAggregateOps *ops);
extern const CqrsAggregateOps *cqrs_aggregate_for(const char *stream_type);
extern const CqrsAggregateOps cqrs_generic_aggregate;

/* The outcome of folding a stream. */
typedef struct CqrsFoldResult
{
	const CqrsAggregateOps *ops;
	char	   *stream_type;
	void	   *state;
	int64		version;		/* -1: no events (state is NULL) */
	TimestampTz max_recorded_at;
	int64		snapshot_version;	/* -1: folded from the first event */
	Size		snapshot_bytes; /* that snapshot's size */
	int64		events_applied;
} CqrsFoldResult;

/*
 * Fold a stream (caller connected to SPI; the state is allocated in
 * result_cxt).  With has_as_of, only the longest prefix of the stream whose
 * events were all recorded at or before as_of.  expected_type, when not
 * NULL, is the stream type the caller wants (its aggregate is used even
 * before the first event exists).  read_only is false when the caller has
 * written in this transaction and must see its own writes.
 */
extern void cqrs_fold_stream(const pg_uuid_t *stream_id,
							 const char *expected_type,
							 bool has_as_of, TimestampTz as_of,
							 bool read_only,
							 MemoryContext result_cxt,
							 CqrsFoldResult *result);

#endif							/* CQRS_AGGREGATE_H */
