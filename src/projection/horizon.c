/*-------------------------------------------------------------------------
 *
 * horizon.c
 *	  The projection horizon (cqrs.projection_horizon): a position up to
 *	  which every projection whose row is marked at_horizon has applied
 *	  every event of its types.  Such a projection's checkpoint is the
 *	  greater of its row's position and the horizon.
 *
 *	  A pass of the runner over events that no idle projection handles
 *	  then moves one row, the horizon, instead of locking and updating a
 *	  checkpoint row per projection.  The invariant the horizon keeps:
 *
 *	  - Only the runner's passes over all projections move it, one pass at
 *	    a time (a transaction-level advisory lock, taken without waiting).
 *	  - A pass moves it only to a position that every projection at the
 *	    horizon (as the pass read them, every running one) has reached,
 *	    and not at all when it skipped one of them (its row was locked).
 *	  - Only the runner marks rows at_horizon.  Any other update of such a
 *	    row (a stop, a resume, a re-registration, a rebuild's swap, a
 *	    DBA's UPDATE) takes it off the horizon first, with the checkpoint
 *	    it had: the trigger below.  A horizon the updater reads that is
 *	    older than a concurrent pass's is still a checkpoint the
 *	    projection reached; the difference is read again, and holds no
 *	    event of the projection's types.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/rel.h"

#include "projection/horizon.h"
#include "util/spi_plan.h"

PG_FUNCTION_INFO_V1(cqrs_projection_leaves_horizon);

/*
 * The advisory lock that serialises the passes: the two-key form, so
 * pg_locks shows it as an advisory lock on (classid, objid) =
 * (1668379251, 1752134266), 'cqrs' and 'horz' in ASCII.
 */
#define HORIZON_LOCK_KEY1 0x63717273
#define HORIZON_LOCK_KEY2 0x686f727a

/* Set while the runner's own statements update cqrs.projections. */
static bool runner_writes = false;

static SPIPlanPtr plan_save = NULL;

/*
 * Take the horizon's lock for this transaction, unless another pass holds
 * it (then false: that pass does the work).
 */
bool
cqrs_horizon_try_lock(void)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, HORIZON_LOCK_KEY1,
						 HORIZON_LOCK_KEY2, 2);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/* Move the horizon (the caller holds its lock and is connected to SPI). */
void
cqrs_horizon_save(int64 position)
{
	Oid			argtypes[1] = {INT8OID};
	Datum		values[1];
	int			rc;

	cqrs_spi_plan(&plan_save,
				  "UPDATE cqrs.projection_horizon SET position = $1", 1, argtypes);
	values[0] = Int64GetDatum(position);
	rc = SPI_execute_plan(plan_save, values, NULL, false, 0);
	cqrs_spi_check(rc, SPI_OK_UPDATE, "moving the projection horizon");
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("cqrs.projection_horizon must hold exactly one row"),
				 errhint("Reinstall the extension, or insert the row: INSERT INTO cqrs.projection_horizon VALUES (0).")));
}

/* The runner brackets its own updates of cqrs.projections with these. */
void
cqrs_horizon_runner_writes(bool writing)
{
	runner_writes = writing;
}

static int64
current_horizon(void)
{
	int64		position = 0;
	int			rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute("SELECT position FROM cqrs.projection_horizon", true, 0);
	cqrs_spi_check(rc, SPI_OK_SELECT, "reading the projection horizon");
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			position = DatumGetInt64(d);
	}
	SPI_finish();
	return position;
}

/*
 * Trigger on cqrs.projections, BEFORE INSERT OR UPDATE of a row that is or
 * would be at the horizon: unless the runner writes, the row leaves the
 * horizon, and its position becomes its checkpoint (when the update does
 * not set a position of its own).
 */
Datum
cqrs_projection_leaves_horizon(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	newtuple;
	int			cols[2];
	Datum		values[2];
	bool		nulls[2] = {false, false};
	int			ncols = 1;
	int			position_attnum;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("cqrs.projection_leaves_horizon() must be a BEFORE ROW trigger")));

	newtuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
	if (runner_writes)
		return PointerGetDatum(newtuple);

	desc = RelationGetDescr(trigdata->tg_relation);
	position_attnum = SPI_fnumber(desc, "position");
	cols[0] = SPI_fnumber(desc, "at_horizon");
	if (cols[0] <= 0 || position_attnum <= 0)
		elog(ERROR, "cqrs.projections lacks the column \"at_horizon\" or \"position\"");
	values[0] = BoolGetDatum(false);

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		bool		old_null,
					new_null,
					old_at;
		Datum		old_position = SPI_getbinval(trigdata->tg_trigtuple, desc,
												 position_attnum, &old_null);
		Datum		new_position = SPI_getbinval(newtuple, desc,
												 position_attnum, &new_null);

		old_at = DatumGetBool(SPI_getbinval(trigdata->tg_trigtuple, desc,
											cols[0], &old_null)) && !old_null;
		if (old_at && !new_null &&
			DatumGetInt64(old_position) == DatumGetInt64(new_position))
		{
			cols[1] = position_attnum;
			values[1] = Int64GetDatum(Max(DatumGetInt64(old_position),
										  current_horizon()));
			ncols = 2;
		}
	}
	return PointerGetDatum(heap_modify_tuple_by_cols(newtuple, desc, ncols,
													 cols, values, nulls));
}
