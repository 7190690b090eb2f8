/* sums.h - per-revision block hashes, JOBDIR/ID.sums.
 *
 * A revision's sums are its promise about its image: one XXH3-128 hash per
 * block of the image, so the next backup reads only the source. File format
 * (all integers little endian):
 *
 *   off  size
 *     0     8  magic "BACKYSUM"
 *     8     4  version (1)
 *    12     4  block size in bytes (power of two, 4 KiB .. 64 MiB)
 *    16     4  hash algorithm id (1 = XXH3-128)
 *    20     4  hash size in bytes (16)
 *    24     8  image size in bytes
 *    32     8  block count = ceil(image size / block size)
 *    40     8  XXH3-64 of bytes 0..39 and of the hash array
 *    48   16n  the hashes, block 0 first; each hash is the XXH3-128 of the
 *              block's bytes (the last block may be short) stored as low
 *              64 bits then high 64 bits
 *
 * A file whose magic, version, algorithm, sizes or check do not match is
 * rejected as a whole (the backup then falls back to comparing images).
 * Files are replaced atomically: ID.sums.tmp-PID, fsync, rename, fsync dir. */
#ifndef BACKY_SUMS_H
#define BACKY_SUMS_H

#include <stddef.h>
#include <stdint.h>

#define BK_SUMS_MAGIC      "BACKYSUM"
#define BK_SUMS_VERSION    1
#define BK_SUMS_ALGO_XXH3_128 1
#define BK_SUMS_HDR_SIZE   48
#define BK_SUMS_BLOCK      (64u * 1024)     /* default block size */
#define BK_SUMS_SUFFIX     ".sums"

struct bk_hash {
    uint64_t lo, hi;
};

struct bk_sums {
    uint32_t block_size;
    uint64_t size;          /* image size */
    uint64_t nblocks;
    struct bk_hash *h;      /* nblocks entries */
};

static inline int bk_hash_eq(const struct bk_hash *a, const struct bk_hash *b)
{
    return a->lo == b->lo && a->hi == b->hi;
}

/* Allocate sums for an image of the given size (hashes zeroed). 0 or -1/errno. */
int sums_init(struct bk_sums *s, uint64_t size, uint32_t block_size);
/* Change the image size, keeping the hashes of the blocks that remain;
 * new blocks get zeroed hashes. The caller rehashes the last block when
 * it changed length. 0 or -1/errno. */
int sums_resize(struct bk_sums *s, uint64_t size);
void sums_free(struct bk_sums *s);

/* Length of block i (the last may be short). */
static inline uint64_t sums_block_len(const struct bk_sums *s, uint64_t i)
{
    uint64_t off = i * s->block_size;
    uint64_t left = s->size - off;
    return left < s->block_size ? left : s->block_size;
}

/* XXH3-128 of a buffer (runtime-dispatched: SSE2/AVX2/AVX512). */
void sums_hash(const void *buf, size_t len, struct bk_hash *out);

/* Load dirfd/name. 0; or -1 with errno (ENOENT: no sums; EINVAL/EBADMSG:
 * malformed or corrupt) and "what: name: reason" in err. */
int sums_load(int dirfd, const char *name, struct bk_sums *s, char *err, size_t errlen);
/* Write dirfd/name atomically with the given mode (temp name is
 * NAME.tmp-PID; fsync; rename; fsync dir: bk_atomic_writev). 0 or -1 with err. */
int sums_save(int dirfd, const char *name, const struct bk_sums *s, int mode,
              char *err, size_t errlen);

/* Serialise / parse in memory (for tests and tools). sums_encode returns a
 * malloc'd buffer of *len bytes or NULL/errno. sums_decode: 0 or -1/errno. */
void *sums_encode(const struct bk_sums *s, size_t *len);
int sums_decode(const void *buf, size_t len, struct bk_sums *s);

#endif
