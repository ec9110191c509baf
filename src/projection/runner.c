/*-------------------------------------------------------------------------
 *
 * runner.c
 *	  Runs the registered projections (cqrs.projections): for each running
 *	  projection, the sequenced events after its checkpoint are passed to
 *	  its handler function in global order, and the checkpoint moves in the
 *	  same transaction as the handler's writes, so every event takes effect
 *	  exactly once.
 *
 *	  A batch runs in one subtransaction.  When a handler fails, the batch
 *	  is rolled back and replayed event by event up to the failing one (the
 *	  poison event): the events before it are applied, the projection is
 *	  marked failed with the error and the event's position, and the other
 *	  projections carry on.  Nothing is skipped silently.
 *
 *	  A pass over all projections holds the projection horizon's lock
 *	  (horizon.c): one pass at a time, the background worker's or a
 *	  session's in cqrs.drain().  A projection at the horizon that has no
 *	  event of its types in the batch is neither locked nor written: the
 *	  pass moves the horizon instead.  A projection the pass applies
 *	  events to, or whose row it writes for another reason (off the
 *	  horizon, a rebuild's shadow), is locked FOR UPDATE SKIP LOCKED
 *	  first, and only if its row is the version the pass read, so no
 *	  batch is applied twice.  Projections at the same checkpoint share
 *	  one read of the events after it; a batch of positions this process
 *	  numbered lately, none of whose types any projection wants, is not
 *	  read at all (numbered_types.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "cqrs_conf.h"
#include "projection/horizon.h"
#include "projection/runner.h"
#include "store/numbered_types.h"
#include "util/spi_plan.h"

PG_FUNCTION_INFO_V1(cqrs_run_projections_sql);
PG_FUNCTION_INFO_V1(cqrs_run_projection_sql);
PG_FUNCTION_INFO_V1(cqrs_worker_pid);

#define EVENT_COLUMNS 9

typedef struct Projection
{
	char	   *name;
	Oid			handler;
	int			ntypes;
	char	  **types;			/* NULL: every event type */
	int64		position;		/* the row's */
	int64		start;			/* its checkpoint: the pass starts after it */
	char	   *search_path;	/* NULL: the caller's */
	bool		is_rebuild;		/* a shadow projection of a rebuild */
	bool		at_horizon;		/* checkpoint = max(position, horizon) */
	TransactionId xmin;			/* of the row version read */
} Projection;

typedef struct BatchOutcome
{
	int			applied;		/* events whose effects stay */
	int			handled;		/* of those, passed to the handler */
	bool		failed;
	int64		error_position;
	char	   *error_message;
	char	   *error_sqlstate;
} BatchOutcome;

static SPIPlanPtr plan_list = NULL;
static SPIPlanPtr plan_one = NULL;
static SPIPlanPtr plan_finish = NULL;
static SPIPlanPtr plan_events = NULL;
static SPIPlanPtr plan_save = NULL;
static SPIPlanPtr plan_fail = NULL;
static SPIPlanPtr plan_lock = NULL;

static bool
wants_event(const Projection *p, const char *event_type)
{
	int			i;

	if (p->types == NULL)
		return true;
	for (i = 0; i < p->ntypes; i++)
		if (strcmp(p->types[i], event_type) == 0)
			return true;
	return false;
}

static bool
wanted_by_any(const Projection *list, int nprojections, const char *event_type)
{
	int			i;

	for (i = 0; i < nprojections; i++)
		if (wants_event(&list[i], event_type))
			return true;
	return false;
}

static bool
wants_any(const Projection *p, char **types, int count)
{
	int			i;

	for (i = 0; i < count; i++)
		if (wants_event(p, types[i]))
			return true;
	return false;
}

static void
call_handler(FmgrInfo *flinfo, Datum event)
{
	LOCAL_FCINFO(fcinfo, 1);

	InitFunctionCallInfoData(*fcinfo, flinfo, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = event;
	fcinfo->args[0].isnull = false;
	(void) FunctionCallInvoke(fcinfo);
}

/*
 * Apply events [from, to) in one subtransaction.  Returns false, with the
 * index of the failing event and the error, when the handler raised one
 * (the subtransaction is then rolled back).
 */
static bool
apply_in_subtransaction(FmgrInfo *flinfo, const Projection *p,
						Datum *events, char **types, int from, int to,
						int *failed_at, BatchOutcome *outcome)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile int current = from;
	bool		ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		int			guc_level = -1;

		/*
		 * The projection's own search_path (its read-model schema), so one
		 * handler can write the live tables or a rebuild's shadow tables.
		 * Aborting the subtransaction restores the setting too.
		 */
		if (p->search_path != NULL)
		{
			guc_level = NewGUCNestLevel();
			(void) set_config_option("search_path", p->search_path,
									 PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
		}
		for (; current < to; current++)
			if (wants_event(p, types[current]))
				call_handler(flinfo, events[current]);
		if (guc_level >= 0)
			AtEOXact_GUC(true, guc_level);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;

		*failed_at = current;
		outcome->error_message = edata->message;
		outcome->error_sqlstate = pstrdup(unpack_sql_state(edata->sqlerrcode));
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

static void
apply_batch(const Projection *p, Datum *events, char **types,
			int64 *positions, int count, BatchOutcome *outcome)
{
	FmgrInfo	flinfo;
	int			failed_at = -1;
	int			i;

	memset(outcome, 0, sizeof(BatchOutcome));

	/* Nothing the handler wants: no subtransaction, just move on. */
	if (!wants_any(p, types, count))
	{
		outcome->applied = count;
		return;
	}

	fmgr_info(p->handler, &flinfo);

	if (apply_in_subtransaction(&flinfo, p, events, types, 0, count,
								&failed_at, outcome))
	{
		outcome->applied = count;
	}
	else
	{
		/* Replay one by one: keep the good events before the poison one. */
		for (i = 0; i < count; i++)
		{
			if (!apply_in_subtransaction(&flinfo, p, events, types, i, i + 1,
										 &failed_at, outcome))
				break;
		}
		outcome->applied = i;
		outcome->failed = true;
		outcome->error_position = positions[i < count ? i : count - 1];
	}
	for (i = 0; i < outcome->applied; i++)
		if (wants_event(p, types[i]))
			outcome->handled++;
}

/* Order of a pass: live projections by checkpoint, then rebuilds' shadows. */
static int
compare_projections(const void *a, const void *b)
{
	const Projection *pa = (const Projection *) a;
	const Projection *pb = (const Projection *) b;

	if (pa->is_rebuild != pb->is_rebuild)
		return pa->is_rebuild ? 1 : -1;
	if (pa->start != pb->start)
		return pa->start < pb->start ? -1 : 1;
	return strcmp(pa->name, pb->name);
}

/*
 * The running projections, in the order of a pass, with the projection
 * horizon and the sequencer's last position.  All of them, unlocked (the
 * caller holds the horizon's lock and locks a row before writing it); or
 * only the one named, locked (waiting for its lock), with its checkpoint
 * as start.
 */
static int
load_projections(const char *only, Projection **out, int64 *horizon,
				 int64 *last_position)
{
	int			rc;
	uint64		i;
	Projection *list;

#define PROJECTION_COLUMNS \
	"SELECT name, handler::oid, event_types, position," \
	" CASE WHEN schema_name IS NOT NULL THEN" \
	" pg_catalog.quote_ident(schema_name) || ', pg_temp' END," \
	" rebuild_of IS NOT NULL, at_horizon, xmin," \
	" (SELECT h.position FROM cqrs.projection_horizon h)," \
	" (SELECT s.last_position FROM cqrs.sequencer_state s)" \
	" FROM cqrs.projections WHERE state = 'running'"

	if (only == NULL)
	{
		cqrs_spi_plan(&plan_list, PROJECTION_COLUMNS, 0, NULL);
		rc = SPI_execute_plan(plan_list, NULL, NULL, false, 0);
	}
	else
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		args[1];

		cqrs_spi_plan(&plan_one, PROJECTION_COLUMNS " AND name = $1 FOR UPDATE",
					  1, argtypes);
		args[0] = CStringGetTextDatum(only);
		rc = SPI_execute_plan(plan_one, args, NULL, false, 0);
	}
#undef PROJECTION_COLUMNS
	cqrs_spi_check(rc, SPI_OK_SELECT, "listing projections");

	list = palloc0(sizeof(Projection) * (SPI_processed + 1));
	*horizon = 0;
	*last_position = 0;
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		types;

		list[i].name = SPI_getvalue(t, d, 1);
		list[i].handler = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
		types = SPI_getbinval(t, d, 3, &isnull);
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *elemnulls;
			int			n,
						j;

			deconstruct_array(DatumGetArrayTypeP(types), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, &elemnulls, &n);
			list[i].types = palloc0(sizeof(char *) * (n + 1));
			for (j = 0; j < n; j++)
				list[i].types[j] = elemnulls[j] ? pstrdup("") :
					TextDatumGetCString(elems[j]);
			list[i].ntypes = n;
		}
		list[i].position = DatumGetInt64(SPI_getbinval(t, d, 4, &isnull));
		list[i].search_path = SPI_getvalue(t, d, 5);
		list[i].is_rebuild = DatumGetBool(SPI_getbinval(t, d, 6, &isnull));
		list[i].at_horizon = DatumGetBool(SPI_getbinval(t, d, 7, &isnull));
		list[i].xmin = DatumGetTransactionId(SPI_getbinval(t, d, 8, &isnull));
		*horizon = DatumGetInt64(SPI_getbinval(t, d, 9, &isnull));
		if (isnull)
			*horizon = 0;
		*last_position = DatumGetInt64(SPI_getbinval(t, d, 10, &isnull));
	}
	for (i = 0; i < SPI_processed; i++)
		list[i].start = list[i].at_horizon ?
			Max(list[i].position, *horizon) : list[i].position;
	if (SPI_processed > 1)
		qsort(list, SPI_processed, sizeof(Projection), compare_projections);
	*out = list;
	return (int) SPI_processed;
}

/*
 * Lock the row of a projection the pass is to write, if no one else holds
 * it and it is still the version the pass read.
 */
static bool
lock_projection(const Projection *p)
{
	Oid			argtypes[2] = {TEXTOID, XIDOID};
	Datum		args[2];
	int			rc;

	cqrs_spi_plan(&plan_lock,
				  "SELECT 1 FROM cqrs.projections"
				  " WHERE name = $1 AND xmin = $2 AND state = 'running'"
				  " FOR UPDATE SKIP LOCKED",
				  2, argtypes);
	args[0] = CStringGetTextDatum(p->name);
	args[1] = TransactionIdGetDatum(p->xmin);
	rc = SPI_execute_plan(plan_lock, args, NULL, false, 0);
	cqrs_spi_check(rc, SPI_OK_SELECT, "locking a projection");
	return SPI_processed == 1;
}

/*
 * The runner's own updates of cqrs.projections: rows it writes keep the
 * at_horizon it sets (the trigger of horizon.c leaves them alone).
 */
static int
execute_runner_write(SPIPlanPtr plan, Datum *values)
{
	volatile int rc = 0;

	cqrs_horizon_runner_writes(true);
	PG_TRY();
	{
		rc = SPI_execute_plan(plan, values, NULL, false, 0);
	}
	PG_FINALLY();
	{
		cqrs_horizon_runner_writes(false);
	}
	PG_END_TRY();
	return rc;
}

/*
 * Checkpoints of the projections whose batch succeeded, saved together by
 * one UPDATE (save_checkpoints) at the end of the pass, still in the
 * transaction of their batches' effects.
 */
typedef struct PendingCheckpoints
{
	int			count;
	Datum	   *names;
	Datum	   *positions;
	Datum	   *handled;
	Datum	   *at_horizon;
} PendingCheckpoints;

static void
save_failure(const Projection *p, int64 position, const BatchOutcome *o)
{
	Oid			argtypes[6] = {TEXTOID, INT8OID, INT8OID, TEXTOID, TEXTOID, INT8OID};
	Datum		values[6];
	int			rc;

	values[0] = CStringGetTextDatum(p->name);
	values[1] = Int64GetDatum(position);
	values[2] = Int64GetDatum(o->handled);
	values[3] = CStringGetTextDatum(o->error_message ? o->error_message : "");
	values[4] = CStringGetTextDatum(o->error_sqlstate ? o->error_sqlstate : "XX000");
	values[5] = Int64GetDatum(o->error_position);
	cqrs_spi_plan(&plan_fail,
				  "UPDATE cqrs.projections SET position = $2,"
				  " applied_events = applied_events + $3, at_horizon = false,"
				  " state = 'failed', last_error = $4,"
				  " last_error_sqlstate = $5, error_position = $6,"
				  " failed_at = pg_catalog.now(),"
				  " updated_at = pg_catalog.now() WHERE name = $1",
				  6, argtypes);
	rc = execute_runner_write(plan_fail, values);
	cqrs_spi_check(rc, SPI_OK_UPDATE, "saving projection progress");
	ereport(WARNING,
			(errmsg("projection \"%s\" stopped at the event at position " INT64_FORMAT,
					p->name, o->error_position),
			 errdetail("The handler failed: %s", o->error_message ? o->error_message : ""),
			 errhint("Fix the handler, then call cqrs.resume_projection('%s').", p->name)));
}

static void
save_checkpoints(PendingCheckpoints *pending)
{
	Oid			argtypes[4] = {TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID,
	BOOLARRAYOID};
	Datum		values[4];
	int			rc;

	if (pending->count == 0)
		return;
	values[0] = PointerGetDatum(construct_array(pending->names, pending->count,
												TEXTOID, -1, false,
												TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(pending->positions,
												pending->count, INT8OID,
												sizeof(int64), FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(pending->handled,
												pending->count, INT8OID,
												sizeof(int64), FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[3] = PointerGetDatum(construct_array(pending->at_horizon,
												pending->count, BOOLOID,
												sizeof(bool), true,
												TYPALIGN_CHAR));
	cqrs_spi_plan(&plan_save,
				  "UPDATE cqrs.projections p SET position = v.position,"
				  " applied_events = p.applied_events + v.handled,"
				  " at_horizon = v.at_horizon, updated_at = pg_catalog.now()"
				  " FROM unnest($1, $2, $3, $4)"
				  "      AS v(name, position, handled, at_horizon)"
				  " WHERE p.name = v.name",
				  4, argtypes);
	rc = execute_runner_write(plan_save, values);
	cqrs_spi_check(rc, SPI_OK_UPDATE, "saving projection checkpoints");
	if (SPI_processed != (uint64) pending->count)
		elog(ERROR, "saved " UINT64_FORMAT " projection checkpoints instead of %d",
			 SPI_processed, pending->count);
	pending->count = 0;
}

/*
 * The batch read_events would return, without reading it, when this
 * process numbered all of its positions lately and no projection of the
 * list wants any of their types (numbered_types.c): the positions and the
 * types, no events.  Positions are dense up to the sequencer's last
 * position, so the batch is every position after position up to
 * min(up_to, position + max_events).  Returns 0 when it cannot tell, or
 * some event is wanted.
 */
static int
read_unwanted_events(int64 position, int max_events, int64 up_to,
					 const Projection *list, int nprojections,
					 MemoryContext batch_cxt, Datum **events_out,
					 char ***types_out, int64 **positions_out)
{
	int64		last = Min(up_to, position + max_events);
	const uint8 *type_ids;
	const char *const *names;
	int			nnames;
	char	   *copies[CQRS_NUMBERED_TYPES_MAX];
	int			count;
	int			i;
	MemoryContext old;

	if (!cqrs_numbered_types_lookup(position, last, &type_ids, &names,
									&nnames))
		return 0;
	for (i = 0; i < nnames; i++)
		copies[i] = NULL;
	count = (int) (last - position);
	for (i = 0; i < count; i++)
	{
		int			id = type_ids[i];

		if (copies[id] == NULL)
		{
			if (wanted_by_any(list, nprojections, names[id]))
				return 0;
			copies[id] = (char *) names[id];
		}
	}

	MemoryContextReset(batch_cxt);
	old = MemoryContextSwitchTo(batch_cxt);
	for (i = 0; i < nnames; i++)
		if (copies[i] != NULL)
			copies[i] = pstrdup(copies[i]);
	*events_out = palloc0(sizeof(Datum) * count);
	*types_out = palloc(sizeof(char *) * count);
	*positions_out = palloc(sizeof(int64) * count);
	for (i = 0; i < count; i++)
	{
		(*types_out)[i] = copies[type_ids[i]];
		(*positions_out)[i] = position + 1 + i;
	}
	MemoryContextSwitchTo(old);
	return count;
}

/*
 * Read at most max_events events after position and at most up_to (which
 * the caller keeps at or below the sequencer's last position) into
 * batch_cxt, as cqrs.event datums; returns how many.
 */
static int
read_events(int64 position, int max_events, int64 up_to,
			const Projection *list, int nprojections,
			MemoryContext batch_cxt, TupleDesc event_desc, Datum **events_out,
			char ***types_out, int64 **positions_out)
{
	Oid			argtypes[3] = {INT8OID, INT4OID, INT8OID};
	Datum		args[3];
	int			rc;
	int			count;
	uint64		j;
	Datum	   *events;
	char	  **types;
	int64	   *positions;
	MemoryContext old;

	count = read_unwanted_events(position, max_events, up_to, list,
								 nprojections, batch_cxt, events_out,
								 types_out, positions_out);
	if (count > 0)
		return count;

	cqrs_spi_plan(&plan_events,
				  "SELECT global_position, stream_id, stream_type, version,"
				  " event_type, data, metadata, event_id, recorded_at"
				  " FROM cqrs.events WHERE global_position > $1"
				  " AND global_position > 0 AND global_position <= $3"
				  " ORDER BY global_position LIMIT $2",
				  3, argtypes);
	args[0] = Int64GetDatum(position);
	args[1] = Int32GetDatum(max_events);
	args[2] = Int64GetDatum(up_to);
	rc = SPI_execute_plan(plan_events, args, NULL, false, max_events);
	cqrs_spi_check(rc, SPI_OK_SELECT, "reading events for a projection");
	count = (int) SPI_processed;

	MemoryContextReset(batch_cxt);
	old = MemoryContextSwitchTo(batch_cxt);
	events = palloc(sizeof(Datum) * Max(count, 1));
	types = palloc(sizeof(char *) * Max(count, 1));
	positions = palloc(sizeof(int64) * Max(count, 1));
	for (j = 0; j < (uint64) count; j++)
	{
		Datum		values[EVENT_COLUMNS];
		bool		nulls[EVENT_COLUMNS];
		HeapTuple	tuple;

		heap_deform_tuple(SPI_tuptable->vals[j], SPI_tuptable->tupdesc,
						  values, nulls);
		positions[j] = DatumGetInt64(values[0]);
		types[j] = TextDatumGetCString(values[4]);

		/* The event as a cqrs.event value, if any handler is to get it. */
		events[j] = (Datum) 0;
		if (wanted_by_any(list, nprojections, types[j]))
		{
			tuple = heap_form_tuple(event_desc, values, nulls);
			events[j] = heap_copy_tuple_as_datum(tuple, event_desc);
		}
	}
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);

	*events_out = events;
	*types_out = types;
	*positions_out = positions;
	return count;
}

/*
 * Apply at most max_events pending events (at positions <= up_to) to each
 * running projection, or only to the one named; returns how many events
 * were applied in all.  With finish_rebuilds, a rebuild's shadow projection
 * that has caught up is swapped in (cqrs.finish_rebuild).  Caller need not
 * be connected to SPI.
 *
 * A pass over all projections moves the projection horizon to the lowest
 * checkpoint that the projections at the horizon reached (horizon.c), and
 * writes the rows of the projections it applied events to, or put at the
 * horizon.  *backlog, if given, tells which kinds of projection read a
 * full batch (more events wait for them).
 */
static int64
run_projections(const char *only, int max_events, int64 up_to,
				bool finish_rebuilds, CqrsProjectionBacklog *backlog)
{
	Projection *list;
	int			nprojections;
	int			i;
	int64		total = 0;
	Oid			event_type_oid;
	TupleDesc	event_desc;
	MemoryContext batch_cxt;
	char	  **caught_up;
	int			ncaught_up = 0;
	PendingCheckpoints pending;
	int			count = 0;
	Datum	   *events = NULL;
	char	  **types = NULL;
	int64	   *positions = NULL;
	int64		horizon;
	int64		last_position;
	int64		bound;
	int64		new_horizon = PG_INT64_MAX;
	bool		horizon_held = false;

	/* One pass over all projections at a time; another one does the work. */
	if (only == NULL && !cqrs_horizon_try_lock())
		return 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	nprojections = load_projections(only, &list, &horizon, &last_position);
	if (nprojections == 0)
	{
		SPI_finish();
		return 0;
	}
	bound = Min(up_to, last_position);

	event_type_oid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
									 CStringGetDatum("event"),
									 ObjectIdGetDatum(get_namespace_oid("cqrs", false)));
	event_desc = lookup_rowtype_tupdesc_copy(event_type_oid, -1);
	batch_cxt = AllocSetContextCreate(CurrentMemoryContext, "cqrs projection batch",
									  ALLOCSET_DEFAULT_SIZES);
	caught_up = palloc0(sizeof(char *) * (nprojections + 1));
	pending.count = 0;
	pending.names = palloc(sizeof(Datum) * nprojections);
	pending.positions = palloc(sizeof(Datum) * nprojections);
	pending.handled = palloc(sizeof(Datum) * nprojections);
	pending.at_horizon = palloc(sizeof(Datum) * nprojections);

	for (i = 0; i < nprojections; i++)
	{
		Projection *p = &list[i];
		BatchOutcome outcome;
		int64		reached;
		bool		to_horizon;

		/* The previous projection's read serves one at the same checkpoint. */
		if (i == 0 || p->start != list[i - 1].start)
			count = p->start >= bound ? 0 :
				read_events(p->start, max_events, bound,
							list, nprojections, batch_cxt,
							event_desc, &events, &types, &positions);
		/* How far this batch takes the projection. */
		reached = count == max_events ? positions[count - 1] :
			Max(p->start, bound);
		if (p->is_rebuild && count < max_events)
			caught_up[ncaught_up++] = p->name;
		if (count == max_events && backlog != NULL)
		{
			if (p->is_rebuild)
				backlog->rebuild = true;
			else
				backlog->live = true;
		}

		/*
		 * Nothing of its types for a projection at the horizon: it rides on
		 * the horizon, its row untouched.  A full batch still counts as
		 * work (more may follow), so cqrs.drain() goes on until every
		 * checkpoint is at the end.
		 */
		if (only == NULL && p->at_horizon && !p->is_rebuild &&
			!wants_any(p, types, count))
		{
			new_horizon = Min(new_horizon, reached);
			if (count == max_events)
				total++;
			continue;
		}
		/* Rows are written for events, or to put a projection at the horizon. */
		if (count == 0 && (only != NULL || p->is_rebuild))
			continue;
		if (only == NULL && !lock_projection(p))
		{
			/* Busy elsewhere: the horizon cannot pass it this time. */
			if (p->at_horizon)
				horizon_held = true;
			continue;
		}

		apply_batch(p, events, types, positions, count, &outcome);
		if (outcome.failed)
			save_failure(p, outcome.applied > 0 ?
						 positions[outcome.applied - 1] : p->start, &outcome);
		else
		{
			to_horizon = only == NULL && !p->is_rebuild;
			pending.names[pending.count] = CStringGetTextDatum(p->name);
			pending.positions[pending.count] = Int64GetDatum(reached);
			pending.handled[pending.count] = Int64GetDatum(outcome.handled);
			pending.at_horizon[pending.count] = BoolGetDatum(to_horizon);
			pending.count++;
			if (to_horizon)
				new_horizon = Min(new_horizon, reached);
		}

		/* Count the events the handler applied (and full batches, above). */
		total += outcome.handled;
		if (outcome.handled == 0 && !outcome.failed && count == max_events)
			total++;
		if (outcome.failed && p->is_rebuild && ncaught_up > 0 &&
			caught_up[ncaught_up - 1] == p->name)
			ncaught_up--;
	}

	/* Before the rebuilds' swap, which reads the shadows' checkpoints. */
	save_checkpoints(&pending);
	if (only == NULL && !horizon_held && new_horizon != PG_INT64_MAX &&
		new_horizon > horizon)
		cqrs_horizon_save(new_horizon);

	/* Swap in the rebuilds that have caught up (one short step each). */
	for (i = 0; finish_rebuilds && i < ncaught_up; i++)
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		args[1];
		int			rc;

		cqrs_spi_plan(&plan_finish,
					  "SELECT cqrs.finish_rebuild($1, false)", 1, argtypes);
		args[0] = CStringGetTextDatum(caught_up[i]);
		rc = SPI_execute_plan(plan_finish, args, NULL, false, 0);
		cqrs_spi_check(rc, SPI_OK_SELECT, "finishing a projection rebuild");
		if (SPI_processed == 1)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull && DatumGetBool(d))
				total++;
		}
	}

	MemoryContextDelete(batch_cxt);
	SPI_finish();
	return total;
}

int64
cqrs_run_projections(int max_events, CqrsProjectionBacklog *backlog)
{
	backlog->live = false;
	backlog->rebuild = false;
	return run_projections(NULL, max_events, PG_INT64_MAX, true, backlog);
}

Datum
cqrs_run_projections_sql(PG_FUNCTION_ARGS)
{
	int32		max_events = PG_GETARG_INT32(0);

	if (max_events <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_events must be positive")));
	{
		CqrsProjectionBacklog backlog;

		PG_RETURN_INT64(cqrs_run_projections(max_events, &backlog));
	}
}

/*
 * cqrs.run_projection(name, max_events, up_to): run one projection (used
 * by rebuild_projection and verify_projection on their shadow copies).
 */
Datum
cqrs_run_projection_sql(PG_FUNCTION_ARGS)
{
	char	   *name;
	int32		max_events;
	int64		up_to;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("name and max_events must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	max_events = PG_GETARG_INT32(1);
	up_to = PG_ARGISNULL(2) ? PG_INT64_MAX : PG_GETARG_INT64(2);
	if (max_events <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_events must be positive")));
	PG_RETURN_INT64(run_projections(name, max_events, up_to, false, NULL));
}

Datum
cqrs_worker_pid(PG_FUNCTION_ARGS)
{
	pid_t		pid = 0;

	if (cqrs_shared != NULL)
	{
		SpinLockAcquire(&cqrs_shared->mutex);
		if (cqrs_shared->worker_database == MyDatabaseId)
			pid = cqrs_shared->worker_pid;
		SpinLockRelease(&cqrs_shared->mutex);
	}
	if (pid == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT32((int32) pid);
}
