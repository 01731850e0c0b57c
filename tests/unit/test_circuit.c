/* test_circuit.c -- the circuit breaker's states, with the clock passed in. */
#include "gateway/circuit.h"
#include "tests/unit/check.h"

#include <stdint.h>

static const cfg_breaker_t on = {
    .enabled = true, .failure_threshold = 3, .open_ms = 100, .max_open_ms = 350};

static void fail_n(circuit_t *c, int n, int64_t now)
{
    for (int i = 0; i < n; i++)
        circuit_record(c, &on, false, CIRCUIT_FAILURE, now);
}

static void test_opens_after_threshold(void)
{
    circuit_t c = {0};
    CHECK(circuit_allowance(&c, &on, 0, 5) == SIZE_MAX);
    fail_n(&c, 2, 10);
    CHECK(c.state == CIRCUIT_CLOSED);
    /* A success resets the count; a 410 neither counts nor resets. */
    circuit_record(&c, &on, false, CIRCUIT_SUCCESS, 11);
    fail_n(&c, 2, 12);
    CHECK(circuit_record(&c, &on, false, CIRCUIT_NEUTRAL, 13) == CIRCUIT_UNCHANGED);
    CHECK(c.state == CIRCUIT_CLOSED);
    CHECK(circuit_record(&c, &on, false, CIRCUIT_FAILURE, 20) == CIRCUIT_OPENED);
    CHECK(c.state == CIRCUIT_OPEN && c.open_until == 120);
    CHECK(circuit_allowance(&c, &on, 119, 0) == 0);
    /* Attempts that started before it opened change nothing now. */
    CHECK(circuit_record(&c, &on, false, CIRCUIT_SUCCESS, 50) == CIRCUIT_UNCHANGED);
    CHECK(c.state == CIRCUIT_OPEN);
}

static void test_half_open_probe(void)
{
    circuit_t c = {0};
    fail_n(&c, 3, 0); /* open until 100 */
    /* The probe waits until nothing else runs, then goes alone. */
    CHECK(circuit_allowance(&c, &on, 100, 1) == 0);
    CHECK(c.state == CIRCUIT_HALF_OPEN);
    CHECK(circuit_allowance(&c, &on, 101, 0) == 1);
    CHECK(circuit_started(&c));
    CHECK(circuit_allowance(&c, &on, 102, 1) == 0);
    CHECK(!circuit_started(&c));
    /* A failed probe doubles the period: 200, then 350 (the cap), then 350. */
    CHECK(circuit_record(&c, &on, true, CIRCUIT_FAILURE, 110) == CIRCUIT_OPENED);
    CHECK(c.state == CIRCUIT_OPEN && c.open_until == 310);
    CHECK(circuit_allowance(&c, &on, 309, 0) == 0);
    CHECK(circuit_allowance(&c, &on, 310, 0) == 1 && circuit_started(&c));
    circuit_record(&c, &on, true, CIRCUIT_FAILURE, 310);
    CHECK(c.open_until == 660);
    CHECK(circuit_allowance(&c, &on, 660, 0) == 1 && circuit_started(&c));
    circuit_record(&c, &on, true, CIRCUIT_FAILURE, 700);
    CHECK(c.open_until == 1050);
    /* A 410 from the probe: another probe may go. */
    CHECK(circuit_allowance(&c, &on, 1050, 0) == 1 && circuit_started(&c));
    CHECK(circuit_record(&c, &on, true, CIRCUIT_NEUTRAL, 1051) == CIRCUIT_UNCHANGED);
    CHECK(circuit_allowance(&c, &on, 1052, 0) == 1 && circuit_started(&c));
    /* Success closes it and forgets the doubling. */
    CHECK(circuit_record(&c, &on, true, CIRCUIT_SUCCESS, 1060) == CIRCUIT_CLOSED_AGAIN);
    CHECK(c.state == CIRCUIT_CLOSED && circuit_allowance(&c, &on, 1061, 9) == SIZE_MAX);
    fail_n(&c, 3, 2000);
    CHECK(c.open_until == 2100);
}

static void test_off(void)
{
    cfg_breaker_t off = on;
    off.enabled = false;
    circuit_t c = {0};
    fail_n(&c, 3, 0);
    CHECK(c.state == CIRCUIT_OPEN);
    /* Turned off by a reload: closed at once, failures never open it. */
    CHECK(circuit_allowance(&c, &off, 1, 0) == SIZE_MAX && c.state == CIRCUIT_CLOSED);
    for (int i = 0; i < 10; i++)
        CHECK(circuit_record(&c, &off, false, CIRCUIT_FAILURE, 2) == CIRCUIT_UNCHANGED);
    CHECK(c.state == CIRCUIT_CLOSED);
    CHECK(!circuit_started(&c));
}

static void test_names(void)
{
    CHECK_STR(circuit_state_name(CIRCUIT_CLOSED), "closed");
    CHECK_STR(circuit_state_name(CIRCUIT_OPEN), "open");
    CHECK_STR(circuit_state_name(CIRCUIT_HALF_OPEN), "half_open");
}

int main(void)
{
    test_opens_after_threshold();
    test_half_open_probe();
    test_off();
    test_names();
    return check_done();
}
