/*-------------------------------------------------------------------------
 *
 * numbered_types.c
 *	  The event types of the positions this process's sequencer numbered
 *	  lately, so that the projection pass that follows in the same process
 *	  need not read events that no running projection wants.
 *
 *	  The sequencer reads each row it numbers in place anyway; it records
 *	  the row's event type for a window of consecutive positions.  The
 *	  projection runner asks for the types of the positions it is about to
 *	  read (runner.c); when no running projection wants any of them, it
 *	  moves the checkpoints without reading the events.
 *
 *	  Only positions written in place are recorded: such a position is
 *	  never given to another event, even when the numbering transaction
 *	  aborts (the next sequencer adopts it: sequencer_number.c), and an
 *	  event's type never changes (the log is append-only).  Positions given
 *	  by the UPDATE statement are undone by an abort, so numbering by
 *	  statement forgets the window; a batch that does not continue the
 *	  window (another process numbered in between, or adopted a failed
 *	  batch) starts it anew.  The window holds at most WINDOW_POSITIONS
 *	  positions and CQRS_NUMBERED_TYPES_MAX distinct types; beyond either
 *	  it starts anew.  Positions outside it are simply read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "store/numbered_types.h"

#define WINDOW_POSITIONS 65536

/* Positions window_first .. window_first + window_count - 1. */
static int64 window_first = 0;
static int	window_count = 0;
static uint8 *window_types = NULL;	/* index into type_names, per position */

/* The distinct types named so far (TopMemoryContext). */
static char *type_names[CQRS_NUMBERED_TYPES_MAX];
static int	type_lengths[CQRS_NUMBERED_TYPES_MAX];
static int	ntypes = 0;

/*
 * The index of an event type in the window's names, added if new; -1 when
 * the names are full (the batch is then not recorded).
 */
int
cqrs_numbered_types_intern(text *event_type)
{
	const char *data = VARDATA_ANY(event_type);
	int			len = VARSIZE_ANY_EXHDR(event_type);
	int			i;

	for (i = 0; i < ntypes; i++)
		if (type_lengths[i] == len && memcmp(type_names[i], data, len) == 0)
			return i;
	if (ntypes == CQRS_NUMBERED_TYPES_MAX)
		return -1;
	type_names[ntypes] = MemoryContextAlloc(TopMemoryContext, len + 1);
	memcpy(type_names[ntypes], data, len);
	type_names[ntypes][len] = '\0';
	type_lengths[ntypes] = len;
	return ntypes++;
}

/* Forget the window and its names. */
void
cqrs_numbered_types_forget(void)
{
	int			i;

	for (i = 0; i < ntypes; i++)
		pfree(type_names[i]);
	ntypes = 0;
	window_count = 0;
}

/*
 * Record the types of count events numbered in place from first_position
 * on (type_ids from cqrs_numbered_types_intern, in position order).
 */
void
cqrs_numbered_types_record(int64 first_position, int count,
						   const int16 *type_ids)
{
	int			i;

	if (count <= 0)
		return;
	for (i = 0; i < count; i++)
		if (type_ids[i] < 0)
		{
			cqrs_numbered_types_forget();
			return;
		}
	if (count > WINDOW_POSITIONS)
	{
		cqrs_numbered_types_forget();
		return;
	}
	if (window_types == NULL)
		window_types = MemoryContextAlloc(TopMemoryContext, WINDOW_POSITIONS);

	/* Start anew unless the batch continues the window and fits. */
	if (window_count == 0 ||
		first_position != window_first + window_count ||
		window_count + count > WINDOW_POSITIONS)
	{
		window_first = first_position;
		window_count = 0;
	}
	for (i = 0; i < count; i++)
		window_types[window_count + i] = (uint8) type_ids[i];
	window_count += count;
}

/*
 * The types of the positions after .. up_to (after excluded), if the
 * window holds all of them: *type_ids[k] is the index in *names of the
 * type at position after + 1 + k.  The pointers stay valid until the
 * sequencer's next batch.
 */
bool
cqrs_numbered_types_lookup(int64 after, int64 up_to, const uint8 **type_ids,
						   const char *const **names, int *nnames)
{
	if (window_count == 0 || up_to <= after ||
		after + 1 < window_first || up_to > window_first + window_count - 1)
		return false;
	*type_ids = window_types + (after + 1 - window_first);
	*names = (const char *const *) type_names;
	*nnames = ntypes;
	return true;
}
