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
 * Sandbox needs (backy-restore): ioctl FICLONE and BLKGETSIZE64, lseek,
 * copy_file_range, splice, sendfile, fallocate, ftruncate, fsync, fadvise64.
 * Returns 0, or -1 with "what: reason" in err (the caller adds PROG and the
 * paths it knows). The source descriptor's offset is not used (pread). */
#ifndef BACKY_COPYOUT_H
#define BACKY_COPYOUT_H

#include <stddef.h>
#include <stdint.h>

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

#endif
