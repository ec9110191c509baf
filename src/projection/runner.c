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
 *	  A projection's row is locked FOR UPDATE SKIP LOCKED before any event
 *	  is applied to it, so the background worker and sessions calling
 *	  cqrs.drain() never apply a batch twice.  Projections at the same
 *	  checkpoint share one read of the events after it.
 *
 *	  A running projection with nothing to handle in its batch is neither
 *	  locked nor saved: the runner claims, in cqrs.projection_progress, that
 *	  it had nothing to handle up to the batch's end (for the row version
 *	  read; any change to the row voids the claim).  Its effective
 *	  checkpoint is the claim's; its row keeps a true but older one, saved
 *	  again every CQRS_PROJECTION_IDLE_SAVE events.  Under a load of events
 *	  that few projections handle, a batch then writes one row instead of
 *	  locking and updating every projection's.  A step with nothing to do
 *	  writes nothing.
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
#include "projection/runner.h"
#include "util/spi_plan.h"

PG_FUNCTION_INFO_V1(cqrs_run_projections_sql);
PG_FUNCTION_INFO_V1(cqrs_run_projection_sql);
PG_FUNCTION_INFO_V1(cqrs_worker_pid);

#define EVENT_COLUMNS 9

/* An idle projection's row is saved once its claim is this far ahead. */
#define CQRS_PROJECTION_IDLE_SAVE 2000

typedef struct Projection
{
	char	   *name;
	Oid			handler;
	int			ntypes;
	char	  **types;			/* NULL: every event type */
	int64		position;		/* effective: a claim's, or the row's */
	char	   *search_path;	/* NULL: the caller's */
	bool		is_rebuild;		/* a shadow projection of a rebuild */
	int64		row_position;	/* the checkpoint saved in the row */
	TransactionId row_xmin;		/* the row version read */
	bool		locked;			/* its row is locked by this runner */
} Projection;

/* The claims of one pass (see the header comment). */
typedef struct Claims
{
	bool		allowed;		/* this pass holds cqrs.projection_progress */
	int64		position;		/* the end of the idle batch */
	int			count;
	Datum	   *names;
	Datum	   *row_xmins;
} Claims;

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
static SPIPlanPtr plan_claim = NULL;
static SPIPlanPtr plan_lock_claims = NULL;

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
wants_any(const Projection *p, char **types, int count)
{
	int			i;

	for (i = 0; i < count; i++)
		if (wants_event(p, types[i]))
			return true;
	return false;
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Every event type some projection of the list wants, sorted (a NULL
 * result: some projection wants every type).  Each event of a batch is
 * looked up once, instead of compared with every projection's types.
 */
static char **
wanted_types(const Projection *list, int nprojections, int *count)
{
	char	  **types;
	int			n = 0;
	int			i,
				j;

	for (i = 0; i < nprojections; i++)
	{
		if (list[i].types == NULL)
			return NULL;
		n += list[i].ntypes;
	}
	types = palloc(sizeof(char *) * Max(n, 1));
	n = 0;
	for (i = 0; i < nprojections; i++)
		for (j = 0; j < list[i].ntypes; j++)
			types[n++] = list[i].types[j];
	qsort(types, n, sizeof(char *), compare_strings);
	*count = n;
	return types;
}

static bool
wanted_by_any(char **wanted, int nwanted, const char *event_type)
{
	return wanted == NULL ||
		bsearch(&event_type, wanted, nwanted, sizeof(char *),
				compare_strings) != NULL;
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

/* Running order: live projections before rebuilds, by checkpoint, name. */
static int
projection_order(const void *a, const void *b)
{
	const Projection *pa = (const Projection *) a;
	const Projection *pb = (const Projection *) b;

	if (pa->is_rebuild != pb->is_rebuild)
		return pa->is_rebuild ? 1 : -1;
	if (pa->position != pb->position)
		return pa->position < pb->position ? -1 : 1;
	return strcmp(pa->name, pb->name);
}

/*
 * Does a claim of cqrs.projection_progress (its names and row_xmins
 * columns in the tuple) hold for the projection's row as read?
 */
static bool
claim_holds(const Projection *p, HeapTuple t, TupleDesc d,
			int names_column, int xmins_column)
{
	bool		isnull;
	Datum	   *names;
	Datum	   *xmins;
	int			nnames;
	int			nxmins;
	int			j;

	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(t, d, names_column, &isnull)),
					  TEXTOID, -1, false, TYPALIGN_INT, &names, NULL, &nnames);
	deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(t, d, xmins_column, &isnull)),
					  XIDOID, sizeof(TransactionId), true, TYPALIGN_INT,
					  &xmins, NULL, &nxmins);
	for (j = 0; j < nnames && j < nxmins; j++)
		if (DatumGetTransactionId(xmins[j]) == p->row_xmin &&
			strcmp(TextDatumGetCString(names[j]), p->name) == 0)
			return true;
	return false;
}

/*
 * The running projections behind the log, at their effective checkpoints
 * (cqrs.projection_checkpoints, computed here), not locked: lock_projection
 * locks one before applying events to it.  Or only the one named, locked
 * (waiting for its lock), at the checkpoint saved in its row.
 */
static int
load_projections(const char *only, Projection **out)
{
	int			rc;
	uint64		i;
	int			n = 0;
	Projection *list;

	if (only == NULL)
	{
		cqrs_spi_plan(&plan_list,
					  "SELECT p.name, p.handler::oid, p.event_types,"
					  " CASE WHEN p.schema_name IS NOT NULL THEN"
					  " pg_catalog.quote_ident(p.schema_name) || ', pg_temp' END,"
					  " p.rebuild_of IS NOT NULL, p.position, p.xmin,"
					  " g.position, g.names, g.row_xmins, s.last_position"
					  " FROM cqrs.projections p, cqrs.projection_progress g,"
					  " cqrs.sequencer_state s"
					  " WHERE p.state = 'running'",
					  0, NULL);
		rc = SPI_execute_plan(plan_list, NULL, NULL, false, 0);
	}
	else
	{
		Oid			argtypes[1] = {TEXTOID};
		Datum		args[1];

		cqrs_spi_plan(&plan_one,
					  "SELECT name, handler::oid, event_types,"
					  " CASE WHEN schema_name IS NOT NULL THEN"
					  " pg_catalog.quote_ident(schema_name) || ', pg_temp' END,"
					  " rebuild_of IS NOT NULL, position, xmin"
					  " FROM cqrs.projections WHERE state = 'running'"
					  " AND name = $1 FOR UPDATE",
					  1, argtypes);
		args[0] = CStringGetTextDatum(only);
		rc = SPI_execute_plan(plan_one, args, NULL, false, 0);
	}
	cqrs_spi_check(rc, SPI_OK_SELECT, "listing projections");

	list = palloc0(sizeof(Projection) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		Projection *p = &list[n];
		bool		isnull;
		Datum		types;

		p->name = SPI_getvalue(t, d, 1);
		p->handler = DatumGetObjectId(SPI_getbinval(t, d, 2, &isnull));
		p->search_path = SPI_getvalue(t, d, 4);
		p->is_rebuild = DatumGetBool(SPI_getbinval(t, d, 5, &isnull));
		p->row_position = DatumGetInt64(SPI_getbinval(t, d, 6, &isnull));
		p->row_xmin = DatumGetTransactionId(SPI_getbinval(t, d, 7, &isnull));
		p->position = p->row_position;
		p->locked = (only != NULL);
		if (only == NULL)
		{
			int64		claimed = DatumGetInt64(SPI_getbinval(t, d, 8, &isnull));
			int64		last = DatumGetInt64(SPI_getbinval(t, d, 11, &isnull));

			if (!p->is_rebuild && claimed > p->row_position &&
				claim_holds(p, t, d, 9, 10))
				p->position = claimed;
			if (p->position >= last && !p->is_rebuild)
				continue;		/* nothing to do */
		}

		types = SPI_getbinval(t, d, 3, &isnull);
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *elemnulls;
			int			ntypes,
						j;

			deconstruct_array(DatumGetArrayTypeP(types), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, &elemnulls, &ntypes);
			p->types = palloc0(sizeof(char *) * (ntypes + 1));
			for (j = 0; j < ntypes; j++)
				p->types[j] = elemnulls[j] ? pstrdup("") :
					TextDatumGetCString(elems[j]);
			p->ntypes = ntypes;
		}
		n++;
	}
	qsort(list, n, sizeof(Projection), projection_order);
	*out = list;
	return n;
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
} PendingCheckpoints;

/*
 * Lock the projection's row before applying events to it; false (and the
 * projection is left alone in this pass) when another session holds it,
 * or the row changed since it was read (another runner moved it on, or
 * it was stopped): its effective checkpoint is no longer the one read.
 */
static bool
lock_projection(Projection *p)
{
	Oid			argtypes[3] = {TEXTOID, INT8OID, XIDOID};
	Datum		values[3];
	int			rc;

	if (p->locked)
		return true;
	cqrs_spi_plan(&plan_lock,
				  "SELECT 1 FROM cqrs.projections"
				  " WHERE name = $1 AND state = 'running'"
				  " AND position = $2 AND xmin = $3"
				  " FOR UPDATE SKIP LOCKED",
				  3, argtypes);
	values[0] = CStringGetTextDatum(p->name);
	values[1] = Int64GetDatum(p->row_position);
	values[2] = TransactionIdGetDatum(p->row_xmin);
	rc = SPI_execute_plan(plan_lock, values, NULL, false, 1);
	cqrs_spi_check(rc, SPI_OK_SELECT, "locking a projection");
	p->locked = SPI_processed == 1;
	return p->locked;
}

/*
 * Lock cqrs.projection_progress for this pass's claims; false when another
 * runner holds it (a cqrs.drain() in an open transaction, say): the pass
 * then makes no claims and saves every projection's checkpoint.
 */
static bool
lock_claims(void)
{
	int			rc;

	cqrs_spi_plan(&plan_lock_claims,
				  "SELECT 1 FROM cqrs.projection_progress FOR UPDATE SKIP LOCKED",
				  0, NULL);
	rc = SPI_execute_plan(plan_lock_claims, NULL, NULL, false, 1);
	cqrs_spi_check(rc, SPI_OK_SELECT, "locking the projection claims");
	return SPI_processed == 1;
}

/*
 * Save the pass's claims (the idle projections had nothing to handle up
 * to claims->position) in place of the earlier ones, which either were
 * this pass's starting points or are dropped: every claim is true, and a
 * projection without one goes on from its row's checkpoint.
 */
static void
save_claims(Claims *claims)
{
	Oid			argtypes[3] = {INT8OID, TEXTARRAYOID, XIDARRAYOID};
	Datum		values[3];
	int			rc;

	if (claims->count == 0)
		return;
	values[0] = Int64GetDatum(claims->position);
	values[1] = PointerGetDatum(construct_array(claims->names, claims->count,
												TEXTOID, -1, false,
												TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(claims->row_xmins,
												claims->count, XIDOID,
												sizeof(TransactionId), true,
												TYPALIGN_INT));
	cqrs_spi_plan(&plan_claim,
				  "UPDATE cqrs.projection_progress"
				  " SET position = $1, names = $2, row_xmins = $3",
				  3, argtypes);
	rc = SPI_execute_plan(plan_claim, values, NULL, false, 0);
	cqrs_spi_check(rc, SPI_OK_UPDATE, "saving projection claims");
	claims->count = 0;
}

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
				  " applied_events = applied_events + $3,"
				  " state = 'failed', last_error = $4,"
				  " last_error_sqlstate = $5, error_position = $6,"
				  " failed_at = pg_catalog.now(),"
				  " updated_at = pg_catalog.now() WHERE name = $1",
				  6, argtypes);
	rc = SPI_execute_plan(plan_fail, values, NULL, false, 0);
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
	Oid			argtypes[3] = {TEXTARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		values[3];
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
	cqrs_spi_plan(&plan_save,
				  "UPDATE cqrs.projections p SET position = v.position,"
				  " applied_events = p.applied_events + v.handled,"
				  " updated_at = pg_catalog.now()"
				  " FROM unnest($1, $2, $3)"
				  "      AS v(name, position, handled)"
				  " WHERE p.name = v.name",
				  3, argtypes);
	rc = SPI_execute_plan(plan_save, values, NULL, false, 0);
	cqrs_spi_check(rc, SPI_OK_UPDATE, "saving projection checkpoints");
	if (SPI_processed != (uint64) pending->count)
		elog(ERROR, "saved " UINT64_FORMAT " projection checkpoints instead of %d",
			 SPI_processed, pending->count);
	pending->count = 0;
}

/*
 * Read at most max_events sequenced events after position (and at most
 * up_to) into batch_cxt, as cqrs.event datums; returns how many.
 */
static int
read_events(int64 position, int max_events, int64 up_to,
			char **wanted, int nwanted,
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

	cqrs_spi_plan(&plan_events,
				  "SELECT global_position, stream_id, stream_type, version,"
				  " event_type, data, metadata, event_id, recorded_at"
				  " FROM cqrs.events WHERE global_position > $1"
				  " AND global_position > 0 AND global_position <= $3"
				  " AND global_position <= (SELECT last_position"
				  "                           FROM cqrs.sequencer_state)"
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
		if (wanted_by_any(wanted, nwanted, types[j]))
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
 */
static int64
run_projections(const char *only, int max_events, int64 up_to,
				bool finish_rebuilds, bool *behind)
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
	Claims		claims;
	int64		convoy = -1;
	char	  **wanted;
	int			nwanted = 0;
	int			count = 0;
	Datum	   *events = NULL;
	char	  **types = NULL;
	int64	   *positions = NULL;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	nprojections = load_projections(only, &list);
	if (nprojections == 0)
	{
		SPI_finish();
		return 0;
	}

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
	claims.count = 0;
	claims.position = 0;
	claims.names = palloc(sizeof(Datum) * nprojections);
	claims.row_xmins = palloc(sizeof(Datum) * nprojections);

	/*
	 * Claims are made for the projections at the furthest checkpoint (the
	 * live ones, in step with each other); one behind them (just resumed,
	 * or whose claim a change to its row voided) catches up on its own.
	 */
	for (i = 0; i < nprojections; i++)
		if (!list[i].is_rebuild)
			convoy = Max(convoy, list[i].position);
	claims.allowed = only == NULL && convoy >= 0 && lock_claims();
	wanted = wanted_types(list, nprojections, &nwanted);

	for (i = 0; i < nprojections; i++)
	{
		Projection *p = &list[i];
		BatchOutcome outcome;
		int64		checkpoint;

		/* The previous projection's read serves one at the same checkpoint. */
		if (i == 0 || p->position != list[i - 1].position)
			count = read_events(p->position, max_events, up_to,
								wanted, nwanted, batch_cxt,
								event_desc, &events, &types, &positions);
		if (p->is_rebuild && count < max_events)
			caught_up[ncaught_up++] = p->name;
		if (count == max_events && !p->is_rebuild && behind)
			*behind = true;
		if (count == 0)
			continue;

		/*
		 * Nothing to handle, in step with the others, and its row not too
		 * far behind: a claim instead of a lock and a saved checkpoint.
		 */
		if (claims.allowed && !p->is_rebuild && p->position == convoy &&
			!wants_any(p, types, count) &&
			positions[count - 1] - p->row_position < CQRS_PROJECTION_IDLE_SAVE)
		{
			claims.names[claims.count] = CStringGetTextDatum(p->name);
			claims.row_xmins[claims.count] = TransactionIdGetDatum(p->row_xmin);
			claims.count++;
			claims.position = positions[count - 1];
			if (count == max_events)
				total++;
			continue;
		}
		if (!lock_projection(p))
			continue;

		apply_batch(p, events, types, positions, count, &outcome);
		checkpoint = outcome.applied > 0 ? positions[outcome.applied - 1] :
			p->position;
		if (outcome.failed)
			save_failure(p, checkpoint, &outcome);
		else
		{
			pending.names[pending.count] = CStringGetTextDatum(p->name);
			pending.positions[pending.count] = Int64GetDatum(checkpoint);
			pending.handled[pending.count] = Int64GetDatum(outcome.handled);
			pending.count++;
		}

		/*
		 * Count the events the handler applied.  A full batch of events the
		 * projection does not want still counts as work (more may follow),
		 * so cqrs.drain() goes on until every checkpoint is at the end.
		 */
		total += outcome.handled;
		if (outcome.handled == 0 && !outcome.failed && count == max_events)
			total++;
		if (outcome.failed && p->is_rebuild && ncaught_up > 0 &&
			caught_up[ncaught_up - 1] == p->name)
			ncaught_up--;
	}

	/* Before the rebuilds' swap, which reads the shadows' checkpoints. */
	save_checkpoints(&pending);
	save_claims(&claims);

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
cqrs_run_projections(int max_events, bool *behind)
{
	*behind = false;
	return run_projections(NULL, max_events, PG_INT64_MAX, true, behind);
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
		bool		behind;

		PG_RETURN_INT64(cqrs_run_projections(max_events, &behind));
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
