/* test_cli_merge.c -- hookgate-admin's cluster arithmetic: composite cursors, qualified ids,
 * merged dead-letter pages and summed subscribers. */
#include "cli/merge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/check.h"

static void test_cursor_round_trip(void)
{
    merge_pos_t pos[3] = {{.at = "c1"}, {.done = true}, {.at = NULL}};
    char *s = merge_cursor_format(pos, 3);
    CHECK_STR(s, "c1~-~");
    merge_pos_t back[3];
    CHECK(merge_cursor_parse(s, 3, back) == 0);
    CHECK_STR(back[0].at, "c1");
    CHECK(!back[0].done);
    CHECK(back[1].done && back[1].at == NULL);
    CHECK(!back[2].done && back[2].at == NULL);
    char *again = merge_cursor_format(back, 3);
    CHECK_STR(again, s);
    merge_pos_free(back, 3);
    CHECK(back[0].at == NULL);
    free(again);
    free(s);

    /* Node cursors are opaque: anything but '~' passes through. */
    merge_pos_t odd[2] = {{.at = "eyJrIjoxfQ=="}, {.at = "a:b/c d"}};
    s = merge_cursor_format(odd, 2);
    CHECK_STR(s, "eyJrIjoxfQ==~a:b/c d");
    CHECK(merge_cursor_parse(s, 2, back) == 0);
    CHECK_STR(back[0].at, "eyJrIjoxfQ==");
    CHECK_STR(back[1].at, "a:b/c d");
    merge_pos_free(back, 2);
    free(s);

    /* Every node at its start is still a cursor (more to come); every node done is none. */
    merge_pos_t start[2] = {{0}, {0}};
    s = merge_cursor_format(start, 2);
    CHECK_STR(s, "~");
    free(s);
    merge_pos_t done[2] = {{.done = true}, {.done = true}};
    CHECK(merge_cursor_format(done, 2) == NULL);
    /* A node whose own cursor reads "-" counts as done, as it would parse back. */
    merge_pos_t dash[2] = {{.at = "-"}, {.done = true}};
    CHECK(merge_cursor_format(dash, 2) == NULL);
    merge_pos_t one[1] = {{.at = "x"}};
    s = merge_cursor_format(one, 1);
    CHECK_STR(s, "x");
    free(s);
}

static void test_cursor_malformed(void)
{
    const char *bad3[] = {"", "a", "a~b", "a~b~c~d", "~~~", "a~b~c~"};
    for (size_t i = 0; i < sizeof(bad3) / sizeof(bad3[0]); i++) {
        merge_pos_t pos[3] = {{.at = (char *)"stale"}, {.done = true}, {0}};
        int rc = merge_cursor_parse(bad3[i], 3, pos);
        CHECK(rc == -EINVAL);
        if (rc != -EINVAL) printf("#   accepted \"%s\"\n", bad3[i]);
        /* Left from the start with nothing to free. */
        CHECK(pos[0].at == NULL && !pos[0].done && pos[1].at == NULL && !pos[1].done);
    }
    merge_pos_t pos[2];
    CHECK(merge_cursor_parse("only", 2, pos) == -EINVAL);
    CHECK(merge_cursor_parse("a~b", 1, pos) == -EINVAL);
    CHECK(merge_cursor_parse("~", 2, pos) == 0);
    CHECK(pos[0].at == NULL && !pos[0].done && pos[1].at == NULL && !pos[1].done);
    CHECK(merge_cursor_parse("-~--", 2, pos) == 0);
    CHECK(pos[0].done);
    CHECK_STR(pos[1].at, "--");
    merge_pos_free(pos, 2);
}

static void test_qualified_ids(void)
{
    size_t node = 99;
    const char *local = NULL;
    CHECK(merge_id_parse("25", 1, &node, &local) == 0);
    CHECK(node == 0);
    CHECK_STR(local, "25");
    CHECK(merge_id_parse("1:25", 1, &node, &local) == 0);
    CHECK(node == 0);
    CHECK_STR(local, "25");
    CHECK(merge_id_parse("2:25", 3, &node, &local) == 0);
    CHECK(node == 1);
    CHECK_STR(local, "25");
    CHECK(merge_id_parse("3:7", 3, &node, &local) == 0);
    CHECK(node == 2);
    CHECK_STR(local, "7");
    /* Only the first colon separates the node. */
    CHECK(merge_id_parse("2:a:b", 2, &node, &local) == 0);
    CHECK(node == 1);
    CHECK_STR(local, "a:b");

    /* Several nodes: an id must name its node. */
    CHECK(merge_id_parse("25", 2, &node, &local) == -EDESTADDRREQ);

    const char *bad[] = {"0:25",  "4:25", ":25", "2:", "x:25", "2x:25", "99999999999999999999999:1",
                         "1.5:25"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        node = 99;
        int rc = merge_id_parse(bad[i], 3, &node, &local);
        CHECK(rc == -EINVAL);
        if (rc != -EINVAL) printf("#   accepted \"%s\"\n", bad[i]);
        CHECK(node == 99);
    }
    CHECK(merge_id_parse("2:25", 1, &node, &local) == -EINVAL);

    char *s = merge_id_format(1, "25");
    CHECK_STR(s, "2:25");
    CHECK(merge_id_parse(s, 2, &node, &local) == 0 && node == 1);
    free(s);
    s = merge_id_format(11, "");
    CHECK_STR(s, "12:");
    free(s);
}

/* The shown items as "node.index" joined by spaces. */
static void shown_str(char *out, size_t cap, const merge_item_t *it, size_t n)
{
    size_t at = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && at < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%zu.%zu", i ? " " : "", it[i].node,
                               it[i].index);
}

static void test_merge_order(void)
{
    char got[256];
    size_t taken[3];
    merge_item_t *shown;

    /* No node has more: everything, oldest first; a tie goes to the lower node, then to the
     * earlier place in the page. */
    const char *a[] = {"2026-01-01T00:00:01Z", "2026-01-01T00:00:03Z", "2026-01-01T00:00:03Z"};
    const char *b[] = {"2026-01-01T00:00:02Z", "2026-01-01T00:00:03Z"};
    merge_page_t pages[3] = {{true, a, 3, false}, {true, b, 2, false}, {true, NULL, 0, false}};
    size_t n = merge_select(pages, 3, 100, taken, &shown);
    CHECK(n == 5);
    shown_str(got, sizeof(got), shown, n);
    CHECK_STR(got, "0.0 1.0 0.1 0.2 1.1");
    CHECK(taken[0] == 3 && taken[1] == 2 && taken[2] == 0);
    free(shown);

    /* The limit cuts the merged order. */
    n = merge_select(pages, 3, 3, taken, &shown);
    CHECK(n == 3);
    shown_str(got, sizeof(got), shown, n);
    CHECK_STR(got, "0.0 1.0 0.1");
    CHECK(taken[0] == 2 && taken[1] == 1 && taken[2] == 0);
    free(shown);

    /* Node 1 has more pages: nothing newer than its last item may be shown yet, since its
     * next page could hold older ones than node 0's later items. Ties with the bound pass. */
    const char *c0[] = {"2026-01-01T00:00:01Z", "2026-01-01T00:00:05Z", "2026-01-01T00:00:09Z"};
    const char *c1[] = {"2026-01-01T00:00:02Z", "2026-01-01T00:00:05Z"};
    merge_page_t more[2] = {{true, c0, 3, false}, {true, c1, 2, true}};
    n = merge_select(more, 2, 100, taken, &shown);
    CHECK(n == 4);
    shown_str(got, sizeof(got), shown, n);
    CHECK_STR(got, "0.0 1.0 0.1 1.1");
    CHECK(taken[0] == 2 && taken[1] == 2);
    free(shown);

    /* Two nodes with more: the older of their last items bounds the page. */
    const char *d1[] = {"2026-01-01T00:00:04Z"};
    merge_page_t two[2] = {{true, c0, 3, true}, {true, d1, 1, true}};
    n = merge_select(two, 2, 100, taken, &shown);
    CHECK(n == 2);
    shown_str(got, sizeof(got), shown, n);
    CHECK_STR(got, "0.0 1.0");
    CHECK(taken[0] == 1 && taken[1] == 1);
    free(shown);

    /* A node with more that matched nothing in the stretch it scanned: nothing is shown. */
    merge_page_t stalled[2] = {{true, c0, 3, false}, {true, NULL, 0, true}};
    n = merge_select(stalled, 2, 100, taken, &shown);
    CHECK(n == 0);
    CHECK(taken[0] == 0 && taken[1] == 0);
    free(shown);

    /* A node that did not answer takes no part, whatever its page says. */
    merge_page_t down[2] = {{true, c0, 3, false}, {false, c1, 2, true}};
    n = merge_select(down, 2, 100, taken, &shown);
    CHECK(n == 3);
    CHECK(taken[0] == 3 && taken[1] == 0);
    free(shown);

    /* merge_sort alone, the order the re-asked pages are shown in. */
    merge_item_t items[] = {{1, 0, "b"}, {0, 1, "a"}, {1, 1, "a"}, {0, 0, "a"}};
    merge_sort(items, 4);
    shown_str(got, sizeof(got), items, 4);
    CHECK_STR(got, "0.0 0.1 1.1 1.0");
}

static merge_sub_row_t row(const char *name, long long pending, long long dead,
                           const char *last_success, const char *url, const char *last_error,
                           int paused, const char *circuit)
{
    return (merge_sub_row_t){.name = name,
                             .counters = {pending, 1, 10, 2, dead},
                             .last_success_at = last_success,
                             .url = url,
                             .last_error = last_error,
                             .paused = paused,
                             .circuit = circuit};
}

static void test_subscriber_sums(void)
{
    merge_subs_t subs;
    merge_subs_init(&subs, 3);
    merge_sub_row_t r;
    r = row("crm", 5, 1, "2026-01-01T00:00:05Z", "http://a/x", "-", 0, "closed");
    merge_subs_add(&subs, 0, &r, 11);
    r = row("billing", 1, 0, "-", "http://b/y", "-", 1, "open");
    merge_subs_add(&subs, 0, &r, 12);
    r = row("crm", 7, 2, "2026-01-01T00:00:09Z", "http://a/x", "HTTP 503", 1, "open");
    merge_subs_add(&subs, 1, &r, 21);
    r = row("crm", 0, 0, "-", "http://c/x", "timeout", 0, "half_open");
    merge_subs_add(&subs, 2, &r, 31);

    CHECK(subs.n == 2);
    CHECK_STR(subs.v[0].name, "crm");
    CHECK_STR(subs.v[1].name, "billing");
    const merge_sub_t *crm = &subs.v[0];
    CHECK(crm->nodes == 3);
    CHECK(crm->counters[0] == 12);
    CHECK(crm->counters[1] == 3);
    CHECK(crm->counters[2] == 30);
    CHECK(crm->counters[3] == 6);
    CHECK(crm->counters[4] == 3);
    CHECK_STR(crm->last_success, "2026-01-01T00:00:09Z");
    CHECK_STR(crm->url, "http://a/x");
    CHECK(crm->url_differs);
    /* The first node with an error names it. */
    CHECK_STR(crm->last_error, "2: HTTP 503");
    CHECK(crm->ref[0] == 11 && crm->ref[1] == 21 && crm->ref[2] == 31);
    char *s = merge_sub_paused(crm);
    CHECK_STR(s, "1/3");
    free(s);
    s = merge_sub_circuit(crm);
    CHECK_STR(s, "open:1/3,half_open:1/3");
    free(s);

    const merge_sub_t *billing = &subs.v[1];
    CHECK(billing->nodes == 1);
    CHECK(billing->counters[0] == 1);
    CHECK_STR(billing->last_success, "-");
    CHECK_STR(billing->last_error, "-");
    CHECK(!billing->url_differs);
    CHECK(billing->ref[0] == 12 && billing->ref[1] == -1 && billing->ref[2] == -1);
    s = merge_sub_paused(billing);
    CHECK_STR(s, "yes");
    free(s);
    s = merge_sub_circuit(billing);
    CHECK_STR(s, "open");
    free(s);
    merge_subs_free(&subs);
    CHECK(subs.n == 0 && subs.v == NULL);

    /* Agreement and a node that does not say. */
    merge_subs_init(&subs, 2);
    r = row("a", 1, 0, "-", "u", "-", 0, "closed");
    merge_subs_add(&subs, 0, &r, 0);
    merge_subs_add(&subs, 1, &r, 0);
    s = merge_sub_paused(&subs.v[0]);
    CHECK_STR(s, "no");
    free(s);
    s = merge_sub_circuit(&subs.v[0]);
    CHECK_STR(s, "closed");
    free(s);
    r = row("b", 1, 0, "-", "u", "-", -1, NULL);
    merge_subs_add(&subs, 0, &r, 1);
    r = row("b", 1, 0, "-", "u", "-", 1, "open");
    merge_subs_add(&subs, 1, &r, 1);
    s = merge_sub_paused(&subs.v[1]);
    CHECK_STR(s, "-");
    free(s);
    s = merge_sub_circuit(&subs.v[1]);
    CHECK_STR(s, "-");
    free(s);
    /* Counters that would overflow an int still sum. */
    r = row("c", 3000000000LL, 0, "-", "u", "-", 0, "closed");
    merge_subs_add(&subs, 0, &r, 2);
    merge_subs_add(&subs, 1, &r, 2);
    CHECK(subs.v[2].counters[0] == 6000000000LL);
    merge_subs_free(&subs);
}

int main(void)
{
    test_cursor_round_trip();
    test_cursor_malformed();
    test_qualified_ids();
    test_merge_order();
    test_subscriber_sums();
    return check_done();
}
