/*-------------------------------------------------------------------------
 *
 * direct_write.h
 *	  Writing rows of the extension's own tables without an INSERT
 *	  statement, as COPY does: the heap through the table access method,
 *	  the index entries through the executor's index maintenance.  Used for
 *	  the tables written on every append and every command (cqrs.events,
 *	  cqrs.commands), when the table is as the extension installed it.
 *	  Also what direct reads (index scans instead of statements) share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_DIRECT_WRITE_H
#define CQRS_DIRECT_WRITE_H

#include "postgres.h"

#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "utils/rel.h"

/* What the install script gave a table that is written directly. */
typedef struct CqrsInstalledShape
{
	int			ncolumns;		/* live columns */
	int			nchecks;		/* CHECK constraints ... */
	const char *const *check_names; /* ... with these names */
} CqrsInstalledShape;

/* The index maintenance of direct inserts into one relation. */
typedef struct CqrsIndexWriter
{
	EState	   *estate;
	ResultRelInfo *rri;
} CqrsIndexWriter;

extern Oid	cqrs_relation_oid(const char *relname);
extern void cqrs_push_statement_snapshot(void);
extern void cqrs_column_numbers(Oid relid, const char *relname,
								const char *const *names, int ncolumns,
								AttrNumber *attnums);
extern bool cqrs_table_as_installed(Relation rel,
									const CqrsInstalledShape *shape);
extern void cqrs_index_writer_begin(CqrsIndexWriter *writer, Relation rel);
extern void cqrs_index_writer_insert(CqrsIndexWriter *writer,
									 TupleTableSlot *slot);
extern void cqrs_index_writer_end(CqrsIndexWriter *writer);

#endif							/* CQRS_DIRECT_WRITE_H */
