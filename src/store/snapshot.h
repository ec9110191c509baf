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

extern bool cqrs_snapshot_due(int64 version);
extern void cqrs_snapshot_stream(const pg_uuid_t *stream_id);

#endif							/* CQRS_SNAPSHOT_H */
