/* table.h - ASCII tables in the manual's layout:
 *   +------+-----+
 *   | Date | ID  |
 *   +------+-----+
 *   | ...  | ... |
 *   +------+-----+
 * Columns are left or right aligned; cells are copied. */
#ifndef BACKY_TABLE_H
#define BACKY_TABLE_H

#include <stdio.h>
#include <stddef.h>

struct table;
enum table_align { TA_LEFT, TA_RIGHT };

struct table *table_new(size_t ncols, const char *const *headers, const enum table_align *align);
void table_add_row(struct table *t, const char *const *cells);
/* Render into a malloc'd string (lines end in "\n"). */
char *table_render(const struct table *t);
void table_print(const struct table *t, FILE *f);
void table_free(struct table *t);

#endif
