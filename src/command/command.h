/*-------------------------------------------------------------------------
 *
 * command.h
 *	  The command layer: cqrs.send / cqrs.enqueue / cqrs.command_status,
 *	  the command log (cqrs.commands) and the handlers that load an
 *	  aggregate, decide and append.  See docs/commands.md.
 *
 *	  Other layers (the worker, the process manager) use the C API below:
 *	  they send or enqueue commands, optionally with a due time, and
 *	  cqrs_drain_step() runs the pending ones that fell due.  New command
 *	  types (ExpireRegistrationProcess, say) can be added with
 *	  cqrs_register_command().
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_COMMAND_H
#define CQRS_COMMAND_H

#include "postgres.h"

#include "command/payload.h"
#include "domain/domain.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* objsubid of the per-command-id advisory locks in pg_locks ("CR") */
#define CQRS_COMMAND_LOCK_KIND 17234

/* Pending commands one drain step handles at most */
#define CQRS_PENDING_COMMAND_BATCH 100

typedef enum CqrsCommandStatus
{
	CQRS_COMMAND_PENDING,
	CQRS_COMMAND_ACCEPTED,
	CQRS_COMMAND_REJECTED
} CqrsCommandStatus;

/* A row of cqrs.command_result. */
typedef struct CqrsCommandResult
{
	pg_uuid_t	command_id;
	CqrsCommandStatus status;
	bool		has_stream;
	pg_uuid_t	stream_id;
	bool		has_version;
	int64		version;
	Jsonb	   *events;			/* JSON array, never NULL once handled */
	int32		event_count;	/* how many: versions version - n + 1 .. version */
	char	   *reason;			/* NULL unless rejected */
} CqrsCommandResult;

/* One command being handled (handlers are connected to SPI). */
typedef struct CqrsCommandCall
{
	pg_uuid_t	command_id;
	const char *command_type;
	TimestampTz now;			/* the domain's clock: transaction start */
	CqrsCommandResult *result;	/* filled by the handler */
} CqrsCommandCall;

/* A command type: payload validation and execution. */
typedef struct CqrsCommandHandler
{
	const char *command_type;
	/* Validate and parse; raise 22023/22P02 naming the field. */
	void	   *(*parse) (CqrsPayload *payload);
	/* Handle (connected to SPI, inside the command's transaction). */
	void		(*execute) (CqrsCommandCall *call, void *command);
} CqrsCommandHandler;

/* Load modes of the reference's repositories. */
typedef enum CqrsLoadMode
{
	CQRS_LOAD_GET,				/* missing aggregate: rejected */
	CQRS_LOAD_FIND				/* missing aggregate: decide gets NULL */
} CqrsLoadMode;

/* Decide over a loaded state (NULL: no such aggregate). */
typedef void (*CqrsDecideFn) (CqrsCommandCall *call, void *command,
							  const void *state, DomainDecision *d);

/* src/command/dispatch.c */
extern void cqrs_register_command(const CqrsCommandHandler *handler);
extern const CqrsCommandHandler *cqrs_command_handler(const char *command_type);
extern void cqrs_command_on_stream(CqrsCommandCall *call, void *command,
								   const pg_uuid_t *stream_id,
								   const char *stream_type,
								   CqrsLoadMode mode, CqrsDecideFn decide);
extern void cqrs_command_store_decision(CqrsCommandCall *call,
										const pg_uuid_t *stream_id,
										const char *stream_type,
										bool expected_any,
										int64 current_version,
										DomainDecision *d);
extern void *cqrs_command_load_aux(const pg_uuid_t *stream_id,
								   const char *stream_type);

/* src/command/command_log.c (callers not connected to SPI) */
extern void cqrs_send_command(const char *command_type, Jsonb *payload,
							  const pg_uuid_t *command_id,
							  CqrsCommandResult *result);
extern void cqrs_enqueue_command(const char *command_type, Jsonb *payload,
								 const pg_uuid_t *command_id,
								 bool has_due_at, TimestampTz due_at,
								 pg_uuid_t *out_id);
extern int64 cqrs_handle_pending_commands(int max_count, TimestampTz as_of);
extern const char *cqrs_command_status_name(CqrsCommandStatus status);
extern CqrsCommandStatus cqrs_command_status_from_name(const char *name);

/* src/command/payments.c */
extern void cqrs_payments_register(void);
/* src/command/dispatch.c */
extern void cqrs_domain_commands_register(void);
/* src/process/registration_process.c: ExpireRegistrationProcess */
extern void cqrs_process_commands_register(void);

#endif							/* CQRS_COMMAND_H */
