/* table.h -- plain-text tables for stdout: columns padded to their widest cell. */
#ifndef HOOKGATE_CLI_TABLE_H
#define HOOKGATE_CLI_TABLE_H

#include <stddef.h>

#include "config/json.h"

/* Start with {.ncols = N, .head = headings}; the table owns the cells given to it. */
typedef struct {
    size_t ncols;
    const char *const *head; /* ncols headings, borrowed */
    char **cells;            /* row-major, malloc'd strings, owned */
    size_t nrows;
} table_t;

/* Appends a row: takes row[0..ncols-1] (malloc'd strings); the array itself stays the
 * caller's. */
void table_row(table_t *t, char **row);

/* Appends a row for each object of the array at key of doc's root object, its cells the
 * members named by fields (shown as by field_text). Returns the number of rows added; 0 when
 * there is no such array. */
size_t table_from(table_t *t, const json_doc_t *doc, const char *key, const char *const *fields);

/* Prints the headings and rows to stdout, every column but the last padded, then frees the
 * cells: t is empty again. */
void table_print(table_t *t);

/* Frees the cells without printing: t is empty again. */
void table_free(table_t *t);

#endif
