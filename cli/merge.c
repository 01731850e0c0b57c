/* merge.c -- the cluster view's arithmetic: composite cursors, qualified ids, merged
 * dead-letter pages and summed subscribers. */
#include "cli/merge.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/xalloc.h"

int merge_cursor_parse(const char *s, size_t nnodes, merge_pos_t *pos)
{
    size_t parts = 1;
    for (const char *p = s; (p = strchr(p, '~')); p++)
        parts++;
    for (size_t i = 0; i < nnodes; i++)
        pos[i] = (merge_pos_t){0};
    if (parts != nnodes) return -EINVAL;
    const char *p = s;
    for (size_t i = 0; i < nnodes; i++) {
        const char *end = strchr(p, '~');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 1 && p[0] == '-')
            pos[i].done = true;
        else if (len > 0)
            pos[i].at = xmemdup0(p, len);
        p += len + 1;
    }
    return 0;
}

char *merge_cursor_format(const merge_pos_t *pos, size_t nnodes)
{
    core_buf_t b = {0};
    bool more = false;
    for (size_t i = 0; i < nnodes; i++) {
        const char *c = pos[i].done ? "-" : pos[i].at ? pos[i].at : "";
        if (strcmp(c, "-") != 0) more = true;
        core_buf_printf(&b, "%s%s", i ? "~" : "", c);
    }
    if (more) return core_buf_cstr(&b);
    core_buf_free(&b);
    return NULL;
}

void merge_pos_free(merge_pos_t *pos, size_t nnodes)
{
    for (size_t i = 0; i < nnodes; i++) {
        free(pos[i].at);
        pos[i].at = NULL;
    }
}

int merge_id_parse(const char *id, size_t nnodes, size_t *node, const char **local)
{
    const char *colon = strchr(id, ':');
    if (!colon) {
        if (nnodes > 1) return -EDESTADDRREQ;
        *node = 0;
        *local = id;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long n = strtoul(id, &end, 10);
    if (end != colon || end == id || errno || n < 1 || n > nnodes || !colon[1]) return -EINVAL;
    *node = n - 1;
    *local = colon + 1;
    return 0;
}

char *merge_id_format(size_t node, const char *local)
{
    core_buf_t b = {0};
    core_buf_printf(&b, "%zu:%s", node + 1, local);
    return core_buf_cstr(&b);
}

static int item_cmp(const void *a, const void *b)
{
    const merge_item_t *x = a, *y = b;
    int c = strcmp(x->dead_at, y->dead_at);
    if (c) return c;
    if (x->node != y->node) return x->node < y->node ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

void merge_sort(merge_item_t *items, size_t n)
{
    if (n > 1) qsort(items, n, sizeof(*items), item_cmp);
}

size_t merge_select(const merge_page_t *pages, size_t npages, size_t limit, size_t *taken,
                    merge_item_t **shown)
{
    const char *bound = NULL;
    bool stalled = false;
    size_t nitems = 0;
    for (size_t i = 0; i < npages; i++) {
        taken[i] = 0;
        if (!pages[i].answered) continue;
        nitems += pages[i].nitems;
        if (!pages[i].more) continue;
        if (pages[i].nitems == 0) {
            stalled = true;
            continue;
        }
        const char *last = pages[i].dead_at[pages[i].nitems - 1];
        if (!bound || strcmp(last, bound) < 0) bound = last;
    }
    merge_item_t *items = xcalloc(nitems, sizeof(*items));
    size_t k = 0;
    for (size_t i = 0; i < npages; i++)
        for (size_t j = 0; pages[i].answered && j < pages[i].nitems; j++)
            items[k++] = (merge_item_t){i, j, pages[i].dead_at[j]};
    merge_sort(items, nitems);
    size_t n = 0;
    while (n < nitems && n < limit && !stalled && (!bound || strcmp(items[n].dead_at, bound) <= 0))
        taken[items[n++].node]++;
    *shown = items;
    return n;
}

void merge_subs_init(merge_subs_t *subs, size_t nnodes)
{
    *subs = (merge_subs_t){.nnodes = nnodes};
}

static merge_sub_t *sub_find(merge_subs_t *subs, const char *name)
{
    for (size_t i = 0; i < subs->n; i++)
        if (strcmp(subs->v[i].name, name) == 0) return &subs->v[i];
    subs->v = xrealloc(subs->v, (subs->n + 1) * sizeof(*subs->v));
    merge_sub_t *s = &subs->v[subs->n++];
    *s = (merge_sub_t){.name = xstrdup(name)};
    s->ref = xmalloc(subs->nnodes * sizeof(int));
    for (size_t i = 0; i < subs->nnodes; i++)
        s->ref[i] = -1;
    return s;
}

void merge_subs_add(merge_subs_t *subs, size_t node, const merge_sub_row_t *row, int ref)
{
    merge_sub_t *s = sub_find(subs, row->name);
    s->ref[node] = ref;
    s->nodes++;
    for (size_t c = 0; c < MERGE_SUB_NCOUNTERS; c++)
        s->counters[c] += row->counters[c];
    const char *v = row->last_success_at;
    if (!s->last_success || (strcmp(v, "-") != 0 && (strcmp(s->last_success, "-") == 0 ||
                                                     strcmp(v, s->last_success) > 0))) {
        free(s->last_success);
        s->last_success = xstrdup(v);
    }
    if (!s->url)
        s->url = xstrdup(row->url);
    else if (strcmp(row->url, s->url) != 0)
        s->url_differs = true;
    v = row->last_error;
    if (!s->last_error || (strcmp(s->last_error, "-") == 0 && strcmp(v, "-") != 0)) {
        free(s->last_error);
        core_buf_t b = {0};
        /* The node is named: each node has its own last error. */
        if (strcmp(v, "-") != 0)
            core_buf_printf(&b, "%zu: %s", node + 1, v);
        else
            core_buf_put(&b, "-", 1);
        s->last_error = core_buf_cstr(&b);
    }
    if (row->paused >= 0) s->paused_known++;
    if (row->paused == 1) s->paused++;
    if (row->circuit) {
        s->circuit_known++;
        if (strcmp(row->circuit, "closed") == 0) s->circuit_closed++;
        if (strcmp(row->circuit, "open") == 0) s->circuit_open++;
        if (strcmp(row->circuit, "half_open") == 0) s->circuit_half_open++;
    }
}

void merge_subs_free(merge_subs_t *subs)
{
    for (size_t i = 0; i < subs->n; i++) {
        free(subs->v[i].name);
        free(subs->v[i].last_success);
        free(subs->v[i].url);
        free(subs->v[i].last_error);
        free(subs->v[i].ref);
    }
    free(subs->v);
    *subs = (merge_subs_t){0};
}

char *merge_sub_paused(const merge_sub_t *s)
{
    if (s->paused_known < s->nodes) return xstrdup("-");
    if (s->paused == 0) return xstrdup("no");
    if (s->paused == s->nodes) return xstrdup("yes");
    core_buf_t b = {0};
    core_buf_printf(&b, "%zu/%zu", s->paused, s->nodes);
    return core_buf_cstr(&b);
}

char *merge_sub_circuit(const merge_sub_t *s)
{
    if (s->circuit_known < s->nodes) return xstrdup("-");
    if (s->circuit_closed == s->nodes) return xstrdup("closed");
    if (s->circuit_open == s->nodes) return xstrdup("open");
    if (s->circuit_half_open == s->nodes) return xstrdup("half_open");
    core_buf_t b = {0};
    if (s->circuit_open) core_buf_printf(&b, "open:%zu/%zu", s->circuit_open, s->nodes);
    if (s->circuit_half_open)
        core_buf_printf(&b, "%shalf_open:%zu/%zu", b.len ? "," : "", s->circuit_half_open,
                        s->nodes);
    return core_buf_cstr(&b);
}
