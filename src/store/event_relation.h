/*-------------------------------------------------------------------------
 *
 * event_relation.h
 *	  Where cqrs.events lives: its OID, its primary key's and its work
 *	  list's (the index of events in append order), and the numbers of its
 *	  columns, for the code that reads and writes it directly.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_EVENT_RELATION_H
#define CQRS_EVENT_RELATION_H

#include "postgres.h"
#include "access/attnum.h"

/* The columns of cqrs.events, in the order of the install script. */
typedef enum CqrsEventColumn
{
	EVCOL_GLOBAL_POSITION,
	EVCOL_STREAM_ID,
	EVCOL_STREAM_TYPE,
	EVCOL_VERSION,
	EVCOL_EVENT_TYPE,
	EVCOL_DATA,
	EVCOL_METADATA,
	EVCOL_EVENT_ID,
	EVCOL_RECORDED_AT,
	EVCOL_APPEND_XID,
	EVCOL_APPEND_ORDINAL,
	EVCOL_COUNT
} CqrsEventColumn;

typedef struct CqrsEventRelation
{
	Oid			relid;			/* cqrs.events */
	Oid			pkey_relid;		/* cqrs.events_pkey (stream_id, version) */
	Oid			append_order_relid; /* cqrs.events_append_order_idx */
	AttrNumber	attnum[EVCOL_COUNT];
} CqrsEventRelation;

extern const CqrsEventRelation *cqrs_event_relation(void);

#endif							/* CQRS_EVENT_RELATION_H */
