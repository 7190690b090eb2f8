/* source_file.c - a regular file or block device, read as it is. The whole
 * image may have changed: the delta engine compares every block (against
 * the parent's sums, or its image) before writing. */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backy/log.h"
#include "backy/util.h"
#include "sources.h"

static int file_open(struct bk_source *s, const struct bk_srccfg *cfg, const char *new_id,
                     const char *parent_id, char *err, size_t errlen)
{
    const char *fn = srccfg_get(cfg, "filename");
    s->desc = fn;
    /* a FIFO (or a terminal) named as source must not block the backup
     * while it holds the job lock: opened without blocking, checked */
    struct stat st;
    s->fd = bk_open_file(AT_FDCWD, fn, O_RDONLY, BK_FT_REG | BK_FT_BLK, &st);
    if (s->fd < 0 && errno == BK_ENOTREG) {
        snprintf(err, errlen, "source is neither a regular file nor a block device: %s: %s", fn,
                 bk_ftype(st.st_mode));
        return -1;
    }
    if (s->fd < 0) {
        snprintf(err, errlen, "cannot open source file: %s: %s", fn, strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode)) {
        s->size = (uint64_t)st.st_size;
    } else if (S_ISBLK(st.st_mode)) {
        if (ioctl(s->fd, BLKGETSIZE64, &s->size) < 0) {
            snprintf(err, errlen, "cannot get the size of block device: %s: %s", fn, strerror(errno));
            return -1;
        }
    } else {
        snprintf(err, errlen, "source is neither a regular file nor a block device: %s", fn);
        return -1;
    }
    posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return 0;
}

static int file_changed(struct bk_source *s, int *full, bk_extent_cb cb, void *arg,
                        char *err, size_t errlen)
{
    *full = 1;
    if (s->size == 0)
        return 0;
    return cb(0, s->size, 1, arg);
}

static ssize_t file_pread(struct bk_source *s, void *buf, size_t len, uint64_t off)
{
    return bk_pread_full(s->fd, buf, len, (off_t)off);
}

/* The size now: a source that grew while it was read is backed up to its
 * size at the start (a shrinking one fails while it is read). */
static int file_size_now(struct bk_source *s, uint64_t *size)
{
    struct stat st;
    if (fstat(s->fd, &st) < 0)
        return -1;
    if (S_ISBLK(st.st_mode))
        return ioctl(s->fd, BLKGETSIZE64, size);
    *size = (uint64_t)st.st_size;
    return 0;
}

static int file_finish(struct bk_source *s, int success, char *err, size_t errlen)
{
    uint64_t now;
    if (success && s->fd >= 0 && file_size_now(s, &now) == 0 && now > s->size)
        log_warn("source grew during the backup: %s: from %llu to %llu bytes; the revision "
                 "holds its first %llu bytes", s->desc, (unsigned long long)s->size,
                 (unsigned long long)now, (unsigned long long)s->size);
    return 0;
}

static void file_close(struct bk_source *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

const struct bk_source_ops source_file_ops = {
    .type = "file",
    .open = file_open,
    .changed = file_changed,
    .pread = file_pread,
    .finish = file_finish,
    .close = file_close,
};
