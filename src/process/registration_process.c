/*-------------------------------------------------------------------------
 *
 * registration_process.c
 *	  The command type ExpireRegistrationProcess {processId}: the
 *	  registration process manager's timer, enqueued with a due time when
 *	  the process starts (cqrs_enqueue_command / cqrs.enqueue with
 *	  not_before).  Handled by conference.pm_expire(process_id, command_id)
 *	  (sql/install/80_process_manager.sql), in the command's transaction:
 *	  when the command is the process's current expiration command, the
 *	  process completes and enqueues RejectOrder then CancelSeatReservation;
 *	  otherwise it is ignored (no longer relevant), as in the reference.
 *
 *	  The command's result: accepted, no events (the process state is a
 *	  table, not a stream); its stream_id is the process id.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "command/command.h"
#include "command/payload.h"
#include "process/process.h"
#include "util/jsonb_util.h"
#include "util/spi_plan.h"

typedef struct ExpireRegistrationProcess
{
	pg_uuid_t	process_id;
} ExpireRegistrationProcess;

static SPIPlanPtr plan_expire = NULL;

static void *
parse_expire(CqrsPayload *p)
{
	ExpireRegistrationProcess *c = palloc0(sizeof(ExpireRegistrationProcess));

	pl_uuid(p, p->root, "", "processId", &c->process_id);
	return c;
}

static void
execute_expire(CqrsCommandCall *call, void *command)
{
	ExpireRegistrationProcess *c = command;
	Oid			argtypes[2] = {UUIDOID, UUIDOID};
	Datum		values[2];
	int			rc;
	CqrsCommandResult *res = call->result;
	MemoryContext old;

	cqrs_spi_plan(&plan_expire,
				  "SELECT conference.pm_expire($1, $2)", 2, argtypes);
	values[0] = UUIDPGetDatum(&c->process_id);
	values[1] = UUIDPGetDatum(&call->command_id);
	rc = SPI_execute_plan(plan_expire, values, NULL, false, 0);
	cqrs_spi_check(rc, SPI_OK_SELECT, "expiring a registration process");

	res->status = CQRS_COMMAND_ACCEPTED;
	res->has_stream = true;
	res->stream_id = c->process_id;
	res->has_version = false;
	old = MemoryContextSwitchTo(GetMemoryChunkContext(res));
	res->events = jb_empty_array();
	res->reason = NULL;
	MemoryContextSwitchTo(old);
}

static const CqrsCommandHandler process_commands[] = {
	{"ExpireRegistrationProcess", parse_expire, execute_expire},
};

void
cqrs_process_commands_register(void)
{
	int			i;

	for (i = 0; i < lengthof(process_commands); i++)
		cqrs_register_command(&process_commands[i]);
}
