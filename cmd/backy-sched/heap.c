/* heap.c - binary min-heap with positions kept in the items; see heap.h. */
#include "heap.h"

#include <stdlib.h>

#include "backy/util.h"

static void heap_set(struct heap *h, size_t i, void *item)
{
    h->v[i] = item;
    *h->pos(item) = i;
}

static void heap_up(struct heap *h, size_t i)
{
    void *item = h->v[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!h->less(item, h->v[p]))
            break;
        heap_set(h, i, h->v[p]);
        i = p;
    }
    heap_set(h, i, item);
}

static void heap_down(struct heap *h, size_t i)
{
    void *item = h->v[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const void *best = item;
        if (l < h->n && h->less(h->v[l], best))
            m = l, best = h->v[l];
        if (r < h->n && h->less(h->v[r], best))
            m = r;
        if (m == i)
            break;
        heap_set(h, i, h->v[m]);
        i = m;
    }
    heap_set(h, i, item);
}

void heap_push(struct heap *h, void *item)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 16;
        h->v = bk_realloc(h->v, h->cap * sizeof *h->v);
    }
    h->v[h->n++] = item;
    heap_up(h, h->n - 1);
}

void heap_remove(struct heap *h, void *item)
{
    size_t i = *h->pos(item);
    if (i == HEAP_NONE)
        return;
    *h->pos(item) = HEAP_NONE;
    void *last = h->v[--h->n];
    if (i == h->n)
        return;
    heap_set(h, i, last);
    heap_up(h, i);
    heap_down(h, *h->pos(last));
}

void *heap_top(const struct heap *h)
{
    return h->n ? h->v[0] : NULL;
}

void *heap_pop(struct heap *h)
{
    void *top = heap_top(h);
    if (top)
        heap_remove(h, top);
    return top;
}

void heap_free(struct heap *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
