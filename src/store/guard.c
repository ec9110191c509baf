/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  Keeps cqrs.events append-only.  Statement triggers refuse UPDATE,
 *	  DELETE and TRUNCATE for every role, the owner included; the only
 *	  update allowed is the sequencer's, which fills in global_position
 *	  and raises a backend-local flag that SQL cannot reach.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"

#include "store/guard.h"

PG_FUNCTION_INFO_V1(cqrs_refuse_event_change);

static bool sequencing_allowed = false;

void
cqrs_guard_allow_sequencing(bool allow)
{
	sequencing_allowed = allow;
}

Datum
cqrs_refuse_event_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *operation;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("cqrs.refuse_event_change() must be called as a trigger")));

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) && sequencing_allowed)
		return PointerGetDatum(NULL);

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		operation = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		operation = "DELETE";
	else
		operation = "TRUNCATE";

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot %s cqrs.events: the event log is append-only",
					operation),
			 errhint("Record a correction as a new event with cqrs.append().")));
	return PointerGetDatum(NULL);	/* not reached */
}
