/*-------------------------------------------------------------------------
 *
 * direct_write.c
 *	  Direct inserts into the extension's own tables (see direct_write.h).
 *
 *	  A direct insert does what an INSERT statement of the same row would
 *	  do only while the table is as installed: a DBA who adds an INSERT
 *	  trigger, a CHECK constraint, a column, row-level security or a rule
 *	  must get them applied, so the callers go through an INSERT statement
 *	  whenever cqrs_table_as_installed() says no.  The CHECK constraints
 *	  the install script created are not evaluated: the callers compute
 *	  every value they write and keep to them by construction.  The unique
 *	  indexes check every row, with the errors an INSERT raises.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

#include "util/direct_write.h"

bool
cqrs_table_as_installed(Relation rel, const CqrsInstalledShape *shape)
{
	TupleDesc	desc = RelationGetDescr(rel);
	TriggerDesc *trig = rel->trigdesc;
	int			nchecks = desc->constr ? desc->constr->num_check : 0;
	int			live = 0;
	int			i;

	if (trig != NULL &&
		(trig->trig_insert_before_row || trig->trig_insert_after_row ||
		 trig->trig_insert_instead_row || trig->trig_insert_before_statement ||
		 trig->trig_insert_after_statement || trig->trig_insert_new_table))
		return false;
	if (rel->rd_rel->relrowsecurity || rel->rd_rel->relhasrules)
		return false;
	if (desc->constr != NULL && desc->constr->has_generated_stored)
		return false;
	if (nchecks != shape->nchecks)
		return false;
	for (i = 0; i < nchecks; i++)
	{
		const char *name = desc->constr->check[i].ccname;
		bool		known = false;
		int			j;

		for (j = 0; j < shape->nchecks && !known; j++)
			known = strcmp(name, shape->check_names[j]) == 0;
		if (!known)
			return false;
	}
	for (i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			live++;
	return live == shape->ncolumns;
}

/*
 * Start the direct inserts of a statement into rel.  Refused in a
 * read-only transaction, with the error the INSERT statement would raise
 * (the executor's check that a direct write bypasses).
 */
void
cqrs_index_writer_begin(CqrsIndexWriter *writer, Relation rel)
{
	PreventCommandIfReadOnly("INSERT");
	writer->estate = CreateExecutorState();
	writer->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(writer->rri, rel, 1, NULL, 0);
	ExecOpenIndices(writer->rri, false);
}

/* The index entries of a row the caller has just inserted from slot. */
void
cqrs_index_writer_insert(CqrsIndexWriter *writer, TupleTableSlot *slot)
{
	List	   *recheck;

	recheck = ExecInsertIndexTuples(writer->rri, slot, writer->estate,
									false, false, NULL, NIL);
	list_free(recheck);
	ResetPerTupleExprContext(writer->estate);
}

void
cqrs_index_writer_end(CqrsIndexWriter *writer)
{
	ExecCloseIndices(writer->rri);
	FreeExecutorState(writer->estate);
	writer->estate = NULL;
	writer->rri = NULL;
}

/*
 * The OID of the extension's relation cqrs.<relname> (a table or an
 * index); an error if it does not exist.
 */
Oid
cqrs_relation_oid(const char *relname)
{
	Oid			relid;

	relid = get_relname_relid(relname, get_namespace_oid("cqrs", false));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"cqrs.%s\" does not exist", relname),
				 errhint("It is part of the cqrs_conf extension; check the extension's installation.")));
	return relid;
}

/*
 * Push the snapshot a new statement of this transaction would take: one
 * that sees other sessions' latest commits (READ COMMITTED) and this
 * transaction's own writes, as a non-read-only SPI statement gets.  For a
 * direct read in place of such a statement; the caller pops it.
 */
void
cqrs_push_statement_snapshot(void)
{
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
}

/*
 * The numbers of the named columns of relid (relname for the error of a
 * missing one), for the code that reads and writes its rows directly.
 */
void
cqrs_column_numbers(Oid relid, const char *relname,
					const char *const *names, int ncolumns,
					AttrNumber *attnums)
{
	int			i;

	for (i = 0; i < ncolumns; i++)
	{
		attnums[i] = get_attnum(relid, names[i]);
		if (attnums[i] == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("relation \"%s\" has no column \"%s\"",
							relname, names[i])));
	}
}
