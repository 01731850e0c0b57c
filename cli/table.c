/* table.c -- plain-text tables for stdout: columns padded to their widest cell. */
#include "cli/table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/field.h"
#include "core/xalloc.h"

void table_row(table_t *t, char **row)
{
    t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));
    memcpy(t->cells + t->nrows * t->ncols, row, t->ncols * sizeof(char *));
    t->nrows++;
}

size_t table_from(table_t *t, const json_doc_t *doc, const char *key, const char *const *fields)
{
    int arr = json_object_get(doc, 0, key, strlen(key));
    if (arr < 0 || doc->tok[arr].type != JSMN_ARRAY) return 0;
    char **row = xcalloc(t->ncols, sizeof(char *));
    for (int i = 0, e = arr + 1; i < doc->tok[arr].size; i++, e = json_skip(doc, e)) {
        for (size_t c = 0; c < t->ncols; c++)
            row[c] = field_text(doc, e, fields[c]);
        table_row(t, row);
    }
    free(row);
    return (size_t)doc->tok[arr].size;
}

void table_print(table_t *t)
{
    size_t *w = xcalloc(t->ncols, sizeof(size_t));
    for (size_t c = 0; c < t->ncols; c++) {
        w[c] = strlen(t->head[c]);
        for (size_t r = 0; r < t->nrows; r++) {
            size_t n = strlen(t->cells[r * t->ncols + c]);
            if (n > w[c]) w[c] = n;
        }
    }
    for (size_t r = 0; r <= t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = r == 0 ? t->head[c] : t->cells[(r - 1) * t->ncols + c];
            if (c + 1 < t->ncols)
                printf("%-*s  ", (int)w[c], s);
            else
                printf("%s\n", s);
        }
    }
    free(w);
    table_free(t);
}

void table_free(table_t *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = 0;
}
