/* target.c - open and check the target of a restore (see target.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backy/log.h"
#include "backy/revision.h"
#include "backy/sourcetype.h"
#include "backy/util.h"
#include "target.h"

/* Files a restore must never write into: every file of the job
 * directory, and the job's source. */
struct guard {
    dev_t dev;
    ino_t ino;
    dev_t rdev;     /* block device source: its device number, else 0 */
    char *what;     /* "JOBDIR/NAME" or "the job's source PATH" */
};
static struct guard *guards;
static size_t nguards;

static void guard_add(const struct stat *sb, char *what)
{
    guards = bk_realloc(guards, (nguards + 1) * sizeof *guards);
    guards[nguards++] = (struct guard){sb->st_dev, sb->st_ino, S_ISBLK(sb->st_mode) ? sb->st_rdev : 0,
                                       what};
}

void target_guard_job(struct bk_store *st)
{
    DIR *d = fdopendir(dup(st->dirfd));
    if (!d)
        bk_die_errno("cannot read job directory: %s", st->dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        struct stat sb;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (fstatat(st->dirfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
            continue;
        guard_add(&sb, bk_asprintf("%s/%s", st->dir, e->d_name));
    }
    closedir(d);
    /* the source of a file job: a file or a block device */
    struct bk_srccfg cfg = {0};
    char err[1024];
    if (srccfg_load(st->dirfd, st->dir, &cfg, err, sizeof err) == 0) {
        const char *type = srccfg_get(&cfg, "type"), *fn = srccfg_get(&cfg, "filename");
        struct stat sb;
        if (type && !strcmp(type, "file") && fn && stat(fn, &sb) == 0 &&
            (S_ISREG(sb.st_mode) || S_ISBLK(sb.st_mode)))
            guard_add(&sb, bk_asprintf("the job's source %s", fn));
        srccfg_free(&cfg);
    } else {
        log_debug("job source not checked against the target: %s", err);
    }
}

/* A guarded file with this identity, or NULL. */
static const char *guarded(dev_t dev, ino_t ino, dev_t rdev)
{
    for (size_t i = 0; i < nguards; i++) {
        if (rdev && guards[i].rdev == rdev)
            return guards[i].what;
        if (!rdev && guards[i].dev == dev && guards[i].ino == ino)
            return guards[i].what;
    }
    return NULL;
}

/* A job directory: this job's, or any directory with a config and a .rev. */
static int is_job_dir(int dfd, const struct stat *jd)
{
    struct stat sb;
    if (fstat(dfd, &sb) == 0 && sb.st_dev == jd->st_dev && sb.st_ino == jd->st_ino)
        return 1;
    if (fstatat(dfd, "config", &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
        return 0;
    DIR *d = fdopendir(dup(dfd));
    if (!d)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        size_t l = strlen(e->d_name);
        found = l > 4 && !strcmp(e->d_name + l - 4, ".rev");
    }
    closedir(d);
    return found;
}

/* Refuse a target that is (or shares its data with) a backup or the source. */
static void check_target(const char *target, int fd, const struct stat *ts, int pdir,
                         const struct stat *jd)
{
    const char *g;
    if (S_ISREG(ts->st_mode)) {
        if ((g = guarded(ts->st_dev, ts->st_ino, 0)))
            bk_die("refusing target: %s: it is %s", target, g);
        if (ts->st_nlink > 1 && !(ts->st_mode & 0222))
            bk_die("refusing target: %s: a read-only file with %ju links, like a backup image",
                   target, (uintmax_t)ts->st_nlink);
        if (pdir >= 0 && is_job_dir(pdir, jd))
            bk_die("refusing target: %s: it is inside a job directory", target);
    } else if (S_ISBLK(ts->st_mode)) {
        if ((g = guarded(0, 0, ts->st_rdev)))
            bk_die("refusing target: %s: it is %s", target, g);
        struct loop_info64 li;
        if (ioctl(fd, LOOP_GET_STATUS64, &li) == 0 &&
            (g = guarded((dev_t)li.lo_device, (ino_t)li.lo_inode, 0)))
            bk_die("refusing target: %s: a loop device on %s", target, g);
    }
}

void target_open(const char *target, int force, const struct stat *jd, struct target *t)
{
    t->pdir = -1;
    if (!strcmp(target, "-")) {
        if (isatty(1))
            bk_die("refusing to write an image to a terminal: redirect stdout");
        t->fd = 1;
        t->kind = T_STDOUT;
        if (fstat(1, &t->st) < 0)
            bk_die_errno("cannot stat stdout");
        check_target("stdout", 1, &t->st, -1, jd);
        return;
    }
    size_t tl = strlen(target);
    if (!tl || target[tl - 1] == '/')
        bk_die("target is a directory: %s", target);
    /* the directory resolved (symlinks followed), then the last component */
    char *slash = strrchr(target, '/');
    char *dirpart = slash ? (slash == target ? bk_strdup("/") : bk_asprintf("%.*s", (int)(slash - target), target))
                          : bk_strdup(".");
    t->base = bk_strdup(slash ? slash + 1 : target);
    int pdir = open(dirpart, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pdir < 0)
        bk_die_errno("cannot open the target's directory: %s", dirpart);
    free(dirpart);
    struct stat ls, fs;
    int fd = -1;
    if (fstatat(pdir, t->base, &ls, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno != ENOENT)
            bk_die_errno("cannot stat target: %s", target);
        /* nothing is created inside a job directory */
        if (is_job_dir(pdir, jd))
            bk_die("refusing target: %s: it is inside a job directory", target);
        fd = openat(pdir, t->base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
            bk_die_errno("cannot create target: %s", target);
        t->kind = T_CREATED;
    } else if (S_ISLNK(ls.st_mode)) {
        /* followed only to a device (/dev/vg0/vm1, /dev/disk/by-id/...) */
        if (fstatat(pdir, t->base, &fs, 0) < 0 || !(S_ISBLK(fs.st_mode) || S_ISCHR(fs.st_mode) ||
                                                    S_ISFIFO(fs.st_mode)))
            bk_die("refusing target: %s: a symbolic link (followed only to a device): name the file itself",
                   target);
        fd = openat(pdir, t->base, O_WRONLY | O_CLOEXEC | O_NOCTTY | (S_ISBLK(fs.st_mode) ? O_EXCL : 0));
        ls = fs;
    } else if (S_ISDIR(ls.st_mode)) {
        bk_die("target is a directory: %s", target);
    } else {
        /* O_EXCL on a block device: fails when it is mounted or in use */
        fd = openat(pdir, t->base, O_WRONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
                                       (S_ISBLK(ls.st_mode) ? O_EXCL : 0));
    }
    if (fd < 0)
        bk_die_errno(S_ISBLK(ls.st_mode) ? "cannot open target device (in use?): %s"
                                          : "cannot open target: %s", target);
    if (fstat(fd, &t->st) < 0)
        bk_die_errno("cannot stat target: %s", target);
    if (t->kind != T_CREATED &&
        ((t->st.st_mode & S_IFMT) != (ls.st_mode & S_IFMT) || t->st.st_dev != ls.st_dev ||
         t->st.st_ino != ls.st_ino))
        bk_die("target changed while it was opened: %s", target);
    check_target(target, fd, &t->st, pdir, jd);
    t->fd = fd;
    if (t->kind == T_CREATED) {
        t->pdir = pdir;
    } else if (S_ISREG(t->st.st_mode)) {
        if (t->st.st_size > 0 && !force)
            bk_die("refusing target: %s: an existing file of %jd bytes: give --force to overwrite it",
                   target, (intmax_t)t->st.st_size);
        t->kind = t->st.st_size > 0 ? T_OVERWRITTEN : T_EMPTY;
        if (t->kind == T_OVERWRITTEN && ftruncate(fd, 0) < 0)
            bk_die_errno("cannot truncate target: %s", target);
        t->pdir = pdir;
    } else {
        t->kind = S_ISBLK(t->st.st_mode) ? T_DEVICE : T_OTHER;
        close(pdir);
    }
}

const char *target_undo(struct target *t)
{
    struct stat now;
    switch (t->kind) {
    case T_CREATED:
        /* only the file we made, if it is still there under its name */
        if (fstatat(t->pdir, t->base, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == t->st.st_dev &&
            now.st_ino == t->st.st_ino && unlinkat(t->pdir, t->base, 0) == 0)
            return "target removed";
        return "target left in place (could not remove it)";
    case T_EMPTY:
        return ftruncate(t->fd, 0) == 0 ? "target emptied again" : "target left in place";
    case T_OVERWRITTEN: return "target left incomplete";
    case T_DEVICE: return "target device holds a partial copy";
    case T_STDOUT:
    case T_OTHER:
        break;
    }
    /* stdout, a FIFO, a character device: what went out stays out */
    return "output stopped before the damaged block";
}
