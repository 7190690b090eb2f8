/* table.c - ASCII tables in the manual's layout. */
#include <stdlib.h>
#include <string.h>

#include "backy/table.h"
#include "backy/util.h"

struct table {
    size_t ncols, nrows;
    char **headers;
    enum table_align *align;
    char ***rows;
};

struct table *table_new(size_t ncols, const char *const *headers, const enum table_align *align)
{
    struct table *t = bk_calloc(1, sizeof *t);
    t->ncols = ncols;
    t->headers = bk_calloc(ncols, sizeof *t->headers);
    t->align = bk_calloc(ncols, sizeof *t->align);
    for (size_t i = 0; i < ncols; i++) {
        t->headers[i] = bk_strdup(headers[i]);
        t->align[i] = align ? align[i] : TA_LEFT;
    }
    return t;
}

void table_add_row(struct table *t, const char *const *cells)
{
    t->rows = bk_realloc(t->rows, (t->nrows + 1) * sizeof *t->rows);
    char **r = bk_calloc(t->ncols, sizeof *r);
    for (size_t i = 0; i < t->ncols; i++)
        r[i] = bk_strdup(cells[i] ? cells[i] : "");
    t->rows[t->nrows++] = r;
}

struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = bk_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_rep(struct sbuf *b, char c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sb_add(b, &c, 1);
}

static void rule(struct sbuf *b, const size_t *w, size_t ncols)
{
    for (size_t i = 0; i < ncols; i++) {
        sb_add(b, "+", 1);
        sb_rep(b, '-', w[i] + 2);
    }
    sb_add(b, "+\n", 2);
}

static void line(struct sbuf *b, const size_t *w, const enum table_align *al, char **cells, size_t ncols)
{
    for (size_t i = 0; i < ncols; i++) {
        size_t l = strlen(cells[i]);
        sb_add(b, "| ", 2);
        if (al[i] == TA_RIGHT)
            sb_rep(b, ' ', w[i] - l);
        sb_add(b, cells[i], l);
        if (al[i] == TA_LEFT)
            sb_rep(b, ' ', w[i] - l);
        sb_add(b, " ", 1);
    }
    sb_add(b, "|\n", 2);
}

char *table_render(const struct table *t)
{
    size_t *w = bk_calloc(t->ncols, sizeof *w);
    for (size_t i = 0; i < t->ncols; i++) {
        w[i] = strlen(t->headers[i]);
        for (size_t r = 0; r < t->nrows; r++)
            if (strlen(t->rows[r][i]) > w[i])
                w[i] = strlen(t->rows[r][i]);
    }
    struct sbuf b = {0};
    rule(&b, w, t->ncols);
    line(&b, w, t->align, t->headers, t->ncols); /* headers align like their column */
    rule(&b, w, t->ncols);
    for (size_t r = 0; r < t->nrows; r++)
        line(&b, w, t->align, t->rows[r], t->ncols);
    rule(&b, w, t->ncols);
    free(w);
    return b.p;
}

void table_print(const struct table *t, FILE *f)
{
    char *s = table_render(t);
    fputs(s, f);
    free(s);
}

void table_free(struct table *t)
{
    if (!t)
        return;
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t i = 0; i < t->ncols; i++)
            free(t->rows[r][i]);
        free(t->rows[r]);
    }
    for (size_t i = 0; i < t->ncols; i++)
        free(t->headers[i]);
    free(t->headers);
    free(t->align);
    free(t->rows);
    free(t);
}
