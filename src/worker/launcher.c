/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The static background worker registered at server start.  It connects
 *	  to no database, waits until cqrs_conf.database exists (checking the
 *	  shared catalog pg_database), then starts the database worker
 *	  (worker.c) as a dynamic background worker and starts it again,
 *	  after a short pause, whenever it exits.  So a missing database or a
 *	  terminated worker never turns into a crash loop of FATAL messages.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "cqrs_conf.h"

PGDLLEXPORT void cqrs_launcher_main(Datum main_arg);

/* Pause before starting the database worker again after it exited. */
#define RESTART_PAUSE_MS 1000
/* How often to look for the database while it does not exist. */
#define DATABASE_POLL_MS 5000

void
cqrs_register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "cqrs_conf");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "cqrs_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "cqrs_conf launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "cqrs_conf launcher");
	RegisterBackgroundWorker(&worker);
}

/*
 * Does the database exist?  A heap scan of pg_database: with no database
 * selected, only nailed catalogs can be opened, not their indexes.
 */
static bool
database_exists(const char *name)
{
	bool		exists = false;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tuple);

		if (strcmp(NameStr(db->datname), name) == 0)
		{
			exists = true;
			break;
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return exists;
}

static BackgroundWorkerHandle *
start_database_worker(void)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	pid_t		pid;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "cqrs_conf");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "cqrs_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "cqrs_conf worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "cqrs_conf worker");
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(WARNING,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start the cqrs_conf worker"),
				 errhint("Raise max_worker_processes.")));
		return NULL;
	}
	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
		return NULL;
	return handle;
}

void
cqrs_launcher_main(Datum main_arg)
{
	BackgroundWorkerHandle *handle = NULL;
	bool		reported_missing = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	for (;;)
	{
		long		timeout = DATABASE_POLL_MS;
		pid_t		pid;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (handle != NULL &&
			GetBackgroundWorkerPid(handle, &pid) == BGWH_STOPPED)
		{
			pfree(handle);
			handle = NULL;
			/* Pause briefly so a worker that keeps failing cannot spin. */
			(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 RESTART_PAUSE_MS, PG_WAIT_EXTENSION);
		}

		if (handle == NULL)
		{
			if (database_exists(cqrs_worker_database))
			{
				reported_missing = false;
				handle = start_database_worker();
			}
			else if (!reported_missing)
			{
				ereport(LOG,
						(errmsg("cqrs_conf launcher is waiting for database \"%s\" to be created",
								cqrs_worker_database)));
				reported_missing = true;
			}
		}

		/* The postmaster sets our latch when the worker starts or stops. */
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
