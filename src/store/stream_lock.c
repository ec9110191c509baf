/*-------------------------------------------------------------------------
 *
 * stream_lock.c
 *	  Per-stream transaction locks.  Writers of one stream (appends and
 *	  command handlers) take an exclusive advisory lock keyed by the
 *	  stream id, held to the end of the transaction, so they queue instead
 *	  of failing; writers of different streams never wait on each other.
 *	  The lock tag's fourth field is our own kind, so the keys cannot
 *	  collide with the application's pg_advisory_lock() keys.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lock.h"

#include "store/stream_lock.h"

void
cqrs_lock_stream(const pg_uuid_t *stream_id)
{
	LOCKTAG		tag;
	uint32		key1 = 0;
	uint32		key2 = 0;
	int			i;

	/* Fold the 128-bit id into the 64 bits the tag has room for. */
	for (i = 0; i < 4; i++)
	{
		key1 = (key1 << 8) | (stream_id->data[i] ^ stream_id->data[i + 8]);
		key2 = (key2 << 8) | (stream_id->data[i + 4] ^ stream_id->data[i + 12]);
	}

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, key1, key2, CQRS_STREAM_LOCK_KIND);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
}
