/*-------------------------------------------------------------------------
 *
 * command_row.h
 *	  One row of the command log (cqrs.commands), read and written without
 *	  an SQL statement (command_row.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_COMMAND_ROW_H
#define CQRS_COMMAND_ROW_H

#include "postgres.h"

#include "command/command.h"

/* A command to log: handled (result set) or pending (result NULL). */
typedef struct CqrsCommandRow
{
	const pg_uuid_t *command_id;
	const char *command_type;
	Jsonb	   *payload;
	const CqrsCommandResult *result;
	const char *origin;			/* "send" or "enqueue" */
	bool		has_due_at;
	TimestampTz due_at;
} CqrsCommandRow;

/*
 * Both return false, having done nothing, when cqrs.commands is no longer
 * as installed; the caller then uses SQL statements.
 */
extern bool cqrs_command_row_lookup(const pg_uuid_t *id,
									MemoryContext result_cxt,
									CqrsCommandResult *res, char **type,
									Jsonb **payload, bool *found);
extern bool cqrs_command_row_insert(const CqrsCommandRow *row);

#endif							/* CQRS_COMMAND_ROW_H */
