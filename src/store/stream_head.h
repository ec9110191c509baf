/*-------------------------------------------------------------------------
 *
 * stream_head.h
 *	  A stream's current version and type, read straight from the index.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_STREAM_HEAD_H
#define CQRS_STREAM_HEAD_H

#include "postgres.h"
#include "utils/snapshot.h"
#include "utils/uuid.h"

extern int64 cqrs_stream_head(const pg_uuid_t *stream_id, Snapshot snapshot,
							  int64 expected_version, char **stream_type);

#endif							/* CQRS_STREAM_HEAD_H */
