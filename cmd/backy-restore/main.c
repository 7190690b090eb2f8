/* backy-restore - copy a revision out to a file, a block device or stdout.
 * The image and the target are opened and checked before the sandbox; the
 * copy runs inside it (reflink where the target shares the filesystem,
 * else a sparse-aware copy: see copyout.h), checking every block against
 * the revision's sums.
 *
 * A restore never writes into a backup: the opened target is compared by
 * device and inode with every file of the job directory and with the
 * job's source, and refused when it lies in any job directory or looks
 * like another job's image (a read-only file with several links). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/copyout.h"
#include "backy/log.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/sourcetype.h"
#include "backy/sums.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-restore [-l LOGFILE] [-v] [-b DIR] [-r REVISION] [--force] [--no-verify]\n"
    "                     TARGET\n"
    "Copies the image of REVISION (default: the newest) to TARGET: a new file\n"
    "(sparse where the image has holes), an existing empty file, a block device\n"
    "(must not be in use), or - for stdout. REVISION as for backy-find.\n"
    "Every block is checked against the revision's sums (ID.sums) on the way;\n"
    "on a damaged block the restore stops and removes the file it created.\n"
    "A file inside a job directory, a backup image or the job's source is\n"
    "never a target.\n"
    "  --force       overwrite an existing non-empty file; on damage copy\n"
    "                everything and keep the target (exit status still 1)\n"
    "  --no-verify   do not check the blocks (a reflink then reads nothing)\n"
    "Exit status: 0 on success, 1 otherwise (also when damage was found).\n";

/* Everything is opened before the sandbox. SB_WRITE: the copy writes,
 * resizes, syncs and clones into the target (FICLONE is only allowed
 * there), and a created target is removed (unlinkat) when the copy
 * fails. */
static const struct sb_policy policy = {
    .name = "backy-restore",
    .groups = SB_BASE | SB_WRITE | SB_BLOCKDEV,
};

/* Files a restore must never write into: every file of the job
 * directory, and the job's source. */
struct guard {
    dev_t dev;
    ino_t ino;
    dev_t rdev;     /* block device source: its device number, else 0 */
    char *what;     /* "image REV", "file NAME", "source PATH" */
};
static struct guard *guards;
static size_t nguards;

static void guard_add(const struct stat *sb, char *what)
{
    guards = bk_realloc(guards, (nguards + 1) * sizeof *guards);
    guards[nguards++] = (struct guard){sb->st_dev, sb->st_ino, S_ISBLK(sb->st_mode) ? sb->st_rdev : 0,
                                       what};
}

static void guards_collect(struct bk_store *st)
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

enum tkind { T_STDOUT, T_CREATED, T_EMPTY, T_OVERWRITTEN, T_DEVICE, T_OTHER };

struct target {
    int fd;
    enum tkind kind;
    int pdir;           /* directory of a created file (for removing it) */
    char *base;
    struct stat st;
};

static void open_target(const char *target, int force, const struct stat *jd, struct target *t)
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

/* After a failed or damaged copy without --force: take back what was
 * written where that is possible. Returns what happened to the target. */
static const char *undo(struct target *t)
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
    case T_STDOUT: return "output stopped before the damaged block";
    default: return "output stopped before the damaged block";
    }
}

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    struct bk_cli cli = {0};
    const char *spec = NULL;
    int force = 0, no_verify = 0;
    static const struct option longopts[] = {BK_CLI_LONG,
                                              {"revision", required_argument, 0, 'r'},
                                              {"force", no_argument, 0, 'F'},
                                              {"no-verify", no_argument, 0, 'N'},
                                              {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT "r:", longopts, NULL)) != -1) {
        if (bk_cli_option(&cli, opt, optarg, usage))
            continue;
        if (opt == 'r')
            spec = optarg;
        else if (opt == 'F')
            force = 1;
        else if (opt == 'N')
            no_verify = 1;
    }
    if (argc - optind != 1)
        bk_usage_error(usage, argc - optind < 1 ? "no TARGET given" : "too many arguments");
    const char *target = argv[optind];
    int to_stdout = !strcmp(target, "-");
    bk_cli_log(&cli, to_stdout);
    char *dir = bk_cli_jobdir(&cli);
    char err[2048];

    struct bk_store st;
    if (store_open(&st, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    const struct bk_rev *r = store_resolve(&st, spec, err, sizeof err);
    if (!r)
        bk_die("%s", err);
    int src = openat(st.dirfd, r->id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (src < 0)
        bk_die_errno("cannot open image: %s/%s", dir, r->id);
    struct stat ss, jd;
    if (fstat(src, &ss) < 0 || fstat(st.dirfd, &jd) < 0)
        bk_die_errno("cannot stat image: %s/%s", dir, r->id);

    /* The sums, before anything is written: a damage that shows already
     * (unreadable sums, wrong size) writes nothing without --force. */
    struct bk_sums sums = {0};
    int have_sums = 0;
    char *damage = NULL;     /* damage found before the copy (--force) */
    if (!no_verify) {
        char name[BK_ID_MAX + 16];
        snprintf(name, sizeof name, "%s%s", r->id, BK_SUMS_SUFFIX);
        if (sums_load(st.dirfd, name, &sums, err, sizeof err) == 0) {
            have_sums = 1;
            if (sums.size != (uint64_t)ss.st_size) {
                damage = bk_asprintf("revision %s damaged: %s/%s: image has %jd bytes, its sums describe %" PRIu64,
                                     r->id, dir, r->id, (intmax_t)ss.st_size, sums.size);
                have_sums = 0;
            }
        } else if (errno != ENOENT) {
            damage = bk_asprintf("revision %s cannot be checked: %s/%s", r->id, dir, err);
        }
        if (damage && !force)
            bk_die("%s: nothing written (--force restores it unchecked)", damage);
    }

    guards_collect(&st);
    struct target t = {0};
    open_target(target, force, &jd, &t);
    log_no_reopen();
    sandbox_enter(&policy);

    if (no_verify)
        log_info("revision %s: not checked against its sums (--no-verify)", r->id);
    else if (!have_sums && !damage) {
        fprintf(stderr, "%s: warning: revision %s has no sums (made by an older backy): restored unchecked\n",
                bk_prog, r->id);
        if (!log_is_stdio())
            log_warn("revision %s has no sums (made by an older backy): restored unchecked", r->id);
    }
    struct bk_copy_stats cs = {0};
    struct bk_copy_check ck = {have_sums ? &sums : NULL, force};
    log_info("restoring revision %s (%s/%s) to %s", r->id, dir, r->id, target);
    if (bk_copyout_checked(src, t.fd, t.kind != T_DEVICE && t.kind != T_STDOUT && t.kind != T_OTHER,
                           &ck, &cs, err, sizeof err) < 0) {
        int e = errno;
        const char *what = force ? "target kept (--force)" : undo(&t);
        if (e == EBADMSG)
            bk_die("revision %s damaged: %s/%s: %s; %s: %s", r->id, dir, r->id, err, what, target);
        bk_die("restore of %s/%s to %s failed: %s; %s", dir, r->id, target, err, what);
    }
    if (t.kind != T_STDOUT && close(t.fd) < 0)
        bk_die_errno("cannot close target: %s", target);
    if (t.kind == T_STDOUT && close(1) < 0)
        bk_die_errno("cannot write to stdout");
    if (damage)
        bk_die("%s; restored unchecked, target kept (--force): %s", damage, target);
    if (cs.bad_blocks)
        bk_die("revision %s damaged: %s/%s: %" PRIu64 " blocks differ from their sums, the first is "
               "block %" PRIu64 " at offset %" PRIu64 "; target kept (--force): %s",
               r->id, dir, r->id, cs.bad_blocks, cs.first_bad, cs.first_bad * cs.block_size, target);
    char sz[32];
    bk_fmt_size(sz, sizeof sz, cs.size);
    log_info("restored %s (%s, %s%s)", target, sz, bk_copy_method_name(cs.method),
             have_sums ? ", checked against its sums" : ", unchecked");
    sums_free(&sums);
    store_close(&st);
    free(dir);
    return 0;
}
