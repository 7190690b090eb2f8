/* test_sched_heap.c - the scheduler's heap of waiting jobs (heap.h):
 * items come out in order, one removed from the middle leaves a valid
 * heap with every item's index right, ties follow the caller's order. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../cmd/backy-sched/heap.h"
#include "tap.h"

struct item {
    int64_t due;
    char name[16];
    size_t idx;
};

/* the scheduler's order: due time, then name */
static int item_less(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    if (x->due != y->due)
        return x->due < y->due;
    return strcmp(x->name, y->name) < 0;
}

static size_t *item_pos(void *p)
{
    return &((struct item *)p)->idx;
}

/* heap order and every item's index, checked over the whole array */
static int valid(const struct heap *h)
{
    for (size_t i = 0; i < h->n; i++) {
        const struct item *it = h->v[i];
        if (it->idx != i)
            return 0;
        if (i > 0 && item_less(it, h->v[(i - 1) / 2]))
            return 0;
    }
    return 1;
}

static void mk(struct item *it, int64_t due, const char *name)
{
    it->due = due;
    snprintf(it->name, sizeof it->name, "%s", name);
    it->idx = HEAP_NONE;
}

int main(void)
{
    enum { N = 1000 };
    static struct item items[N];
    struct heap h = HEAP_INIT(item_less, item_pos);
    char name[16];

    tap_ok(heap_top(&h) == NULL && heap_pop(&h) == NULL, "empty heap: no top, pop gives NULL");

    /* ordering: pseudo-random due times come out sorted */
    srand(42);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "job%04d", i);
        mk(&items[i], rand() % 5000, name);
        heap_push(&h, &items[i]);
    }
    tap_ok(h.n == N && valid(&h), "1000 pushes: heap order and indexes valid");
    int sorted = 1, allout = 1;
    const struct item *prev = NULL;
    for (int i = 0; i < N; i++) {
        struct item *it = heap_pop(&h);
        if (!it || it->idx != HEAP_NONE) {
            allout = 0;
            break;
        }
        if (prev && item_less(it, prev))
            sorted = 0;
        prev = it;
    }
    tap_ok(allout && h.n == 0, "1000 pops empty the heap; each popped item is marked out");
    tap_ok(sorted, "pops come out by due time, then name");

    /* remove from the middle */
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "m%03d", i);
        mk(&items[i], (i * 37) % 100, name);
        heap_push(&h, &items[i]);
    }
    int ok = 1;
    for (int i = 0; i < 100; i += 3) {
        heap_remove(&h, &items[i]);
        if (items[i].idx != HEAP_NONE || !valid(&h))
            ok = 0;
    }
    tap_ok(ok && h.n == 66, "removing every third item (top, middle, leaves) keeps the heap valid");
    heap_remove(&h, &items[0]);
    tap_ok(h.n == 66 && valid(&h), "removing an item that is in no heap changes nothing");
    int none_removed = 1;
    int64_t last_due = -1;
    size_t count = 0;
    for (struct item *it; (it = heap_pop(&h));) {
        int idx = (int)(it - items);
        if (idx % 3 == 0)
            none_removed = 0;
        if (it->due < last_due)
            none_removed = 0;
        last_due = it->due;
        count++;
    }
    tap_ok(none_removed && count == 66, "the rest come out in order, without the removed ones");

    /* a removed item changes its key and goes back in (the rescan's re-plan) */
    mk(&items[0], 50, "a");
    mk(&items[1], 60, "b");
    mk(&items[2], 70, "c");
    for (int i = 0; i < 3; i++)
        heap_push(&h, &items[i]);
    heap_remove(&h, &items[2]);
    items[2].due = 10;
    heap_push(&h, &items[2]);
    tap_ok(heap_top(&h) == &items[2] && valid(&h), "re-pushed with an earlier due time: on top");
    heap_remove(&h, &items[2]);
    items[2].due = 90;
    heap_push(&h, &items[2]);
    tap_ok(heap_pop(&h) == &items[0] && heap_pop(&h) == &items[1] && heap_pop(&h) == &items[2],
           "re-pushed with a later due time: last");

    /* ties: equal due times come out by name, whatever the push order */
    const char *names[] = { "delta", "alpha", "echo", "charlie", "bravo" };
    for (int i = 0; i < 5; i++) {
        mk(&items[i], 100, names[i]);
        heap_push(&h, &items[i]);
    }
    mk(&items[5], 99, "zulu");
    heap_push(&h, &items[5]);
    const char *want[] = { "zulu", "alpha", "bravo", "charlie", "delta", "echo" };
    int ties = 1;
    for (int i = 0; i < 6; i++) {
        struct item *it = heap_pop(&h);
        if (!it || strcmp(it->name, want[i]))
            ties = 0;
    }
    tap_ok(ties, "equal due times come out by name; an earlier one before them");

    /* ties removed from the middle */
    for (int i = 0; i < 5; i++) {
        mk(&items[i], 100, names[i]);
        heap_push(&h, &items[i]);
    }
    heap_remove(&h, &items[3]);     /* charlie */
    const char *want2[] = { "alpha", "bravo", "delta", "echo" };
    ties = valid(&h);
    for (int i = 0; i < 4; i++) {
        struct item *it = heap_pop(&h);
        if (!it || strcmp(it->name, want2[i]))
            ties = 0;
    }
    tap_ok(ties && heap_top(&h) == NULL, "a tie removed from the middle: the others keep their order");

    heap_free(&h);
    tap_ok(h.v == NULL && h.n == 0, "heap_free leaves an empty heap");
    return tap_done();
}
