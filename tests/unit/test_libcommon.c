/* test_libcommon.c - revision specs, .rev round trip and backy 2.0 forms,
 * short UUIDs, durations, tables, YAML errors with positions, the bounded
 * join of tag lists. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <syslog.h> /* backy/log.h must not clash with it */
#include <unistd.h>

#include "backy/duration.h"
#include "backy/log.h"
#include "backy/revision.h"
#include "backy/shortuuid.h"
#include "backy/sourcetype.h"
#include "backy/table.h"
#include "backy/util.h"
#include "backy/ynode.h"
#include "tap.h"

static void test_shortuuid(void)
{
    uint8_t zero[16] = {0}, ones[16];
    memset(ones, 0xff, sizeof ones);
    char out[SHORTUUID_LEN + 1];
    shortuuid_encode(zero, out);
    tap_ok(!strcmp(out, "2222222222222222222222"), "shortuuid of 0 is all '2'");
    /* python: shortuuid.encode(uuid.UUID(int=2**128-1)) */
    shortuuid_encode(ones, out);
    tap_ok(!strcmp(out, "oZEq7ovRbLq6UnGMPwc8B5"), "shortuuid of 2^128-1 matches python shortuuid");
    uint8_t one[16] = {0};
    one[15] = 57;
    shortuuid_encode(one, out);
    tap_ok(!strcmp(out, "2222222222222222222232"), "57 encodes as '32' in base57");
    char a[SHORTUUID_LEN + 1], b[SHORTUUID_LEN + 1];
    tap_ok(shortuuid_new(a) == 0 && shortuuid_new(b) == 0 && strcmp(a, b) && strlen(a) == 22,
           "two new IDs are 22 characters and differ");
    tap_ok(shortuuid_valid(a) && !shortuuid_valid("abc/def") && !shortuuid_valid("l0O1") &&
               !shortuuid_valid(""),
           "ID validation accepts base57 only");
}

static void test_duration(void)
{
    int64_t s;
    tap_ok(duration_parse("30", &s) == 0 && s == 30, "bare number is seconds");
    tap_ok(duration_parse("30s", &s) == 0 && s == 30, "s suffix");
    tap_ok(duration_parse("5m", &s) == 0 && s == 300, "m suffix");
    tap_ok(duration_parse("2h", &s) == 0 && s == 7200, "h suffix");
    tap_ok(duration_parse("1d", &s) == 0 && s == 86400, "d suffix");
    tap_ok(duration_parse("2w", &s) == 0 && s == 14 * 86400, "w suffix");
    tap_ok(duration_parse("1x", &s) < 0 && duration_parse("", &s) < 0 && duration_parse("-1d", &s) < 0 &&
               duration_parse("1dd", &s) < 0 && duration_parse("d", &s) < 0 &&
               duration_parse("99999999999999999999w", &s) < 0,
           "bad durations are rejected");
    char buf[32];
    duration_format(86400, buf, sizeof buf);
    tap_ok(!strcmp(buf, "1d"), "86400 formats as 1d");
    duration_format(90, buf, sizeof buf);
    tap_ok(!strcmp(buf, "90s"), "90 formats as 90s");
}

static void test_time(void)
{
    double t;
    tap_ok(bk_parse_time("2015-11-04 20:09:32", &t) == 0 && t == 1446667772.0,
           "naive timestamp means UTC");
    tap_ok(bk_parse_time("2015-11-04 20:09:32.5+00:00", &t) == 0 && t == 1446667772.5,
           "fraction and +00:00");
    tap_ok(bk_parse_time("2015-11-04T21:09:32+01:00", &t) == 0 && t == 1446667772.0,
           "T separator and zone offset");
    tap_ok(bk_parse_time("2015-11-04 20:09:32Z", &t) == 0 && t == 1446667772.0, "Z zone");
    tap_ok(bk_parse_time("2015-13-04 20:09:32", &t) < 0 && bk_parse_time("yesterday", &t) < 0 &&
               bk_parse_time("2015-11-04 20:09:32 junk", &t) < 0 &&
               bk_parse_time("0015-11-06 06:15:09", &t) < 0,
           "bad timestamps (and years before 1970) are rejected");
    char buf[64];
    bk_fmt_time_utc(1446667772.7, buf, sizeof buf);
    tap_ok(!strcmp(buf, "2015-11-04 20:09:32 UTC"), "table time format");
    bk_fmt_time_iso(1446667772.25, buf, sizeof buf);
    tap_ok(!strcmp(buf, "2015-11-04 20:09:32.250000+00:00"), "ISO time format");
}

static void test_rev_roundtrip(void)
{
    char err[512];
    struct bk_rev r = {0};
    strcpy(r.id, "Q5N5Ng5kFzNFVv6FDDDCHi");
    strcpy(r.parent, "FqZGAe6iG2hadwJoHdpigW");
    r.timestamp = 1446667772.123456;
    r.complete = 1;
    r.duration = 150.9;
    r.bytes_written = 10737418240ULL;
    tap_ok(rev_set_tags(&r, "weekly, daily,daily", err, sizeof err) == 0 && r.ntags == 2 &&
               !strcmp(r.tags[0], "daily") && !strcmp(r.tags[1], "weekly"),
           "tags are split, trimmed, sorted and unique");
    char *y = rev_format(&r);
    struct bk_rev q;
    int rc = rev_parse(y, strlen(y), "x.rev", &q, err, sizeof err);
    tap_ok(rc == 0 && !strcmp(q.id, r.id) && !strcmp(q.parent, r.parent) && q.complete &&
               q.bytes_written == r.bytes_written && q.duration > 150.89 && q.duration < 150.91 &&
               q.ntags == 2 && q.timestamp > 1446667772.12 && q.timestamp < 1446667772.13,
           "a .rev reads back as written");
    free(y);
    rev_free(&q);
    struct bk_rev inc = r;
    inc.tags = NULL;
    inc.ntags = 0;
    inc.complete = 0;
    y = rev_format(&inc);
    tap_ok(rev_parse(y, strlen(y), "x.rev", &q, err, sizeof err) == 0 && !q.complete,
           "a .rev without duration is incomplete");
    free(y);
    rev_free(&q);
    rev_free(&r);
    tap_ok(rev_set_tags(&r, "daily,bad tag", err, sizeof err) < 0 && strstr(err, "bad tag"),
           "invalid tag is named");
    tap_ok(rev_set_tags(&r, ",,", err, sizeof err) < 0, "empty tag list is refused");
    tap_ok(bk_tag_valid("daily") && bk_tag_valid("adhoc-2015.11:x@y+z") && !bk_tag_valid("-v") &&
               !bk_tag_valid("a b") && !bk_tag_valid("a,b") && !bk_tag_valid("") &&
               !bk_tag_valid("t\xc3\xa4g"),
           "one tag rule: no leading '-', no spaces, commas or other bytes");
    rev_free(&r);

    /* backy 2.0 wrote flow style with naive timestamps */
    const char *flow = "{parent: '', stats: {bytes_written: 1048576, duration: 1.5}, tags: [daily],"
                       " timestamp: 2015-11-04 20:09:32, uuid: Q5N5Ng5kFzNFVv6FDDDCHi}\n";
    tap_ok(rev_parse(flow, strlen(flow), "f.rev", &q, err, sizeof err) == 0 && q.complete &&
               q.timestamp == 1446667772.0 && q.ntags == 1 && !q.parent[0] &&
               q.bytes_written == 1048576,
           "backy 2.0 flow-style .rev");
    rev_free(&q);
    const char *bad[] = {
        "uuid: Q5N5Ng5kFzNFVv6FDDDCHi\n",                               /* no timestamp */
        "{uuid: Q5N5Ng5kFzNFVv6FDDDCHi, timestamp: 2015-11-04 20:09:",  /* truncated */
        "- a\n- b\n",                                                   /* not a map */
        "uuid: ../../etc\ntimestamp: 2015-11-04 20:09:32\n",            /* bad ID */
        "uuid: Q5N5Ng5kFzNFVv6FDDDCHi\ntimestamp: 2015-11-04 20:09:32\nstats: {duration: x}\n",
    };
    int allbad = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (rev_parse(bad[i], strlen(bad[i]), "b.rev", &q, err, sizeof err) == 0) {
            allbad = 0;
            rev_free(&q);
        } else if (!strstr(err, "b.rev")) {
            allbad = 0;
        }
    }
    tap_ok(allbad, "corrupt .rev documents are refused with the file named");

    /* the verify record: written, read back, and lenient when unreadable */
    struct bk_rev v = {0};
    strcpy(v.id, "Q5N5Ng5kFzNFVv6FDDDCHi");
    v.timestamp = 1446667772.0;
    v.complete = 1;
    v.duration = 1;
    v.verify_result = BK_VERIFY_DAMAGED;
    v.verify_time = 1764637200.5;
    v.verify_damaged = 3;
    y = rev_format(&v);
    tap_ok(strstr(y, "verify:\n") && strstr(y, "  result: damaged\n") &&
               rev_parse(y, strlen(y), "v.rev", &q, err, sizeof err) == 0 &&
               q.verify_result == BK_VERIFY_DAMAGED && rev_quarantined(&q) &&
               q.verify_damaged == 3 && q.verify_time > 1764637200.4 && q.verify_time < 1764637200.6,
           "a verify record reads back as written; damaged means quarantined");
    free(y);
    rev_free(&q);
    v.verify_result = BK_VERIFY_NONE;
    y = rev_format(&v);
    tap_ok(!strstr(y, "verify") && rev_parse(y, strlen(y), "v.rev", &q, err, sizeof err) == 0 &&
               q.verify_result == BK_VERIFY_NONE && !rev_quarantined(&q),
           "no verify record is written for a revision never checked");
    free(y);
    rev_free(&q);
    const char *oddv = "uuid: Q5N5Ng5kFzNFVv6FDDDCHi\ntimestamp: 2015-11-04 20:09:32\n"
                       "verify: {time: 2026-12-02 01:00:00, result: splendid}\n";
    tap_ok(rev_parse(oddv, strlen(oddv), "o.rev", &q, err, sizeof err) == 0 &&
               q.verify_result == BK_VERIFY_NONE,
           "an unreadable verify record counts as no check, the revision stays listed");
    rev_free(&q);
    tap_ok(!strcmp(bk_verify_result_name(BK_VERIFY_UNVERIFIABLE), "unverifiable") &&
               bk_verify_result_parse("good") == BK_VERIFY_GOOD && bk_verify_result_parse("x") < 0,
           "verify result names");
}

static void writefile(const char *dir, const char *name, const char *s)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(s, f);
    fclose(f);
}

static void addrev(const char *dir, const char *id, const char *ts, const char *tags, int complete)
{
    char buf[1024], name[64];
    snprintf(buf, sizeof buf, "uuid: %s\ntimestamp: %s\nparent: ''\nstats: {bytes_written: 10%s}\ntags: [%s]\n",
             id, ts, complete ? ", duration: 2.0" : "", tags);
    snprintf(name, sizeof name, "%s.rev", id);
    writefile(dir, name, buf);
    writefile(dir, id, "image");
}

static void test_store(void)
{
    char dir[] = "/tmp/backy-unit-XXXXXX";
    if (!mkdtemp(dir)) {
        tap_ok(0, "mkdtemp");
        return;
    }
    addrev(dir, "AAAAAAAAAAAAAAAAAAAAA2", "2015-11-04 20:00:00", "daily,weekly", 1);
    addrev(dir, "AAAAAAAAAAAAAAAAAAAAB3", "2015-11-05 20:00:00", "daily", 1);
    addrev(dir, "BBBBBBBBBBBBBBBBBBBBB4", "2015-11-06 20:00:00", "hourly", 1);
    addrev(dir, "CCCCCCCCCCCCCCCCCCCCC5", "2015-11-07 20:00:00", "daily", 0);
    writefile(dir, "DDDDDDDDDDDDDDDDDDDDD6.rev", "{uuid: DDDDDDDDDDDDDDDDDDDDD6, timestamp: 20");
    writefile(dir, "config", "type: file\nfilename: /dev/null\n");
    int devnull = open("/dev/null", O_WRONLY);
    int saved = dup(1);
    dup2(devnull, 1); /* the warning about the corrupt .rev goes to the log (stdout) */
    log_open(NULL, 0, 0);
    char err[1024];
    struct bk_store st;
    int rc = store_open(&st, dir, err, sizeof err);
    fflush(stdout);
    dup2(saved, 1);
    close(devnull);
    tap_ok(rc == 0 && st.n == 4, "store lists four revisions and skips the corrupt one");
    tap_ok(st.n == 4 && !strcmp(st.revs[0].id, "AAAAAAAAAAAAAAAAAAAAA2") &&
               !strcmp(st.revs[3].id, "CCCCCCCCCCCCCCCCCCCCC5"),
           "oldest first");
    const struct bk_rev *r;
    r = store_last(&st);
    tap_ok(r && !strcmp(r->id, "BBBBBBBBBBBBBBBBBBBBB4"), "last is the newest complete revision");
    r = store_resolve(&st, NULL, err, sizeof err);
    tap_ok(r && !strcmp(r->id, "BBBBBBBBBBBBBBBBBBBBB4"), "no spec means last");
    r = store_resolve(&st, "latest", err, sizeof err);
    tap_ok(r && !strcmp(r->id, "BBBBBBBBBBBBBBBBBBBBB4"), "latest");
    r = store_resolve(&st, "1", err, sizeof err);
    tap_ok(r && !strcmp(r->id, "AAAAAAAAAAAAAAAAAAAAB3"), "relative 1 is the one before");
    r = store_resolve(&st, "2", err, sizeof err);
    tap_ok(r && !strcmp(r->id, "AAAAAAAAAAAAAAAAAAAAA2"), "relative 2");
    r = store_resolve(&st, "7", err, sizeof err);
    tap_ok(!r && strstr(err, "'7'"), "relative number out of range names the spec");
    r = store_resolve(&st, "daily", err, sizeof err);
    tap_ok(r && !strcmp(r->id, "AAAAAAAAAAAAAAAAAAAAB3"), "tag gives the newest complete with it");
    r = store_resolve(&st, "weekly", err, sizeof err);
    tap_ok(r && !strcmp(r->id, "AAAAAAAAAAAAAAAAAAAAA2"), "tag weekly");
    r = store_resolve(&st, "BBBB", err, sizeof err);
    tap_ok(r && !strcmp(r->id, "BBBBBBBBBBBBBBBBBBBBB4"), "unique prefix");
    r = store_resolve(&st, "AAAA", err, sizeof err);
    tap_ok(!r && strstr(err, "'AAAA'") && strstr(err, "ambiguous"), "ambiguous prefix names the spec");
    r = store_resolve(&st, "AAAAAAAAAAAAAAAAAAAAB3", err, sizeof err);
    tap_ok(r && !strcmp(r->id, "AAAAAAAAAAAAAAAAAAAAB3"), "full ID");
    r = store_resolve(&st, "CCCCCCCCCCCCCCCCCCCCC5", err, sizeof err);
    tap_ok(!r && strstr(err, "incomplete"), "an incomplete revision cannot be chosen");
    r = store_resolve(&st, "nosuchtag", err, sizeof err);
    tap_ok(!r && strstr(err, "'nosuchtag'"), "unknown spec names the spec");

    /* removal leaves the others and no ID.* behind */
    writefile(dir, "AAAAAAAAAAAAAAAAAAAAB3.sums", "x");
    tap_ok(rev_remove(st.dirfd, "AAAAAAAAAAAAAAAAAAAAB3") == 0, "rev_remove");
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof p, "%s/AAAAAAAAAAAAAAAAAAAAB3.sums", dir);
    int gone = stat(p, &sb) < 0;
    snprintf(p, sizeof p, "%s/AAAAAAAAAAAAAAAAAAAAB3", dir);
    gone = gone && stat(p, &sb) < 0;
    snprintf(p, sizeof p, "%s/AAAAAAAAAAAAAAAAAAAAA2", dir);
    gone = gone && stat(p, &sb) == 0;
    tap_ok(gone, "rev_remove removes ID and ID.* only");
    tap_ok(store_update_last(st.dirfd, "BBBBBBBBBBBBBBBBBBBBB4") == 0, "update last");
    char link[64] = {0};
    snprintf(p, sizeof p, "%s/last.rev", dir);
    tap_ok(readlink(p, link, sizeof link - 1) > 0 && !strcmp(link, "BBBBBBBBBBBBBBBBBBBBB4.rev"),
           "last.rev points at the revision");
    store_close(&st);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        tap_ok(0, "cleanup");
}

/* A revision dated in the future (a clock that was wrong once) is never
 * "the newest": not for last, relative numbers or tags; by ID it is found. */
static void test_store_future(void)
{
    char dir[] = "/tmp/backy-unit-XXXXXX";
    if (!mkdtemp(dir)) {
        tap_ok(0, "mkdtemp");
        return;
    }
    addrev(dir, "AAAAAAAAAAAAAAAAAAAAA2", "2026-11-01 20:00:00", "daily", 1);
    addrev(dir, "BBBBBBBBBBBBBBBBBBBBB4", "2026-11-02 20:00:00", "daily", 1);
    addrev(dir, "FFFFFFFFFFFFFFFFFFFFF7", "2031-01-01 00:00:00", "daily", 1);
    writefile(dir, "config", "type: file\nfilename: /dev/null\n");
    char err[1024];
    struct bk_store st;
    int rc = store_open(&st, dir, err, sizeof err);
    tap_ok(rc == 0 && st.n == 3 && st.now > 0, "store with a future-dated revision");
    double t;
    bk_parse_time("2026-12-02 00:00:00", &t);
    st.now = t;
    const struct bk_rev *r = store_last(&st);
    tap_ok(r && !strcmp(r->id, "BBBBBBBBBBBBBBBBBBBBB4"), "last skips the future-dated revision");
    tap_ok(store_future(&st) == 1, "one revision dated in the future");
    r = store_resolve(&st, "0", err, sizeof err);
    tap_ok(r && !strcmp(r->id, "BBBBBBBBBBBBBBBBBBBBB4"), "-r 0 is the newest not in the future");
    r = store_resolve(&st, NULL, err, sizeof err);
    tap_ok(r && !strcmp(r->id, "BBBBBBBBBBBBBBBBBBBBB4"), "the default is the newest not in the future");
    r = store_resolve(&st, "1", err, sizeof err);
    tap_ok(r && !strcmp(r->id, "AAAAAAAAAAAAAAAAAAAAA2"), "relative numbers count past revisions only");
    r = store_resolve(&st, "2", err, sizeof err);
    tap_ok(!r && strstr(err, "2 complete revisions") && strstr(err, "1 dated in the future"),
           "out of range says a future-dated revision exists");
    r = store_resolve(&st, "daily", err, sizeof err);
    tap_ok(r && !strcmp(r->id, "BBBBBBBBBBBBBBBBBBBBB4"), "a tag skips the future-dated revision");
    r = store_resolve(&st, "FFFFFFFFFFFFFFFFFFFFF7", err, sizeof err);
    tap_ok(r && !strcmp(r->id, "FFFFFFFFFFFFFFFFFFFFF7"), "the future-dated revision by its ID");
    r = store_resolve(&st, "FFFF", err, sizeof err);
    tap_ok(r && !strcmp(r->id, "FFFFFFFFFFFFFFFFFFFFF7"), "and by an ID prefix");
    /* within the 5 minute slack a revision is not in the future */
    bk_parse_time("2030-12-31 23:56:00", &t);
    st.now = t;
    r = store_last(&st);
    tap_ok(r && !strcmp(r->id, "FFFFFFFFFFFFFFFFFFFFF7") && store_future(&st) == 0,
           "a revision at most 5 minutes ahead counts as the newest");
    bk_parse_time("2030-12-31 23:54:59", &t);
    st.now = t;
    r = store_last(&st);
    tap_ok(r && !strcmp(r->id, "BBBBBBBBBBBBBBBBBBBBB4"), "more than 5 minutes ahead does not");
    store_close(&st);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        tap_ok(0, "cleanup");
}

static void test_yaml(void)
{
    char err[512];
    const char *doc = "a: 1\nb:\n  c: [x, 'y']\n";
    struct ynode *n = ynode_parse(doc, strlen(doc), "t.yaml", err, sizeof err);
    tap_ok(n && !strcmp(ynode_str(n, "a"), "1") && ynode_get(n, "b")->kind == Y_MAP &&
               ynode_get(ynode_get(n, "b"), "c")->n == 2 && ynode_get(n, "b")->line == 3,
           "YAML tree with positions");
    ynode_free(n);
    const char *bad = "a: 1\nb: [x\n";
    n = ynode_parse(bad, strlen(bad), "t.yaml", err, sizeof err);
    tap_ok(!n && !strncmp(err, "t.yaml:", 7) && strstr(err, "syntax"), "syntax error with file:line:col");
    const char *dup = "a: 1\na: 2\n";
    n = ynode_parse(dup, strlen(dup), "t.yaml", err, sizeof err);
    tap_ok(!n && strstr(err, "t.yaml:2:1") && strstr(err, "duplicate"), "duplicate key named with position");
    const char *alias = "a: &x 1\nb: *x\n";
    n = ynode_parse(alias, strlen(alias), "t.yaml", err, sizeof err);
    tap_ok(!n && strstr(err, "alias"), "aliases refused");
    /* emitting scalars that need quotes reads back the same */
    const char *tricky[] = {"", "yes", "a: b", "- x", "12", "with \"quote\"", "#c", "plain", "x\ny"};
    int allsame = 1;
    for (size_t i = 0; i < sizeof tricky / sizeof tricky[0]; i++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        fputs("k: ", f);
        yemit_scalar(f, tricky[i]);
        fputc('\n', f);
        fclose(f);
        n = ynode_parse(buf, len, "e.yaml", err, sizeof err);
        if (!n || !ynode_str(n, "k") || strcmp(ynode_str(n, "k"), tricky[i]))
            allsame = 0;
        ynode_free(n);
        free(buf);
    }
    tap_ok(allsame, "emitted scalars read back unchanged");
}

static void test_srccfg(void)
{
    char err[512];
    struct bk_srccfg c;
    const char *good = "type: file\nfilename: /dev/vg/vm1\nverify: full\n";
    struct ynode *n = ynode_parse(good, strlen(good), "c", err, sizeof err);
    tap_ok(srccfg_from_ynode(n, "c", &c, err, sizeof err) == 0 &&
               !strcmp(srccfg_get(&c, "filename"), "/dev/vg/vm1"),
           "file source config");
    char *y = srccfg_format(&c);
    ynode_free(n);
    n = ynode_parse(y, strlen(y), "c2", err, sizeof err);
    struct bk_srccfg c2;
    tap_ok(n && srccfg_from_ynode(n, "c2", &c2, err, sizeof err) == 0 && srccfg_equal(&c, &c2),
           "source config round trip");
    free(y);
    ynode_free(n);
    srccfg_free(&c);
    srccfg_free(&c2);
    const char *typo = "type: file\nfilenme: /x\n";
    n = ynode_parse(typo, strlen(typo), "c", err, sizeof err);
    tap_ok(srccfg_from_ynode(n, "c", &c, err, sizeof err) < 0 && strstr(err, "c:2:1") &&
               strstr(err, "filenme"),
           "unknown key named with its position");
    ynode_free(n);
    const char *unk = "type: tape\n";
    n = ynode_parse(unk, strlen(unk), "c", err, sizeof err);
    tap_ok(srccfg_from_ynode(n, "c", &c, err, sizeof err) < 0 && strstr(err, "unknown source type 'tape'"),
           "unknown source type");
    ynode_free(n);
    const char *rel = "type: file\nfilename: relative/path\n";
    n = ynode_parse(rel, strlen(rel), "c", err, sizeof err);
    tap_ok(srccfg_from_ynode(n, "c", &c, err, sizeof err) < 0 && strstr(err, "absolute"),
           "relative filename refused");
    ynode_free(n);
}

static void test_table(void)
{
    static const char *const hdr[] = {"Date", "Size"};
    static const enum table_align al[] = {TA_LEFT, TA_RIGHT};
    struct table *t = table_new(2, hdr, al);
    const char *r1[] = {"2015-11-04", "10.00 GiB"};
    const char *r2[] = {"x", "1 B"};
    table_add_row(t, r1);
    table_add_row(t, r2);
    char *s = table_render(t);
    const char *want = "+------------+-----------+\n"
                       "| Date       |      Size |\n"
                       "+------------+-----------+\n"
                       "| 2015-11-04 | 10.00 GiB |\n"
                       "| x          |       1 B |\n"
                       "+------------+-----------+\n";
    tap_ok(!strcmp(s, want), "table layout as in the manual");
    free(s);
    table_free(t);
    char buf[32];
    bk_fmt_size(buf, sizeof buf, 156564275);
    tap_ok(!strcmp(buf, "149.31 MiB"), "size formatting");
}

/* Names in a directory other than . and .., space separated, sorted by readdir order. */
static int count_entries(const char *dir, char *names, size_t len)
{
    DIR *d = opendir(dir);
    int n = 0;
    names[0] = '\0';
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        n++;
        size_t o = strlen(names);
        snprintf(names + o, len - o, "%s ", de->d_name);
    }
    closedir(d);
    return n;
}

static int has_contents(int dfd, const char *name, const char *want)
{
    size_t len;
    char *got = bk_read_file(dfd, name, 1 << 20, &len);
    int ok = got && len == strlen(want) && !memcmp(got, want, len);
    free(got);
    return ok;
}

static void test_atomic_write(void)
{
    char dir[] = "/tmp/backy-unit-XXXXXX";
    if (!mkdtemp(dir)) {
        tap_ok(0, "mkdtemp");
        return;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char names[1024];
    struct stat sb;

    tap_ok(bk_atomic_write(dfd, "f", "old", 3, 0640) == 0 && has_contents(dfd, "f", "old") &&
           fstatat(dfd, "f", &sb, 0) == 0 && (sb.st_mode & 0777) == 0640,
           "atomic_write: creates the file with its mode");
    tap_ok(bk_atomic_write(dfd, "f", "new", 3, 0440) == 0 && has_contents(dfd, "f", "new") &&
           fstatat(dfd, "f", &sb, 0) == 0 && (sb.st_mode & 0777) == 0440 &&
           count_entries(dir, names, sizeof names) == 1,
           "atomic_write: replaces it, no temp file left");

    /* a write that fails half way (file size limit): the target keeps its
     * old contents and the temp file is gone */
    size_t big = 1 << 20;
    char *buf = malloc(big);
    memset(buf, 'x', big);
    struct rlimit old, lim = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
    getrlimit(RLIMIT_FSIZE, &old);
    lim.rlim_max = old.rlim_max;
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    errno = 0;
    int r = bk_atomic_write(dfd, "f", buf, big, 0640);
    int e = errno;
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    tap_ok(r < 0 && e == EFBIG, "atomic_write: a failed write reports it (EFBIG)");
    tap_ok(has_contents(dfd, "f", "new"), "atomic_write: a failed write leaves the old target whole");
    tap_ok(count_entries(dir, names, sizeof names) == 1, "atomic_write: a failed write leaves no temp file");
    if (count_entries(dir, names, sizeof names) != 1)
        printf("# entries: %s\n", names);
    free(buf);

    /* the rename fails: the target is a directory that is not empty */
    mkdirat(dfd, "d", 0755);
    int x = openat(dfd, "d/x", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    close(x);
    tap_ok(bk_atomic_write(dfd, "d", "z", 1, 0640) < 0 && count_entries(dir, names, sizeof names) == 2,
           "atomic_write: a failed rename leaves no temp file");

    tap_ok(bk_atomic_writev(dfd, "f", &(struct iovec){.iov_base = "other", .iov_len = 5}, 1, 0640,
                            BK_ATOMIC_NOREPLACE) < 0 && errno == EEXIST &&
           has_contents(dfd, "f", "new") && count_entries(dir, names, sizeof names) == 2,
           "atomic_writev NOREPLACE: an existing file stays, EEXIST, no temp file");
    struct iovec iov[2] = {{.iov_base = "one,", .iov_len = 4}, {.iov_base = "two", .iov_len = 3}};
    tap_ok(bk_atomic_writev(dfd, "g", iov, 2, 0600, BK_ATOMIC_NOREPLACE) == 0 &&
           has_contents(dfd, "g", "one,two") && count_entries(dir, names, sizeof names) == 3,
           "atomic_writev NOREPLACE: writes a new file from pieces");

    unlinkat(dfd, "d/x", 0);
    unlinkat(dfd, "d", AT_REMOVEDIR);
    unlinkat(dfd, "f", 0);
    unlinkat(dfd, "g", 0);
    close(dfd);
    rmdir(dir);
}

/* bk_join into a buffer of size bytes with canaries behind it: the result
 * as text, and whether anything past size was written */
static size_t join_into(size_t size, char *const *items, size_t n, const char *sep, char *out,
                        int *overran)
{
    char buf[64];
    memset(buf, '#', sizeof buf);
    size_t r = bk_join(size ? buf : NULL, size, items, n, sep);
    *overran = 0;
    for (size_t i = size; i < sizeof buf; i++)
        if (buf[i] != '#')
            *overran = 1;
    snprintf(out, 64, "%.*s", size ? (int)sizeof buf : 0, buf);
    return r;
}

static void test_join(void)
{
    char *tags[] = {"daily", "weekly", "", "monthly"};
    char out[64];
    int over;
    /* daily,weekly,,monthly: 5+1+6+1+0+1+7 = 21 */
    tap_ok(join_into(sizeof out, tags, 4, ",", out, &over) == 21 && !over &&
               !strcmp(out, "daily,weekly,,monthly"),
           "join: tags joined with commas, empty ones kept, whole length returned");
    tap_ok(join_into(22, tags, 4, ",", out, &over) == 21 && !over &&
               !strcmp(out, "daily,weekly,,monthly"),
           "join: a buffer of exactly length + 1 holds all of it");
    tap_ok(join_into(21, tags, 4, ",", out, &over) == 21 && !over &&
               !strcmp(out, "daily,weekly,,monthl"),
           "join: one byte short: truncated, NUL-terminated, nothing written past the buffer");
    tap_ok(join_into(9, tags, 4, ",", out, &over) == 21 && !over && !strcmp(out, "daily,we"),
           "join: cut inside an item");
    tap_ok(join_into(7, tags, 4, ", ", out, &over) == 24 && !over && !strcmp(out, "daily,"),
           "join: cut inside a separator of two characters");
    tap_ok(join_into(1, tags, 4, ",", out, &over) == 21 && !over && !strcmp(out, ""),
           "join: a buffer of one byte gets the NUL only");
    tap_ok(join_into(0, tags, 4, ",", out, &over) == 21 && !over,
           "join: size 0 writes nothing (buf may be NULL) and still returns the length");
    tap_ok(join_into(sizeof out, tags, 0, ",", out, &over) == 0 && !over && !strcmp(out, ""),
           "join: no items is the empty string");
    tap_ok(join_into(sizeof out, tags + 1, 1, ",", out, &over) == 6 && !strcmp(out, "weekly"),
           "join: one item has no separator");
    char *a = bk_join_alloc(tags, 4, ";");
    char *e = bk_join_alloc(tags, 0, ",");
    tap_ok(!strcmp(a, "daily;weekly;;monthly") && !strcmp(e, ""),
           "join: bk_join_alloc returns the whole join, empty for no items");
    free(a);
    free(e);
}

/* JOURNAL_STREAM names a descriptor only in its exact form DEV:INO */
static void test_journal_stream(void)
{
    int fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), other = open("/", O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || other < 0 || fstat(fd, &st) < 0)
        abort();
    unsigned long long d = (unsigned long long)st.st_dev, i = (unsigned long long)st.st_ino;
    char v[128];
    snprintf(v, sizeof v, "%llu:%llu", d, i);
    setenv("JOURNAL_STREAM", v, 1);
    errno = EIO;
    tap_ok(log_is_journal_fd(fd) == 1 && errno == EIO && log_is_journal_fd(other) == 0,
           "journal: DEV:INO of the descriptor is the journal, of another one not; errno kept");
    char bad[11][128];
    snprintf(bad[0], sizeof bad[0], "%llu:%llu ", d, i);
    snprintf(bad[1], sizeof bad[1], "%llu:%llux", d, i);
    snprintf(bad[2], sizeof bad[2], " %llu:%llu", d, i);
    snprintf(bad[3], sizeof bad[3], "+%llu:%llu", d, i);
    snprintf(bad[4], sizeof bad[4], "%llu:-%llu", d, i);
    snprintf(bad[5], sizeof bad[5], "%llu:", d);
    snprintf(bad[6], sizeof bad[6], ":%llu", i);
    snprintf(bad[7], sizeof bad[7], "%llu;%llu", d, i);
    snprintf(bad[8], sizeof bad[8], "%llu", d);
    snprintf(bad[9], sizeof bad[9], "%s", "");
    snprintf(bad[10], sizeof bad[10], "99999999999999999999999:%llu", i);
    int refused = 1;
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        setenv("JOURNAL_STREAM", bad[k], 1);
        if (log_is_journal_fd(fd)) {
            printf("# taken as the journal: '%s'\n", bad[k]);
            refused = 0;
        }
    }
    tap_ok(refused, "journal: malformed JOURNAL_STREAM values (signs, spaces, garbage, overflow) are not");
    unsetenv("JOURNAL_STREAM");
    tap_ok(log_is_journal_fd(fd) == 0, "journal: no JOURNAL_STREAM, no journal");
    close(fd);
    close(other);
}

/* bk_mkdir_p, bk_dir_empty, bk_ssh_programs */
static void test_dirs_programs(void)
{
    char dir[] = "/tmp/backy-unit-dirs.XXXXXX";
    if (!mkdtemp(dir)) {
        tap_ok(0, "mkdtemp");
        return;
    }
    char *deep = bk_asprintf("%s/a/b/c", dir), *failed = NULL;
    struct stat sb;
    tap_ok(bk_mkdir_p(deep, 0750, NULL) == 0 && stat(deep, &sb) == 0 && S_ISDIR(sb.st_mode) &&
               !(sb.st_mode & 0007),
           "mkdir_p: every missing component made, with the mode given");
    tap_ok(bk_mkdir_p(deep, 0750, NULL) == 0, "mkdir_p: an existing directory is fine");
    tap_ok(bk_dir_empty(deep), "dir_empty: a new directory");
    char *file = bk_asprintf("%s/file", deep);
    int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    tap_ok(!bk_dir_empty(deep) && !bk_dir_empty(file) && !bk_dir_empty("/nonexistent"),
           "dir_empty: not with an entry, not a file, not missing");
    char *under = bk_asprintf("%s/x/y", file), *want = bk_asprintf("%s/x", file);
    tap_ok(bk_mkdir_p(under, 0750, &failed) < 0 && errno == ENOTDIR && failed &&
               !strcmp(failed, want),
           "mkdir_p: fails naming the component that could not be made");
    free(failed);
    free(under);
    free(want);
    char *progs[3];
    size_t n = bk_ssh_programs("/bin/true -p 22", progs);
    tap_ok(n == 1 && !strcmp(progs[0], "/bin/true"), "ssh_programs: a binary alone");
    for (size_t i = 0; i < n; i++)
        free(progs[i]);
    char *wrap = bk_asprintf("%s/wrap", deep);
    FILE *w = fopen(wrap, "we");
    if (w) {
        fputs("#!/bin/sh\nexec ssh \"$@\"\n", w);
        fclose(w);
    }
    chmod(wrap, 0755);
    n = bk_ssh_programs(wrap, progs);
    tap_ok(n >= 2 && !strcmp(progs[0], wrap) && !strcmp(progs[1], "/bin/sh"),
           "ssh_programs: a wrapper script and its interpreter (and ssh from PATH)");
    for (size_t i = 0; i < n; i++)
        free(progs[i]);
    unlink(wrap);
    unlink(file);
    free(wrap);
    free(file);
    for (int i = 0; i < 3; i++) {
        rmdir(deep);
        *strrchr(deep, '/') = '\0';
    }
    free(deep);
    rmdir(dir);
}

int main(void)
{
    test_shortuuid();
    test_duration();
    test_time();
    test_rev_roundtrip();
    test_store();
    test_store_future();
    test_yaml();
    test_srccfg();
    test_table();
    test_atomic_write();
    test_join();
    test_journal_stream();
    test_dirs_programs();
    return tap_done();
}
