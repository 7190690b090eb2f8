/* copyout.h - copy a revision image out to a target (backy-restore).
 *
 * The caller opens the image (read-only) and the target before entering its
 * sandbox, then calls bk_copyout(). The fastest correct method is chosen by
 * the kind of target:
 *
 *   regular file   FICLONE of the whole image when both are on the same
 *                  reflink-capable filesystem (milliseconds for any size);
 *                  else copy_file_range; else large read/write. When the
 *                  target is new or was truncated (dst_is_new = 1), holes of
 *                  the image are skipped (SEEK_DATA/SEEK_HOLE) so the result
 *                  is sparse, and the target is ftruncated to the image
 *                  size. Otherwise (an existing file being overwritten)
 *                  the image's holes are punched into it (zeros written
 *                  where punching is not supported), and the file is
 *                  truncated to the image size.
 *   block device   every block is written, zeros included: a device is
 *                  never assumed to read as zeros (no BLKZEROOUT, no
 *                  compare-before-write), so the result is right on any
 *                  device. Fails when the device is smaller than the image.
 *   pipe, stdout,  everything in order, holes as zeros (splice where the
 *   anything else  kernel allows, else read/write in 4 MiB requests).
 *
 * Regular files and block devices are fsynced before returning. A target
 * that is the image itself is refused.
 *
 * Checked copy (bk_copyout_checked with the revision's sums): every block
 * is hashed as it passes through the copy buffer and compared with its
 * sum before it is written, so a damaged block is never written unless
 * the caller asks to keep going. This needs the data in user space, so a
 * checked copy uses read/write where it would use copy_file_range, splice
 * or sendfile; holes of the image are checked against the hash of zeros
 * without reading them. After a reflink the image is read once to check
 * it (the clone itself copies nothing). On the first damaged block the
 * copy stops with errno EBADMSG and "block N at offset O differs from its
 * sums" in err; with keep_going it copies everything and counts the
 * damaged blocks in the stats (return 0: the caller decides). An image
 * whose size differs from its sums fails at once (EBADMSG), or with
 * keep_going is copied unchecked (size_mismatch = 1).
 *
 * Sandbox needs (backy-restore): ioctl FICLONE and BLKGETSIZE64, lseek,
 * copy_file_range, splice, sendfile, fallocate, ftruncate, fsync, fadvise64.
 * Returns 0, or -1 with "what: reason" in err (the caller adds PROG and the
 * paths it knows). The source descriptor's offset is not used (pread). */
#ifndef BACKY_COPYOUT_H
#define BACKY_COPYOUT_H

#include <stddef.h>
#include <stdint.h>

struct bk_sums;

enum bk_copy_method {
    BK_COPY_NONE,       /* nothing copied yet */
    BK_COPY_REFLINK,    /* FICLONE */
    BK_COPY_CFR,        /* copy_file_range */
    BK_COPY_SPLICE,     /* splice into a pipe */
    BK_COPY_RW,         /* read + write */
};

struct bk_copy_stats {
    uint64_t size;          /* image size */
    uint64_t bytes_copied;  /* data bytes moved (holes skipped are not counted) */
    enum bk_copy_method method;
    /* checked copies only */
    uint64_t bytes_checked; /* bytes compared with the sums (holes included) */
    uint64_t bad_blocks;    /* blocks that differ from their sums */
    uint64_t first_bad;     /* index of the first of them */
    uint32_t block_size;    /* block size of the sums */
    int size_mismatch;      /* image size differs from the sums' (keep_going) */
};

/* What a checked copy compares against. */
struct bk_copy_check {
    const struct bk_sums *sums;   /* the revision's sums; NULL: unchecked */
    int keep_going;               /* 1: copy everything despite damage */
};

/* Name of a method for log lines ("reflink", "copy_file_range", ...). */
const char *bk_copy_method_name(enum bk_copy_method m);

/* src_fd: the image, opened O_RDONLY. dst_fd: the target, opened for
 * writing (O_WRONLY or O_RDWR for files and devices; any writable fd for
 * streams). dst_is_new: 1 when the target is a regular file that was just
 * created or truncated to 0, so it reads as zeros and holes may be skipped.
 * st may be NULL. */
int bk_copyout(int src_fd, int dst_fd, int dst_is_new, struct bk_copy_stats *st,
               char *err, size_t errlen);
/* The same, checking every block against ck->sums (ck NULL or ck->sums
 * NULL: exactly bk_copyout). */
int bk_copyout_checked(int src_fd, int dst_fd, int dst_is_new, const struct bk_copy_check *ck,
                       struct bk_copy_stats *st, char *err, size_t errlen);

#endif
