/* sums.c - per-revision block hashes (format in include/backy/sums.h). */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxh_x86dispatch.h>

#include "backy/sums.h"
#include "backy/util.h"

#define MIN_BLOCK (4u * 1024)
#define MAX_BLOCK (64u * 1024 * 1024)
#define HASH_SIZE 16

static int block_size_ok(uint32_t bs)
{
    return bs >= MIN_BLOCK && bs <= MAX_BLOCK && (bs & (bs - 1)) == 0;
}

static uint64_t nblocks_for(uint64_t size, uint32_t bs)
{
    return size / bs + (size % bs != 0);
}

int sums_init(struct bk_sums *s, uint64_t size, uint32_t block_size)
{
    memset(s, 0, sizeof(*s));
    if (!block_size_ok(block_size)) {
        errno = EINVAL;
        return -1;
    }
    s->block_size = block_size;
    s->size = size;
    s->nblocks = nblocks_for(size, block_size);
    if (s->nblocks > SIZE_MAX / sizeof(struct bk_hash)) {
        errno = EFBIG;
        return -1;
    }
    s->h = calloc(s->nblocks ? s->nblocks : 1, sizeof(struct bk_hash));
    return s->h ? 0 : -1;
}

int sums_resize(struct bk_sums *s, uint64_t size)
{
    uint64_t n = nblocks_for(size, s->block_size);
    if (n > SIZE_MAX / sizeof(struct bk_hash)) {
        errno = EFBIG;
        return -1;
    }
    struct bk_hash *h = realloc(s->h, (n ? n : 1) * sizeof(struct bk_hash));
    if (!h)
        return -1;
    if (n > s->nblocks)
        memset(h + s->nblocks, 0, (n - s->nblocks) * sizeof(struct bk_hash));
    s->h = h;
    s->nblocks = n;
    s->size = size;
    return 0;
}

void sums_free(struct bk_sums *s)
{
    free(s->h);
    memset(s, 0, sizeof(*s));
}

void sums_hash(const void *buf, size_t len, struct bk_hash *out)
{
    XXH128_hash_t h = XXH3_128bits_dispatch(buf, len);
    out->lo = h.low64;
    out->hi = h.high64;
}

static void put32(unsigned char *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}

static void put64(unsigned char *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, 8);
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return le32toh(v);
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return le64toh(v);
}

/* The in-memory array is little endian lo,hi on little-endian hosts, so it
 * is written as it is; big-endian hosts swap in place around I/O. */
static void swap_hashes(struct bk_hash *h, uint64_t n)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (uint64_t i = 0; i < n; i++) {
        h[i].lo = htole64(h[i].lo);
        h[i].hi = htole64(h[i].hi);
    }
#else
    (void)h;
    (void)n;
#endif
}

static uint64_t check_of(const unsigned char *hdr, const struct bk_hash *h, uint64_t n)
{
    XXH3_state_t *st = XXH3_createState();
    if (!st)
        return 0;
    XXH3_64bits_reset(st);
    XXH3_64bits_update_dispatch(st, hdr, 40);
    XXH3_64bits_update_dispatch(st, h, n * HASH_SIZE);
    uint64_t v = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return v;
}

/* Header for s; the hashes must already be in file byte order. */
static void make_header(const struct bk_sums *s, unsigned char *hdr)
{
    memset(hdr, 0, BK_SUMS_HDR_SIZE);
    memcpy(hdr, BK_SUMS_MAGIC, 8);
    put32(hdr + 8, BK_SUMS_VERSION);
    put32(hdr + 12, s->block_size);
    put32(hdr + 16, BK_SUMS_ALGO_XXH3_128);
    put32(hdr + 20, HASH_SIZE);
    put64(hdr + 24, s->size);
    put64(hdr + 32, s->nblocks);
    put64(hdr + 40, check_of(hdr, s->h, s->nblocks));
}

/* Validate a header against the file length; fills size fields of s. */
static int parse_header(const unsigned char *hdr, uint64_t filelen, struct bk_sums *s)
{
    memset(s, 0, sizeof(*s));
    if (memcmp(hdr, BK_SUMS_MAGIC, 8) != 0 || get32(hdr + 8) != BK_SUMS_VERSION ||
        get32(hdr + 16) != BK_SUMS_ALGO_XXH3_128 || get32(hdr + 20) != HASH_SIZE) {
        errno = EINVAL;
        return -1;
    }
    uint32_t bs = get32(hdr + 12);
    uint64_t size = get64(hdr + 24), n = get64(hdr + 32);
    if (!block_size_ok(bs) || n != nblocks_for(size, bs) ||
        n > (UINT64_MAX - BK_SUMS_HDR_SIZE) / HASH_SIZE ||
        filelen != BK_SUMS_HDR_SIZE + n * HASH_SIZE) {
        errno = EINVAL;
        return -1;
    }
    s->block_size = bs;
    s->size = size;
    s->nblocks = n;
    return 0;
}

void *sums_encode(const struct bk_sums *s, size_t *len)
{
    if (s->nblocks > (SIZE_MAX - BK_SUMS_HDR_SIZE) / HASH_SIZE) {
        errno = EFBIG;
        return NULL;
    }
    size_t n = BK_SUMS_HDR_SIZE + s->nblocks * HASH_SIZE;
    unsigned char *buf = malloc(n);
    if (!buf)
        return NULL;
    memcpy(buf + BK_SUMS_HDR_SIZE, s->h, s->nblocks * HASH_SIZE);
    swap_hashes((struct bk_hash *)(buf + BK_SUMS_HDR_SIZE), s->nblocks);
    struct bk_sums tmp = *s;
    tmp.h = (struct bk_hash *)(buf + BK_SUMS_HDR_SIZE);
    make_header(&tmp, buf);
    *len = n;
    return buf;
}

int sums_decode(const void *buf, size_t len, struct bk_sums *s)
{
    const unsigned char *p = buf;
    if (len < BK_SUMS_HDR_SIZE) {
        errno = EINVAL;
        return -1;
    }
    struct bk_sums hdr;
    if (parse_header(p, len, &hdr) < 0)
        return -1;
    if (check_of(p, (const struct bk_hash *)(p + BK_SUMS_HDR_SIZE), hdr.nblocks) !=
        get64(p + 40)) {
        errno = EBADMSG;
        return -1;
    }
    if (sums_init(s, hdr.size, hdr.block_size) < 0)
        return -1;
    memcpy(s->h, p + BK_SUMS_HDR_SIZE, hdr.nblocks * HASH_SIZE);
    swap_hashes(s->h, s->nblocks);
    return 0;
}

static const char *load_reason(int e)
{
    switch (e) {
    case EINVAL: return "not a backy sums file of a supported version";
    case EBADMSG: return "checksum mismatch (corrupt)";
    default: return strerror(e);
    }
}

int sums_load(int dirfd, const char *name, struct bk_sums *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    int fd = bk_open_file(dirfd, name, O_RDONLY | O_NOFOLLOW, BK_FT_REG, NULL);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open sums: %s: %s", name, bk_strerror(e));
        errno = e;
        return -1;
    }
    struct stat sb;
    unsigned char hdr[BK_SUMS_HDR_SIZE];
    struct bk_sums h;
    int e = 0;
    if (fstat(fd, &sb) < 0) {
        e = errno;
        goto fail;
    }
    ssize_t r = pread(fd, hdr, sizeof(hdr), 0);
    if (r < 0) {
        e = errno;
        goto fail;
    }
    if ((size_t)r < sizeof(hdr) || parse_header(hdr, (uint64_t)sb.st_size, &h) < 0) {
        e = EINVAL;
        goto fail;
    }
    if (sums_init(s, h.size, h.block_size) < 0) {
        e = errno;
        goto fail;
    }
    size_t want = h.nblocks * HASH_SIZE, got = 0;
    char *dst = (char *)s->h;
    while (got < want) {
        r = pread(fd, dst + got, want - got, BK_SUMS_HDR_SIZE + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            e = errno;
            goto fail;
        }
        if (r == 0) {
            e = EINVAL;
            goto fail;
        }
        got += (size_t)r;
    }
    if (check_of(hdr, s->h, s->nblocks) != get64(hdr + 40)) {
        e = EBADMSG;
        goto fail;
    }
    swap_hashes(s->h, s->nblocks);
    close(fd);
    return 0;
fail:
    close(fd);
    sums_free(s);
    snprintf(err, errlen, "cannot read sums: %s: %s", name, load_reason(e));
    errno = e;
    return -1;
}

int sums_save(int dirfd, const char *name, const struct bk_sums *s, int mode,
              char *err, size_t errlen)
{
    unsigned char hdr[BK_SUMS_HDR_SIZE];
    /* The hashes are written from memory; on big-endian hosts they are
     * swapped in place and back. */
    struct bk_sums *ms = (struct bk_sums *)s;
    swap_hashes(ms->h, ms->nblocks);
    make_header(s, hdr);
    struct iovec iov[2] = {
        {.iov_base = hdr, .iov_len = sizeof(hdr)},
        {.iov_base = s->h, .iov_len = s->nblocks * HASH_SIZE},
    };
    int r = bk_atomic_writev(dirfd, name, iov, 2, (mode_t)mode, 0);
    int e = errno;
    swap_hashes(ms->h, ms->nblocks);
    if (r < 0)
        snprintf(err, errlen, "cannot write sums: %s: %s", name, strerror(e));
    errno = e;
    return r;
}
