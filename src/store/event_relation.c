/*-------------------------------------------------------------------------
 *
 * event_relation.c
 *	  The OIDs of cqrs.events, of its primary key and of its work-list
 *	  index, and its column numbers, looked up once per session and
 *	  forgotten on any relcache invalidation of one of them (DROP EXTENSION and CREATE EXTENSION
 *	  again in the same session give new OIDs).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/inval.h"
#include "utils/lsyscache.h"

#include "store/event_relation.h"
#include "util/direct_write.h"

static const char *const column_names[EVCOL_COUNT] = {
	"global_position", "stream_id", "stream_type", "version", "event_type",
	"data", "metadata", "event_id", "recorded_at", "append_xid",
	"append_ordinal"
};

static CqrsEventRelation cached;
static bool callback_registered = false;

static void
forget_relation(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cached.relid ||
		relid == cached.pkey_relid || relid == cached.append_order_relid)
	{
		cached.relid = InvalidOid;
		cached.pkey_relid = InvalidOid;
		cached.append_order_relid = InvalidOid;
	}
}

const CqrsEventRelation *
cqrs_event_relation(void)
{
	Oid			events;
	Oid			pkey;
	Oid			append_order;

	if (OidIsValid(cached.relid))
		return &cached;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(forget_relation, (Datum) 0);
		callback_registered = true;
	}

	events = cqrs_relation_oid("events");
	pkey = cqrs_relation_oid("events_pkey");
	append_order = cqrs_relation_oid("events_append_order_idx");
	cqrs_column_numbers(events, "cqrs.events", column_names, EVCOL_COUNT,
						cached.attnum);
	cached.pkey_relid = pkey;
	cached.append_order_relid = append_order;
	cached.relid = events;
	return &cached;
}
