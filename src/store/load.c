/*-------------------------------------------------------------------------
 *
 * load.c
 *	  cqrs.load(stream_id, as_of): an aggregate's state as JSON,
 *	  {"streamId", "streamType", "version", "state"}, folded in C from the
 *	  latest snapshot and the tail; NULL when the stream has no events (at
 *	  as_of).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "store/aggregate.h"
#include "util/jsonb_util.h"

PG_FUNCTION_INFO_V1(cqrs_load);

Datum
cqrs_load(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *stream_id;
	bool		has_as_of = !PG_ARGISNULL(1);
	TimestampTz as_of = has_as_of ? PG_GETARG_TIMESTAMPTZ(1) : 0;
	MemoryContext caller_cxt = CurrentMemoryContext;
	CqrsFoldResult fold;
	JsonbParseState *st = NULL;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	stream_id = PG_GETARG_UUID_P(0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cqrs_fold_stream(stream_id, NULL, has_as_of, as_of, true, caller_cxt,
					 &fold);
	SPI_finish();

	if (fold.version < 0)
		PG_RETURN_NULL();

	jb_begin_object(&st);
	jb_key(&st, "streamId");
	jb_value_uuid(&st, stream_id);
	jb_key(&st, "streamType");
	jb_value_string(&st, fold.stream_type);
	jb_key(&st, "version");
	jb_value_int64(&st, fold.version);
	jb_key(&st, "state");
	jb_value_jsonb(&st, fold.ops->to_jsonb(fold.state));
	PG_RETURN_JSONB_P(JsonbValueToJsonb(jb_end_object(&st)));
}
