/* target.h - the target of backy-restore, opened and checked before the
 * sandbox. A restore never writes into a backup:
 *
 *   - the opened target (fstat) is compared by device and inode with every
 *     file of the job directory and with the job's source (a file job's
 *     filename: a regular file, or a block device by its device number);
 *     a loop device is compared by the file behind it (LOOP_GET_STATUS64);
 *   - a regular file inside any job directory (a directory with a config
 *     and .rev files; this job's by device and inode), with symbolic links
 *     of the path resolved, is refused, and nothing is created there;
 *   - a read-only regular file with more than one link (a hard link to an
 *     image of any job) is refused.
 *
 * The last component is opened with O_NOFOLLOW; a symbolic link is only
 * followed to a device (block, character) or a FIFO. A new file is
 * created with O_EXCL (mode 0600); an existing empty file is used as it
 * is; an existing non-empty file needs force and is truncated. Block
 * devices are opened O_EXCL (not mounted, not in use). "-" is stdout
 * (not a terminal; a regular file there gets the same checks). Every
 * refusal is "PROG: error: refusing target: TARGET: reason", exit 1. */
#ifndef BACKY_RESTORE_TARGET_H
#define BACKY_RESTORE_TARGET_H

#include <sys/stat.h>

struct bk_store;

enum tkind { T_STDOUT, T_CREATED, T_EMPTY, T_OVERWRITTEN, T_DEVICE, T_OTHER };

struct target {
    int fd;
    enum tkind kind;
    int pdir;           /* the directory of a regular file (to remove it) */
    char *base;         /* its name there */
    struct stat st;     /* of the opened target */
};

/* Remember the files of the job (and its source) that must never be the
 * target. Call once before target_open. */
void target_guard_job(struct bk_store *st);
/* Open TARGET as above; jd: fstat of the job directory. Exits on refusal. */
void target_open(const char *target, int force, const struct stat *jd, struct target *t);
/* After a failed copy without --force: take back what was written where
 * possible (remove a created file, empty an emptied one again). Returns
 * what happened to the target, for the error line. Works in the sandbox. */
const char *target_undo(struct target *t);

#endif
