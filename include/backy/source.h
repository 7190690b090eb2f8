/* source.h - the interface between backy-backup's delta engine and a
 * source of data (file, ceph-rbd, flyingcircus).
 *
 * Life of a source in one backup:
 *   open()     before the sandbox: open files, connect to clusters,
 *              create snapshots. Knows the new and the parent revision IDs.
 *   changed()  ranges that may differ from the parent revision's image, in
 *              ascending order; "exists == 0" means the range reads as zeros
 *              (discarded / never written). A file source reports the whole
 *              image as one range with exists = 1. Without a usable parent
 *              (no parent, or the parent's snapshot is gone) it reports
 *              everything that exists and sets *full = 1, so the engine
 *              compares against the parent image before writing.
 *   pread()    read the source as of this backup; may be called from several
 *              threads at once on disjoint ranges.
 *   finish()   after the revision is complete (success = 1) or abandoned
 *              (success = 0): snapshot housekeeping.
 *   close()    release everything.
 */
#ifndef BACKY_SOURCE_H
#define BACKY_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "sourcetype.h"

struct bk_source;

typedef int (*bk_extent_cb)(uint64_t off, uint64_t len, int exists, void *arg);

struct bk_source_ops {
    const char *type;
    int (*open)(struct bk_source *s, const struct bk_srccfg *cfg,
                const char *new_id, const char *parent_id, char *err, size_t errlen);
    int (*changed)(struct bk_source *s, int *full, bk_extent_cb cb, void *arg,
                   char *err, size_t errlen);
    ssize_t (*pread)(struct bk_source *s, void *buf, size_t len, uint64_t off);
    int (*finish)(struct bk_source *s, int success, char *err, size_t errlen);
    void (*close)(struct bk_source *s);
};

struct bk_source {
    const struct bk_source_ops *ops;
    uint64_t size;      /* image size at this backup, set by open() */
    const char *desc;   /* for messages: a path or "pool/image@snap" */
    int fd;             /* file sources: the open descriptor, else -1 */
    void *priv;
};

#endif
