/* copyout.c - copy a revision image to a target (contract in
 * include/backy/copyout.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxh_x86dispatch.h>

#include "backy/copyout.h"
#include "backy/progress.h"
#include "backy/sums.h"
#include "backy/util.h"

#define BUF_BYTES (4u * 1024 * 1024)
/* copy_file_range and sendfile in pieces no larger, so the progress line
 * moves (the cost: a few more system calls per GiB) */
#define KERNEL_PIECE ((size_t)64 << 20)

const char *bk_copy_method_name(enum bk_copy_method m)
{
    switch (m) {
    case BK_COPY_REFLINK: return "reflink";
    case BK_COPY_CFR: return "copy_file_range";
    case BK_COPY_SPLICE: return "splice";
    case BK_COPY_RW: return "read/write";
    default: return "none";
    }
}

struct cp {
    int src, dst;
    uint64_t size;
    unsigned char *buf;
    struct bk_copy_stats *st;
    uint64_t wb_off, wb_len;    /* range written last, writeback started */
    char *err;
    size_t errlen;
    /* checked copy: sums, next offset to check, a block in progress */
    const struct bk_sums *sums;
    int keep_going;
    uint64_t ck_pos;
    XXH3_state_t *xs;
    int have_zero_hash;
    struct bk_hash zero_hash;   /* of a whole block of zeros */
};

static int fail(struct cp *c, const char *what, int e)
{
    snprintf(c->err, c->errlen, "%s: %s", what, strerror(e));
    errno = e;
    return -1;
}

static int get_buf(struct cp *c)
{
    if (!c->buf && !(c->buf = bk_big_alloc(BUF_BYTES)))
        return fail(c, "cannot allocate copy buffer", errno);
    return 0;
}

/* --- checking against the sums ------------------------------------------
 * The image is fed in order (ck_feed for data, ck_zero_to for holes); a block
 * that arrives whole is hashed in one call, one split over two buffers is
 * hashed incrementally. */

static const unsigned char zeros64k[64 * 1024];

static int ck_done(struct cp *c, uint64_t k, const struct bk_hash *h)
{
    if (bk_hash_eq(h, &c->sums->h[k]))
        return 0;
    if (!c->st->bad_blocks)
        c->st->first_bad = k;
    c->st->bad_blocks++;
    if (c->keep_going)
        return 0;
    snprintf(c->err, c->errlen, "block %llu at offset %llu differs from its sums",
             (unsigned long long)k, (unsigned long long)k * c->sums->block_size);
    errno = EBADMSG;
    return -1;
}

static int ck_state(struct cp *c)
{
    if (!c->xs && !(c->xs = XXH3_createState()))
        return fail(c, "cannot allocate hash state", ENOMEM);
    return 0;
}

static void ck_digest(struct cp *c, struct bk_hash *h)
{
    XXH128_hash_t d = XXH3_128bits_digest(c->xs);
    h->lo = d.low64;
    h->hi = d.high64;
}

/* zeros == 1: len bytes of zeros (p unused) */
static int ck_run(struct cp *c, const unsigned char *p, uint64_t len, int zeros)
{
    const struct bk_sums *s = c->sums;
    while (len) {
        uint64_t k = c->ck_pos / s->block_size, in = c->ck_pos % s->block_size;
        uint64_t blen = sums_block_len(s, k);
        uint64_t take = len < blen - in ? len : blen - in;
        struct bk_hash h;
        int whole = in == 0 && take == blen;
        if (whole && !zeros) {
            sums_hash(p, (size_t)take, &h);
            if (ck_done(c, k, &h) < 0)
                return -1;
        } else if (whole && blen == s->block_size && c->have_zero_hash) {
            if (ck_done(c, k, &c->zero_hash) < 0)
                return -1;
        } else {
            if (ck_state(c) < 0)
                return -1;
            if (in == 0)
                XXH3_128bits_reset(c->xs);
            if (zeros) {
                for (uint64_t z = 0; z < take;) {
                    size_t n = take - z < sizeof zeros64k ? (size_t)(take - z) : sizeof zeros64k;
                    XXH3_128bits_update_dispatch(c->xs, zeros64k, n);
                    z += n;
                }
            } else {
                XXH3_128bits_update_dispatch(c->xs, p, (size_t)take);
            }
            if (in + take == blen) {
                ck_digest(c, &h);
                if (zeros && whole && blen == s->block_size) {
                    c->zero_hash = h;
                    c->have_zero_hash = 1;
                }
                if (ck_done(c, k, &h) < 0)
                    return -1;
            }
        }
        c->ck_pos += take;
        c->st->bytes_checked += take;
        if (!zeros)
            p += take;
        len -= take;
    }
    return 0;
}

static int ck_feed(struct cp *c, const unsigned char *p, uint64_t off, uint64_t len)
{
    if (!c->sums)
        return 0;
    if (off > c->ck_pos && ck_run(c, NULL, off - c->ck_pos, 1) < 0)  /* a hole before */
        return -1;
    return ck_run(c, p, len, 0);
}

/* Everything up to off (a hole, or the end) reads as zeros. */
static int ck_zero_to(struct cp *c, uint64_t off)
{
    if (!c->sums || off <= c->ck_pos)
        return 0;
    return ck_run(c, NULL, off - c->ck_pos, 1);
}

/* Write-behind for files and devices: start writeback of each range as it
 * is written and wait for the one before, so dirty pages never pile up
 * (the kernel would otherwise throttle the writer in bursts and leave most
 * of the work to the final fsync); written pages leave the cache. */
static void stream_out(struct cp *c, uint64_t off, uint64_t len)
{
    sync_file_range(c->dst, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
    if (c->wb_len) {
        sync_file_range(c->dst, (off_t)c->wb_off, (off_t)c->wb_len,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                        SYNC_FILE_RANGE_WAIT_AFTER);
        posix_fadvise(c->dst, (off_t)c->wb_off, (off_t)c->wb_len, POSIX_FADV_DONTNEED);
    }
    c->wb_off = off;
    c->wb_len = len;
}

/* Fill the buffer with up to l bytes from off and check them: read in
 * pieces that fit the CPU cache and hash each while it is still there, so
 * checking costs no memory pass of its own; the caller still writes one
 * large request. Returns bytes read (short only at the end of the image),
 * or -1 with errno (EBADMSG: damage, err set). */
#define CK_PIECE (1u << 20)
static ssize_t read_checked(struct cp *c, size_t l, uint64_t off)
{
    size_t got = 0;
    while (got < l) {
        size_t n = l - got < CK_PIECE ? l - got : CK_PIECE;
        ssize_t r = bk_pread_full(c->src, c->buf + got, n, (off_t)(off + got));
        if (r < 0)
            return -1;
        if (r > 0 && ck_feed(c, c->buf + got, off + got, (uint64_t)r) < 0)
            return -1;
        got += (size_t)r;
        if ((size_t)r < n)
            break;
    }
    return (ssize_t)got;
}

/* Copy [off, end) with pread/pwrite (dst_off = off) or write (dst_off < 0). */
static int copy_rw(struct cp *c, uint64_t off, uint64_t end, int positional)
{
    if (off >= end)
        return 0;
    if (get_buf(c) < 0)
        return -1;
    if (c->st->method == BK_COPY_NONE || c->st->method == BK_COPY_CFR)
        c->st->method = BK_COPY_RW;
    while (off < end) {
        size_t l = end - off < BUF_BYTES ? (size_t)(end - off) : BUF_BYTES;
        ssize_t r = c->sums ? read_checked(c, l, off) : bk_pread_full(c->src, c->buf, l, (off_t)off);
        if (r < 0 && errno == EBADMSG && c->sums)
            return -1;
        if (r < 0)
            return fail(c, "cannot read image", errno);
        if (r == 0)
            return fail(c, "cannot read image", EIO);   /* shrank under us */
        int w = positional ? bk_pwrite_all(c->dst, c->buf, (size_t)r, (off_t)off)
                           : bk_write_all(c->dst, c->buf, (size_t)r);
        if (w < 0)
            return fail(c, "cannot write target", errno);
        if (positional)
            stream_out(c, off, (uint64_t)r);
        off += (uint64_t)r;
        c->st->bytes_copied += (uint64_t)r;
        progress_set(off);
    }
    return 0;
}

/* Copy a data range between regular files: copy_file_range, else read/write. */
static int copy_range_file(struct cp *c, uint64_t off, uint64_t end)
{
    loff_t in = (loff_t)off, out = (loff_t)off;
    /* a checked copy needs the data in the buffer */
    while ((uint64_t)in < end && c->st->method != BK_COPY_RW && !c->sums) {
        size_t want = end - (uint64_t)in < KERNEL_PIECE ? (size_t)(end - (uint64_t)in) : KERNEL_PIECE;
        ssize_t r = copy_file_range(c->src, &in, c->dst, &out, want, 0);
        if (r > 0) {
            c->st->method = BK_COPY_CFR;
            c->st->bytes_copied += (uint64_t)r;
            progress_set((uint64_t)in);
            continue;
        }
        if (r == 0)
            return fail(c, "cannot read image", EIO);
        if (errno == EINTR)
            continue;
        if (errno != EXDEV && errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL &&
            errno != EBADF)
            return fail(c, "cannot copy to target", errno);
        c->st->method = BK_COPY_RW;
    }
    return copy_rw(c, (uint64_t)in, end, 1);
}

/* Next data segment at or after off: [*d, *h). 0 when none is left. */
static int next_data(struct cp *c, uint64_t off, uint64_t *d, uint64_t *h)
{
    off_t a = lseek(c->src, (off_t)off, SEEK_DATA);
    if (a < 0) {
        if (errno == ENXIO)
            return 0;
        *d = off;              /* no SEEK_DATA: all of it is data */
        *h = c->size;
        return 1;
    }
    off_t b = lseek(c->src, a, SEEK_HOLE);
    *d = (uint64_t)a;
    *h = b < 0 || (uint64_t)b > c->size ? c->size : (uint64_t)b;
    return 1;
}

static int punch_or_zero(struct cp *c, uint64_t off, uint64_t end)
{
    if (off >= end)
        return 0;
    if (fallocate(c->dst, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                  (off_t)(end - off)) == 0)
        return 0;
    if (get_buf(c) < 0)
        return -1;
    memset(c->buf, 0, BUF_BYTES);
    while (off < end) {
        size_t l = end - off < BUF_BYTES ? (size_t)(end - off) : BUF_BYTES;
        if (bk_pwrite_all(c->dst, c->buf, l, (off_t)off) < 0)
            return fail(c, "cannot write target", errno);
        off += l;
    }
    return 0;
}

/* After a reflink: read the image once and check it (data segments read,
 * holes checked as zeros). */
static int check_only(struct cp *c)
{
    uint64_t off = 0, d, h;
    if (get_buf(c) < 0)
        return -1;
    while (off < c->size && next_data(c, off, &d, &h)) {
        for (off = d; off < h;) {
            size_t l = h - off < BUF_BYTES ? (size_t)(h - off) : BUF_BYTES;
            ssize_t r = read_checked(c, l, off);
            if (r < 0 && errno == EBADMSG)
                return -1;
            if (r < 0)
                return fail(c, "cannot read image", errno);
            if (r == 0)
                return fail(c, "cannot read image", EIO);
            off += (uint64_t)r;
            progress_set(off);
        }
    }
    return ck_zero_to(c, c->size);
}

static int to_file(struct cp *c, int dst_is_new)
{
    if (ioctl(c->dst, FICLONE, c->src) == 0) {
        c->st->method = BK_COPY_REFLINK;
        c->st->bytes_copied = c->size;
        if (c->sums && check_only(c) < 0)
            return -1;
    } else {
        /* Data segments are copied; holes are skipped in a new file and
         * punched (or zeroed) in an existing one. */
        uint64_t off = 0, d, h;
        while (off < c->size && next_data(c, off, &d, &h)) {
            if (!dst_is_new && punch_or_zero(c, off, d) < 0)
                return -1;
            if (copy_range_file(c, d, h) < 0)
                return -1;
            off = h;
        }
        if (!dst_is_new && punch_or_zero(c, off, c->size) < 0)
            return -1;
        if (ck_zero_to(c, c->size) < 0)
            return -1;
    }
    if (ftruncate(c->dst, (off_t)c->size) < 0)
        return fail(c, "cannot set target size", errno);
    if (fsync(c->dst) < 0)
        return fail(c, "cannot fsync target", errno);
    return 0;
}

static int to_blockdev(struct cp *c)
{
    uint64_t devsize = 0;
    if (ioctl(c->dst, BLKGETSIZE64, &devsize) < 0)
        return fail(c, "cannot get target device size", errno);
    if (devsize < c->size) {
        snprintf(c->err, c->errlen,
                 "target device too small: %llu bytes, the image has %llu",
                 (unsigned long long)devsize, (unsigned long long)c->size);
        errno = ENOSPC;
        return -1;
    }
    /* Every byte is written, zeros included: a device's old content is
     * never trusted to read as zeros. */
    if (copy_rw(c, 0, c->size, 1) < 0)
        return -1;
    if (fsync(c->dst) < 0)
        return fail(c, "cannot fsync target device", errno);
    return 0;
}

static int to_stream(struct cp *c, int is_pipe)
{
    loff_t off = 0;
    if (c->sums)        /* the data must pass through the buffer */
        return copy_rw(c, 0, c->size, 0);
    /* splice into a pipe, sendfile to anything else; both move page-cache
     * pages without copying them through user space */
    while ((uint64_t)off < c->size) {
        size_t l = c->size - (uint64_t)off < KERNEL_PIECE ? (size_t)(c->size - (uint64_t)off) : KERNEL_PIECE;
        ssize_t r = is_pipe ? splice(c->src, &off, c->dst, NULL, l, SPLICE_F_MORE)
                            : sendfile(c->dst, c->src, &off, l);
        if (r > 0) {
            c->st->method = BK_COPY_SPLICE;
            c->st->bytes_copied += (uint64_t)r;
            progress_set((uint64_t)off);
            continue;
        }
        if (r == 0)
            return fail(c, "cannot read image", EIO);
        if (errno == EINTR)
            continue;
        if (errno == EPIPE)
            return fail(c, "cannot write target", errno);
        if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP && errno != EBADF)
            return fail(c, "cannot write target", errno);
        return copy_rw(c, (uint64_t)off, c->size, 0);
    }
    return 0;
}

int bk_copyout(int src_fd, int dst_fd, int dst_is_new, struct bk_copy_stats *st,
               char *err, size_t errlen)
{
    return bk_copyout_checked(src_fd, dst_fd, dst_is_new, NULL, st, err, errlen);
}

int bk_copyout_checked(int src_fd, int dst_fd, int dst_is_new, const struct bk_copy_check *ck,
                       struct bk_copy_stats *st, char *err, size_t errlen)
{
    struct bk_copy_stats dummy = { 0 };
    struct cp c = { .src = src_fd, .dst = dst_fd, .st = st ? st : &dummy,
                    .err = err, .errlen = errlen };
    memset(c.st, 0, sizeof(*c.st));
    if (ck && ck->sums) {
        c.sums = ck->sums;
        c.keep_going = ck->keep_going;
        c.st->block_size = ck->sums->block_size;
    }
    struct stat ss, ds;
    if (fstat(src_fd, &ss) < 0)
        return fail(&c, "cannot stat image", errno);
    if (fstat(dst_fd, &ds) < 0)
        return fail(&c, "cannot stat target", errno);
    if (ss.st_dev == ds.st_dev && ss.st_ino == ds.st_ino)
        return fail(&c, "target is the image itself", EINVAL);
    c.size = c.st->size = (uint64_t)ss.st_size;
    if (c.sums && c.sums->size != c.size) {
        if (!c.keep_going) {
            snprintf(err, errlen, "image has %llu bytes, its sums describe %llu",
                     (unsigned long long)c.size, (unsigned long long)c.sums->size);
            errno = EBADMSG;
            return -1;
        }
        c.st->size_mismatch = 1;
        c.sums = NULL;
    }
    posix_fadvise(src_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    int rc;
    if (S_ISREG(ds.st_mode))
        rc = to_file(&c, dst_is_new);
    else if (S_ISBLK(ds.st_mode))
        rc = to_blockdev(&c);
    else
        rc = to_stream(&c, S_ISFIFO(ds.st_mode));
    if (rc == 0 && c.sums && c.ck_pos != c.size)
        rc = fail(&c, "cannot check image: not all of it was read", EIO);
    free(c.buf);
    if (c.xs)
        XXH3_freeState(c.xs);
    return rc;
}
