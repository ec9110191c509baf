/*-------------------------------------------------------------------------
 *
 * cqrs_conf.c
 *	  Module entry point: settings, shared memory and the background
 *	  worker registration.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "cqrs_conf.h"
#include "store/state_cache.h"

PG_MODULE_MAGIC;

char	   *cqrs_worker_database = NULL;
int			cqrs_worker_naptime_ms = 1000;
int			cqrs_worker_batch_delay_ms = 2;
int			cqrs_snapshot_every = 32;
int			cqrs_sequencer_batch_size = 10000;

CqrsSharedState *cqrs_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);

static void
cqrs_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(CqrsSharedState)));
}

static void
cqrs_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	cqrs_shared = ShmemInitStruct("cqrs_conf", sizeof(CqrsSharedState),
								  &found);
	if (!found)
	{
		SpinLockInit(&cqrs_shared->mutex);
		cqrs_shared->worker_pid = 0;
		cqrs_shared->worker_database = InvalidOid;
		cqrs_shared->worker_latch = NULL;
		pg_atomic_init_u32(&cqrs_shared->worker_polling, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
_PG_init(void)
{
	/* The domain's aggregates fold through the store's machinery. */
	cqrs_domain_register();

	/* Settings SQL functions need, whether or not the library is preloaded. */
	DefineCustomIntVariable("cqrs_conf.snapshot_every",
							"Take an aggregate snapshot every this many events of a stream.",
							"0 turns automatic snapshots off.",
							&cqrs_snapshot_every,
							32, 0, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("cqrs_conf.state_cache_size",
							"Memory each session may use to keep folded aggregate states.",
							"A command on an aggregate this session folded before applies only the newer events.  0 turns the cache off.",
							&cqrs_state_cache_kb,
							16384, 0, INT_MAX / 1024,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("cqrs_conf.sequencer_batch_size",
							"Most events the sequencer gives positions to in one transaction.",
							NULL,
							&cqrs_sequencer_batch_size,
							10000, 1, 1000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("cqrs_conf.worker_naptime",
							"How long the background worker sleeps when nobody wakes it.",
							"Committing transactions that appended events wake it at once; this is the fallback.",
							&cqrs_worker_naptime_ms,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("cqrs_conf.worker_batch_delay",
							"How long the background worker lets commits gather after one wakes it.",
							"One batch then serves many appending transactions with one WAL flush; it adds at most this much latency.",
							&cqrs_worker_batch_delay_ms,
							2, 0, 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	if (!process_shared_preload_libraries_in_progress)
	{
		MarkGUCPrefixReserved("cqrs_conf");
		return;
	}

	DefineCustomStringVariable("cqrs_conf.database",
							   "Database the cqrs_conf background worker connects to.",
							   "Empty means no background worker.",
							   &cqrs_worker_database,
							   "postgres",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);

	MarkGUCPrefixReserved("cqrs_conf");

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = cqrs_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = cqrs_shmem_startup;

	if (cqrs_worker_database != NULL && cqrs_worker_database[0] != '\0')
		cqrs_register_worker();
}
