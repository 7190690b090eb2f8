/* launcher.c - the privileged half of backy-sched: a poll loop over the
 * socket to the scheduler and a signalfd for SIGCHLD. It does no parsing
 * beyond its fixed-size messages (lm_parse_request), starts only the three
 * programs resolved at start (backy-backup, backy-verify for the scrub,
 * backy-telnetd), and signals only children it started and
 * has not yet reaped (so a pid can never be a recycled one). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#include "backy/launchmsg.h"
#include "backy/log.h"
#include "backy/sandbox.h"
#include "backy/util.h"
#include "launcher.h"

/* Every child inherits this filter across fork and execve until it loads
 * its own, so it is the union of what backy-backup (all source types:
 * ceph starts threads, maps plugins, opens sockets) and backy-telnetd
 * (listening sockets, the switch to its user) need to start and sandbox
 * themselves. Each child then narrows it with its own filter. */
static const int launcher_extra[] = {
    __NR_listen, __NR_setuid, __NR_setgid, __NR_setreuid, __NR_setregid,
    __NR_setresuid, __NR_setresgid, __NR_setgroups, -1,
};
static struct sb_policy launcher_policy = {
    .name = "backy-sched-launcher",
    .groups = SB_BASE | SB_RDONLY | SB_WRITE | SB_THREADS | SB_PROC | SB_POLL |
              SB_NET_CLIENT | SB_NET_SERVE | SB_BLOCKDEV | SB_PROT_EXEC,
    .extra = launcher_extra,
    /* what children started as root still need: reading sources and job
     * directories of any owner, the telnet shell's user switch and port */
    .keep_caps = (1ULL << CAP_DAC_OVERRIDE) | (1ULL << CAP_DAC_READ_SEARCH) |
                 (1ULL << CAP_FOWNER) | (1ULL << CAP_CHOWN) | (1ULL << CAP_SETUID) |
                 (1ULL << CAP_SETGID) | (1ULL << CAP_SETPCAP) |
                 (1ULL << CAP_NET_BIND_SERVICE) |
                 /* signalling the telnet shell, which runs as another user */
                 (1ULL << CAP_KILL),
    .run_as_user = NULL,
};

#define STOP_GRACE 30   /* seconds between SIGTERM and SIGKILL when the scheduler is gone */

/* ---- the launcher process ------------------------------------------ */

struct child {
    pid_t pid;
    uint32_t op;
};

static struct child *kids;
static size_t nkids;
static char *backup_prog, *telnet_prog, *verify_prog;
static char *push_prog;
static int null_fd = -1;
static char **push_ok;          /* the push targets at start */
static size_t npush_ok;
static char *push_tmp;          /* the children's private TMPDIR, NULL none */

int launcher_push_allowed(const char *target)
{
    for (size_t i = 0; i < npush_ok; i++)
        if (!strcmp(push_ok[i], target))
            return 1;
    return 0;
}


/* The push part of the launcher's Landlock rules (see launcher.h), added
 * to fs from index n; returns the new count. */
static size_t push_rules(struct sb_fs_rule *fs, size_t n, size_t max, const char *base_dir)
{
    int remote = 0;
    for (size_t i = 0; i < npush_ok && n < max; i++) {
        if (push_ok[i][0] == '/') {
            /* created when missing (as backy-receive would), so that
             * the rule can name it */
            char *failed = NULL;
            if (bk_mkdir_p(push_ok[i], 0750, &failed) < 0) {
                log_warn("launcher: push target %s: cannot create directory %s: %s (pushes to "
                         "it fail until the scheduler is restarted after it is fixed)",
                         push_ok[i], failed, strerror(errno));
                free(failed);
            }
            fs[n++] = (struct sb_fs_rule){ push_ok[i], -1, SB_FS_RW | SB_FS_OPTIONAL };
        } else {
            remote = 1;
        }
    }
    if (!remote || n + 4 > max)
        return n;
    /* what BACKY_SSH runs (for a wrapper script also its interpreter and ssh) */
    char *progs[3];
    size_t np = bk_ssh_programs(getenv("BACKY_SSH"), progs);
    for (size_t i = 0; i < np; i++)
        fs[n++] = (struct sb_fs_rule){ progs[i], -1, SB_FS_EXEC | SB_FS_OPTIONAL };
    /* ssh's shared connection: a socket below TMPDIR, here a private
     * directory in the base directory (writable anyway; one scheduler per
     * base directory holds the lock, so the name is fixed and a directory
     * left by a killed one is used again; removed when the launcher ends),
     * and /dev/null opened for writing */
    char *t = bk_asprintf("%s/.push-tmp", base_dir);
    struct stat sb;
    if (mkdir(t, 0700) < 0 && errno != EEXIST)
        log_warn("launcher: cannot create a private TMPDIR for ssh: %s: %s", t, strerror(errno));
    if (lstat(t, &sb) == 0 && S_ISDIR(sb.st_mode) && sb.st_uid == geteuid()) {
        push_tmp = t;
        setenv("TMPDIR", t, 1);
        fs[n++] = (struct sb_fs_rule){ push_tmp, -1, SB_FS_RW | SB_FS_MAKE_SOCK };
    } else {
        log_warn("launcher: %s is not a directory of this user: ssh uses the default TMPDIR", t);
        free(t);
    }
    fs[n++] = (struct sb_fs_rule){ "/dev/null", -1, SB_FS_WRITE };
    return n;
}

static int own_child(pid_t pid)
{
    for (size_t i = 0; i < nkids; i++)
        if (kids[i].pid == pid)
            return 1;
    return 0;
}

/* The telnet shell runs as an unprivileged user in a read-only sandbox: it
 * cannot open the log file again after a rotation. Its output comes
 * through this pipe instead, and the launcher writes it to the log, which
 * it reopens after a rename like every writer. */
static int telnet_log_fd = -1;

/* OUT_FD >= 0: the child's stdout and stderr */
static pid_t spawn(char *const argv[], int out_fd)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    dup2(null_fd, 0);
    if (out_fd >= 0) {
        dup2(out_fd, 1);
        dup2(out_fd, 2);
    }
    execv(argv[0], argv);
    fprintf(stderr, "backy-sched: error: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* 0, or -1 when the scheduler is gone */
static int send_reply(int sock, const struct lm_reply *r)
{
    for (;;) {
        ssize_t w = write(sock, r, sizeof *r);
        if (w == (ssize_t)sizeof *r)
            return 0;
        if (w < 0 && errno == EINTR)
            continue;
        return -1;
    }
}

/* LM_CONFIG: the configuration file, opened here (the launcher reads
 * everything), passed to the scheduler with the answer. */
static void send_config(int sock, const struct lm_request *rq, const struct launcher_conf *c,
                        int *gone)
{
    struct lm_reply rep = { .kind = LM_OK, .seq = rq->seq, .op = rq->op };
    int fd = c->config_path ? open(c->config_path, O_RDONLY | O_CLOEXEC | O_NOCTTY) : -1;
    if (fd < 0) {
        rep.kind = LM_ERR;
        rep.err = c->config_path ? errno : ENOENT;
        if (send_reply(sock, &rep) < 0)
            *gone = 1;
        return;
    }
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = { .iov_base = &rep, .iov_len = sizeof rep };
    struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                        .msg_controllen = sizeof u.buf };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    ssize_t w;
    while ((w = sendmsg(sock, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (w != (ssize_t)sizeof rep)
        *gone = 1;
    close(fd);
}

static void handle(int sock, const struct lm_request *rq, const struct launcher_conf *c,
                   int *gone)
{
    struct lm_reply rep = { .kind = LM_OK, .seq = rq->seq, .op = rq->op };
    pid_t pid = -1;

    if (rq->op == LM_CONFIG) {
        send_config(sock, rq, c, gone);
        return;
    }

    if (rq->op == LM_SIGNAL) {
        if (!own_child(rq->pid)) {
            rep.kind = LM_ERR;
            rep.err = ESRCH;
        } else if (kill(rq->pid, rq->sig) < 0) {
            rep.kind = LM_ERR;
            rep.err = errno;
        }
        rep.pid = rq->pid;
    } else if (rq->op == LM_BACKUP) {
        char *logp = bk_asprintf("%s/backy.log", rq->dir);
        char *argv[] = { backup_prog, "-b", (char *)rq->dir, "-l", logp, (char *)rq->tags,
                         NULL };
        pid = spawn(argv, -1);
        free(logp);
    } else if (rq->op == LM_VERIFY) {
        char *logp = bk_asprintf("%s/backy.log", rq->dir);
        char rate[16];
        snprintf(rate, sizeof rate, "%d", (int)rq->rate);
        char *argv[] = { verify_prog, "-b", (char *)rq->dir, "-l", logp, "--all",
                         "--rate-limit", rate, NULL };
        pid = spawn(argv, -1);
        free(logp);
    } else if (rq->op == LM_PUSH && !launcher_push_allowed(rq->target)) {
        log_error("launcher: refused push to %s: not a push target of the configuration the "
                  "scheduler started with (restart the scheduler after adding push targets)",
                  rq->target);
        errno = EPERM;
    } else if (rq->op == LM_PUSH) {
        char *logp = bk_asprintf("%s/backy.log", rq->dir);
        char *argv[] = { push_prog, "-b", (char *)rq->dir, "-l", logp, "--",
                         (char *)rq->target, NULL };
        pid = spawn(argv, -1);
        free(logp);
    } else { /* LM_TELNET */
        char port[16];
        char *argv[16];
        int n = 0;
        snprintf(port, sizeof port, "%d", (int)rq->port);
        argv[n++] = telnet_prog;
        argv[n++] = "-s";
        argv[n++] = (char *)c->status_file;
        argv[n++] = "-a";
        argv[n++] = (char *)rq->addrs;
        argv[n++] = "-p";
        argv[n++] = port;
        argv[n++] = "-u";
        argv[n++] = (char *)rq->user;
        int pfd[2] = { -1, -1 };
        if (c->logfile && pipe2(pfd, O_CLOEXEC) < 0)
            log_error("launcher: pipe for the telnet shell's log: %s", strerror(errno));
        if (c->verbose)
            argv[n++] = "-v";
        argv[n] = NULL;
        pid = spawn(argv, pfd[1]);
        if (pfd[1] >= 0) {
            close(pfd[1]);
            if (telnet_log_fd >= 0)
                close(telnet_log_fd);
            telnet_log_fd = pfd[0];
        }
    }
    if (rq->op != LM_SIGNAL) {
        if (pid < 0) {
            rep.kind = LM_ERR;
            rep.err = errno;
        } else {
            kids = bk_realloc(kids, (nkids + 1) * sizeof *kids);
            kids[nkids].pid = pid;
            kids[nkids].op = rq->op;
            nkids++;
            rep.pid = pid;
        }
    }
    if (send_reply(sock, &rep) < 0)
        *gone = 1;
}

static void reap(int sock, int *gone)
{
    int ws;
    pid_t pid;
    while ((pid = waitpid(-1, &ws, WNOHANG)) > 0) {
        struct lm_reply rep = { .kind = LM_EXITED, .pid = pid, .status = ws };
        for (size_t i = 0; i < nkids; i++) {
            if (kids[i].pid != pid)
                continue;
            rep.op = kids[i].op;
            kids[i] = kids[--nkids];
            break;
        }
        if (!*gone && send_reply(sock, &rep) < 0)
            *gone = 1;
    }
}

static void drain_signalfd(int sfd)
{
    struct signalfd_siginfo si;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
        ;
}

/* The scheduler is gone: terminate what still runs, then exit. */
static void finish(int sock, int sfd) __attribute__((noreturn));
static void finish(int sock, int sfd)
{
    int gone = 1;
    if (nkids) {
        log_warn("launcher: the scheduler is gone; terminating %zu children", nkids);
        for (size_t i = 0; i < nkids; i++)
            kill(kids[i].pid, SIGTERM);
        for (int round = 0; nkids; round++) {
            struct pollfd p = { .fd = sfd, .events = POLLIN };
            int r = poll(&p, 1, round == 0 ? STOP_GRACE * 1000 : -1);
            if (r == 0) {
                log_warn("launcher: %zu %s did not end within %d s; killing them",
                         nkids, bk_plural(nkids, "child", "children"), STOP_GRACE);
                for (size_t i = 0; i < nkids; i++)
                    kill(kids[i].pid, SIGKILL);
                continue;
            }
            drain_signalfd(sfd);
            reap(sock, &gone);
        }
    }
    if (push_tmp && rmdir(push_tmp) < 0)
        log_warn("launcher: cannot remove %s: %s", push_tmp, strerror(errno));
    _exit(0);
}

/* Close every descriptor above 2 except those in keep (ascending). */
static void close_others(int *keep, int n)
{
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && keep[k] < keep[k - 1]; k--) {
            int t = keep[k];
            keep[k] = keep[k - 1];
            keep[k - 1] = t;
        }
    unsigned lo = 3;
    for (int i = 0; i < n; i++) {
        if (keep[i] < (int)lo)
            continue;
        if ((unsigned)keep[i] > lo)
            syscall(SYS_close_range, lo, (unsigned)keep[i] - 1, 0);
        lo = (unsigned)keep[i] + 1;
    }
    syscall(SYS_close_range, lo, ~0u, 0);
}

static void serve(int sock, const struct launcher_conf *c) __attribute__((noreturn));
static void serve(int sock, const struct launcher_conf *c)
{
    static unsigned char buf[sizeof(struct lm_request) + 1];
    char err[LM_DIR_MAX + 128];

    prctl(PR_SET_NAME, "backy-launcher", 0, 0, 0);
    int keep[] = { sock, log_fd(), c->keep_fd };
    close_others(keep, 3);

    /* SIGTERM, SIGINT and SIGHUP stay blocked: the launcher ends when the
     * scheduler does, never on its own. SIGCHLD comes through a signalfd. */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        bk_die_errno("launcher: signalfd");
    null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0)
        bk_die_errno("launcher: cannot open /dev/null");

    /* the test probe is for the scheduler's own sandbox, not this one */
    unsetenv("BACKY_SANDBOX_PROBE");
    unsetenv("BACKY_SANDBOX_PROBE_PATH");
    /* and so is the listing, unless asked for by name */
    const char *pr = getenv("BACKY_SANDBOX_PRINT");
    if (pr && strcmp(pr, launcher_policy.name))
        unsetenv("BACKY_SANDBOX_PRINT");
    /* Landlock, inherited by every child as well: read anything (sources
     * may be any file or device, Ceph and NSS read their files), execute
     * only the tools and the libraries, write only below the base
     * directory (job directories, their logs) and in the log file's
     * directory (the telnet shell's log). */
    char *ldir = c->logfile ? bk_abspath(c->logfile) : NULL;
    if (ldir)
        *strrchr(ldir, '/') = '\0';
    size_t maxfs = npush_ok + 16, nfs = 0;
    struct sb_fs_rule *fs = bk_calloc(maxfs, sizeof *fs);
    fs[nfs++] = (struct sb_fs_rule){ "/", -1, SB_FS_READ | SB_FS_IOCTL };
    fs[nfs++] = (struct sb_fs_rule){ c->exe_dir, -1, SB_FS_EXEC };
    fs[nfs++] = (struct sb_fs_rule){ "/usr/lib", -1, SB_FS_EXEC | SB_FS_OPTIONAL };
    fs[nfs++] = (struct sb_fs_rule){ "/lib", -1, SB_FS_EXEC | SB_FS_OPTIONAL };
    fs[nfs++] = (struct sb_fs_rule){ "/lib64", -1, SB_FS_EXEC | SB_FS_OPTIONAL };
    fs[nfs++] = (struct sb_fs_rule){ "/usr/lib64", -1, SB_FS_EXEC | SB_FS_OPTIONAL };
    fs[nfs++] = (struct sb_fs_rule){ c->base_dir, -1, SB_FS_RW };
    if (ldir)
        fs[nfs++] = (struct sb_fs_rule){ *ldir ? ldir : "/", -1, SB_FS_WRITE | SB_FS_MAKE_FILE };
    /* push targets, ssh (see launcher.h) */
    nfs = push_rules(fs, nfs, maxfs - 1, c->base_dir);
    fs[nfs] = (struct sb_fs_rule){ NULL, -1, 0 };
    launcher_policy.fs = fs;
    sandbox_enter(&launcher_policy);

    int gone = 0;
    while (!gone) {
        struct pollfd p[3] = { { .fd = sock, .events = POLLIN }, { .fd = sfd, .events = POLLIN },
                               { .fd = telnet_log_fd, .events = POLLIN } };
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            bk_die_errno("launcher: poll");
        }
        if (p[2].revents && telnet_log_fd >= 0) {
            static char lbuf[16384];
            ssize_t ln = read(telnet_log_fd, lbuf, sizeof lbuf);
            if (ln > 0) {
                log_write_raw(lbuf, (size_t)ln);
            } else if (ln == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(telnet_log_fd);   /* that telnet shell has ended */
                telnet_log_fd = -1;
            }
        }
        if (p[1].revents) {
            drain_signalfd(sfd);
            reap(sock, &gone);
        }
        if (gone || !p[0].revents)
            continue;
        ssize_t n = read(sock, buf, sizeof buf);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            break;      /* EOF: the scheduler closed its end or died */
        struct lm_request rq;
        if (lm_parse_request(buf, (size_t)n, c->base_dir, &rq, err, sizeof err) < 0) {
            log_error("launcher: refused request: %s", err);
            uint32_t seq = 0;
            if ((size_t)n >= 2 * sizeof seq)
                memcpy(&seq, buf + sizeof(uint32_t), sizeof seq);
            struct lm_reply rep = { .kind = LM_ERR, .seq = seq, .err = EINVAL };
            if (send_reply(sock, &rep) < 0)
                gone = 1;
            continue;
        }
        handle(sock, &rq, c, &gone);
    }
    finish(sock, sfd);
}

/* ---- the scheduler's side ------------------------------------------ */

static int lfd = -1;
static uint32_t next_seq;
static struct lm_reply *queued;     /* LM_EXITED read while waiting for an answer */
static int passed_fd = -1;          /* a descriptor that came with the last answer */
static size_t nqueued;

void launcher_start(const struct launcher_conf *c)
{
    int sv[2];
    backup_prog = bk_asprintf("%s/backy-backup", c->exe_dir);
    telnet_prog = bk_asprintf("%s/backy-telnetd", c->exe_dir);
    verify_prog = bk_asprintf("%s/backy-verify", c->exe_dir);
    push_prog = bk_asprintf("%s/backy-push", c->exe_dir);
    push_ok = bk_calloc(c->npush_targets + 1, sizeof *push_ok);
    for (size_t i = 0; i < c->npush_targets; i++)
        if (!launcher_push_allowed(c->push_targets[i]))
            push_ok[npush_ok++] = bk_strdup(c->push_targets[i]);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        bk_die_errno("cannot create the launcher's socket");
    pid_t pid = fork();
    if (pid < 0)
        bk_die_errno("cannot start the launcher");
    if (pid == 0) {
        close(sv[0]);
        serve(sv[1], c);
    }
    close(sv[1]);
    lfd = sv[0];
    if (fcntl(lfd, F_SETFL, O_NONBLOCK) < 0)
        bk_die_errno("launcher socket: fcntl");
    log_debug("launcher started (pid %ld)", (long)pid);
}

int launcher_fd(void)
{
    return lfd;
}

static void launcher_gone(void) __attribute__((noreturn));
static void launcher_gone(void)
{
    bk_die("the launcher ended; cannot run backups without it");
}

/* Read one answer; block: wait for it. 1 read, 0 nothing there. */
static int read_reply(struct lm_reply *r, int block)
{
    unsigned char buf[sizeof *r + 1];
    for (;;) {
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } u;
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
                            .msg_controllen = sizeof u.buf };
        ssize_t n = recvmsg(lfd, &m, MSG_CMSG_CLOEXEC);
        /* a descriptor passed with an answer (LM_CONFIG): kept for the caller */
        for (struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&m) : NULL; cm; cm = CMSG_NXTHDR(&m, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                continue;
            for (size_t k = 0; k + sizeof(int) <= cm->cmsg_len - CMSG_LEN(0); k += sizeof(int)) {
                int fd;
                memcpy(&fd, CMSG_DATA(cm) + k, sizeof fd);
                if (passed_fd >= 0)
                    close(passed_fd);
                passed_fd = fd;
            }
        }
        if (n == 0)
            launcher_gone();
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                launcher_gone();
            if (!block)
                return 0;
            struct pollfd p = { .fd = lfd, .events = POLLIN };
            if (poll(&p, 1, -1) < 0 && errno != EINTR)
                bk_die_errno("poll");
            continue;
        }
        if (lm_parse_reply(buf, (size_t)n, r) < 0)
            bk_die("malformed message from the launcher (%zd bytes)", n);
        return 1;
    }
}

static int call(struct lm_request *rq, struct lm_reply *rep)
{
    if (++next_seq == 0)
        next_seq = 1;
    rq->seq = next_seq;
    for (;;) {
        ssize_t w = write(lfd, rq, sizeof *rq);
        if (w == (ssize_t)sizeof *rq)
            break;
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd p = { .fd = lfd, .events = POLLOUT };
            poll(&p, 1, -1);
            continue;
        }
        launcher_gone();
    }
    for (;;) {
        read_reply(rep, 1);
        if (rep->kind == LM_EXITED) {
            queued = bk_realloc(queued, (nqueued + 1) * sizeof *queued);
            queued[nqueued++] = *rep;
            continue;
        }
        if (rep->seq == rq->seq)
            break;
        log_warn("launcher: answer to an unknown request %u ignored", (unsigned)rep->seq);
    }
    if (rep->kind == LM_ERR) {
        errno = rep->err;
        return -1;
    }
    return 0;
}

pid_t launch_backup(const char *dir, const char *tags)
{
    struct lm_request rq;
    struct lm_reply rep;
    if (lm_make_backup(&rq, 0, dir, tags) < 0 || call(&rq, &rep) < 0)
        return -1;
    return rep.pid;
}

pid_t launch_verify(const char *dir, int rate)
{
    struct lm_request rq;
    struct lm_reply rep;
    if (lm_make_verify(&rq, 0, dir, rate) < 0 || call(&rq, &rep) < 0)
        return -1;
    return rep.pid;
}

int launch_open_config(void)
{
    struct lm_request rq;
    struct lm_reply rep;
    lm_make_config(&rq, 0);
    if (call(&rq, &rep) < 0)
        return -1;
    int fd = passed_fd;
    passed_fd = -1;
    if (fd < 0)
        errno = EPROTO;
    return fd;
}

pid_t launch_push(const char *dir, const char *target)
{
    struct lm_request rq;
    struct lm_reply rep;
    if (lm_make_push(&rq, 0, dir, target) < 0 || call(&rq, &rep) < 0)
        return -1;
    return rep.pid;
}

pid_t launch_telnet(int port, const char *addrs, const char *user)
{
    struct lm_request rq;
    struct lm_reply rep;
    if (lm_make_telnet(&rq, 0, port, addrs, user) < 0 || call(&rq, &rep) < 0)
        return -1;
    return rep.pid;
}

int launch_signal(pid_t pid, int sig)
{
    struct lm_request rq;
    struct lm_reply rep;
    lm_make_signal(&rq, 0, pid, sig);
    return call(&rq, &rep);
}

int launch_pending(void)
{
    return nqueued > 0;
}

int launch_next_exit(pid_t *pid, int *wstatus)
{
    struct lm_reply r;
    if (nqueued) {
        r = queued[0];
        memmove(queued, queued + 1, --nqueued * sizeof *queued);
    } else {
        do {
            if (!read_reply(&r, 0))
                return 0;
            if (r.kind != LM_EXITED)
                log_warn("launcher: unexpected answer to request %u ignored", (unsigned)r.seq);
        } while (r.kind != LM_EXITED);
    }
    *pid = r.pid;
    *wstatus = r.status;
    return 1;
}
