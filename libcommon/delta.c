/* delta.c - the delta engine (contract in include/backy/delta.h).
 *
 * One backup in phases:
 *   1. clone the parent image (FICLONE, else a sparse copy), set the size;
 *      this runs in its own thread while pass 3 starts: until it is done,
 *      comparisons read the parent image itself and blocks to be written
 *      are only marked, then read again and written once the clone is there;
 *   2. ask the source which ranges may have changed and mark the blocks;
 *   3. backup pass, two threads taking 4 MiB chunks in turn: read the
 *      marked blocks from the source, hash them, and write only where the
 *      hash differs from the parent's sums (or, without usable sums, where
 *      the data differs from the cloned image); zero blocks become holes;
 *      unmarked blocks inherit the parent's hash;
 *   4. wait for the data written (writeback was started chunk by chunk in
 *      pass 3), drop the image from the page cache, read back every block
 *      written and check it against its hash, while another thread fsyncs;
 *   5. sample about 1% of the unchanged blocks (at most 2 s) against the
 *      source: the parent's sums are a promise about its image, and a
 *      broken promise (or a change list that missed a change) makes the
 *      engine redo pass 3 comparing the whole image with the source;
 *      verify: full compares everything instead;
 *   6. write NEWID.sums (temp file, fsync, rename).
 * The parent's image and sums are opened read-only and never written. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backy/delta.h"
#include "backy/log.h"
#include "backy/progress.h"
#include "backy/sums.h"
#include "backy/util.h"

#define CHUNK_BYTES (4u * 1024 * 1024)
#define SAMPLE_PERMILLE 10          /* 1% of the unchanged blocks */
#define SAMPLE_MIN 16
#define SAMPLE_SECONDS 2.0
#define NTHREADS 2
#define STASH_BYTES (8u * 1024 * 1024)   /* changed blocks held while the clone runs */

/* Per-block state, one byte per block. */
enum {
    S_READ     = 1 << 0,  /* read from the source in this run */
    S_ZERO     = 1 << 1,  /* reported as not existing: reads as zeros */
    S_WRITTEN  = 1 << 2,  /* data written in this run */
    S_PUNCHED  = 1 << 3,  /* hole punched in this run */
    S_SRC      = 1 << 4,  /* the new hash was computed from source data */
    S_VERIFIED = 1 << 5,  /* source data compared equal with the image bytes */
    S_DEFER    = 1 << 6,  /* to be read again and written once the clone is done */
    S_STASHED  = 1 << 7,  /* held in the stash until the clone is done */
};

/* Changed blocks found while the parent's clone is still being made. Their
 * data waits here (bounded; past that they are read again afterwards). */
#define STASH_ZERO UINT32_MAX
struct stash_ent {
    uint64_t blk;
    uint32_t slot;              /* data slot, or STASH_ZERO for a zero block */
};

enum cmp_method { CMP_ZERO, CMP_SUMS, CMP_IMAGE };

struct ctx {
    int dirfd;
    char path[4096];            /* dir/new_id, for messages */
    char ppath[4096];           /* dir/parent_id, for messages */
    struct bk_source *src;
    int img, pfd;
    uint64_t size, psize;
    int have_parent;
    uint32_t bs;
    uint64_t nblocks, bpc, nchunks;
    struct bk_sums ps, ns;
    int ps_valid;
    atomic_int clone_ready;     /* the image holds the parent's data and its size */
    double clone_secs;
    struct bk_delta_stats *stats;
    unsigned char *stash;       /* STASH_BYTES (opts), touched only as used */
    const struct bk_delta_opts *opts;
    struct stash_ent *sent;
    uint32_t nsent, maxsent, nslot, maxslot;
    uint64_t rb_pos, rb_advised, rb_done;   /* read-back look-ahead (under mu) */
    int redo;                   /* compare everything against the image */
    uint8_t *st;

    atomic_uint_fast64_t next;
    atomic_int failed;
    pthread_mutex_t mu;
    char *err;
    size_t errlen;
    int have_err;

    atomic_uint_fast64_t bytes_read, bytes_written, bytes_punched;
    /* full verification: first bad offset found and whether it was written now */
    uint64_t bad_off;
    int bad_written;
    int have_bad;
};

struct wbuf {
    unsigned char *a, *b;
};

typedef int (*chunk_fn)(struct ctx *c, struct wbuf *w, uint64_t first, uint64_t n);

BK_PRINTF(2, 3) static void set_err(struct ctx *c, const char *fmt, ...)
{
    pthread_mutex_lock(&c->mu);
    if (!c->have_err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err, c->errlen, fmt, ap);
        va_end(ap);
        c->have_err = 1;
    }
    pthread_mutex_unlock(&c->mu);
    atomic_store(&c->failed, 1);
}

static int is_zero(const void *p, size_t n)
{
    static const unsigned char z[16];
    const unsigned char *c = p;
    if (n <= 16)
        return memcmp(c, z, n) == 0;
    return memcmp(c, z, 16) == 0 && memcmp(c, c + 16, n - 16) == 0;
}

static uint64_t blk_off(const struct ctx *c, uint64_t i)
{
    return i * c->bs;
}

static size_t blk_len(const struct ctx *c, uint64_t i)
{
    uint64_t off = blk_off(c, i), left = c->size - off;
    return left < c->bs ? (size_t)left : c->bs;
}

static enum cmp_method method_of(const struct ctx *c, uint64_t i)
{
    if (c->redo)
        return CMP_IMAGE;
    if (!c->have_parent || blk_off(c, i) >= c->psize)
        return CMP_ZERO;
    if (c->ps_valid && i < c->ps.nblocks && sums_block_len(&c->ps, i) == blk_len(c, i))
        return CMP_SUMS;
    return CMP_IMAGE;
}

static int src_read(struct ctx *c, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = c->src->ops->pread(c->src, (char *)buf + got, len - got, off + got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            set_err(c, "cannot read source: %s: offset %" PRIu64 ": %s", c->src->desc,
                    off + got, strerror(errno));
            return -1;
        }
        if (r == 0) {
            set_err(c, "cannot read source: %s: ends at offset %" PRIu64
                    " before its size %" PRIu64, c->src->desc, off + got, c->size);
            return -1;
        }
        got += (size_t)r;
    }
    atomic_fetch_add(&c->bytes_read, len);
    return 0;
}

/* Read [off, off+len) of fd (named what/name in errors), zeros past its end. */
static int read_padded(struct ctx *c, int fd, uint64_t fsize, const char *what,
                       const char *name, void *buf, size_t len, uint64_t off)
{
    ssize_t r = off < fsize ? bk_pread_full(fd, buf, len, (off_t)off) : 0;
    if (r < 0) {
        set_err(c, "cannot read %s: %s: offset %" PRIu64 ": %s", what, name, off,
                strerror(errno));
        return -1;
    }
    if ((size_t)r < len)
        memset((char *)buf + r, 0, len - (size_t)r);
    return 0;
}

static int img_read(struct ctx *c, void *buf, size_t len, uint64_t off)
{
    return read_padded(c, c->img, UINT64_MAX, "image", c->path, buf, len, off);
}

/* The parent's content at [off, off+len) as the image holds it before this
 * run writes: the parent image itself while the clone is still being made
 * (and generally: its pages are the ones likely cached), the image once
 * this run has written to it (the redo pass). */
static int base_read(struct ctx *c, void *buf, size_t len, uint64_t off)
{
    if (c->redo || c->pfd < 0)
        return img_read(c, buf, len, off);
    return read_padded(c, c->pfd, c->psize, "parent image", c->ppath, buf, len, off);
}

static int img_write(struct ctx *c, const void *buf, size_t len, uint64_t off)
{
    if (bk_pwrite_all(c->img, buf, len, (off_t)off) < 0) {
        set_err(c, "cannot write image: %s: offset %" PRIu64 ": %s", c->path, off,
                strerror(errno));
        return -1;
    }
    atomic_fetch_add(&c->bytes_written, len);
    return 0;
}

static int img_punch(struct ctx *c, const unsigned char *zeros, size_t len, uint64_t off)
{
    if (fallocate(c->img, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                  (off_t)len) == 0) {
        atomic_fetch_add(&c->bytes_punched, len);
        return 0;
    }
    if (errno != EOPNOTSUPP && errno != ENOSYS) {
        set_err(c, "cannot punch hole: %s: offset %" PRIu64 ": %s", c->path, off,
                strerror(errno));
        return -1;
    }
    return img_write(c, zeros, len, off);
}

/* Hold changed block k (data d, l bytes) until the clone is done; 0 when
 * the stash is full. */
static int stash_put(struct ctx *c, uint64_t k, const unsigned char *d, size_t l)
{
    int zero = is_zero(d, l), ok = 0;
    pthread_mutex_lock(&c->mu);
    if (c->stash && c->nsent < c->maxsent && (zero || c->nslot < c->maxslot)) {
        uint32_t slot = zero ? STASH_ZERO : c->nslot++;
        c->sent[c->nsent++] = (struct stash_ent){k, slot};
        ok = 1;
        if (!zero)
            memcpy(c->stash + (size_t)slot * c->bs, d, l);
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* Write what the stash holds (the clone is done). */
static int stash_flush(struct ctx *c)
{
    unsigned char *zeros = NULL;
    int rc = 0;
    for (uint32_t e = 0; e < c->nsent && rc == 0; e++) {
        uint64_t k = c->sent[e].blk, o = blk_off(c, k);
        size_t l = blk_len(c, k);
        c->st[k] &= (uint8_t)~S_STASHED;
        if (c->sent[e].slot != STASH_ZERO) {
            rc = img_write(c, c->stash + (size_t)c->sent[e].slot * c->bs, l, o);
            c->st[k] |= S_WRITTEN;
            continue;
        }
        /* the zeros are written only where punching is unsupported */
        if (!zeros && !(zeros = calloc(1, c->bs))) {
            set_err(c, "cannot allocate memory: %s: %s", c->path, strerror(errno));
            return -1;
        }
        rc = img_punch(c, zeros, l, o);
        c->st[k] |= S_PUNCHED;
    }
    free(zeros);
    c->nsent = c->nslot = 0;
    return rc;
}

/* Start writing the image's dirty pages of blocks [first, first+n) now, so
 * that little is left for the final wait and fsync. */
static void start_writeback(struct ctx *c, uint64_t first, uint64_t n)
{
    if (n == 0)
        return;
    uint64_t off = blk_off(c, first);
    uint64_t len = blk_off(c, first + n - 1) + blk_len(c, first + n - 1) - off;
    sync_file_range(c->img, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
}

/* Pass 3 for blocks [first, first+n) of one chunk. Buffer a holds source
 * data, b the image's bytes where they are needed for comparing. */
static int chunk_backup(struct ctx *c, struct wbuf *w, uint64_t first, uint64_t n)
{
    uint64_t end = first + n, base = blk_off(c, first);
    uint64_t i = first;
    while (i < end) {
        int touched = c->st[i] & (S_READ | S_ZERO);
        uint64_t j = i + 1;
        if (!touched) {
            /* Unchanged by the source's account: inherit the parent's hash,
             * or hash the (cloned) image where the parent has no usable one. */
            while (j < end && !(c->st[j] & (S_READ | S_ZERO)))
                j++;
            uint64_t k = i;
            while (k < j) {
                if (method_of(c, k) == CMP_SUMS) {
                    c->ns.h[k] = c->ps.h[k];
                    k++;
                    continue;
                }
                uint64_t m = k + 1;
                while (m < j && method_of(c, m) != CMP_SUMS)
                    m++;
                uint64_t off = blk_off(c, k);
                size_t len = (size_t)(blk_off(c, m - 1) + blk_len(c, m - 1) - off);
                unsigned char *b = w->b + (off - base);
                if (base_read(c, b, len, off) < 0)
                    return -1;
                for (uint64_t q = k; q < m; q++)
                    sums_hash(b + (blk_off(c, q) - off), blk_len(c, q), &c->ns.h[q]);
                k = m;
            }
            i = j;
            continue;
        }
        while (j < end && (c->st[j] & (S_READ | S_ZERO)))
            j++;
        /* Touched run [i, j): fill buffer a with the source's data. */
        uint64_t roff = blk_off(c, i);
        size_t rlen = (size_t)(blk_off(c, j - 1) + blk_len(c, j - 1) - roff);
        unsigned char *b = w->b + (roff - base);
        int need_img = 0;
        for (uint64_t k = i; k < j;) {
            uint64_t m = k + 1;
            int rd = c->st[k] & S_READ;
            while (m < j && ((c->st[m] & S_READ) != 0) == (rd != 0))
                m++;
            uint64_t o = blk_off(c, k);
            size_t l = (size_t)(blk_off(c, m - 1) + blk_len(c, m - 1) - o);
            if (rd) {
                if (src_read(c, w->a + (o - base), l, o) < 0)
                    return -1;
                progress_add(l);
            } else {
                memset(w->a + (o - base), 0, l);
            }
            k = m;
        }
        for (uint64_t k = i; k < j; k++)
            if (method_of(c, k) == CMP_IMAGE)
                need_img = 1;
        if (need_img && base_read(c, b, rlen, roff) < 0)
            return -1;
        int defer = !atomic_load(&c->clone_ready);

        /* Decide per block; coalesce neighbouring writes. */
        uint64_t wstart = 0, wend = 0;   /* pending write, byte offsets */
        for (uint64_t k = i; k < j; k++) {
            uint64_t o = blk_off(c, k);
            size_t l = blk_len(c, k);
            unsigned char *d = w->a + (o - base);
            int changed = 0;
            sums_hash(d, l, &c->ns.h[k]);
            c->st[k] |= S_SRC;
            switch (method_of(c, k)) {
            case CMP_ZERO:
                changed = !is_zero(d, l);
                break;
            case CMP_SUMS:
                changed = !bk_hash_eq(&c->ns.h[k], &c->ps.h[k]);
                break;
            case CMP_IMAGE:
                changed = memcmp(d, w->b + (o - base), l) != 0;
                if (!changed)
                    c->st[k] |= S_VERIFIED;
                break;
            }
            if (!changed)
                continue;
            if (defer) {
                c->st[k] |= stash_put(c, k, d, l) ? S_STASHED : S_DEFER;
                continue;
            }
            if (is_zero(d, l)) {
                if (wend > wstart && img_write(c, w->a + (wstart - base), wend - wstart, wstart) < 0)
                    return -1;
                wstart = wend = 0;
                /* the zero source block is the data if punching is unsupported */
                if (img_punch(c, d, l, o) < 0)
                    return -1;
                c->st[k] |= S_PUNCHED;
                continue;
            }
            c->st[k] |= S_WRITTEN;
            if (wend > wstart && wend == o) {
                wend = o + l;
            } else {
                if (wend > wstart && img_write(c, w->a + (wstart - base), wend - wstart, wstart) < 0)
                    return -1;
                wstart = o;
                wend = o + l;
            }
        }
        if (wend > wstart && img_write(c, w->a + (wstart - base), wend - wstart, wstart) < 0)
            return -1;
        i = j;
    }
    start_writeback(c, first, n);
    return 0;
}

/* Blocks marked S_DEFER in pass 3: read them again from the source (the
 * source is a snapshot or should be quiet; should a block read differently
 * now, the image and the sums take the new data) and write them. */
static int chunk_deferred(struct ctx *c, struct wbuf *w, uint64_t first, uint64_t n)
{
    uint64_t end = first + n, base = blk_off(c, first);
    int any = 0;
    for (uint64_t i = first; i < end;) {
        if (!(c->st[i] & S_DEFER)) {
            i++;
            continue;
        }
        uint64_t j = i + 1;
        while (j < end && (c->st[j] & S_DEFER))
            j++;
        uint64_t off = blk_off(c, i);
        size_t len = (size_t)(blk_off(c, j - 1) + blk_len(c, j - 1) - off);
        unsigned char *a = w->a + (off - base);
        if (src_read(c, a, len, off) < 0)
            return -1;
        for (uint64_t k = i; k < j; k++) {
            uint64_t o = blk_off(c, k);
            size_t l = blk_len(c, k);
            unsigned char *d = w->a + (o - base);
            struct bk_hash h;
            sums_hash(d, l, &h);
            if (!bk_hash_eq(&h, &c->ns.h[k])) {
                log_warn("source changed during the backup: %s: offset %" PRIu64,
                         c->src->desc, o);
                c->ns.h[k] = h;
            }
            c->st[k] &= (uint8_t)~S_DEFER;
            if (is_zero(d, l)) {
                if (img_punch(c, d, l, o) < 0)
                    return -1;
                c->st[k] |= S_PUNCHED;
            } else {
                if (img_write(c, d, l, o) < 0)
                    return -1;
                c->st[k] |= S_WRITTEN;
            }
        }
        any = 1;
        i = j;
    }
    if (any)
        start_writeback(c, first, n);
    return 0;
}

/* The read-back's blocks are scattered (1% of the image, say): reading
 * them one by one, two at a time, leaves the disk idle between requests.
 * So the blocks still to be read are asked for (WILLNEED) in image order,
 * READBACK_AHEAD written blocks ahead of those read back so far. done: the
 * blocks the caller has just read back. */
#define READBACK_AHEAD 64

static void readback_ahead(struct ctx *c, uint64_t done)
{
    pthread_mutex_lock(&c->mu);
    c->rb_done += done;
    while (c->rb_pos < c->nblocks && c->rb_advised < c->rb_done + READBACK_AHEAD) {
        uint64_t i = c->rb_pos++;
        if (!(c->st[i] & S_WRITTEN))
            continue;
        posix_fadvise(c->img, (off_t)blk_off(c, i), (off_t)blk_len(c, i), POSIX_FADV_WILLNEED);
        c->rb_advised++;
    }
    pthread_mutex_unlock(&c->mu);
}

/* Pass 4: every block written or punched in this run reads back as hashed. */
static int chunk_readback(struct ctx *c, struct wbuf *w, uint64_t first, uint64_t n)
{
    uint64_t end = first + n, base = blk_off(c, first);
    uint64_t nread = 0;
    for (uint64_t i = first; i < end;) {
        if (!(c->st[i] & (S_WRITTEN | S_PUNCHED))) {
            i++;
            continue;
        }
        uint64_t j = i + 1;
        while (j < end && (c->st[j] & (S_WRITTEN | S_PUNCHED)))
            j++;
        uint64_t off = blk_off(c, i);
        size_t len = (size_t)(blk_off(c, j - 1) + blk_len(c, j - 1) - off);
        unsigned char *b = w->b + (off - base);
        if (img_read(c, b, len, off) < 0)
            return -1;
        for (uint64_t k = i; k < j; k++) {
            struct bk_hash h;
            sums_hash(b + (blk_off(c, k) - off), blk_len(c, k), &h);
            if (!bk_hash_eq(&h, &c->ns.h[k])) {
                set_err(c, "verification failed: %s: offset %" PRIu64
                        ": written data reads back differently", c->path, blk_off(c, k));
                return -1;
            }
        }
        nread += j - i;
        i = j;
    }
    readback_ahead(c, nread);
    return 0;
}

/* verify: full - the whole image against the source and the new sums. */
static int chunk_full(struct ctx *c, struct wbuf *w, uint64_t first, uint64_t n)
{
    uint64_t off = blk_off(c, first);
    size_t len = (size_t)(blk_off(c, first + n - 1) + blk_len(c, first + n - 1) - off);
    if (src_read(c, w->a, len, off) < 0 || img_read(c, w->b, len, off) < 0)
        return -1;
    progress_add(len);
    for (uint64_t k = first; k < first + n; k++) {
        size_t o = (size_t)(blk_off(c, k) - off), l = blk_len(c, k);
        struct bk_hash h;
        sums_hash(w->b + o, l, &h);
        if (memcmp(w->a + o, w->b + o, l) != 0 || !bk_hash_eq(&h, &c->ns.h[k])) {
            pthread_mutex_lock(&c->mu);
            if (!c->have_bad || blk_off(c, k) < c->bad_off) {
                c->have_bad = 1;
                c->bad_off = blk_off(c, k);
                c->bad_written = (c->st[k] & (S_WRITTEN | S_PUNCHED)) != 0;
            }
            pthread_mutex_unlock(&c->mu);
            return 0;
        }
    }
    return 0;
}

struct worker {
    struct ctx *c;
    chunk_fn fn;
    struct wbuf w;
};

static void *work(void *arg)
{
    struct worker *wk = arg;
    struct ctx *c = wk->c;
    while (!atomic_load(&c->failed)) {
        uint64_t k = atomic_fetch_add(&c->next, 1);
        if (k >= c->nchunks)
            break;
        uint64_t first = k * c->bpc;
        uint64_t n = c->nblocks - first < c->bpc ? c->nblocks - first : c->bpc;
        if (wk->fn(c, &wk->w, first, n) < 0) {
            atomic_store(&c->failed, 1);
            break;
        }
    }
    return NULL;
}

/* Run fn over all chunks with NTHREADS threads (fewer if threads cannot
 * be started). 0 or -1 with the error set. */
static int run_phase(struct ctx *c, struct worker *wk, chunk_fn fn)
{
    pthread_t th[NTHREADS];
    int started[NTHREADS] = {0};
    atomic_store(&c->next, 0);
    for (int t = 0; t < NTHREADS; t++)
        wk[t].fn = fn;
    for (int t = 1; t < NTHREADS; t++)
        started[t] = c->nchunks > 1 && pthread_create(&th[t], NULL, work, &wk[t]) == 0;
    work(&wk[0]);
    for (int t = 1; t < NTHREADS; t++)
        if (started[t])
            pthread_join(th[t], NULL);
    return atomic_load(&c->failed) ? -1 : 0;
}

static double now_mono(void) { return bk_mono(); }

/* Source bytes the backup pass reads, plus the whole source again for
 * verify: full: the total of the progress line. */
static uint64_t pass_bytes(const struct ctx *c)
{
    uint64_t n = c->opts->verify == BK_VERIFY_FULL ? c->size : 0;
    for (uint64_t i = 0; i < c->nblocks; i++)
        if (c->st[i] & S_READ)
            n += blk_len(c, i);
    return n;
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Pass 5: sample unchanged blocks. The sample is read with SAMPLE_THREADS
 * reads in flight (the image on disk is cold after fsync and the source may
 * be a cluster: one read at a time is latency-bound), and the image's blocks
 * are asked for (WILLNEED) SAMPLE_AHEAD blocks ahead of the readers, so the
 * disk sees them all queued in ascending order. */
#define SAMPLE_THREADS 8
#define SAMPLE_AHEAD 32

struct sampler {
    struct ctx *c;
    uint64_t *idx;              /* sampled blocks, ascending */
    uint64_t n;
    atomic_uint_fast64_t next, checked;
    atomic_int stop;            /* time is up, or a block disagreed */
    double t0;
    uint64_t bad;               /* lowest disagreeing offset (under c->mu) */
    int have_bad;
};

struct sample_worker {
    struct sampler *sp;
    unsigned char *a, *b;       /* source data, image data (one block each) */
    pthread_t th;
    int started;
};

static void sample_advise(struct ctx *c, uint64_t i)
{
    posix_fadvise(c->img, (off_t)blk_off(c, i), (off_t)blk_len(c, i), POSIX_FADV_WILLNEED);
}

/* 0 when block i of the image matches its new hash (and, where the hash did
 * not come from source data, the source's bytes); 1 when not; -1 on error. */
static int sample_one(struct ctx *c, uint64_t i, unsigned char *a, unsigned char *b)
{
    uint64_t off = blk_off(c, i);
    size_t len = blk_len(c, i);
    struct bk_hash h;
    if (img_read(c, b, len, off) < 0)
        return -1;
    sums_hash(b, len, &h);
    if (!bk_hash_eq(&h, &c->ns.h[i]))
        return 1;
    if (c->st[i] & S_SRC)
        return 0;
    if (src_read(c, a, len, off) < 0)
        return -1;
    return memcmp(a, b, len) != 0;
}

static void *sample_work(void *arg)
{
    struct sample_worker *sw = arg;
    struct sampler *sp = sw->sp;
    struct ctx *c = sp->c;
    while (!atomic_load(&sp->stop) && !atomic_load(&c->failed)) {
        uint64_t k = atomic_fetch_add(&sp->next, 1);
        if (k >= sp->n)
            break;
        if (now_mono() - sp->t0 > SAMPLE_SECONDS) {
            atomic_store(&sp->stop, 1);
            break;
        }
        if (k + SAMPLE_AHEAD < sp->n)
            sample_advise(c, sp->idx[k + SAMPLE_AHEAD]);
        int r = sample_one(c, sp->idx[k], sw->a, sw->b);
        if (r < 0)
            break;
        atomic_fetch_add(&sp->checked, 1);
        if (r > 0) {
            pthread_mutex_lock(&c->mu);
            if (!sp->have_bad || blk_off(c, sp->idx[k]) < sp->bad) {
                sp->have_bad = 1;
                sp->bad = blk_off(c, sp->idx[k]);
            }
            pthread_mutex_unlock(&c->mu);
            atomic_store(&sp->stop, 1);
        }
    }
    return NULL;
}

/* Returns 0 when all agree, 1 when the image or the source disagrees with
 * the new sums (lowest such offset in *bad), -1 on error. */
static int sample_unchanged(struct ctx *c, struct wbuf *w, uint64_t *bad)
{
    if (c->nblocks == 0)
        return 0;
    uint64_t want = c->nblocks * SAMPLE_PERMILLE / 1000;
    if (want < SAMPLE_MIN)
        want = SAMPLE_MIN;
    if (want > c->nblocks)
        want = c->nblocks;
    uint64_t step = c->nblocks / want;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40);
    if (!seed)
        seed = 0x9e3779b97f4a7c15ull;
    struct sampler sp = {.c = c, .t0 = now_mono()};
    sp.idx = malloc(want * sizeof(*sp.idx));
    if (!sp.idx) {
        set_err(c, "cannot allocate memory: %s: %s", c->path, strerror(errno));
        return -1;
    }
    for (uint64_t s = 0; s < want; s++) {
        uint64_t i = s * step + xorshift(&seed) % step;
        if (!(c->st[i] & (S_WRITTEN | S_PUNCHED | S_VERIFIED)))
            sp.idx[sp.n++] = i;
    }
    for (uint64_t k = 0; k < sp.n && k < SAMPLE_AHEAD; k++)
        sample_advise(c, sp.idx[k]);

    struct sample_worker sw[SAMPLE_THREADS];
    memset(sw, 0, sizeof(sw));
    int nt = sp.n < SAMPLE_THREADS ? (int)sp.n : SAMPLE_THREADS;
    sw[0] = (struct sample_worker){.sp = &sp, .a = w->a, .b = w->b};
    for (int t = 1; t < nt; t++) {
        sw[t].sp = &sp;
        sw[t].a = malloc(c->bs);
        sw[t].b = malloc(c->bs);
        if (sw[t].a && sw[t].b)
            sw[t].started = pthread_create(&sw[t].th, NULL, sample_work, &sw[t]) == 0;
    }
    sample_work(&sw[0]);
    for (int t = 1; t < nt; t++) {
        if (sw[t].started)
            pthread_join(sw[t].th, NULL);
        free(sw[t].a);
        free(sw[t].b);
    }
    free(sp.idx);
    if (atomic_load(&c->failed))
        return -1;
    log_debug("verify: %" PRIu64 " unchanged blocks sampled in %.3f s",
              (uint64_t)atomic_load(&sp.checked), now_mono() - sp.t0);
    if (sp.have_bad) {
        *bad = sp.bad;
        return 1;
    }
    return 0;
}

/* Make the new image a copy of the parent: reflink, else a sparse copy. */
static int clone_parent(struct ctx *c, struct bk_delta_stats *stats)
{
    if (ioctl(c->img, FICLONE, c->pfd) == 0) {
        stats->reflinked = 1;
        return 0;
    }
    int e = errno;
    if (e != EOPNOTSUPP && e != EXDEV && e != EINVAL && e != ENOTTY && e != ENOSYS) {
        set_err(c, "cannot clone parent image: %s: %s", c->path, strerror(e));
        return -1;
    }
    log_warn("filesystem has no reflink support: making a full copy");
    unsigned char *buf = NULL;
    uint64_t off = 0;
    while (off < c->psize) {
        off_t d = lseek(c->pfd, (off_t)off, SEEK_DATA), h;
        if (d < 0 && errno == ENXIO)
            break;
        if (d < 0) {
            d = (off_t)off;
            h = (off_t)c->psize;
        } else {
            h = lseek(c->pfd, d, SEEK_HOLE);
            if (h < 0)
                h = (off_t)c->psize;
        }
        off_t in = d, out = d;
        while (in < h) {
            ssize_t r = buf ? -1 : copy_file_range(c->pfd, &in, c->img, &out, (size_t)(h - in), 0);
            if (r > 0)
                continue;
            if (r == 0)
                break;
            if (!buf && (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS ||
                         errno == EINVAL || errno == EBADF)) {
                buf = bk_big_alloc(CHUNK_BYTES);
                if (!buf) {
                    set_err(c, "cannot copy parent image: %s: %s", c->path, strerror(errno));
                    return -1;
                }
            }
            if (!buf) {
                set_err(c, "cannot copy parent image: %s: %s", c->path, strerror(errno));
                return -1;
            }
            size_t l = (size_t)(h - in) < CHUNK_BYTES ? (size_t)(h - in) : CHUNK_BYTES;
            ssize_t got = bk_pread_full(c->pfd, buf, l, in);
            if (got <= 0) {
                set_err(c, "cannot read parent image: %s: %s", c->ppath,
                        got < 0 ? strerror(errno) : "unexpected end of file");
                free(buf);
                return -1;
            }
            if (!is_zero(buf, (size_t)got) &&
                bk_pwrite_all(c->img, buf, (size_t)got, in) < 0) {
                set_err(c, "cannot write image: %s: %s", c->path, strerror(errno));
                free(buf);
                return -1;
            }
            in += got;
            out = in;
        }
        off = (uint64_t)h;
    }
    free(buf);
    if (ftruncate(c->img, (off_t)c->psize) < 0) {
        set_err(c, "cannot resize image: %s: %s", c->path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Step 1 in its own thread: clone (or copy), then set the new size. */
static void *clone_work(void *arg)
{
    struct ctx *c = arg;
    if (c->opts->before_clone)
        c->opts->before_clone(c->opts->before_clone_arg);
    double t0 = now_mono();
    if (clone_parent(c, c->stats) == 0) {
        if (ftruncate(c->img, (off_t)c->size) < 0)
            set_err(c, "cannot resize image: %s: %s", c->path, strerror(errno));
        else
            atomic_store(&c->clone_ready, 1);
    }
    c->clone_secs = now_mono() - t0;
    return NULL;
}

struct mark_arg {
    struct ctx *c;
};

static int mark_cb(uint64_t off, uint64_t len, int exists, void *arg)
{
    struct ctx *c = ((struct mark_arg *)arg)->c;
    if (off >= c->size || len == 0)
        return 0;
    if (len > c->size - off)
        len = c->size - off;
    uint64_t a = off / c->bs, b = (off + len - 1) / c->bs;
    for (uint64_t i = a; i <= b; i++) {
        int whole = blk_off(c, i) >= off && blk_off(c, i) + blk_len(c, i) <= off + len;
        if (exists || !whole)
            c->st[i] |= S_READ;
        else
            c->st[i] |= S_ZERO;
    }
    return 0;
}

/* Wait until every page written is on the disk, then drop the image from
 * the page cache: the read-back should come from the disk, not from the
 * pages just written. The fsync (metadata, and the disk's cache) runs
 * beside the read-back, see fsync_start. */
static int flush_image_data(struct ctx *c)
{
    if (sync_file_range(c->img, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                        SYNC_FILE_RANGE_WAIT_AFTER) < 0 && errno != ESPIPE) {
        set_err(c, "cannot write image: %s: %s", c->path, strerror(errno));
        return -1;
    }
    posix_fadvise(c->img, 0, 0, POSIX_FADV_DONTNEED);
    return 0;
}

struct fsyncer {
    struct ctx *c;
    pthread_t th;
    int started;
    int err;
};

static void *fsync_work(void *arg)
{
    struct fsyncer *f = arg;
    f->err = fsync(f->c->img) < 0 ? errno : 0;
    return NULL;
}

static void fsync_start(struct fsyncer *f, struct ctx *c)
{
    f->c = c;
    f->err = 0;
    f->started = pthread_create(&f->th, NULL, fsync_work, f) == 0;
}

static int fsync_finish(struct fsyncer *f)
{
    if (f->started) {
        pthread_join(f->th, NULL);
        f->started = 0;
    } else {
        fsync_work(f);
    }
    if (f->err) {
        set_err(f->c, "cannot fsync image: %s: %s", f->c->path, strerror(f->err));
        return -1;
    }
    return 0;
}

static void load_parent_sums(struct ctx *c, const char *parent_id, uint32_t want_bs)
{
    char name[256];
    char e[512];
    snprintf(name, sizeof(name), "%s%s", parent_id, BK_SUMS_SUFFIX);
    if (sums_load(c->dirfd, name, &c->ps, e, sizeof(e)) < 0) {
        if (errno == ENOENT)
            log_info("parent %s has no sums: comparing with its image", parent_id);
        else
            log_warn("%s: comparing with the parent image", e);
        return;
    }
    if (c->ps.size != c->psize) {
        log_warn("sums of parent %s describe %" PRIu64 " bytes, its image has %" PRIu64
                 ": comparing with the parent image", parent_id, c->ps.size, c->psize);
        sums_free(&c->ps);
        return;
    }
    if (want_bs && c->ps.block_size != want_bs) {
        log_info("sums of parent %s use %u byte blocks, not %u: comparing with the parent image",
                 parent_id, c->ps.block_size, want_bs);
        sums_free(&c->ps);
        return;
    }
    c->ps_valid = 1;
}

/* One backup: what setup takes and the pass needs, released by teardown. */
struct backup {
    struct ctx *c;              /* NULL when even that could not be allocated */
    struct worker wk[NTHREADS];
    pthread_t clone_th;
    int clone_started;          /* the clone thread runs, or is still to be joined */
    const char *new_id, *parent_id;
    double t0;
    struct bk_delta_opts defopts;
    struct bk_delta_stats nostats;
};

/* Check the options, open the parent and its sums, create the new image. */
static int setup_files(struct backup *b, const char *dir)
{
    struct ctx *c = b->c;
    const struct bk_delta_opts *opts = c->opts;
    if (opts->block_size && (opts->block_size < 4096 || (opts->block_size & (opts->block_size - 1)))) {
        set_err(c, "invalid block size: %s: %u is not a power of two >= 4096", c->path,
                opts->block_size);
        return -1;
    }
    if (c->have_parent) {
        snprintf(c->ppath, sizeof(c->ppath), "%s/%s", dir ? dir : ".", b->parent_id);
        struct stat sb;
        c->pfd = bk_open_file(c->dirfd, b->parent_id, O_RDONLY | O_NOFOLLOW, BK_FT_REG, &sb);
        if (c->pfd < 0) {
            set_err(c, "cannot open parent image: %s: %s", c->ppath, bk_strerror(errno));
            return -1;
        }
        c->psize = (uint64_t)sb.st_size;
        load_parent_sums(c, b->parent_id, opts->block_size);
    }
    c->bs = opts->block_size ? opts->block_size : c->ps_valid ? c->ps.block_size : BK_SUMS_BLOCK;
    c->stats->used_sums = c->ps_valid;

    c->img = openat(c->dirfd, b->new_id, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (c->img < 0) {
        set_err(c, "cannot create image: %s: %s", c->path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Step 1: start cloning the parent (reflink, else a copy: clone_parent
 * chooses) beside the pass; without a parent only set the size. */
static int setup_image(struct backup *b)
{
    struct ctx *c = b->c;
    if (c->have_parent) {
        b->clone_started = pthread_create(&b->clone_th, NULL, clone_work, c) == 0;
        if (!b->clone_started)
            clone_work(c);
        if (atomic_load(&c->failed))
            return -1;
    } else {
        if (ftruncate(c->img, (off_t)c->size) < 0) {
            set_err(c, "cannot resize image: %s: %s", c->path, strerror(errno));
            return -1;
        }
        atomic_store(&c->clone_ready, 1);
    }
    if (c->src->fd >= 0)
        posix_fadvise(c->src->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return 0;
}

/* The new sums, the block states, the stash and the workers' buffers. */
static int setup_buffers(struct backup *b)
{
    struct ctx *c = b->c;
    if (sums_init(&c->ns, c->size, c->bs) < 0) {
        set_err(c, "cannot allocate sums: %s: %s", c->path, strerror(errno));
        return -1;
    }
    c->nblocks = c->ns.nblocks;
    size_t chunk = c->bs > CHUNK_BYTES ? c->bs : CHUNK_BYTES;
    c->bpc = chunk / c->bs;
    c->nchunks = (c->nblocks + c->bpc - 1) / c->bpc;
    c->st = calloc(c->nblocks ? c->nblocks : 1, 1);
    int nomem = !c->st;
    uint32_t stash_bytes = c->opts->stash_bytes ? c->opts->stash_bytes : STASH_BYTES;
    if (c->have_parent && c->bs <= stash_bytes) {
        c->maxslot = stash_bytes / c->bs;
        c->maxsent = c->maxslot * 4;
        c->stash = malloc(stash_bytes);
        c->sent = malloc(c->maxsent * sizeof(*c->sent));
        nomem |= !c->stash || !c->sent;
    }
    for (int t = 0; t < NTHREADS; t++) {
        b->wk[t].c = c;
        b->wk[t].w.a = bk_big_alloc(chunk);
        b->wk[t].w.b = bk_big_alloc(chunk);
        nomem |= !b->wk[t].w.a || !b->wk[t].w.b;
    }
    if (nomem) {
        set_err(c, "cannot allocate buffers: %s: %s", c->path, strerror(ENOMEM));
        return -1;
    }
    return 0;
}

/* Step 2: mark the blocks the source reports as changed (all of them for a
 * full compare or a first revision); start the progress line. */
static int setup_marks(struct backup *b)
{
    struct ctx *c = b->c;
    const struct bk_delta_opts *opts = c->opts;
    int full = 0;
    struct mark_arg ma = {c};
    if (c->src->ops->changed(c->src, &full, mark_cb, &ma, c->err, c->errlen) < 0) {
        c->have_err = 1;
        return -1;
    }
    if (full || opts->force_full || !c->have_parent) {
        for (uint64_t i = 0; i < c->nblocks; i++)
            if (opts->force_full || !(c->st[i] & S_ZERO))
                c->st[i] = S_READ;
    }
    log_debug("delta: %s: %" PRIu64 " blocks of %u bytes, parent %s, %s%s", c->path,
              c->nblocks, c->bs, c->have_parent ? b->parent_id : "none",
              c->ps_valid ? "comparing with parent sums" : "comparing with parent image",
              full ? ", full compare requested by the source" : "");
    if (opts->progress_label)
        progress_start(pass_bytes(c), opts->progress_label);
    return 0;
}

/* Everything the pass needs, or -1 with the error set (teardown releases
 * what was taken either way). */
static int backup_setup(struct backup *b, int dirfd, const char *dir, const char *new_id,
                        const char *parent_id, struct bk_source *src,
                        const struct bk_delta_opts *opts, struct bk_delta_stats *stats,
                        char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    b->new_id = new_id;
    b->parent_id = parent_id;
    if (!opts)
        opts = &b->defopts;
    if (!stats)
        stats = &b->nostats;
    memset(stats, 0, sizeof(*stats));

    struct ctx *c = b->c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "cannot allocate memory: %s: %s", new_id, strerror(errno));
        return -1;
    }
    c->dirfd = dirfd;
    c->src = src;
    c->img = c->pfd = -1;
    c->err = err;
    c->errlen = errlen;
    c->opts = opts;
    c->stats = stats;
    pthread_mutex_init(&c->mu, NULL);
    snprintf(c->path, sizeof(c->path), "%s/%s", dir ? dir : ".", new_id);
    c->size = src->size;
    c->have_parent = parent_id && *parent_id;
    b->t0 = now_mono();

    if (setup_files(b, dir) < 0 || setup_image(b) < 0 || setup_buffers(b) < 0 ||
        setup_marks(b) < 0)
        return -1;
    return 0;
}

/* After pass 3, with the clone done: write what the stash holds and the
 * blocks that were deferred. */
static int write_held(struct backup *b, uint64_t *nstash, uint64_t *ndefer)
{
    struct ctx *c = b->c;
    *nstash = c->nsent;
    *ndefer = 0;
    if (stash_flush(c) < 0)
        return -1;
    start_writeback(c, 0, c->nblocks);
    for (uint64_t i = 0; i < c->nblocks; i++)
        *ndefer += (c->st[i] & S_DEFER) != 0;
    c->stats->blocks_held += *nstash;
    c->stats->blocks_reread += *ndefer;
    if (*ndefer && run_phase(c, b->wk, chunk_deferred) < 0)
        return -1;
    return 0;
}

/* Passes 3 to 5 once. 0 with *mismatch set when the verification found the
 * image or the source disagreeing with the new sums (lowest offset in
 * *bad), or -1 with the error set. */
static int pass_once(struct backup *b, int *mismatch, uint64_t *bad)
{
    struct ctx *c = b->c;
    const struct bk_delta_opts *opts = c->opts;
    double t1 = now_mono();
    int prc = run_phase(c, b->wk, chunk_backup);
    double t2 = now_mono();
    if (b->clone_started) {
        pthread_join(b->clone_th, NULL);
        b->clone_started = 0;
        log_debug("delta: clone %.3f s (beside the pass)", c->clone_secs);
    }
    if (prc < 0 || atomic_load(&c->failed))
        return -1;
    uint64_t nstash, ndefer;
    if (write_held(b, &nstash, &ndefer) < 0)
        return -1;
    double t3 = now_mono();
    if (flush_image_data(c) < 0)
        return -1;
    double t4 = now_mono();
    struct fsyncer fs;
    fsync_start(&fs, c);
    c->rb_pos = c->rb_advised = c->rb_done = 0;
    readback_ahead(c, 0);
    prc = run_phase(c, b->wk, chunk_readback);
    double t5 = now_mono();
    *bad = 0;
    *mismatch = 0;
    if (prc == 0 && opts->verify == BK_VERIFY_FULL) {
        c->have_bad = 0;
        prc = run_phase(c, b->wk, chunk_full);
        *mismatch = c->have_bad;
        *bad = c->bad_off;
    } else if (prc == 0 && opts->verify != BK_VERIFY_OFF) {
        *mismatch = sample_unchanged(c, &b->wk[0].w, bad);
        if (*mismatch < 0)
            prc = -1;
    }
    double t6 = now_mono();
    if (fsync_finish(&fs) < 0 || prc < 0)
        return -1;
    log_debug("delta: pass %.3f s, held during the clone %" PRIu64 " blocks, read again "
              "%" PRIu64 ", written %.3f s; data to disk %.3f s, read-back %.3f s, verify "
              "%.3f s, fsync wait %.3f s", t2 - t1, nstash, ndefer, t3 - t2, t4 - t3, t5 - t4, t6 - t5, now_mono() - t6);
    return 0;
}

/* The pass over the blocks; when the verification finds the parent's sums
 * or the source's change list wrong, once more comparing the whole image
 * with the source. 0, or -1 with the error set. */
static int backup_pass(struct backup *b)
{
    struct ctx *c = b->c;
    for (int attempt = 0;; attempt++) {
        int mismatch;
        uint64_t bad;
        if (pass_once(b, &mismatch, &bad) < 0)
            return -1;
        if (c->opts->verify == BK_VERIFY_FULL && c->have_bad && c->bad_written) {
            set_err(c, "verification failed: %s: offset %" PRIu64
                    ": image differs from source", c->path, c->bad_off);
            return -1;
        }
        if (!mismatch)
            return 0;
        if (attempt > 0 || !c->have_parent) {
            set_err(c, "verification failed: %s: offset %" PRIu64
                    ": image differs from source", c->path, bad);
            return -1;
        }
        log_warn("parent %s does not match its sums or the source's change list at "
                 "offset %" PRIu64 ": comparing the whole image with the source",
                 b->parent_id, bad);
        c->stats->parent_mismatch = 1;
        c->redo = 1;
        for (uint64_t i = 0; i < c->nblocks; i++)
            c->st[i] = (uint8_t)((c->st[i] & (S_WRITTEN | S_PUNCHED)) | S_READ);
        progress_grow(pass_bytes(c));
    }
}

/* Step 6: NEWID.sums, once the image is complete on the disk. */
static int write_sums(struct backup *b)
{
    struct ctx *c = b->c;
    char sname[256];
    snprintf(sname, sizeof(sname), "%s%s", b->new_id, BK_SUMS_SUFFIX);
    if (sums_save(c->dirfd, sname, &c->ns, 0440, c->err, c->errlen) < 0) {
        c->have_err = 1;
        return -1;
    }
    return 0;
}

static void log_summary(struct backup *b)
{
    struct ctx *c = b->c;
    const struct bk_delta_stats *stats = c->stats;
    char rd[32], wr[32], pu[32];
    bk_fmt_size(rd, sizeof(rd), stats->bytes_read);
    bk_fmt_size(wr, sizeof(wr), stats->bytes_written);
    bk_fmt_size(pu, sizeof(pu), stats->bytes_punched);
    log_info("delta: %s: read %s, wrote %s, punched %s, %s in %.2f s", b->new_id, rd, wr, pu,
             !c->have_parent ? "first revision"
             : c->redo ? "full compare after parent mismatch"
             : c->ps_valid ? "parent sums used" : "parent image compared",
             now_mono() - b->t0);
    if (c->have_parent)
        log_debug("delta: %s: parent %s %s", b->new_id, b->parent_id,
                  stats->reflinked ? "cloned by reflink" : "copied");
}

/* Finish (write the sums, report) when rc is 0, else abandon (the error is
 * set; the image is left to the caller, who removes the revision); on every
 * path wait for the clone thread and release what setup took. The final
 * status. */
static int backup_teardown(struct backup *b, int rc)
{
    struct ctx *c = b->c;
    if (!c)
        return rc;
    if (rc == 0)
        rc = write_sums(b);
    progress_end(rc == 0);
    struct bk_delta_stats *stats = c->stats;
    stats->size = c->size;
    stats->bytes_read = atomic_load(&c->bytes_read);
    stats->bytes_written = atomic_load(&c->bytes_written);
    stats->bytes_punched = atomic_load(&c->bytes_punched);
    if (rc == 0)
        log_summary(b);
    else if (!c->have_err)
        snprintf(c->err, c->errlen, "backup failed: %s: unknown error", c->path);
    if (b->clone_started)
        pthread_join(b->clone_th, NULL);
    for (int t = 0; t < NTHREADS; t++) {
        free(b->wk[t].w.a);
        free(b->wk[t].w.b);
    }
    free(c->st);
    free(c->stash);
    free(c->sent);
    sums_free(&c->ps);
    sums_free(&c->ns);
    if (c->img >= 0)
        close(c->img);
    if (c->pfd >= 0)
        close(c->pfd);
    pthread_mutex_destroy(&c->mu);
    free(c);
    b->c = NULL;
    return rc;
}

int delta_backup(int dirfd, const char *dir, const char *new_id, const char *parent_id,
                 struct bk_source *src, const struct bk_delta_opts *opts,
                 struct bk_delta_stats *stats, char *err, size_t errlen)
{
    struct backup b;
    int rc = backup_setup(&b, dirfd, dir, new_id, parent_id, src, opts, stats, err, errlen);
    if (rc == 0)
        rc = backup_pass(&b);
    return backup_teardown(&b, rc);
}
