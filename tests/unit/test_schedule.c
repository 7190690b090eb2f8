/* test_schedule.c - schedule and expiry arithmetic with an injected clock. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backy/schedule.h"
#include "tap.h"


#define DAY 86400
#define WEEK (7 * DAY)
#define HOUR 3600

static struct bk_interval default_iv[] = {
    { "daily", DAY, 7 }, { "weekly", WEEK, 4 }, { "monthly", 30 * DAY, 3 },
};
static struct bk_schedule sdefault = { "default", default_iv, 3 };

static struct bk_rev mkrev(const char *id, double ts, const char *tags)
{
    struct bk_rev r;
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "%s", id);
    r.timestamp = ts;
    r.complete = 1;
    r.duration = 1;
    char *dup = strdup(tags), *save = NULL;
    r.tags = calloc(8, sizeof *r.tags);
    for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save))
        r.tags[r.ntags++] = strdup(t);
    free(dup);
    return r;
}

static void freerevs(struct bk_rev *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < r[i].ntags; j++)
            free(r[i].tags[j]);
        free(r[i].tags);
    }
}

static int revhas(const struct bk_rev *r, const char *tag)
{
    for (size_t i = 0; i < r->ntags; i++)
        if (!strcmp(r->tags[i], tag))
            return 1;
    return 0;
}

static void test_hash_and_slots(void)
{
    tap_ok(sched_hash("test01") == sched_hash("test01"), "hash is stable");
    tap_ok(sched_hash("test01") != sched_hash("test02"), "hash differs for different names");
    tap_ok(sched_offset("test01", DAY) == (int64_t)(sched_hash("test01") % DAY),
       "offset is hash mod interval");
    int64_t off = 1234;
    tap_ok(sched_slot_after(0, DAY, off) == off, "first slot after 0");
    tap_ok(sched_slot_after(off, DAY, off) == off + DAY, "slot strictly after a slot");
    tap_ok(sched_slot_after(off - 1, DAY, off) == off, "slot just before");
    tap_ok(sched_slot_after(1700000000, DAY, off) % DAY == off, "slot keeps the offset");
    /* the weekly offset reduced modulo a day is the daily offset */
    tap_ok(sched_offset("test03", WEEK) % DAY == sched_offset("test03", DAY),
       "weekly slots fall on daily slots");
}

static void test_due(void)
{
    const char *job = "test01";
    int64_t off = sched_offset(job, DAY);
    int64_t s = 1700000000 / DAY * DAY + off; /* a daily slot */
    double last[3] = { -1, -1, -1 };
    int64_t when;
    uint64_t mask;

    sched_next(job, &sdefault, last, s + 10, 0, 1, &when, &mask);
    tap_ok(when == s + 10 && mask == 7, "no revisions: all tags due at once");

    tap_ok(sched_tag_due(job, DAY, (double)s, s + 5, 0) == s + DAY,
       "daily: next slot one day after a backup on its slot");
    tap_ok(sched_tag_due(job, DAY, (double)s + 0.6 * DAY, s + DAY, 0) == s + 2 * DAY,
       "a late backup does not trigger another soon after");
    tap_ok(sched_tag_due(job, DAY, (double)s - 60, s, 0) == s + DAY,
       "a manual backup just before the slot moves the slot by a day");
    tap_ok(sched_tag_due(job, WEEK, (double)s, s + 1, 0) % DAY == off,
       "weekly due time lies on the daily grid");

    /* catch-up after a restart */
    int64_t now = s + (int64_t)(1.2 * DAY);
    tap_ok(sched_tag_due(job, DAY, (double)s, now, 1) <= now,
       "catch-up: a tag older than its interval (1.2x) runs at once");
    now = s + (int64_t)(0.9 * DAY);
    tap_ok(sched_tag_due(job, DAY, (double)s, now, 1) == s + DAY,
       "no catch-up: a tag younger than its interval waits for its slot");
    double late = (double)s + 0.6 * DAY;
    now = (int64_t)late + (int64_t)(1.1 * DAY);
    tap_ok(sched_tag_due(job, DAY, late, now, 1) <= now,
       "catch-up: off-slot revision older than its interval runs at once");
    tap_ok(sched_tag_due(job, DAY, late, now, 0) > now,
       "without catch-up the same revision waits for its slot");
    now = s + 10 * DAY;
    tap_ok(sched_tag_due(job, DAY, (double)s, now, 1) <= now,
       "catch-up: far beyond 1.5x (SLA broken) runs at once too");
    now = s + 10 * DAY;
    tap_ok(sched_tag_due(job, DAY, (double)s, now, 0) <= now,
       "a missed slot is due at once even without catch-up");

    /* combined tags */
    int64_t woff = sched_offset(job, WEEK);
    int64_t ws = 1700000000 / WEEK * WEEK + woff; /* a weekly slot, also daily */
    double l2[3] = { (double)ws - DAY, (double)ws - WEEK, (double)ws };
    sched_next(job, &sdefault, l2, ws - 100, 0, 0, &when, &mask);
    tap_ok(when == ws && mask == 3, "daily and weekly due at the same second run together");
    char tags[64];
    sched_mask_tags(&sdefault, mask, tags, sizeof tags);
    tap_ok(!strcmp(tags, "daily,weekly"), "tag names of a mask");
    double l3[3] = { (double)ws - DAY, (double)ws, (double)ws };
    sched_next(job, &sdefault, l3, ws - 100, 0, 0, &when, &mask);
    tap_ok(when == ws && mask == 1, "only daily when weekly ran recently");

    /* not_before after a failure */
    sched_next(job, &sdefault, last, s, s + 3600, 0, &when, &mask);
    tap_ok(when == s + 3600 && mask == 7, "not_before delays a failed job");

    /* sla */
    tap_ok(sched_sla_ok((double)s, DAY, s + DAY + DAY / 2), "SLA OK at 1.5x");
    tap_ok(!sched_sla_ok((double)s, DAY, s + DAY + DAY / 2 + 1), "SLA broken after 1.5x");
    tap_ok(!sched_sla_ok(-1, DAY, s), "SLA broken without any backup");
    tap_ok(sched_min_interval(&sdefault) == DAY, "smallest interval");
}

static void test_spread(void)
{
    /* 10000 names over 24 hourly buckets: each near 10000/24 */
    enum { N = 10000, B = 24 };
    int bucket[B] = { 0 };
    char name[32];
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "vm%05d", i);
        bucket[sched_offset(name, DAY) / HOUR]++;
    }
    int lo = N, hi = 0;
    for (int b = 0; b < B; b++) {
        if (bucket[b] < lo)
            lo = bucket[b];
        if (bucket[b] > hi)
            hi = bucket[b];
    }
    double exp = (double)N / B;
    printf("# spread over hours: min %d max %d expected %.0f\n", lo, hi, exp);
    tap_ok(lo > exp * 0.8 && hi < exp * 1.2, "job names spread roughly uniformly over a day");

    /* short similar names (test01..test09) must not clump in a 1h interval */
    int64_t o[9];
    for (int i = 0; i < 9; i++) {
        snprintf(name, sizeof name, "test0%d", i + 1);
        o[i] = sched_offset(name, HOUR);
    }
    int close_pairs = 0;
    for (int i = 0; i < 9; i++)
        for (int j = i + 1; j < 9; j++)
            if (llabs(o[i] - o[j]) < 10)
                close_pairs++;
    tap_ok(close_pairs == 0, "similar short names do not land on neighbouring seconds");
}

static void test_expire(void)
{
    int64_t now = 1700000000;
    struct bk_interval iv[] = { { "daily", DAY, 3 } };
    struct bk_schedule s = { "d", iv, 1 };
    struct bk_rev r[8];
    enum sched_expire_action act[8];
    /* 6 daily revisions, one per day, the newest now */
    for (int i = 0; i < 6; i++) {
        char id[8];
        snprintf(id, sizeof id, "r%d", i);
        r[i] = mkrev(id, (double)(now - (5 - i) * DAY), "daily");
    }
    size_t n = sched_expire(&s, r, 6, now, act);
    /* keep 3 newest (r3..r5); r0..r2 are older than 3 days? r2 is exactly 3d */
    tap_ok(act[0] == EXP_DELETE && act[1] == EXP_DELETE, "daily beyond keep and age: deleted");
    tap_ok(act[2] == EXP_KEEP, "beyond keep but not older than keep x interval: kept");
    tap_ok(act[3] == EXP_KEEP && act[4] == EXP_KEEP && act[5] == EXP_KEEP, "newest keep kept");
    tap_ok(n == 2, "two actions");
    freerevs(r, 6);

    /* ad-hoc tags and multi-tag revisions */
    r[0] = mkrev("a", (double)(now - 20 * DAY), "daily,manual");
    r[1] = mkrev("b", (double)(now - 19 * DAY), "daily,weekly");
    r[2] = mkrev("c", (double)(now - 18 * DAY), "adhoc");
    for (int i = 3; i < 8; i++) {
        char id[8];
        snprintf(id, sizeof id, "n%d", i);
        r[i] = mkrev(id, (double)(now - (7 - i) * DAY - 1), "daily");
    }
    struct bk_interval iv2[] = { { "daily", DAY, 3 }, { "weekly", WEEK, 4 } };
    struct bk_schedule s2 = { "dw", iv2, 2 };
    n = sched_expire(&s2, r, 8, now, act);
    tap_ok(act[0] == EXP_REWRITE && r[0].ntags == 1 && revhas(&r[0], "manual"),
       "unknown tag 'manual' survives; revision rewritten, not deleted");
    tap_ok(act[1] == EXP_REWRITE && r[1].ntags == 1 && revhas(&r[1], "weekly"),
       "weekly keeps a revision whose daily tag expired");
    tap_ok(act[2] == EXP_KEEP && r[2].ntags == 1, "ad-hoc only revision is never expired");
    tap_ok(act[3] == EXP_DELETE && act[4] == EXP_DELETE, "old dailies deleted");
    tap_ok(act[5] == EXP_KEEP && act[6] == EXP_KEEP && act[7] == EXP_KEEP, "3 newest dailies kept");
    tap_ok(n == 4, "four actions");
    freerevs(r, 8);

    /* incomplete revisions are not touched, and do not count */
    r[0] = mkrev("x", (double)(now - 10 * DAY), "daily");
    r[0].complete = 0;
    r[1] = mkrev("y", (double)(now - 9 * DAY), "daily");
    n = sched_expire(&s, r, 2, now, act);
    tap_ok(n == 0 && act[0] == EXP_KEEP, "incomplete revision untouched");
    freerevs(r, 2);

    /* weekly: keep 4 weeks; a 5-week old weekly goes */
    struct bk_interval iv3[] = { { "weekly", WEEK, 4 } };
    struct bk_schedule s3 = { "w", iv3, 1 };
    for (int i = 0; i < 6; i++) {
        char id[8];
        snprintf(id, sizeof id, "w%d", i);
        r[i] = mkrev(id, (double)(now - (5 - i) * WEEK - 1), "weekly");
    }
    n = sched_expire(&s3, r, 6, now, act);
    tap_ok(n == 2 && act[0] == EXP_DELETE && act[1] == EXP_DELETE && act[2] == EXP_KEEP,
       "weekly: the two beyond keep 4 and older than 4 weeks go");
    double last[1];
    sched_last_by_tag(&s3, r, 6, now, last);
    tap_ok(last[0] == (double)(now - 1), "newest weekly found");
    freerevs(r, 6);

    /* a revision dated in the future (a wrong clock once) is not the
     * newest for due times and is neither kept nor expired */
    r[0] = mkrev("p0", (double)(now - 5 * DAY), "daily");
    r[1] = mkrev("p1", (double)(now - 4 * DAY), "daily");
    r[2] = mkrev("p2", (double)(now - 1 * DAY), "daily");
    r[3] = mkrev("p3", (double)(now - 2 * 3600), "daily");
    r[4] = mkrev("fut", (double)(now + 5 * 365 * DAY), "daily");
    sched_last_by_tag(&s, r, 5, now, last);
    tap_ok(last[0] == (double)(now - 2 * 3600), "due times ignore a future-dated revision");
    n = sched_expire(&s, r, 5, now, act);
    tap_ok(n == 1 && act[0] == EXP_DELETE && act[1] == EXP_KEEP && act[2] == EXP_KEEP &&
               act[3] == EXP_KEEP && act[4] == EXP_KEEP,
           "a future-dated revision does not count towards keep and is not expired");
    r[5] = mkrev("soon", (double)(now + 200), "daily");
    sched_last_by_tag(&s, r + 2, 4, now, last);
    tap_ok(last[0] == (double)(now + 200), "less than 5 minutes ahead still counts");
    freerevs(r, 6);
}

static void test_retry(void)
{
    tap_ok(sched_retry_delay(60, 1, DAY) == 60 && sched_retry_delay(60, 2, DAY) == 120 &&
               sched_retry_delay(60, 3, DAY) == 240,
           "retry delay: 60 s doubling");
    tap_ok(sched_retry_delay(60, 12, DAY) == DAY && sched_retry_delay(60, 1000000, DAY) == DAY,
           "retry delay: capped at the smallest interval, no overflow");
    tap_ok(sched_retry_delay(60, 1, 2) == 2 && sched_retry_delay(0, 1, DAY) == 1,
           "retry delay: never above the interval, never below 1 s");
}

int main(void)
{
    tap_plan(48);
    test_hash_and_slots();
    test_due();
    test_spread();
    test_expire();
    test_retry();
    return tap_done();
}
