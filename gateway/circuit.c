/* circuit.c -- a subscriber's circuit breaker (circuit.h). */
#include "gateway/circuit.h"

static void open_for(circuit_t *c, uint64_t ms, int64_t now)
{
    c->state = CIRCUIT_OPEN;
    c->open_for_ms = ms;
    c->open_until = now + (int64_t)ms;
    c->probing = false;
    c->failures = 0;
}

size_t circuit_allowance(circuit_t *c, const cfg_breaker_t *b, int64_t now, size_t running)
{
    if (!b->enabled) {
        *c = (circuit_t){0};
        return SIZE_MAX;
    }
    if (c->state == CIRCUIT_OPEN && now >= c->open_until) c->state = CIRCUIT_HALF_OPEN;
    switch (c->state) {
    case CIRCUIT_CLOSED: return SIZE_MAX;
    case CIRCUIT_OPEN: return 0;
    case CIRCUIT_HALF_OPEN: return c->probing || running > 0 ? 0 : 1;
    }
    return 0;
}

bool circuit_started(circuit_t *c)
{
    if (c->state != CIRCUIT_HALF_OPEN || c->probing) return false;
    c->probing = true;
    return true;
}

circuit_change_t circuit_record(circuit_t *c, const cfg_breaker_t *b, bool probe,
                                circuit_result_t r, int64_t now)
{
    if (!b->enabled || r == CIRCUIT_NEUTRAL) {
        if (probe) c->probing = false; /* another probe goes out */
        return CIRCUIT_UNCHANGED;
    }
    if (probe) {
        if (r == CIRCUIT_SUCCESS) {
            *c = (circuit_t){0};
            return CIRCUIT_CLOSED_AGAIN;
        }
        uint64_t next = c->open_for_ms > b->max_open_ms / 2 ? b->max_open_ms : c->open_for_ms * 2;
        open_for(c, next < b->open_ms ? b->open_ms : next, now);
        return CIRCUIT_OPENED;
    }
    if (c->state != CIRCUIT_CLOSED) return CIRCUIT_UNCHANGED; /* started before it opened */
    if (r == CIRCUIT_SUCCESS) {
        c->failures = 0;
        return CIRCUIT_UNCHANGED;
    }
    if (++c->failures < b->failure_threshold) return CIRCUIT_UNCHANGED;
    open_for(c, b->open_ms, now);
    return CIRCUIT_OPENED;
}

const char *circuit_state_name(circuit_state_t s)
{
    switch (s) {
    case CIRCUIT_OPEN: return "open";
    case CIRCUIT_HALF_OPEN: return "half_open";
    default: return "closed";
    }
}
