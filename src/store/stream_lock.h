/*-------------------------------------------------------------------------
 *
 * stream_lock.h
 *	  Per-stream transaction locks that serialise writers of one stream.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_STREAM_LOCK_H
#define CQRS_STREAM_LOCK_H

#include "postgres.h"
#include "utils/uuid.h"

/* objsubid of our advisory locks in pg_locks ("CQ") */
#define CQRS_STREAM_LOCK_KIND 17233

extern void cqrs_lock_stream(const pg_uuid_t *stream_id);

#endif							/* CQRS_STREAM_LOCK_H */
