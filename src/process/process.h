/*-------------------------------------------------------------------------
 *
 * process.h
 *	  The registration process manager (domain.md section 3.7) and the
 *	  handlers that turn events into commands.  Their transitions are SQL
 *	  (sql/install/80_process_manager.sql), registered as projections, so
 *	  the process state, the commands they enqueue and the checkpoint
 *	  commit together.  The C side holds the timings (GUCs) and the
 *	  ExpireRegistrationProcess command type.  See docs/worker.md.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_PROCESS_H
#define CQRS_PROCESS_H

#include "postgres.h"

/* cqrs_conf.reservation_window (ms): the Order's 15-minute window */
extern int	cqrs_reservation_window_ms;

/* cqrs_conf.pm_expiration_buffer (ms): expiry at window + 14 minutes */
extern int	cqrs_pm_expiration_buffer_ms;

/* src/process/settings.c, called from _PG_init (via cqrs_domain_register) */
extern void cqrs_process_define_settings(void);

#endif							/* CQRS_PROCESS_H */
