/* stream.h - the replication stream: one revision of a job as a byte
 * stream (backy send | backy receive). Format, version 1, all integers
 * little endian (doc/replication.md has the full description):
 *
 *   preamble  16 bytes: magic "BACKYREP", u32 version (1), u32 flags (0)
 *   records   each: u32 type, u32 reserved (0), u64 payload length,
 *             u64 check = XXH3-64 of the first 16 header bytes and the
 *             payload; then the payload
 *     1 META  JSON object: id, parent, timestamp, time, tags, size,
 *             block_size, base, stats {bytes_written, duration}
 *     2 SUMS  the new revision's block sums, encoded as ID.sums (sums.h)
 *     3 DATA  u64 block index, the block's bytes
 *     4 ZERO  u64 first block, u64 count: all-zero blocks (holes)
 *    15 END   u64 records before END, u64 bytes before END, XXH3-128 of
 *             those bytes (low 64 bits, high 64 bits)
 *   META first, SUMS second, then DATA/ZERO with strictly increasing block
 *   indices, END last, then end of file. A type with bit 0x8000 set is
 *   optional: readers that do not know it skip it (checked like any).
 *
 * The reader treats the stream as hostile: every length is bounded before
 * anything is allocated (memory grows with the bytes actually received),
 * every record is checked, every DATA block must hash to its entry in
 * SUMS, every ZERO block's entry must be the hash of zeros, and END must
 * match the whole stream. Blocks the stream leaves out are the base's: the
 * caller checks their sums against the base's own. */
#ifndef BACKY_STREAM_H
#define BACKY_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backy/revision.h"
#include "backy/sums.h"

#define BK_STREAM_MAGIC    "BACKYREP"
#define BK_STREAM_VERSION  1
#define BK_STREAM_PREAMBLE 16
#define BK_STREAM_RECHDR   24

enum bk_stream_type {
    BK_REC_META = 1,
    BK_REC_SUMS = 2,
    BK_REC_DATA = 3,
    BK_REC_ZERO = 4,
    BK_REC_END = 15,
    BK_REC_OPTIONAL = 0x8000,
};

/* Limits of what a reader accepts. */
#define BK_STREAM_META_MAX   (64u * 1024)
#define BK_STREAM_NBLOCKS_MAX (1ull << 28)

struct bk_stream_meta {
    struct bk_rev rev;         /* id, parent, timestamp, tags, stats; complete = 1 */
    char base[BK_ID_MAX];      /* "" for a full stream */
    uint64_t size;             /* image size */
    uint32_t block_size;
};

void stream_meta_free(struct bk_stream_meta *m);
/* An ID, parent or base as the stream may carry it: a short UUID as backy
 * makes them (22 characters of its alphabet), so that no name a stream
 * brings can collide with config, last or other files of a job. */
int stream_id_valid(const char *s);

/* ---- writer ---- */
struct bk_stream_wr {
    int fd;
    void *h;                   /* XXH3 state over everything written */
    uint64_t bytes, records;
};

/* Preamble, META, SUMS. 0 or -1/errno. */
int stream_wr_begin(struct bk_stream_wr *w, int fd, const struct bk_stream_meta *m,
                    const struct bk_sums *sums);
int stream_wr_data(struct bk_stream_wr *w, uint64_t index, const void *data, size_t len);
int stream_wr_zero(struct bk_stream_wr *w, uint64_t first, uint64_t count);
/* END; frees the writer's state. 0 or -1/errno. */
int stream_wr_end(struct bk_stream_wr *w);
void stream_wr_free(struct bk_stream_wr *w);

/* ---- reader ---- */
/* Reads up to len bytes; returns the count (0 = end of file) or -1/errno. */
typedef ssize_t (*bk_stream_readfn)(void *arg, void *buf, size_t len);

struct bk_stream_rd {
    bk_stream_readfn read;
    void *arg;
    void *h;                   /* XXH3-128 state over everything read */
    uint64_t bytes, records;
    uint64_t next;             /* lowest block index the next record may name */
    unsigned char *buf;
    size_t cap;
    int done;
    int more;                  /* set after begin: END may be followed by
                                * another stream (a receive session), so
                                * the reader stops right after END instead
                                * of requiring the end of input */
    struct bk_hash zero_full;  /* hash of a zero block of block_size bytes */
    struct bk_stream_meta meta;
    struct bk_sums sums;
};

struct bk_stream_rec {
    int type;                  /* BK_REC_DATA or BK_REC_ZERO */
    uint64_t index, count;     /* DATA: index, count 1 */
    const unsigned char *data; /* DATA: the block (valid until the next call) */
    size_t len;
};

/* Read preamble, META and SUMS, and check them against each other.
 * 0, or -1 with a message naming what is wrong in err. */
int stream_rd_begin(struct bk_stream_rd *r, bk_stream_readfn fn, void *arg, char *err,
                    size_t errlen);
/* Next DATA/ZERO record, checked against the sums: 1; END verified and
 * end of file reached (with more set: END verified, nothing read after
 * it): 0; -1 with err. */
int stream_rd_next(struct bk_stream_rd *r, struct bk_stream_rec *rec, char *err, size_t errlen);
void stream_rd_free(struct bk_stream_rd *r);

/* A read function for a file descriptor (arg: pointer to int). */
ssize_t stream_fd_read(void *arg, void *buf, size_t len);

#endif
