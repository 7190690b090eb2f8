/* launcher.h - the privileged half of backy-sched.
 *
 * launcher_start forks the launcher, the only process of the scheduler
 * that forks and execs: it starts backy-backup, backy-verify (the scrub)
 * and backy-telnetd (found beside the executable, once) on request, signals them, and reports
 * their ends. It keeps the wide seccomp filter and the capabilities the
 * children need to start, as they inherit both until they enter their own
 * sandboxes; the scheduler proper then sandboxes itself far more tightly.
 * The two talk over a SOCK_SEQPACKET socketpair (messages: launchmsg.h).
 *
 * The scheduler side below is synchronous: each launch_* call sends one
 * request and waits for its answer; child exits arriving meanwhile are
 * queued for launch_next_exit. When the launcher is gone (socket EOF) the
 * scheduler exits with an error: it never runs without it. */
#ifndef BACKY_SCHED_LAUNCHER_H
#define BACKY_SCHED_LAUNCHER_H

#include <sys/types.h>

struct launcher_conf {
    const char *exe_dir;       /* where backy-backup and backy-telnetd are */
    const char *base_dir;      /* absolute; every job directory lies below it */
    const char *status_file;   /* the telnet shell's -s */
    const char *logfile;       /* the telnet shell's -l; NULL: none */
    const char *config_path;   /* what launch_open_config opens */
    int verbose;               /* the telnet shell's -v */
    int keep_fd;               /* descriptor the launcher keeps open (the lock), -1 none */
    /* The push targets of the configuration at start (lm_valid_target).
     * The launcher's Landlock rules, inherited by every child, are made
     * for them once: a local target directory is created if missing and
     * may be written; for HOST:DIR targets the ssh program may be run
     * (BACKY_SSH's first word found in PATH; for a wrapper script also its
     * interpreter and `ssh`: bk_ssh_programs) with a private
     * TMPDIR for its shared connection. Pushes to other targets are
     * refused until the scheduler is restarted. */
    char *const *push_targets;
    size_t npush_targets;
};

/* 1 when TARGET was a push target of the configuration at start. */
int launcher_push_allowed(const char *target);

/* Fork the launcher. Call with SIGCHLD, SIGTERM, SIGINT and SIGHUP blocked
 * and SIGPIPE ignored, before the scheduler's own sandbox. */
void launcher_start(const struct launcher_conf *c);

int launcher_fd(void);          /* poll it for POLLIN, then launch_next_exit */

/* Start a child: its pid, or -1 with errno (EINVAL: the launcher refused). */
pid_t launch_backup(const char *dir, const char *tags);
pid_t launch_telnet(int port, const char *addrs, const char *user);
/* The scrub of a job: backy-verify --all --rate-limit RATE (MiB/s). */
pid_t launch_verify(const char *dir, int rate);
/* Copy a job's new revisions: backy-push -b DIR -- TARGET (lm_valid_target). */
pid_t launch_push(const char *dir, const char *target);
/* The configuration file (config_path), opened by the launcher: a
 * descriptor, or -1 with errno. */
int launch_open_config(void);
/* SIGTERM or SIGKILL to a running child of the launcher: 0 or -1/errno. */
int launch_signal(pid_t pid, int sig);

/* Next child that ended: 1 and *pid, *wstatus; 0 when none is pending. */
int launch_next_exit(pid_t *pid, int *wstatus);
/* 1 when ends were read while waiting for an answer and not fetched yet
 * (the socket does not show them as readable any more). */
int launch_pending(void);

#endif
