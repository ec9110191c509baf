/*-------------------------------------------------------------------------
 *
 * spi_plan.h
 *	  Prepare-once SPI plans kept for the life of the backend.
 *
 *-------------------------------------------------------------------------
 */
#ifndef CQRS_SPI_PLAN_H
#define CQRS_SPI_PLAN_H

#include "postgres.h"
#include "executor/spi.h"

extern SPIPlanPtr cqrs_spi_plan(SPIPlanPtr *slot, const char *sql,
								int nargs, Oid *argtypes);
extern void cqrs_spi_check(int rc, int expected, const char *what);

#endif							/* CQRS_SPI_PLAN_H */
