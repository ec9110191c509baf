/*-------------------------------------------------------------------------
 *
 * snapshot.h
 *	  Automatic aggregate snapshots.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_SNAPSHOT_H
#define CQRS_SNAPSHOT_H

#include "postgres.h"
#include "utils/uuid.h"

extern void cqrs_snapshot_after_append(const pg_uuid_t *stream_id,
									   int64 old_version, int64 new_version);

#endif							/* CQRS_SNAPSHOT_H */
