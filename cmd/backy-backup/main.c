/* backy-backup - make one new revision of a job.
 *
 * Order: options; log; job config; lock (flock on config: one backup per
 * job at a time); open the source (files, cluster connections, snapshots);
 * enter the sandbox; clean up leftovers of interrupted backups; write the
 * new ID.rev without stats (incomplete); run the delta engine; mark image
 * and .rev read-only and complete; point last/last.rev at it. The
 * revision's begin, commit and abandon, and the signal thread that may
 * abandon it, are in commit.c. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/delta.h"
#include "backy/log.h"
#include "backy/progress.h"
#include "backy/quarantine.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/shortuuid.h"
#include "backy/sourcetype.h"
#include "backy/util.h"
#include "commit.h"
#include "sources.h"

#define LOCK_WAIT 2    /* seconds a short-lived holder of the job lock is waited for */

static const char usage[] =
    "usage: backy-backup [-l LOGFILE] [-v] [-b DIR] [--verify=default|full|off] [--full]\n"
    "                    [--progress|--no-progress] TAGS\n"
    "Makes a new revision of the job in DIR (default: the current directory),\n"
    "tagged with TAGS, a comma-separated list in one argument (e.g. daily,weekly).\n"
    "  --verify=MODE   default: read back what was written plus a sample of the rest;\n"
    "                  full: compare the whole image with the source; off: no check\n"
    "  --full          compare every block instead of trusting the source's change list\n"
    "  --progress      show progress on stderr even when it is not a terminal (one line\n"
    "                  a second); by default only a terminal shows it\n"
    "  --no-progress   never show progress\n"
    "Exit status: 0 on success (also when another backup of the job is running), 1 otherwise.\n";

/* Sandbox policy: the delta engine writes files in the job directory with
 * two threads; sources add what they need (sources.c). Landlock: the job
 * directory only (read, write, create, remove), plus what a network
 * source reads; the source file and the log are open before. */
static const int backup_extra[] = {-1};
static struct sb_policy policy = {
    .name = "backy-backup",
    .groups = SB_BASE | SB_WRITE | SB_THREADS,
    .extra = backup_extra,
    .keep_caps = 0,
};

static enum bk_verify parse_verify(const char *v, const char *where)
{
    if (!v || !strcmp(v, "default") || !strcmp(v, "sample"))
        return BK_VERIFY_DEFAULT;
    if (!strcmp(v, "full"))
        return BK_VERIFY_FULL;
    if (!strcmp(v, "off"))
        return BK_VERIFY_OFF;
    bk_die("invalid verify mode '%s' in %s (default, full or off)", v, where);
}

struct options {
    struct bk_cli cli;
    const char *verify;         /* --verify, or NULL */
    int full;                   /* --full */
    const char *tags;
};

static void parse_options(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        BK_CLI_LONG, {"verify", required_argument, 0, 'V'}, {"full", no_argument, 0, 'F'}, BK_PROGRESS_LONG,
        {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT, longopts, NULL)) != -1) {
        if (bk_cli_option(&o->cli, opt, optarg, usage) || progress_option(opt))
            continue;
        if (opt == 'V')
            o->verify = optarg;
        else if (opt == 'F')
            o->full = 1;
    }
    if (argc - optind != 1)
        bk_usage_error(usage, argc - optind < 1 ? "no TAGS given" : "too many arguments (TAGS must be one argument: daily,weekly)");
    o->tags = argv[optind];
}

/* The job: its directory and configuration, and how to verify. */
struct job {
    int dirfd;
    struct bk_srccfg cfg;
    enum bk_verify verify;
    int full;                   /* compare every block */
};

static void open_job(struct job *job, const char *dir, const struct options *o)
{
    char err[2048];
    job->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (job->dirfd < 0)
        bk_die_errno("cannot open job directory: %s", dir);
    if (srccfg_load(job->dirfd, dir, &job->cfg, err, sizeof err) < 0)
        bk_die("%s", err);
    job->verify = parse_verify(o->verify ? o->verify : srccfg_get(&job->cfg, "verify"),
                               o->verify ? "--verify" : "the job config");
    const char *fb = srccfg_get(&job->cfg, "full-backup");
    job->full = o->full || (fb && (!strcmp(fb, "true") || !strcmp(fb, "yes")));
}

/* Lock the job: 0, or 1 when another backup holds it (nothing to do). */
static int lock_job(int dirfd, const char *dir)
{
    /* One backup per job at a time: the lock is on the config file. */
    int lockfd = bk_open_file(dirfd, "config", O_RDONLY, BK_FT_REG, NULL);
    if (lockfd < 0)
        bk_die("cannot open job configuration: %s/config: %s", dir, bk_strerror(errno));
    /* Two locks. The job directory itself is locked by backups only: held,
     * another backup runs, and this one has nothing to do. The job lock on
     * config is also taken for a moment by whatever records a change (a
     * verify result, expiry, status asking whether a backup runs): that
     * is waited for, up to LOCK_WAIT seconds; held longer, it is a backup
     * that does not lock the directory (an older backy). */
    if (flock(dirfd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK) {
            log_info("backup already in progress in %s: nothing to do", dir);
            return 1;
        }
        bk_die("cannot lock job directory: %s: %s", dir, bk_strerror(errno));
    }
    int locked = -1;
    for (int i = 0; i < LOCK_WAIT * 20 && (locked = flock(lockfd, LOCK_EX | LOCK_NB)) < 0 &&
                    errno == EWOULDBLOCK; i++) {
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (locked < 0) {
        if (errno == EWOULDBLOCK) {
            log_info("backup already in progress in %s (%s/config is locked): nothing to do",
                     dir, dir);
            return 1;
        }
        bk_die_errno("cannot lock job configuration: %s/config", dir);
    }
    return 0;
}

/* The implementation of the job's source type, and what the sandbox must
 * allow it. */
static const struct source_impl *choose_source(const struct bk_srccfg *cfg, int dirfd,
                                               const char *dir)
{
    if (!strcmp(srccfg_get(cfg, "type"), "replica"))
        bk_die("job holds copies received from %s (type replica): it has no source to back up: %s/config",
               srccfg_get(cfg, "origin") ? srccfg_get(cfg, "origin") : "another server", dir);
    const struct source_impl *impl = source_impl_find(srccfg_get(cfg, "type"));
    if (!impl)
        bk_die("source type '%s' cannot be backed up by this build: %s/config",
               srccfg_get(cfg, "type"), dir);
    static struct sb_fs_rule fs[40];
    fs[0] = (struct sb_fs_rule){ NULL, dirfd, SB_FS_RW };
    size_t nfs = 1;
    if (impl->sandbox_rules)
        nfs += impl->sandbox_rules(fs + nfs, sizeof fs / sizeof fs[0] - nfs - 1);
    fs[nfs] = (struct sb_fs_rule){ NULL, -1, 0 };
    policy.groups |= impl->sandbox_groups;
    policy.fs = fs;
    return impl;
}

/* Never a quarantined parent: its image holds damage that unchanged
 * source blocks would not overwrite. */
static const struct bk_rev *choose_parent(struct bk_store *st)
{
    const struct bk_rev *skipped;
    const struct bk_rev *parent = store_last_good(st, &skipped);
    if (skipped && parent)
        log_info("parent %s: the newest revision not quarantined (%s is quarantined: verify "
                 "found it damaged)", parent->id, skipped->id);
    else if (skipped)
        log_info("no parent: every complete revision is quarantined (newest %s); reading the "
                 "whole source", skipped->id);
    else if (parent)
        log_debug("parent %s: the newest complete revision", parent->id);
    return parent;
}

/* Privileges are dropped while the process has one thread (capabilities
 * and the Landlock domain are per thread, inherited by later threads): a
 * file source is opened before, with the caller's privileges (an image
 * owned by a hypervisor user); a source that starts library threads
 * (librados) is opened after. */
static void open_source(struct bk_source *src, const struct source_impl *impl,
                        const struct bk_srccfg *cfg, const char *id, const char *parent_id)
{
    char err[2048];
    if (impl->starts_threads)
        sandbox_drop_privs(&policy);
    *src = (struct bk_source){.ops = impl->ops, .fd = -1};
    if (src->ops->open(src, cfg, id, parent_id, err, sizeof err) < 0)
        bk_die("%s", err);
}

/* Drop privileges (if the source did not need them dropped before), start
 * the signal thread, then load the seccomp filter. */
static void confine(void)
{
    sandbox_drop_privs(&policy);
    if (rev_signals_start() < 0)
        bk_die("cannot start signal thread");
    sandbox_enter(&policy);
}

static void report(const struct bk_rev *rev, const struct bk_delta_stats *ds, int has_parent)
{
    char sz[32], wr[32];
    bk_fmt_size(sz, sizeof sz, ds->size);
    bk_fmt_size(wr, sizeof wr, ds->bytes_written);
    log_info("revision %s complete: %s image, %s written, %.1f s%s", rev->id, sz, wr,
             rev->duration, ds->reflinked || !has_parent ? "" : " (no reflink: full copy)");
}

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct options o = {0};
    parse_options(argc, argv, &o);
    progress_init();

    bk_cli_log(&o.cli, 0);
    char *dir = bk_cli_jobdir(&o.cli);
    char err[2048];

    struct bk_rev rev = {0};
    if (rev_set_tags(&rev, o.tags, err, sizeof err) < 0)
        bk_die("%s", err);

    struct job job;
    open_job(&job, dir, &o);
    struct bk_srccfg *cfg = &job.cfg;
    int dirfd = job.dirfd;
    if (lock_job(dirfd, dir)) {
        srccfg_free(cfg);
        rev_free(&rev);
        free(dir);
        return 0;
    }
    const struct source_impl *impl = choose_source(cfg, dirfd, dir);
    rev_signals_block();

    struct bk_store st;
    if (store_open_fd(&st, dirfd, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    const struct bk_rev *parent = choose_parent(&st);
    const char *parent_id = parent ? parent->id : NULL;
    if (shortuuid_new(rev.id) < 0)
        bk_die_errno("cannot make a revision ID");
    if (parent)
        snprintf(rev.parent, sizeof rev.parent, "%s", parent->id);
    rev.timestamp = bk_now();
    double t0 = bk_mono();

    struct bk_source src;
    open_source(&src, impl, cfg, rev.id, parent_id);
    confine();
    store_cleanup(&st);

    if (rev_begin(dirfd, &rev) < 0) {
        int e = errno;
        src.ops->finish(&src, 0, err, sizeof err);
        errno = e;
        bk_die_errno("cannot write revision file: %s/%s.rev", dir, rev.id);
    }
    log_info("backing up %s (%s, %llu bytes) into %s/%s, tags %s, parent %s", src.desc,
             srccfg_get(cfg, "type"), (unsigned long long)src.size, dir, rev.id, o.tags,
             parent ? parent->id : "none");

    char *plabel = bk_asprintf("backup %s", strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir);
    struct bk_delta_opts dopts = {.verify = job.verify, .force_full = job.full,
                                  .progress_label = plabel};
    struct bk_delta_stats ds = {0};
    if (delta_backup(dirfd, dir, rev.id, parent_id, &src, &dopts, &ds, err, sizeof err) < 0) {
        char e2[512];
        rev_abandon();
        src.ops->finish(&src, 0, e2, sizeof e2);
        bk_die("backup failed, revision %s removed: %s", rev.id, err);
    }

    rev.duration = bk_mono() - t0;
    rev.bytes_written = ds.bytes_written;
    if (rev_commit(dirfd, dir, &rev) < 0) {
        /* the revision is gone: so must be what the source made for it
         * (a Ceph snapshot), or the next backup diffs against a snapshot
         * no revision holds */
        int e = errno;
        char e2[512];
        if (src.ops->finish(&src, 0, e2, sizeof e2) < 0)
            log_warn("%s", e2);
        errno = e;
        bk_die_errno("cannot complete revision file, revision removed: %s/%s.rev", dir, rev.id);
    }

    if (src.ops->finish(&src, 1, err, sizeof err) < 0)
        log_warn("revision %s is complete, but cleaning up the source failed: %s", rev.id, err);
    src.ops->close(&src);
    report(&rev, &ds, parent != NULL);
    srccfg_free(cfg);
    store_close(&st);
    rev_free(&rev);
    free(plabel);
    free(dir);
    return 0;
}
