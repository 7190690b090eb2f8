/* backy-backup - make one new revision of a job.
 *
 * Order: options; log; job config; lock (flock on config: one backup per
 * job at a time); open the source (files, cluster connections, snapshots);
 * enter the sandbox; clean up leftovers of interrupted backups; write the
 * new ID.rev without stats (incomplete); run the delta engine; mark image
 * and .rev read-only and complete; point last/last.rev at it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
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

/* What the signal thread may remove, and whether it still may. */
static pthread_mutex_t commit_lock = PTHREAD_MUTEX_INITIALIZER;
static int job_dirfd = -1;
static char new_id[SHORTUUID_LEN + 1];
static int rev_started, rev_committed;

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int sig;
    if (sigwait(set, &sig) != 0)
        return NULL;
    pthread_mutex_lock(&commit_lock);
    if (rev_committed) {
        /* too late to stop: the revision is complete; main exits soon */
        pthread_mutex_unlock(&commit_lock);
        return NULL;
    }
    if (rev_started) {
        log_warn("interrupted by signal %d (%s): removing incomplete revision %s", sig,
                 strsignal(sig), new_id);
        rev_remove(job_dirfd, new_id);
    } else {
        log_warn("interrupted by signal %d (%s)", sig, strsignal(sig));
    }
    _exit(1);
}


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

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    const char *verify_opt = NULL;
    int full_opt = 0;
    static const struct option longopts[] = {
        BK_CLI_LONG, {"verify", required_argument, 0, 'V'}, {"full", no_argument, 0, 'F'}, BK_PROGRESS_LONG,
        {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT, longopts, NULL)) != -1) {
        if (bk_cli_option(&cli, opt, optarg, usage) || progress_option(opt))
            continue;
        if (opt == 'V')
            verify_opt = optarg;
        else if (opt == 'F')
            full_opt = 1;
    }
    if (argc - optind != 1)
        bk_usage_error(usage, argc - optind < 1 ? "no TAGS given" : "too many arguments (TAGS must be one argument: daily,weekly)");
    const char *tags = argv[optind];
    progress_init();

    bk_cli_log(&cli, 0);
    char *dir = bk_cli_jobdir(&cli);
    char err[2048];

    struct bk_rev rev = {0};
    if (rev_set_tags(&rev, tags, err, sizeof err) < 0)
        bk_die("%s", err);

    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        bk_die_errno("cannot open job directory: %s", dir);
    job_dirfd = dirfd;
    struct bk_srccfg cfg;
    if (srccfg_load(dirfd, dir, &cfg, err, sizeof err) < 0)
        bk_die("%s", err);
    enum bk_verify verify = parse_verify(verify_opt ? verify_opt : srccfg_get(&cfg, "verify"),
                                         verify_opt ? "--verify" : "the job config");
    const char *fb = srccfg_get(&cfg, "full-backup");
    int full = full_opt || (fb && (!strcmp(fb, "true") || !strcmp(fb, "yes")));

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
            return 0;
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
            return 0;
        }
        bk_die_errno("cannot lock job configuration: %s/config", dir);
    }

    if (!strcmp(srccfg_get(&cfg, "type"), "replica"))
        bk_die("job holds copies received from %s (type replica): it has no source to back up: %s/config",
               srccfg_get(&cfg, "origin") ? srccfg_get(&cfg, "origin") : "another server", dir);
    const struct source_impl *impl = source_impl_find(srccfg_get(&cfg, "type"));
    if (!impl)
        bk_die("source type '%s' cannot be backed up by this build: %s/config",
               srccfg_get(&cfg, "type"), dir);
    policy.groups |= impl->sandbox_groups;
    struct sb_fs_rule fs[40] = { { NULL, dirfd, SB_FS_RW } };
    size_t nfs = 1;
    if (impl->sandbox_rules)
        nfs += impl->sandbox_rules(fs + nfs, sizeof fs / sizeof fs[0] - nfs - 1);
    fs[nfs] = (struct sb_fs_rule){ NULL, -1, 0 };
    policy.fs = fs;

    /* Signals end the backup through one thread, so that an interrupted
     * backup removes its own incomplete revision. They are blocked from
     * here on; the thread starts once privileges are dropped (and takes
     * what arrived meanwhile). */
    static sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    struct bk_store st;
    if (store_open_fd(&st, dirfd, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    /* Never a quarantined parent: its image holds damage that unchanged
     * source blocks would not overwrite. */
    const struct bk_rev *skipped;
    const struct bk_rev *parent = store_last_good(&st, &skipped);
    if (skipped && parent)
        log_info("parent %s: the newest revision not quarantined (%s is quarantined: verify "
                 "found it damaged)", parent->id, skipped->id);
    else if (skipped)
        log_info("no parent: every complete revision is quarantined (newest %s); reading the "
                 "whole source", skipped->id);
    else if (parent)
        log_debug("parent %s: the newest complete revision", parent->id);

    if (shortuuid_new(new_id) < 0)
        bk_die_errno("cannot make a revision ID");
    snprintf(rev.id, sizeof rev.id, "%s", new_id);
    if (parent)
        snprintf(rev.parent, sizeof rev.parent, "%s", parent->id);
    rev.timestamp = bk_now();
    double t0 = bk_mono();

    /* Privileges are dropped while the process has one thread (capabilities
     * and the Landlock domain are per thread, inherited by later threads):
     * a file source is opened before, with the caller's privileges (an
     * image owned by a hypervisor user); a source that starts library
     * threads (librados) is opened after. */
    if (impl->starts_threads)
        sandbox_drop_privs(&policy);
    struct bk_source src = {.ops = impl->ops, .fd = -1};
    if (src.ops->open(&src, &cfg, new_id, parent ? parent->id : NULL, err, sizeof err) < 0)
        bk_die("%s", err);
    sandbox_drop_privs(&policy);

    pthread_t sigthr;
    if (pthread_create(&sigthr, NULL, signal_thread, &sigs) != 0)
        bk_die("cannot start signal thread");

    sandbox_enter(&policy);

    store_cleanup(&st);

    pthread_mutex_lock(&commit_lock);
    if (rev_save(dirfd, &rev) < 0) {
        int e = errno;
        pthread_mutex_unlock(&commit_lock);
        src.ops->finish(&src, 0, err, sizeof err);
        errno = e;
        bk_die_errno("cannot write revision file: %s/%s.rev", dir, new_id);
    }
    rev_started = 1;
    pthread_mutex_unlock(&commit_lock);
    log_info("backing up %s (%s, %llu bytes) into %s/%s, tags %s, parent %s", src.desc,
             srccfg_get(&cfg, "type"), (unsigned long long)src.size, dir, new_id, tags,
             parent ? parent->id : "none");

    char *plabel = bk_asprintf("backup %s", strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir);
    struct bk_delta_opts dopts = {.verify = verify, .force_full = full, .progress_label = plabel};
    struct bk_delta_stats ds = {0};
    if (delta_backup(dirfd, dir, new_id, parent ? parent->id : NULL, &src, &dopts, &ds, err,
                     sizeof err) < 0) {
        char e2[512];
        pthread_mutex_lock(&commit_lock);
        rev_remove(dirfd, new_id);
        rev_started = 0;
        pthread_mutex_unlock(&commit_lock);
        src.ops->finish(&src, 0, e2, sizeof e2);
        bk_die("backup failed, revision %s removed: %s", new_id, err);
    }

    pthread_mutex_lock(&commit_lock);
    rev_committed = 1;
    rev.complete = 1;
    rev.duration = bk_mono() - t0;
    rev.bytes_written = ds.bytes_written;
    if (rev_save(dirfd, &rev) < 0) {
        int e = errno;
        rev_remove(dirfd, new_id);
        errno = e;
        bk_die_errno("cannot complete revision file, revision removed: %s/%s.rev", dir, new_id);
    }
    /* After the .rev: a read-only image always has a complete .rev (cleanup
     * relies on it). */
    if (bk_fchmodat(dirfd, new_id, 0440) < 0)
        log_warn("cannot make the image read-only: %s/%s: %s", dir, new_id, strerror(errno));
    if (store_update_last(dirfd, new_id) < 0)
        log_warn("cannot update %s/last: %s", dir, strerror(errno));
    pthread_mutex_unlock(&commit_lock);

    if (src.ops->finish(&src, 1, err, sizeof err) < 0)
        log_warn("revision %s is complete, but cleaning up the source failed: %s", new_id, err);
    src.ops->close(&src);
    char sz[32], wr[32];
    bk_fmt_size(sz, sizeof sz, ds.size);
    bk_fmt_size(wr, sizeof wr, ds.bytes_written);
    log_info("revision %s complete: %s image, %s written, %.1f s%s", new_id, sz, wr, rev.duration,
             ds.reflinked || !parent ? "" : " (no reflink: full copy)");
    srccfg_free(&cfg);
    store_close(&st);
    rev_free(&rev);
    free(plabel);
    free(dir);
    return 0;
}
