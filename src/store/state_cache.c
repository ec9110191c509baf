/*-------------------------------------------------------------------------
 *
 * state_cache.c
 *	  Per-backend cache of folded aggregate states.
 *
 *	  A command on a busy aggregate (the SeatsAvailability of a conference
 *	  with thousands of pending reservations) would otherwise read and
 *	  decode the latest snapshot every time.  The fold (fold.c) keeps the
 *	  state it built, keyed by stream id, and the next fold of that stream
 *	  in this backend only applies the events after the cached version,
 *	  read with the caller's snapshot like any fold.
 *
 *	  The cache never holds anything that was not committed: every entry
 *	  the current transaction changed is marked touched, and dropped when
 *	  the transaction or one of its subtransactions aborts, or is prepared
 *	  (two-phase commit may still roll it back).  On commit the marks are
 *	  cleared.  A fold checks that the event at the cached version is
 *	  still visible to its snapshot (an older snapshot may not see it),
 *	  and that cqrs.events is the same relation (the extension may have
 *	  been dropped and created again).
 *
 *	  Entries are evicted only at commit, least recently used first, when
 *	  the cache is over cqrs_conf.state_cache_size: callers hold pointers
 *	  into cached states for the length of a command.  An entry whose
 *	  memory grew well past its size when stored (apply functions may
 *	  leave garbage behind) is dropped then too, and folded afresh when
 *	  next needed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "store/state_cache.h"

/* cqrs_conf.state_cache_size, in kB; 0 turns the cache off */
int			cqrs_state_cache_kb = 16384;

/* An entry may grow to this multiple of its stored size before a refold. */
#define BLOAT_FACTOR 4
#define BLOAT_SLACK (64 * 1024)

static HTAB *cache = NULL;
static MemoryContext cache_root = NULL;
static uint64 use_clock = 0;
static Size total_bytes = 0;

/* Keys of the entries the current transaction changed. */
static pg_uuid_t *touched_keys = NULL;
static int	touched_count = 0;
static int	touched_cap = 0;

static Size
entry_bytes(const CqrsCachedState *e)
{
	return MemoryContextMemAllocated(e->cxt, true);
}

static void
drop_entry(CqrsCachedState *e)
{
	pg_uuid_t	key = e->stream_id;
	Size		bytes = entry_bytes(e);

	total_bytes = total_bytes > bytes ? total_bytes - bytes : 0;
	MemoryContextDelete(e->cxt);
	(void) hash_search(cache, &key, HASH_REMOVE, NULL);
}

static void
drop_touched(void)
{
	int			i;

	for (i = 0; i < touched_count; i++)
	{
		CqrsCachedState *e = hash_search(cache, &touched_keys[i], HASH_FIND, NULL);

		if (e != NULL)
			drop_entry(e);
	}
	touched_count = 0;
}

static int
by_last_used(const void *a, const void *b)
{
	uint64		ua = (*(CqrsCachedState *const *) a)->last_used;
	uint64		ub = (*(CqrsCachedState *const *) b)->last_used;

	return ua < ub ? -1 : (ua > ub ? 1 : 0);
}

/* Down to three quarters of the limit, least recently used first. */
static void
evict_to_limit(void)
{
	Size		limit = (Size) cqrs_state_cache_kb * 1024;
	long		n = hash_get_num_entries(cache);
	CqrsCachedState **all;
	HASH_SEQ_STATUS seq;
	CqrsCachedState *e;
	long		i = 0;

	if (total_bytes <= limit)
		return;
	all = MemoryContextAlloc(cache_root, sizeof(CqrsCachedState *) * Max(n, 1));
	total_bytes = 0;
	hash_seq_init(&seq, cache);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		all[i++] = e;
		total_bytes += entry_bytes(e);
	}
	qsort(all, i, sizeof(CqrsCachedState *), by_last_used);
	for (n = 0; n < i && total_bytes > limit / 4 * 3; n++)
		drop_entry(all[n]);
	pfree(all);
}

static void
after_commit(void)
{
	int			i;

	for (i = 0; i < touched_count; i++)
	{
		CqrsCachedState *e = hash_search(cache, &touched_keys[i], HASH_FIND, NULL);

		if (e == NULL)
			continue;
		e->touched = false;
		if (entry_bytes(e) > e->base_bytes * BLOAT_FACTOR + BLOAT_SLACK)
			drop_entry(e);
	}
	touched_count = 0;
	evict_to_limit();
}

static void
state_cache_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			after_commit();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			drop_touched();
			break;
		default:
			break;
	}
}

static void
state_cache_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg)
{
	/* Conservative: whatever this transaction changed may be rolled back. */
	if (event == SUBXACT_EVENT_ABORT_SUB)
		drop_touched();
}

static void
ensure_cache(void)
{
	HASHCTL		ctl;

	if (cache != NULL)
		return;
	cache_root = AllocSetContextCreate(TopMemoryContext,
									   "cqrs_conf state cache",
									   ALLOCSET_SMALL_SIZES);
	ctl.keysize = sizeof(pg_uuid_t);
	ctl.entrysize = sizeof(CqrsCachedState);
	ctl.hcxt = cache_root;
	cache = hash_create("cqrs_conf state cache", 256, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	RegisterXactCallback(state_cache_xact_callback, NULL);
	RegisterSubXactCallback(state_cache_subxact_callback, NULL);
}

static void
mark_touched(CqrsCachedState *e)
{
	if (e->touched)
		return;
	if (touched_count == touched_cap)
	{
		touched_cap = Max(16, touched_cap * 2);
		touched_keys = touched_keys == NULL ?
			MemoryContextAlloc(cache_root, sizeof(pg_uuid_t) * touched_cap) :
			repalloc(touched_keys, sizeof(pg_uuid_t) * touched_cap);
	}
	touched_keys[touched_count++] = e->stream_id;
	e->touched = true;
}

/*
 * The cached state of a stream, marked touched (the caller is about to
 * apply the stream's newer events to it), or NULL.
 */
CqrsCachedState *
cqrs_state_cache_lookup(const pg_uuid_t *stream_id, Oid events_relid)
{
	CqrsCachedState *e;

	if (cqrs_state_cache_kb <= 0 || cache == NULL)
		return NULL;
	e = hash_search(cache, stream_id, HASH_FIND, NULL);
	if (e == NULL)
		return NULL;
	if (e->events_relid != events_relid)
	{
		cqrs_state_cache_forget(stream_id);
		return NULL;
	}
	e->last_used = ++use_clock;
	mark_touched(e);
	return e;
}

/*
 * Keep a fold's result (its state and stream type allocated in cxt, a
 * context of the caller's that the cache adopts).  Does nothing, leaving
 * cxt to the caller, when the cache is off or far over its size within
 * this transaction (eviction waits for the commit).
 */
void
cqrs_state_cache_store(const pg_uuid_t *stream_id, Oid events_relid,
					   MemoryContext cxt, const CqrsFoldResult *fold)
{
	CqrsCachedState *e;
	bool		found;
	Size		bytes;

	if (cqrs_state_cache_kb <= 0)
		return;
	ensure_cache();
	bytes = MemoryContextMemAllocated(cxt, true);
	if (total_bytes + bytes > (Size) cqrs_state_cache_kb * 1024 * 2)
		return;

	e = hash_search(cache, stream_id, HASH_ENTER, &found);
	if (found)
	{
		/* Replaced: the old state may still be in use until the end. */
		total_bytes -= Min(total_bytes, entry_bytes(e));
		MemoryContextSetParent(e->cxt, TopTransactionContext);
	}
	MemoryContextSetParent(cxt, cache_root);
	e->events_relid = events_relid;
	e->cxt = cxt;
	e->ops = fold->ops;
	e->stream_type = fold->stream_type;
	e->state = fold->state;
	e->version = fold->version;
	e->max_recorded_at = fold->max_recorded_at;
	e->snapshot_version = fold->snapshot_version;
	e->snapshot_bytes = fold->snapshot_bytes;
	e->base_bytes = bytes;
	e->last_used = ++use_clock;
	e->touched = false;
	mark_touched(e);
	total_bytes += bytes;
}

/*
 * Stop using a stream's entry.  Its memory lives until the end of the
 * transaction: a caller may still hold its state.
 */
void
cqrs_state_cache_forget(const pg_uuid_t *stream_id)
{
	CqrsCachedState *e;

	if (cache == NULL)
		return;
	e = hash_search(cache, stream_id, HASH_FIND, NULL);
	if (e == NULL)
		return;
	total_bytes -= Min(total_bytes, entry_bytes(e));
	if (IsTransactionState())
		MemoryContextSetParent(e->cxt, TopTransactionContext);
	else
		MemoryContextDelete(e->cxt);
	(void) hash_search(cache, stream_id, HASH_REMOVE, NULL);
}

/* A snapshot of the stream was stored at version (bytes long). */
void
cqrs_state_cache_note_snapshot(const pg_uuid_t *stream_id, int64 version,
							   Size bytes)
{
	CqrsCachedState *e;

	if (cache == NULL)
		return;
	e = hash_search(cache, stream_id, HASH_FIND, NULL);
	if (e == NULL || e->version != version)
		return;
	mark_touched(e);
	e->snapshot_version = version;
	e->snapshot_bytes = bytes;
}
