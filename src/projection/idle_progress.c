/*-------------------------------------------------------------------------
 *
 * idle_progress.c
 *	  How far the runner has read past a projection's saved checkpoint
 *	  without meeting an event the projection handles.
 *
 *	  A projection that handles a few event types has nothing to do for
 *	  most batches.  Saving its checkpoint after each of them anyway would
 *	  cost a row version of cqrs.projections, and its WAL, per projection
 *	  per batch, for events it never looks at.  Instead the runner notes
 *	  "nothing this projection handles lies after checkpoint C up to
 *	  position T", and saves the checkpoint only when the projection
 *	  handles an event or T runs cqrs_conf.idle_checkpoint_every events
 *	  ahead of C.
 *
 *	  A note is made in the transaction that read the events and becomes
 *	  visible to other sessions when that transaction commits (it is kept
 *	  in shared memory; an abort, or the abort of any subtransaction,
 *	  discards the transaction's notes).  It holds only while the saved
 *	  checkpoint is still C, the row is the one it was made for (name and
 *	  registration time) and the projection handles the same event types,
 *	  so nothing a note says can make an event be applied twice or
 *	  skipped: after a restart the notes are gone and the runner reads on
 *	  from the saved checkpoint, over events the projection does not
 *	  handle.  cqrs.projection_position() reads the notes for
 *	  cqrs.projection_status and cqrs.wait_for_projections().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "projection/idle_progress.h"

PG_FUNCTION_INFO_V1(cqrs_projection_position);

/* Notes kept in shared memory (for all databases) and per transaction. */
#define CQRS_IDLE_NOTES 128

int			cqrs_idle_checkpoint_events = 10000;

typedef struct IdleNote
{
	Oid			database;		/* InvalidOid: a free slot */
	TimestampTz registered_at;
	uint32		types_hash;
	int64		checkpoint;
	int64		through;
	char		name[NAMEDATALEN];
} IdleNote;

typedef struct IdleNotes
{
	LWLock	   *lock;
	int			next_victim;	/* slot to reuse when all are taken */
	IdleNote	notes[CQRS_IDLE_NOTES];
} IdleNotes;

static IdleNotes *shared_notes = NULL;

/* This transaction's notes, published when it commits. */
static IdleNote pending[CQRS_IDLE_NOTES];
static int	npending = 0;
static bool callbacks_registered = false;

Size
cqrs_idle_shmem_size(void)
{
	return MAXALIGN(sizeof(IdleNotes));
}

/* Called from the shared memory startup hook, under AddinShmemInitLock. */
void
cqrs_idle_shmem_init(void)
{
	bool		found;

	shared_notes = ShmemInitStruct("cqrs_conf idle projections",
								   sizeof(IdleNotes), &found);
	if (!found)
	{
		memset(shared_notes, 0, sizeof(IdleNotes));
		shared_notes->lock = &(GetNamedLWLockTranche("cqrs_conf idle projections"))->lock;
	}
}

uint32
cqrs_idle_types_hash(char **types, int ntypes)
{
	uint32		hash = (uint32) ntypes;
	int			i;

	for (i = 0; i < ntypes; i++)
		hash = hash_combine(hash, hash_bytes((const unsigned char *) types[i],
											 (int) strlen(types[i])));
	return hash;
}

static bool
same_row(const IdleNote *note, Oid database, const CqrsIdleKey *key)
{
	return note->database == database &&
		note->registered_at == key->registered_at &&
		strcmp(note->name, key->name) == 0;
}

static int64
through_if_valid(const IdleNote *note, const CqrsIdleKey *key, int64 checkpoint)
{
	if (note->types_hash == key->types_hash && note->checkpoint == checkpoint)
		return Max(note->through, checkpoint);
	return checkpoint;
}

int64
cqrs_idle_through(const CqrsIdleKey *key, int64 checkpoint)
{
	int64		through = checkpoint;
	int			i;

	if (shared_notes == NULL || strlen(key->name) >= NAMEDATALEN)
		return checkpoint;

	for (i = 0; i < npending; i++)
		if (same_row(&pending[i], MyDatabaseId, key))
			return through_if_valid(&pending[i], key, checkpoint);

	LWLockAcquire(shared_notes->lock, LW_SHARED);
	for (i = 0; i < CQRS_IDLE_NOTES; i++)
	{
		if (same_row(&shared_notes->notes[i], MyDatabaseId, key))
		{
			through = through_if_valid(&shared_notes->notes[i], key, checkpoint);
			break;
		}
	}
	LWLockRelease(shared_notes->lock);
	return through;
}

static void
publish_pending(void)
{
	int			i,
				j;

	LWLockAcquire(shared_notes->lock, LW_EXCLUSIVE);
	for (i = 0; i < npending; i++)
	{
		IdleNote   *note = &pending[i];
		IdleNote   *slot = NULL;
		IdleNote   *free_slot = NULL;

		for (j = 0; j < CQRS_IDLE_NOTES && slot == NULL; j++)
		{
			IdleNote   *candidate = &shared_notes->notes[j];

			if (candidate->database == InvalidOid)
			{
				if (free_slot == NULL)
					free_slot = candidate;
			}
			else if (candidate->database == note->database &&
					 candidate->registered_at == note->registered_at &&
					 strcmp(candidate->name, note->name) == 0)
				slot = candidate;
		}
		if (slot != NULL && slot->checkpoint == note->checkpoint &&
			slot->types_hash == note->types_hash &&
			slot->through > note->through)
			continue;			/* another session read further */
		if (slot == NULL)
			slot = free_slot;
		if (slot == NULL)
		{
			slot = &shared_notes->notes[shared_notes->next_victim];
			shared_notes->next_victim =
				(shared_notes->next_victim + 1) % CQRS_IDLE_NOTES;
		}
		*slot = *note;
	}
	LWLockRelease(shared_notes->lock);
}

static void
idle_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (npending > 0)
				publish_pending();
			npending = 0;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			npending = 0;
			break;
		default:
			break;
	}
}

/*
 * A rolled-back subtransaction may have numbered the events a note
 * covers; forget all of this transaction's notes (they are only an
 * optimisation).
 */
static void
idle_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		npending = 0;
}

bool
cqrs_idle_note(const CqrsIdleKey *key, int64 checkpoint, int64 through)
{
	IdleNote   *note = NULL;
	int			i;

	if (shared_notes == NULL || strlen(key->name) >= NAMEDATALEN)
		return false;
	if (!callbacks_registered)
	{
		RegisterXactCallback(idle_xact_callback, NULL);
		RegisterSubXactCallback(idle_subxact_callback, NULL);
		callbacks_registered = true;
	}

	for (i = 0; i < npending && note == NULL; i++)
		if (same_row(&pending[i], MyDatabaseId, key))
			note = &pending[i];
	if (note == NULL)
	{
		if (npending == CQRS_IDLE_NOTES)
			return false;
		note = &pending[npending++];
	}
	note->database = MyDatabaseId;
	note->registered_at = key->registered_at;
	note->types_hash = key->types_hash;
	note->checkpoint = checkpoint;
	note->through = through;
	strlcpy(note->name, key->name, NAMEDATALEN);
	return true;
}

/*
 * cqrs.projection_position(p cqrs.projections) returns bigint: how far a
 * running projection has got, counting the events after its saved
 * checkpoint that the runner found it has nothing to do for; otherwise
 * its saved checkpoint.
 */
Datum
cqrs_projection_position(PG_FUNCTION_ARGS)
{
	HeapTupleHeader row = PG_GETARG_HEAPTUPLEHEADER(0);
	bool		isnull;
	Datum		value;
	int64		checkpoint;
	CqrsIdleKey key;
	Datum	   *elems;
	bool	   *elemnulls;
	char	  **types;
	int			ntypes;
	int			i;

	value = GetAttributeByName(row, "position", &isnull);
	if (isnull)
		PG_RETURN_NULL();
	checkpoint = DatumGetInt64(value);

	value = GetAttributeByName(row, "state", &isnull);
	if (isnull || strcmp(TextDatumGetCString(value), "running") != 0)
		PG_RETURN_INT64(checkpoint);
	(void) GetAttributeByName(row, "rebuild_of", &isnull);
	if (!isnull)
		PG_RETURN_INT64(checkpoint);
	value = GetAttributeByName(row, "event_types", &isnull);
	if (isnull)
		PG_RETURN_INT64(checkpoint);	/* every event is its business */

	deconstruct_array(DatumGetArrayTypeP(value), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &elemnulls, &ntypes);
	types = palloc(sizeof(char *) * (ntypes + 1));
	for (i = 0; i < ntypes; i++)
		types[i] = elemnulls[i] ? "" : TextDatumGetCString(elems[i]);
	key.types_hash = cqrs_idle_types_hash(types, ntypes);

	value = GetAttributeByName(row, "name", &isnull);
	if (isnull)
		PG_RETURN_INT64(checkpoint);
	key.name = TextDatumGetCString(value);
	value = GetAttributeByName(row, "registered_at", &isnull);
	if (isnull)
		PG_RETURN_INT64(checkpoint);
	key.registered_at = DatumGetTimestampTz(value);

	PG_RETURN_INT64(cqrs_idle_through(&key, checkpoint));
}
