/* backy-sched - the scheduler ("backy scheduler"): runs every job of the
 * main configuration when it is due, applies retention, writes the status
 * file and keeps the telnet shell running.
 *
 * main reads the configuration, opens what the sandbox will not let it
 * open later (the base, status and metrics directories, the lock), starts
 * the launcher, enters the sandbox and runs the event loop (loop.c) until
 * it is stopped. The jobs' states are job.c, the heap of waiting jobs by
 * due time heap.c, the status and metrics files status.c, a SIGHUP's
 * reload config.c, the scrub scrub.c; their shared state is sched.h.
 *
 * One poll loop over a signalfd (SIGTERM, SIGINT, SIGHUP) and the socket
 * to the launcher, which reports the children's ends. Waiting jobs sit in a
 * binary heap ordered by due time, so a tick costs O(log n) whatever the
 * number of jobs; a job's revisions are read at start (or when a reload
 * changes it), after its own backups, and when a stat of its directory or
 * newest .rev shows a change (checked before each status write, so the
 * status shows the disk); SIGHUP re-reads them all. Backups are separate
 * processes (backy-backup beside this executable), at most worker-limit at
 * once, the most overdue first. Due times and expiry follow schedule.h.
 *
 * Privilege separation: before its sandbox the scheduler forks a launcher
 * (launcher.c), the only process that forks and execs; the scheduler asks
 * it over a socketpair to start and signal children and hears from it when
 * they end. So the scheduler itself, which parses the config, writes the
 * status file and deletes expired revisions, runs without capabilities,
 * without fork, execve or sockets. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/log.h"
#include "backy/mainconf.h"
#include "backy/sandbox.h"
#include "backy/sdnotify.h"
#include "backy/util.h"
#include "launcher.h"
#include "loop.h"
#include "sched.h"
#include "status.h"

static const char usage[] =
    "usage: backy-sched [-c CONFIG] [--check-config] [-l LOGFILE] [-v] [-h]\n"
    "Runs the backup jobs of CONFIG (default /etc/backy.conf) on their schedules,\n"
    "and checks their revisions for damage every scrub-interval (backy-verify).\n"
    "  --check-config   validate CONFIG and exit (0 valid, 1 not)\n"
    "Does not daemonize; SIGTERM stops it (running backups are terminated),\n"
    "SIGHUP re-reads CONFIG and every job directory.\n";

/* The scheduler proper: it reads configs and job directories, writes the
 * status file, job configs and .rev files and removes expired revisions
 * (SB_WRITE: openat for writing, mkdir, rename, unlink; it implies reading),
 * and waits in poll on its signalfd and the launcher's socket (SB_POLL).
 * No fork, clone, execve or socket: children are the launcher's business,
 * and the socketpair to it exists before this sandbox. No capabilities:
 * job directories and the status file are the scheduler's own.
 * Landlock (rules set in main): read, write, create and remove below the
 * base directory and in the status and metrics files' directories,
 * append to and create files in the log file's directory (a rotated log
 * is reopened); nothing else, no TCP. The config file is re-read (SIGHUP)
 * through a descriptor the launcher opens and passes (recvmsg): a rule
 * naming the file would not reach the new file an editor writes. */
static const int sched_extra[] = { __NR_recvmsg, -1 };
static struct sb_policy policy = {
    .name = "backy-sched",
    .groups = SB_BASE | SB_WRITE | SB_POLL,
    .extra = sched_extra,
    .keep_caps = 0,
    .run_as_user = NULL,
};

struct sched sched = {
    .config_path = BK_DEFAULT_CONFIG,
    .waiting = HEAP_INIT(job_due_less, job_heap_pos),
    .status_dirty = 1,
};
static struct bk_cli cli;
static char exe_dir[PATH_MAX];

static int open_lock(void)
{
    char *lp = bk_asprintf("%s.lock", sched.conf.status_file);
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        bk_die_errno("cannot open lock file: %s", lp);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            bk_die("another scheduler is running: %s is locked", lp);
        bk_die_errno("cannot lock %s", lp);
    }
    free(lp);
    return fd;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        BK_CLI_LONG,
        { "config", required_argument, 0, 'c' },
        { "check-config", no_argument, 0, 'C' },
        { 0, 0, 0, 0 },
    };
    int opt, check_only = 0;
    char err[1024];

    bk_setprog("backy-sched");

    bk_cli_version(argc, argv);
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT "c:", longopts, NULL)) != -1) {
        if (bk_cli_option(&cli, opt, optarg, usage))
            continue;
        if (opt == 'c')
            sched.config_path = optarg;
        else if (opt == 'C')
            check_only = 1;
    }
    if (optind < argc)
        bk_usage_error(usage, "unexpected argument: %s", argv[optind]);

    if (mainconf_load(sched.config_path, &sched.conf, err, sizeof err) < 0)
        bk_die("invalid configuration: %s", err);
    if (check_only) {
        printf("%s: configuration OK: %zu %s, %zu %s\n", sched.config_path, sched.conf.nscheds,
               bk_plural(sched.conf.nscheds, "schedule", "schedules"), sched.conf.njobs,
               bk_plural(sched.conf.njobs, "job", "jobs"));
        return 0;
    }
    bk_cli_log(&cli, 0);
    absolute_base_dir(&sched.conf);

    ssize_t n = readlink("/proc/self/exe", exe_dir, sizeof exe_dir - 1);
    if (n < 0)
        bk_die_errno("cannot find own executable: /proc/self/exe");
    exe_dir[n] = '\0';
    char *slash = strrchr(exe_dir, '/');
    if (slash)
        *slash = '\0';

    if (mkdir(sched.conf.base_dir, 0755) < 0 && errno != EEXIST)
        bk_die_errno("cannot create base directory: %s", sched.conf.base_dir);
    status_open();
    int lockfd = open_lock();

    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGCHLD);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* The launcher also holds the lock: a new scheduler cannot start while
     * backups of this one still run. */
    struct launcher_conf lc = {
        .exe_dir = exe_dir,
        .base_dir = sched.conf.base_dir,
        .status_file = sched.conf.status_file,
        .logfile = cli.logfile,
        .config_path = bk_abspath(sched.config_path),
        .verbose = cli.verbose,
        .keep_fd = lockfd,
    };
    /* every push target of the configuration: the launcher's rules */
    size_t ntg = 0;
    for (size_t i = 0; i < sched.conf.njobs; i++)
        ntg += sched.conf.jobs[i].npush;
    char **tgs = bk_calloc(ntg + 1, sizeof *tgs);
    ntg = 0;
    for (size_t i = 0; i < sched.conf.njobs; i++)
        for (size_t k = 0; k < sched.conf.jobs[i].npush; k++)
            tgs[ntg++] = sched.conf.jobs[i].push[k];
    lc.push_targets = tgs;
    lc.npush_targets = ntg;
    launcher_start(&lc);
    free(tgs);

    /* SIGCHLD stays blocked and unread: the only child is the launcher,
     * whose end shows as EOF on its socket. */
    sigdelset(&sigs, SIGCHLD);
    int sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        bk_die_errno("signalfd");

    char *ldir = cli.logfile ? bk_abspath(cli.logfile) : NULL;
    if (ldir)
        *strrchr(ldir, '/') = '\0';
    const struct sb_fs_rule fs[] = {
        { sched.conf.base_dir, -1, SB_FS_RW },
        { NULL, status_dir_fd(), SB_FS_RW },
        /* the metrics file's directory (without one: the status's again) */
        { NULL, metrics_dir_fd() >= 0 ? metrics_dir_fd() : status_dir_fd(), SB_FS_RW },
        { ldir && *ldir ? ldir : "/", -1, ldir ? SB_FS_WRITE | SB_FS_MAKE_FILE : 0 },
        { NULL, -1, 0 },
    };
    policy.fs = fs;
    sandbox_enter(&policy);

    double now = bk_now();
    sched.started_at = now;
    log_info("scheduler starting: %s, %zu %s, worker limit %ld", sched.config_path,
             sched.conf.njobs, bk_plural(sched.conf.njobs, "job", "jobs"),
             sched.conf.worker_limit);
    apply_config(now);
    log_info("scheduler started in %.2f s", bk_now() - now);
    now = bk_now();
    write_status(now);
    start_telnet(now);
    bk_sd_notify("READY=1");   /* systemd Type=notify; nothing without NOTIFY_SOCKET */

    loop_run(sfd);
    write_status(bk_now());
    log_info("scheduler stopped");
    return 0;
}

