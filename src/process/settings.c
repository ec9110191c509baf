/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The registration timings of the reference as GUCs, with the
 *	  reference values as defaults:
 *
 *	  cqrs_conf.reservation_window     the Order's ReservationAutoExpiration
 *	                                   (OrderPlaced + 15 min)
 *	  cqrs_conf.pm_expiration_buffer   BufferTimeBeforeReleasingSeatsAfter-
 *	                                   Expiration: ExpireRegistrationProcess
 *	                                   falls due at the reservation's expiry
 *	                                   + 14 min (about 29 min after placing)
 *
 *	  Both are read when a command is handled (PGC_SUSET: a test or the DBA
 *	  may shorten them; the worker sees them after a reload).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "process/process.h"

int			cqrs_reservation_window_ms = 15 * 60 * 1000;
int			cqrs_pm_expiration_buffer_ms = 14 * 60 * 1000;

void
cqrs_process_define_settings(void)
{
	DefineCustomIntVariable("cqrs_conf.reservation_window",
							"How long an order's seats are reserved (the Order's ReservationAutoExpiration).",
							"The reference's 15 minutes; OrderPlaced carries placement time + this.",
							&cqrs_reservation_window_ms,
							15 * 60 * 1000, 1, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("cqrs_conf.pm_expiration_buffer",
							"How long after a reservation's expiry the process manager releases its seats.",
							"The reference's 14 minutes: ExpireRegistrationProcess falls due at the expiry + this.",
							&cqrs_pm_expiration_buffer_ms,
							14 * 60 * 1000, 0, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
}
