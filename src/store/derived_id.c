/*-------------------------------------------------------------------------
 *
 * derived_id.c
 *	  cqrs.derived_stream_id(stream_type, source_id): the stream id of a
 *	  second aggregate that the reference keys by another aggregate's id
 *	  (SeatsAvailability uses its conference's id).  A name-based uuid
 *	  (version 5) with source_id as namespace and stream_type as name, so
 *	  anyone can compute it in SQL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "util/uuid_util.h"

PG_FUNCTION_INFO_V1(cqrs_derived_stream_id);

Datum
cqrs_derived_stream_id(PG_FUNCTION_ARGS)
{
	text	   *stream_type = PG_GETARG_TEXT_PP(0);
	pg_uuid_t  *source_id = PG_GETARG_UUID_P(1);
	pg_uuid_t  *result = palloc(sizeof(pg_uuid_t));

	if (VARSIZE_ANY_EXHDR(stream_type) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream_type must not be empty")));
	cqrs_uuid_name_based(source_id, VARDATA_ANY(stream_type),
						 VARSIZE_ANY_EXHDR(stream_type), result);
	PG_RETURN_UUID_P(result);
}
