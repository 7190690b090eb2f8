/* heap.h - the scheduler's waiting jobs by due time: a binary min-heap of
 * pointers whose items know their own place, so any item (not only the
 * top) is removed or re-ordered in O(log n).
 *
 * The heap holds no data of its own beyond the pointers: the caller gives
 * the order (less) and where an item keeps its index (pos, HEAP_NONE while
 * it is in no heap; set it to HEAP_NONE before the first push). Equal items
 * come out in no particular order: less must break ties itself (the
 * scheduler orders by due time, then by job name, so the order is total). */
#ifndef BACKY_SCHED_HEAP_H
#define BACKY_SCHED_HEAP_H

#include <stddef.h>
#include <stdint.h>

#define HEAP_NONE SIZE_MAX

struct heap {
    void **v;
    size_t n, cap;
    int (*less)(const void *a, const void *b);   /* a comes out before b */
    size_t *(*pos)(void *item);                  /* the item's index field */
};

#define HEAP_INIT(less_fn, pos_fn) { .less = (less_fn), .pos = (pos_fn) }

/* Add an item that is in no heap. */
void heap_push(struct heap *h, void *item);
/* Take an item out wherever it is; nothing when it is in no heap. */
void heap_remove(struct heap *h, void *item);
/* The first item, NULL when the heap is empty. */
void *heap_top(const struct heap *h);
/* Remove and return the first item, NULL when the heap is empty. */
void *heap_pop(struct heap *h);
/* Free the array (the items are the caller's). */
void heap_free(struct heap *h);

#endif
