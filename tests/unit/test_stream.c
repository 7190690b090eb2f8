/* test_stream.c - the replication stream: writer and reader round trip
 * (metadata exact, blocks and zero runs in order), optional records of any
 * type skipped, and refusal of streams that are truncated, corrupt,
 * reordered, of another version, with records of unknown types, or that
 * carry IDs which could name other files of a job. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "backy/stream.h"
#include "tap.h"

struct mem {
    const unsigned char *p;
    size_t n, off;
};

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
    struct mem *m = arg;
    size_t l = m->n - m->off < len ? m->n - m->off : len;
    memcpy(buf, m->p + m->off, l);
    m->off += l;
    return (ssize_t)l;
}

#define BS 4096
static unsigned char img[3 * BS + 100];

/* A stream of img: block 0 data, block 1 zeros, blocks 2..3 data. */
static unsigned char *make(size_t *len, const char *id, int swap)
{
    int fd = memfd_create("stream", 0);
    struct bk_sums s;
    sums_init(&s, sizeof img, BS);
    for (uint64_t i = 0; i < s.nblocks; i++)
        sums_hash(img + i * BS, sums_block_len(&s, i), &s.h[i]);
    struct bk_stream_meta m = {0};
    snprintf(m.rev.id, sizeof m.rev.id, "%s", id);
    m.rev.timestamp = 1764636811.3953251;
    m.rev.duration = 1.5;
    m.rev.bytes_written = 12345;
    char *tags[] = {"daily", "weekly"};
    m.rev.tags = tags;
    m.rev.ntags = 2;
    m.size = sizeof img;
    m.block_size = BS;
    struct bk_stream_wr w;
    stream_wr_begin(&w, fd, &m, &s);
    if (swap) {
        stream_wr_data(&w, 2, img + 2 * BS, BS);
        stream_wr_data(&w, 0, img, BS);
    } else {
        stream_wr_data(&w, 0, img, BS);
        stream_wr_zero(&w, 1, 1);
        stream_wr_data(&w, 2, img + 2 * BS, BS);
    }
    stream_wr_data(&w, 3, img + 3 * BS, 100);
    stream_wr_end(&w);
    sums_free(&s);
    off_t end = lseek(fd, 0, SEEK_END);
    if (end <= 0 || end > (1 << 20))
        abort();
    *len = (size_t)end;
    unsigned char *buf = malloc(*len);
    if (!buf || pread(fd, buf, *len, 0) != end)
        abort();
    close(fd);
    return buf;
}

static void put64le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64le(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The record check: XXH3-64 of the first 16 header bytes and the payload. */
static void put_check(unsigned char *rec, size_t payload)
{
    unsigned char tmp[BK_STREAM_RECHDR + 64];
    if (payload > 64)
        abort();
    memcpy(tmp, rec, 16);
    memcpy(tmp + 16, rec + BK_STREAM_RECHDR, payload);
    put64le(rec + 16, XXH3_64bits(tmp, 16 + payload));
}

/* The stream s (n bytes) with a record of the given type and payload
 * "abc" before END, and END made anew to cover it; *len its length. */
static unsigned char *with_record(const unsigned char *s, size_t n, uint32_t type, size_t *len)
{
    size_t endrec = BK_STREAM_RECHDR + 32, pre = n - endrec, reclen = BK_STREAM_RECHDR + 3;
    unsigned char *t = calloc(1, n + reclen);
    if (!t)
        abort();
    memcpy(t, s, pre);
    unsigned char *h = t + pre;
    for (int i = 0; i < 4; i++)
        h[i] = (unsigned char)(type >> (8 * i));
    put64le(h + 8, 3);
    memcpy(h + BK_STREAM_RECHDR, "abc", 3);
    put_check(h, 3);
    /* END: records and bytes before it, XXH3-128 of those bytes */
    unsigned char *e = t + pre + reclen;
    memcpy(e, s + pre, BK_STREAM_RECHDR);
    put64le(e + 24, get64le(s + pre + 24) + 1);
    put64le(e + 32, pre + reclen);
    XXH128_hash_t hh = XXH3_128bits(t, pre + reclen);
    put64le(e + 40, hh.low64);
    put64le(e + 48, hh.high64);
    put_check(e, 32);
    *len = n + reclen;
    return t;
}

/* 0: read to the end fine; -1: refused (message in err) */
static int read_all(const unsigned char *p, size_t n, char *err, size_t errlen, int *nrec)
{
    struct mem m = {p, n, 0};
    struct bk_stream_rd r;
    struct bk_stream_rec rec;
    int rc = stream_rd_begin(&r, mem_read, &m, err, errlen);
    *nrec = 0;
    while (rc == 0 && (rc = stream_rd_next(&r, &rec, err, errlen)) > 0) {
        (*nrec)++;
        rc = 0;
    }
    stream_rd_free(&r);
    return rc < 0 ? -1 : 0;
}

int main(void)
{
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (i / BS) == 1 ? 0 : (unsigned char)(i * 13 + 1);
    const char *id = "kXDkjWxZ2QEeHEu5qTLkEg";
    size_t n;
    unsigned char *s = make(&n, id, 0);
    char err[512];
    int nrec;

    struct mem m = {s, n, 0};
    struct bk_stream_rd r;
    tap_ok(stream_rd_begin(&r, mem_read, &m, err, sizeof err) == 0, "a good stream opens");
    tap_ok(!strcmp(r.meta.rev.id, id) && r.meta.rev.timestamp == 1764636811.3953251 &&
               r.meta.rev.duration == 1.5 && r.meta.rev.bytes_written == 12345 &&
               r.meta.rev.ntags == 2 && !strcmp(r.meta.rev.tags[1], "weekly") &&
               r.meta.size == sizeof img && r.meta.block_size == BS && !*r.meta.base,
           "metadata round trips exactly (timestamp to the last bit)");
    struct bk_stream_rec rec;
    int ok = stream_rd_next(&r, &rec, err, sizeof err) == 1 && rec.type == BK_REC_DATA &&
             rec.index == 0 && rec.len == BS && !memcmp(rec.data, img, BS);
    ok = ok && stream_rd_next(&r, &rec, err, sizeof err) == 1 && rec.type == BK_REC_ZERO &&
         rec.index == 1 && rec.count == 1;
    ok = ok && stream_rd_next(&r, &rec, err, sizeof err) == 1 && rec.index == 2;
    ok = ok && stream_rd_next(&r, &rec, err, sizeof err) == 1 && rec.index == 3 && rec.len == 100;
    ok = ok && stream_rd_next(&r, &rec, err, sizeof err) == 0;
    tap_ok(ok, "blocks and zero runs come back in order, then the end");
    stream_rd_free(&r);

    int refused_all = 1;
    for (size_t cut = 0; cut < n; cut += 97)
        if (read_all(s, cut, err, sizeof err, &nrec) == 0)
            refused_all = 0;
    tap_ok(refused_all && read_all(s, n - 1, err, sizeof err, &nrec) < 0,
           "every truncation is refused");
    tap_ok(strstr(err, "truncated") != NULL, "... naming the truncation");

    int flips_refused = 1;
    for (size_t off = 0; off < n; off += 61) {
        s[off] ^= 0x10;
        if (read_all(s, n, err, sizeof err, &nrec) == 0)
            flips_refused = 0;
        s[off] ^= 0x10;
    }
    tap_ok(flips_refused, "a flipped bit anywhere is refused");
    tap_ok(read_all(s, n, err, sizeof err, &nrec) == 0 && nrec == 4, "the stream is good again");

    unsigned char *t = malloc(n + 1);
    memcpy(t, s, n);
    t[n] = 'x';
    tap_ok(read_all(t, n + 1, err, sizeof err, &nrec) < 0 && strstr(err, "after its trailer"),
           "data after the trailer is refused");
    /* a receive session: with more set the reader stops right after END,
     * so the next stream (or the end of input) is read by the next begin */
    {
        unsigned char *two = malloc(2 * n);
        memcpy(two, s, n);
        memcpy(two + n, s, n);
        struct mem m2 = {two, 2 * n, 0};
        int streams = 0, good = 1;
        while (m2.off < m2.n) {
            struct bk_stream_rd r2;
            if (stream_rd_begin(&r2, mem_read, &m2, err, sizeof err) < 0) {
                good = 0;
                break;
            }
            r2.more = 1;
            int k = 0, rc2;
            while ((rc2 = stream_rd_next(&r2, &rec, err, sizeof err)) > 0)
                k++;
            stream_rd_free(&r2);
            if (rc2 < 0 || k != 4) {
                good = 0;
                break;
            }
            streams++;
        }
        tap_ok(good && streams == 2 && m2.off == 2 * n,
               "with more set, two streams one after the other are read one by one, "
               "nothing read past the first END");
        free(two);
    }
    memcpy(t, s, n);
    t[8] = 2;
    tap_ok(read_all(t, n, err, sizeof err, &nrec) < 0 && strstr(err, "unsupported stream version 2"),
           "an unknown version is refused by name");
    free(t);

    size_t n2;
    unsigned char *sw = with_record(s, n, BK_REC_OPTIONAL | 7, &n2);
    tap_ok(read_all(sw, n2, err, sizeof err, &nrec) == 0 && nrec == 4,
           "an optional record (type 0x8007) is skipped");
    free(sw);
    sw = with_record(s, n, 0x80000000u | BK_REC_OPTIONAL | 1, &n2);
    err[0] = '\0';
    tap_ok(read_all(sw, n2, err, sizeof err, &nrec) == 0 && nrec == 4,
           "an optional record of a type with the top bit set (0x80008001) is skipped too");
    if (err[0])
        printf("# %s\n", err);
    free(sw);
    sw = with_record(s, n, 0x80000001u, &n2);
    tap_ok(read_all(sw, n2, err, sizeof err, &nrec) < 0 && strstr(err, "unknown type 2147483649"),
           "a record of an unknown type that is not optional is refused by its number");
    free(sw);
    sw = with_record(s, n, 5, &n2);
    tap_ok(read_all(sw, n2, err, sizeof err, &nrec) < 0 && strstr(err, "unknown type 5"),
           "... also a small one");
    free(sw);

    sw = make(&n2, id, 1);
    tap_ok(read_all(sw, n2, err, sizeof err, &nrec) < 0 && strstr(err, "out of order"),
           "reordered blocks are refused");
    free(sw);

    const char *bad[] = {"config", "last", "backy", "../../etc/passwd0000000", "kXDkjWxZ2QEeHEu5qTLkE",
                         "kXDkjWxZ2QEeHEu5qTLkEgg", "kXDkjWxZ2QEeHEu5qTLkE/", NULL};
    int all_bad = 1;
    for (int i = 0; bad[i]; i++) {
        sw = make(&n2, bad[i], 0);
        if (read_all(sw, n2, err, sizeof err, &nrec) == 0 || !strstr(err, "invalid revision ID"))
            all_bad = 0;
        free(sw);
    }
    tap_ok(all_bad, "IDs that are not short UUIDs (config, last, paths) are refused");
    free(s);
    return tap_done();
}
