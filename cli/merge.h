/* merge.h -- the cluster view's arithmetic: the composite cursor of a merged dead-letter
 * walk, node-qualified dead-letter ids ("2:25"), choosing which items of the nodes' pages
 * to show oldest first, and subscriber rows summed over the nodes.
 *
 * Pure: no I/O, no clock; any thread. Nodes are numbered from 0 here and from 1 in the
 * text the operator sees. Out of memory aborts (core/xalloc.h). */
#ifndef HOOKGATE_CLI_MERGE_H
#define HOOKGATE_CLI_MERGE_H

#include <stdbool.h>
#include <stddef.h>

/* ---- composite cursor ----
 * The nodes' own cursors joined by '~' in --url order, each empty (from the start), "-"
 * (walked to the end) or the node's cursor. */

/* One node's place in a merged walk. */
typedef struct {
    char *at;  /* the node's own cursor, malloc'd; NULL from the start (or when done) */
    bool done; /* walked to the end */
} merge_pos_t;

/* Fills pos[0..nnodes-1] from the composite cursor s. Returns 0, or -EINVAL when s does not
 * have exactly nnodes parts (pos is then left all from the start, nothing to free). */
int merge_cursor_parse(const char *s, size_t nnodes, merge_pos_t *pos);

/* The composite cursor of pos[0..nnodes-1]: a malloc'd string, or NULL when every node is
 * walked to the end (there is no next page). A node at "-" counts as walked to the end. */
char *merge_cursor_format(const merge_pos_t *pos, size_t nnodes);

/* Frees each pos[i].at (not the array). */
void merge_pos_free(merge_pos_t *pos, size_t nnodes);

/* ---- qualified ids ---- */

/* Splits a dead-letter id into its node and the node's own id (*local points into id).
 * "25" is dead letter 25 of the only node; "2:25" is dead letter 25 of node 2 (index 1),
 * accepted for 1 <= 2 <= nnodes. Returns 0; -EDESTADDRREQ when id names no node while there
 * are several; -EINVAL when the node is not a number in range or the local id is empty. */
int merge_id_parse(const char *id, size_t nnodes, size_t *node, const char **local);

/* "<node + 1>:<local>", malloc'd. */
char *merge_id_format(size_t node, const char *local);

/* ---- merging dead-letter pages, oldest first ---- */

/* One item of a node's page: its node, its place in that page and its dead_at (borrowed). */
typedef struct {
    size_t node, index;
    const char *dead_at;
} merge_item_t;

/* One node's answer to a page request. */
typedef struct {
    bool answered;              /* false: the node takes no part in this page */
    const char *const *dead_at; /* the items' dead_at (RFC 3339 UTC), in page order */
    size_t nitems;
    bool more; /* the node gave a next cursor */
} merge_page_t;

/* Sorts items by dead_at, then node, then place in the page. */
void merge_sort(merge_item_t *items, size_t n);

/* Chooses the items of pages[0..npages-1] to show, at most limit, oldest first. An item is
 * shown only when no node that has more could still hold an older one: nothing newer than
 * the oldest last item of a node with more, and nothing at all while such a node answered
 * an empty page (it scanned a stretch without a match). Sets taken[i] to the number of node
 * i's items shown and *shown to a malloc'd array of them in merged order; returns how many. */
size_t merge_select(const merge_page_t *pages, size_t npages, size_t limit, size_t *taken,
                    merge_item_t **shown);

/* ---- subscribers summed over the nodes ---- */

enum { MERGE_SUB_NCOUNTERS = 5 };

/* One subscriber as one node reports it; strings are borrowed. */
typedef struct {
    const char *name;
    long long counters[MERGE_SUB_NCOUNTERS]; /* summed column by column */
    const char *last_success_at;             /* RFC 3339 UTC, or "-" */
    const char *url;
    const char *last_error; /* or "-" */
    int paused;             /* 1, 0, or -1 when not given */
    const char *circuit;    /* "closed", "open", "half_open"; NULL when not given */
} merge_sub_row_t;

/* One subscriber over the nodes. Strings are malloc'd and owned. */
typedef struct {
    char *name;
    long long counters[MERGE_SUB_NCOUNTERS];
    char *last_success; /* the latest, or "-" */
    char *url;          /* the first node's */
    char *last_error;   /* the first node's that has one, as "<node + 1>: <error>"; or "-" */
    bool url_differs;
    size_t nodes; /* nodes that have it */
    size_t paused, paused_known;
    size_t circuit_closed, circuit_open, circuit_half_open, circuit_known;
    int *ref; /* per node: the caller's handle on its row (a JSON token), -1 when none */
} merge_sub_t;

/* The subscribers seen so far, in the order first seen. */
typedef struct {
    merge_sub_t *v;
    size_t n;
    size_t nnodes;
} merge_subs_t;

void merge_subs_init(merge_subs_t *subs, size_t nnodes);
/* Adds node's row of a subscriber (found by name, else appended) and keeps ref for it. */
void merge_subs_add(merge_subs_t *subs, size_t node, const merge_sub_row_t *row, int ref);
void merge_subs_free(merge_subs_t *subs);

/* "yes"/"no" when every node says so, "k/n" when k of n are paused, "-" when a node did not
 * say. Malloc'd. */
char *merge_sub_paused(const merge_sub_t *s);

/* The circuit state when every node agrees, else e.g. "open:1/3,half_open:1/3"; "-" when a
 * node did not say. Malloc'd. */
char *merge_sub_circuit(const merge_sub_t *s);

#endif
