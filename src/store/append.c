/*-------------------------------------------------------------------------
 *
 * append.c
 *	  cqrs.append(stream_id, stream_type, expected_version, events): the one
 *	  write path of the event store.
 *
 *	  The stream is locked for the rest of the transaction, its current
 *	  version is read, the expected version is checked, and the events are
 *	  inserted with consecutive versions (event_insert.c).  A retry of an append that already
 *	  happened (same event ids at the same place) returns the original
 *	  version and writes nothing.  Global positions are not assigned here:
 *	  the sequencer hands them out once the transaction is visible as
 *	  committed (see sequencer.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "cqrs_conf.h"
#include "store/append.h"
#include "store/event_input.h"
#include "store/event_insert.h"
#include "store/stream_head.h"
#include "store/stream_lock.h"
#include "util/spi_plan.h"
#include "util/uuid_util.h"

/* Events this session has appended, ever (the worker's rounds watch it). */
uint64		cqrs_events_appended = 0;

PG_FUNCTION_INFO_V1(cqrs_append);

/* Order of the appends within the current top-level transaction. */
static FullTransactionId ordinal_xid = {0};
static int32 next_ordinal = 0;

static SPIPlanPtr plan_ids_after = NULL;
static SPIPlanPtr plan_find_id = NULL;

/*
 * Is this append a retry of one that already happened?  True when the
 * stream holds, right after expected_version, exactly these event ids.
 */
static bool
is_retry_at(const pg_uuid_t *stream_id, int64 expected_version,
			CqrsEventInput *events, int count)
{
	Oid			argtypes[3] = {UUIDOID, INT8OID, INT4OID};
	Datum		values[3];
	int			rc;
	int			i;
	bool		same;

	for (i = 0; i < count; i++)
		if (!events[i].id_given)
			return false;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = UUIDPGetDatum((pg_uuid_t *) stream_id);
	values[1] = Int64GetDatum(expected_version);
	values[2] = Int32GetDatum(count);
	cqrs_spi_plan(&plan_ids_after,
				  "SELECT event_id FROM cqrs.events"
				  " WHERE stream_id = $1 AND version > $2"
				  " ORDER BY version LIMIT $3",
				  3, argtypes);
	rc = SPI_execute_plan(plan_ids_after, values, NULL, false, count);
	cqrs_spi_check(rc, SPI_OK_SELECT, "reading event ids");

	same = SPI_processed == (uint64) count;
	for (i = 0; same && i < count; i++)
	{
		bool		isnull;
		pg_uuid_t  *stored;

		stored = DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc, 1,
											 &isnull));
		same = memcmp(stored->data, events[i].event_id.data, UUID_LEN) == 0;
	}
	SPI_finish();
	return same;
}

/*
 * Where is the first event id already stored?  Returns its version in this
 * stream, or -2 when it is not stored; errors when it is in another stream.
 */
static int64
find_first_event_id(const pg_uuid_t *stream_id, CqrsEventInput *first)
{
	Oid			argtypes[1] = {UUIDOID};
	Datum		values[1];
	int			rc;
	bool		isnull;
	pg_uuid_t  *other_stream;
	int64		version;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = UUIDPGetDatum(&first->event_id);
	cqrs_spi_plan(&plan_find_id,
				  "SELECT stream_id, version FROM cqrs.events WHERE event_id = $1",
				  1, argtypes);
	rc = SPI_execute_plan(plan_find_id, values, NULL, false, 1);
	cqrs_spi_check(rc, SPI_OK_SELECT, "looking up an event id");
	if (SPI_processed == 0)
	{
		SPI_finish();
		return -2;
	}

	other_stream = DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 1,
											   &isnull));
	if (memcmp(other_stream->data, stream_id->data, UUID_LEN) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("event id %s is already stored in stream %s",
						cqrs_uuid_to_cstring(&first->event_id),
						cqrs_uuid_to_cstring(other_stream))));
	version = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 2, &isnull));
	SPI_finish();
	return version;
}

static int32
take_ordinals(int count)
{
	FullTransactionId xid = GetTopFullTransactionId();
	int32		first;

	if (!FullTransactionIdEquals(xid, ordinal_xid))
	{
		ordinal_xid = xid;
		next_ordinal = 0;
	}
	first = next_ordinal;
	next_ordinal += count;
	return first;
}

/*
 * The append itself, also for callers in the middle of their own work (the
 * command layer).  The common path uses no SPI; the rare statements (a
 * retry's look-ups, the INSERT for a changed table) connect to it
 * themselves.  stream_type must be non-empty; expected_version is ignored
 * when expected_any.
 */
int64
cqrs_append_events(const pg_uuid_t *stream_id, text *stream_type,
				   bool expected_any, int64 expected_version,
				   CqrsEventInput *events, int count, bool any_id_given)
{
	int64		current;
	char	   *current_type;
	char	   *type_cstr = text_to_cstring(stream_type);
	int32		first_ordinal;

	cqrs_lock_stream(stream_id);

	current = cqrs_stream_head(stream_id, InvalidSnapshot,
							   expected_any ? -1 : expected_version,
							   &current_type);

	/*
	 * Under REPEATABLE READ and SERIALIZABLE the transaction snapshot may
	 * predate an append that committed while we waited for the lock.
	 */
	if (IsolationUsesXactSnapshot())
	{
		int64		latest = cqrs_stream_head(stream_id, GetLatestSnapshot(),
											  current, NULL);

		if (latest != current)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent append to stream %s",
							cqrs_uuid_to_cstring(stream_id)),
					 errdetail("The transaction sees version %lld, the stream is at version %lld.",
							   (long long) current, (long long) latest),
					 errhint("Retry the transaction.")));
	}

	if (current >= 0 && strcmp(current_type, type_cstr) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("stream %s has type \"%s\", not \"%s\"",
						cqrs_uuid_to_cstring(stream_id), current_type,
						type_cstr)));

	if (!expected_any && expected_version != current)
	{
		if (expected_version < current &&
			is_retry_at(stream_id, expected_version, events, count))
			return expected_version + count;
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("wrong expected version for stream %s: expected %lld, actual %lld",
						cqrs_uuid_to_cstring(stream_id),
						(long long) expected_version, (long long) current)));
	}

	/* With any version allowed, a retry is recognised by its event ids. */
	if (expected_any && any_id_given && current >= 0)
	{
		int64		at = find_first_event_id(stream_id, &events[0]);

		if (at >= 0)
		{
			if (is_retry_at(stream_id, at - 1, events, count))
				return at - 1 + count;
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("event id %s is already stored in stream %s at version %lld",
							cqrs_uuid_to_cstring(&events[0].event_id),
							cqrs_uuid_to_cstring(stream_id), (long long) at),
					 errdetail("The events differ from the ones stored there, so this is not a retry.")));
		}
	}

	first_ordinal = take_ordinals(count);
	cqrs_insert_events(stream_id, stream_type, current + 1, events, count,
					   first_ordinal);

	cqrs_wake_worker_at_commit();
	cqrs_events_appended += count;

	return current + count;
}

Datum
cqrs_append(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *stream_id;
	text	   *stream_type;
	bool		expected_any;
	int64		expected_version = 0;
	Jsonb	   *events_arg;
	CqrsEventInput *events;
	int			count;
	bool		any_id_given;
	int64		result;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("stream_id must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("stream_type must not be null")));
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("events must not be null")));

	stream_id = PG_GETARG_UUID_P(0);
	stream_type = PG_GETARG_TEXT_PP(1);
	if (VARSIZE_ANY_EXHDR(stream_type) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream_type must not be empty")));

	expected_any = PG_ARGISNULL(2);
	if (!expected_any)
	{
		expected_version = PG_GETARG_INT64(2);
		if (expected_version < -1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("expected_version %lld is not valid",
							(long long) expected_version),
					 errhint("Use NULL for any version, -1 for a stream that must not exist yet, or the stream's current version.")));
	}

	events_arg = PG_GETARG_JSONB_P(3);
	count = cqrs_parse_event_array(events_arg, &events, &any_id_given);

	result = cqrs_append_events(stream_id, stream_type, expected_any,
								expected_version, events, count,
								any_id_given);

	PG_RETURN_INT64(result);
}
