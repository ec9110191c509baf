/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Registers the conference domain's aggregates with the event store's
 *	  fold machinery (store/aggregate.h), once per backend at load time.
 *	  Stream types not registered here fold with the generic aggregate.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "cqrs_conf.h"
#include "domain/domain.h"
#include "process/process.h"
#include "store/aggregate.h"

void
cqrs_domain_register(void)
{
	static bool done = false;

	if (done)
		return;
	done = true;

	order_register();
	seats_availability_register();
	seat_assignments_register();
	payment_register();

	/* the process manager's timings (src/process/settings.c) */
	cqrs_process_define_settings();
}
