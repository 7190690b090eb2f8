/* delta.h - the delta engine: makes the image of a new revision equal to the
 * source while writing as little as possible.
 *
 * Steps: clone the parent image (FICLONE; where the filesystem has no
 * reflink, warn once and copy) in a thread of its own, while for each range
 * the source reports as changed the blocks are read and hashed; write only
 * the blocks that differ from the parent (those found before the clone is
 * done wait in a bounded stash, or are read again), punch holes for
 * all-zero blocks, set the size to the source's, fsync, and verify. The image
 * is written as JOBDIR/NEWID, its block hashes as JOBDIR/NEWID.sums (see
 * sums.h; the parent's sums let a backup read only the source). The caller
 * writes NEWID.rev. On failure the image may be left behind (the caller
 * removes the revision). The parent's files are only ever read.
 *
 * Sandbox needs (backy-backup): SB_WRITE (openat, FICLONE, copy_file_range,
 * fallocate, ftruncate, fsync, sync_file_range, rename, unlink), SB_THREADS
 * (two workers, the clone, the fsync beside the read-back),
 * lseek (SEEK_DATA/SEEK_HOLE), fadvise64, clock_gettime. */
#ifndef BACKY_DELTA_H
#define BACKY_DELTA_H

#include <stdint.h>
#include "source.h"

enum bk_verify { BK_VERIFY_DEFAULT, BK_VERIFY_FULL, BK_VERIFY_OFF };

struct bk_delta_opts {
    enum bk_verify verify;
    int force_full;          /* ignore the source's change list: compare everything */
    uint32_t block_size;     /* 0: the parent's (from its sums) or BK_SUMS_BLOCK */
    const char *progress_label; /* "backup vm1": show the pass's progress (progress.h) */
    /* for tests: the stash's size in bytes (0: 8 MiB), and a hook the clone
     * thread calls before it starts cloning */
    uint32_t stash_bytes;
    void (*before_clone)(void *arg);
    void *before_clone_arg;
};

struct bk_delta_stats {
    uint64_t size;           /* image size */
    uint64_t bytes_read;     /* read from the source */
    uint64_t bytes_written;  /* written into the new image */
    uint64_t bytes_punched;  /* turned into holes */
    int reflinked;           /* 1 when the parent was cloned by reflink */
    uint64_t blocks_held;    /* changed blocks held in memory while the clone ran */
    uint64_t blocks_reread;  /* changed blocks read again after it (stash full) */
    int used_sums;           /* 1 when the parent's sums spared reading its image */
    int parent_mismatch;     /* 1 when the parent's image did not match its sums
                                (the backup then compared everything) */
};

/* parent_id NULL or "" for the first revision. 0, or -1 with err. */
int delta_backup(int dirfd, const char *dir, const char *new_id, const char *parent_id,
                 struct bk_source *src, const struct bk_delta_opts *opts,
                 struct bk_delta_stats *stats, char *err, size_t errlen);

#endif
