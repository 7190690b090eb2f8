/* schedule.c - due times, SLA and expiry; the rules are in schedule.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backy/schedule.h"

uint64_t sched_hash(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    /* FNV mixes the low bits poorly for short names; finish like splitmix64
     * so that "job1".."job9" do not land in neighbouring seconds. */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

int64_t sched_offset(const char *name, int64_t interval)
{
    if (interval <= 0)
        return 0;
    return (int64_t)(sched_hash(name) % (uint64_t)interval);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

int64_t sched_slot_after(int64_t t, int64_t interval, int64_t offset)
{
    int64_t k = floor_div(t - offset, interval) + 1;
    return k * interval + offset;
}

int64_t sched_tag_due(const char *job, int64_t interval, double last, int64_t now,
                      int catchup)
{
    if (last < 0)
        return now;
    /* first slot later than last + interval/2 (rounded down to a second) */
    int64_t base = (int64_t)last + interval / 2;
    int64_t due = sched_slot_after(base, interval, sched_offset(job, interval));
    int64_t aged = (int64_t)last + interval;
    if (catchup && aged < due && aged <= now)
        due = aged;
    return due;
}

void sched_next(const char *job, const struct bk_schedule *s, const double *last,
                int64_t now, int64_t not_before, int catchup, int64_t *when, uint64_t *mask)
{
    int64_t due[BK_SCHED_MAX_TAGS];
    int64_t w = INT64_MAX;
    size_t n = s->n < BK_SCHED_MAX_TAGS ? s->n : BK_SCHED_MAX_TAGS;

    for (size_t i = 0; i < n; i++) {
        due[i] = sched_tag_due(job, s->iv[i].interval, last[i], now, catchup);
        if (due[i] < w)
            w = due[i];
    }
    if (n == 0)
        w = INT64_MAX;
    if (w < not_before)
        w = not_before;
    int64_t cut = w > now ? w : now;
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (due[i] <= cut)
            m |= 1ULL << i;
    *when = w;
    *mask = m;
}

int64_t sched_min_interval(const struct bk_schedule *s)
{
    int64_t m = 0;
    for (size_t i = 0; i < s->n; i++)
        if (m == 0 || s->iv[i].interval < m)
            m = s->iv[i].interval;
    return m;
}

int64_t sched_retry_delay(int64_t first, long failures, int64_t cap)
{
    if (first < 1)
        first = 1;
    int64_t d = first;
    for (long i = 1; i < failures && (cap <= 0 || d < cap) && d < INT64_MAX / 2; i++)
        d *= 2;
    if (cap > 0 && d > cap)
        d = cap;
    return d;
}

int sched_sla_ok(double newest, int64_t min_interval, int64_t now)
{
    if (newest < 0)
        return 0;
    return (double)now - newest <= 1.5 * (double)min_interval;
}

void sched_mask_tags(const struct bk_schedule *s, uint64_t mask, char *buf, size_t len)
{
    size_t off = 0;
    if (len == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < s->n && i < BK_SCHED_MAX_TAGS; i++) {
        if (!(mask & (1ULL << i)))
            continue;
        int r = snprintf(buf + off, len - off, "%s%s", off ? "," : "", s->iv[i].tag);
        if (r < 0 || (size_t)r >= len - off) {
            buf[off] = '\0';
            return;
        }
        off += (size_t)r;
    }
}

static int has_tag(const struct bk_rev *r, const char *tag)
{
    for (size_t i = 0; i < r->ntags; i++)
        if (strcmp(r->tags[i], tag) == 0)
            return 1;
    return 0;
}

void sched_last_by_tag(const struct bk_schedule *s, const struct bk_rev *revs, size_t n,
                       int64_t now, double *last)
{
    for (size_t i = 0; i < s->n; i++) {
        last[i] = -1;
        for (size_t j = 0; j < n; j++) {
            const struct bk_rev *r = &revs[j];
            if (r->complete && !rev_in_future(r, (double)now) && has_tag(r, s->iv[i].tag) &&
                r->timestamp > last[i])
                last[i] = r->timestamp;
        }
    }
}

static void drop_tag(struct bk_rev *r, const char *tag)
{
    size_t k = 0;
    for (size_t i = 0; i < r->ntags; i++) {
        if (strcmp(r->tags[i], tag) == 0)
            free(r->tags[i]);
        else
            r->tags[k++] = r->tags[i];
    }
    r->ntags = k;
}

size_t sched_expire(const struct bk_schedule *s, struct bk_rev *revs, size_t n,
                    int64_t now, enum sched_expire_action *action)
{
    size_t changed = 0;
    unsigned char *touched = calloc(n ? n : 1, 1);
    if (!touched)
        return 0;
    for (size_t i = 0; i < n; i++)
        action[i] = EXP_KEEP;
    for (size_t t = 0; t < s->n; t++) {
        const struct bk_interval *iv = &s->iv[t];
        int64_t seen = 0;
        double horizon = (double)now - (double)iv->keep * (double)iv->interval;
        /* newest first: revs are oldest first */
        for (size_t j = n; j-- > 0;) {
            struct bk_rev *r = &revs[j];
            if (!r->complete || !has_tag(r, iv->tag) || rev_in_future(r, (double)now))
                continue;
            seen++;
            if (seen <= iv->keep || r->timestamp >= horizon)
                continue;
            drop_tag(r, iv->tag);
            touched[j] = 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!touched[i])
            continue;
        action[i] = revs[i].ntags == 0 ? EXP_DELETE : EXP_REWRITE;
        changed++;
    }
    free(touched);
    return changed;
}
