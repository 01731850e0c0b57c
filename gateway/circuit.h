/* circuit.h -- a subscriber's circuit breaker as a pure state machine: the clock is passed
 * in (a monotonic ms value), nothing is read or written outside the struct.
 *
 * Closed: attempts run freely; failure_threshold consecutive failed attempts open it.
 * Open: no attempt starts until open_until. Then half-open: exactly one attempt (the
 * probe) runs alone; its success closes the circuit, its failure opens it again for twice
 * the last period, up to max_open_ms. Outcomes of attempts that started before the circuit
 * opened change nothing while it is open or half-open. A 410 counts neither way. */
#ifndef HOOKGATE_CIRCUIT_H
#define HOOKGATE_CIRCUIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

typedef enum { CIRCUIT_CLOSED, CIRCUIT_OPEN, CIRCUIT_HALF_OPEN } circuit_state_t;

typedef struct {
    circuit_state_t state;
    uint32_t failures;    /* consecutive failed attempts while closed */
    uint64_t open_for_ms; /* length of the current (or last) open period */
    int64_t open_until;   /* OPEN: when the half-open probe may start */
    bool probing;         /* HALF_OPEN: the probe is running */
} circuit_t;

typedef enum { CIRCUIT_SUCCESS, CIRCUIT_FAILURE, CIRCUIT_NEUTRAL } circuit_result_t;

/* What an outcome did to the circuit, for the log. */
typedef enum { CIRCUIT_UNCHANGED, CIRCUIT_OPENED, CIRCUIT_CLOSED_AGAIN } circuit_change_t;

/* Zero-initialised is closed. */

/* How many attempts may start at now, running being the subscriber's attempts under way:
 * SIZE_MAX when closed or when the breaker is off (which also resets the circuit), 0 while
 * open or while the probe runs, 1 for the probe (an open circuit whose period is over
 * becomes half-open here; the probe waits until nothing else is running). */
size_t circuit_allowance(circuit_t *c, const cfg_breaker_t *b, int64_t now, size_t running);
/* Records that an attempt started; returns true when it is the half-open probe. */
bool circuit_started(circuit_t *c);
/* Records the outcome of an attempt (probe: what circuit_started said) that ended at now. */
circuit_change_t circuit_record(circuit_t *c, const cfg_breaker_t *b, bool probe,
                                circuit_result_t r, int64_t now);
const char *circuit_state_name(circuit_state_t s);

#endif
