/* loop.c - the scheduler's event loop, its children's ends and its stop;
 * see loop.h. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backy/log.h"
#include "backy/util.h"
#include "launcher.h"
#include "loop.h"
#include "sched.h"
#include "scrub.h"
#include "status.h"

#define STOP_GRACE 30            /* seconds between SIGTERM and SIGKILL at shutdown */
#define TELNET_BACKOFF_MAX 60

static pid_t telnet_pid;
static double telnet_restart_at;      /* 0: not scheduled */
static double telnet_started;
static int telnet_backoff = 1;

static double stop_deadline;

/* A child that ended meanwhile is refused (ESRCH); its end is reported. */
static void signal_child(pid_t pid, int sig)
{
    if (launch_signal(pid, sig) < 0 && errno != ESRCH)
        log_error("cannot signal pid %ld: %s", (long)pid, strerror(errno));
}

/* Every child: the backups, the telnet shell, the scrub, the pushes. */
static void signal_children(int sig)
{
    for (size_t i = 0; i < sched.nrunning; i++)
        signal_child(sched.running[i]->pid, sig);
    if (telnet_pid > 0)
        signal_child(telnet_pid, sig);
    if (scrub_pid() > 0)
        signal_child(scrub_pid(), sig);
    for (size_t i = 0; i < sched.njobs; i++)
        for (size_t k = 0; k < sched.jobs[i]->npush; k++)
            if (sched.jobs[i]->push[k].pid > 0)
                signal_child(sched.jobs[i]->push[k].pid, sig);
}

/* SIGTERM or SIGINT: terminate the children, kill them after STOP_GRACE. */
static void begin_stop(double now)
{
    if (sched.stopping)
        return;
    sched.stopping = 1;
    stop_deadline = now + STOP_GRACE;
    log_info("stopping: terminating %zu running %s", sched.nrunning,
             bk_plural(sched.nrunning, "backup", "backups"));
    signal_children(SIGTERM);
}

/* Stopping: 1 once every child has ended; SIGKILL to those still running
 * at the deadline (and again every STOP_GRACE). */
static int stop_done(double now)
{
    if (sched.nrunning == 0 && telnet_pid == 0 && scrub_pid() == 0 && sched.npushing == 0)
        return 1;
    if (now >= stop_deadline) {
        log_warn("stopping: %zu %s did not end within %d s; killing them",
                 sched.nrunning + (telnet_pid > 0),
                 bk_plural(sched.nrunning + (telnet_pid > 0), "child", "children"), STOP_GRACE);
        signal_children(SIGKILL);
        stop_deadline = now + STOP_GRACE;
    }
    return 0;
}

void start_telnet(double now)
{
    telnet_restart_at = 0;
    if (sched.conf.telnet_port == 0 || sched.stopping)
        return;
    telnet_pid = launch_telnet(sched.conf.telnet_port, sched.conf.telnet_addrs,
                               sched.conf.telnet_user);
    if (telnet_pid < 0) {
        log_error("cannot start backy-telnetd: %s", strerror(errno));
        telnet_pid = 0;
        telnet_restart_at = now + telnet_backoff;
    } else {
        log_info("telnet shell started (pid %ld)", (long)telnet_pid);
        telnet_started = now;
    }
}

static void telnet_done(int wstatus, double now)
{
    telnet_pid = 0;
    if (sched.stopping)
        return;
    if (now - telnet_started > TELNET_BACKOFF_MAX)
        telnet_backoff = 1;
    log_warn("telnet shell exited (%s %d); restarting in %d s",
             WIFEXITED(wstatus) ? "exit status" : "signal",
             WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : WTERMSIG(wstatus), telnet_backoff);
    telnet_restart_at = now + telnet_backoff;
    telnet_backoff = telnet_backoff * 2 > TELNET_BACKOFF_MAX ? TELNET_BACKOFF_MAX
                                                              : telnet_backoff * 2;
}

/* Children that ended, as the launcher reports them. */
static void reap(double now)
{
    int ws;
    pid_t pid;
    while (launch_next_exit(&pid, &ws) > 0) {
        if (pid == telnet_pid) {
            telnet_done(ws, now);
            continue;
        }
        if (scrub_done(&sched.conf, pid, ws, now, sched.stopping))
            continue;
        if (push_done(pid, ws, now))
            continue;
        for (size_t i = 0; i < sched.nrunning; i++) {
            if (sched.running[i]->pid != pid)
                continue;
            struct job *j = sched.running[i];
            sched.running[i] = sched.running[--sched.nrunning];
            job_done(j, ws, now);
            break;
        }
    }
}

void telnet_reconfigured(double now)
{
    if (telnet_pid > 0) {
        signal_child(telnet_pid, SIGTERM);
        /* telnet_done() schedules the restart with the new settings */
        telnet_backoff = 1;
    } else {
        telnet_restart_at = sched.conf.telnet_port ? now : 0;
    }
}

/* Start the due jobs, the most overdue first, while a worker is free. */
static void start_due_jobs(double now)
{
    struct job *j;
    while ((long)sched.nrunning < sched.conf.worker_limit && (j = heap_top(&sched.waiting)) &&
           j->due <= (int64_t)now) {
        heap_remove(&sched.waiting, j);
        start_job(j, now);
    }
}

/* Milliseconds until the earliest timer, at most a minute. */
static int poll_timeout(double now, double scrub_wake)
{
    double wake = sched.next_status_write;
    if (!sched.stopping && scrub_wake < wake)
        wake = scrub_wake;
    const struct job *first = heap_top(&sched.waiting);
    if (!sched.stopping && first && (long)sched.nrunning < sched.conf.worker_limit &&
        (double)first->due < wake)
        wake = (double)first->due;
    if (!sched.stopping && telnet_restart_at > 0 && telnet_restart_at < wake)
        wake = telnet_restart_at;
    if (sched.stopping && stop_deadline < wake)
        wake = stop_deadline;
    double wait = wake - now;
    int ms = wait <= 0 ? 0 : wait > 60 ? 60000 : (int)(wait * 1000) + 1;
    if (launch_pending())
        ms = 0;     /* exits read while talking to the launcher */
    return ms;
}

/* The signals that came: SIGTERM and SIGINT stop, SIGHUP re-reads the
 * configuration and every job directory. */
static void read_signals(int sfd)
{
    struct signalfd_siginfo si;
    int got_hup = 0;
    while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP)
            got_hup = 1;
        else
            begin_stop(bk_now());
    }
    double now = bk_now();
    if (got_hup && !sched.stopping) {
        reload(now);
        log_info("SIGHUP: re-reading every job directory");
        rescan_all(now, 1);
        sched.status_dirty = 1;
    }
}

void loop_run(int sfd)
{
    double scrub_wake = 0;
    for (;;) {
        double now = bk_now();
        reap(now);
        if (!sched.stopping) {
            start_due_jobs(now);
            if (telnet_restart_at > 0 && now >= telnet_restart_at)
                start_telnet(now);
            scrub_wake = scrub_tick(&sched.conf, now);
        } else if (stop_done(now)) {
            break;
        }
        if (sched.status_dirty || now >= sched.next_status_write) {
            rescan_all(now, 0);
            write_status(now);
        }
        struct pollfd p[2] = { { .fd = sfd, .events = POLLIN },
                               { .fd = launcher_fd(), .events = POLLIN } };
        int r = poll(p, 2, poll_timeout(now, scrub_wake));
        if (r < 0 && errno != EINTR)
            bk_die_errno("poll");
        if (r <= 0 || !p[0].revents)
            continue;   /* the launcher's news is read at the top */
        read_signals(sfd);
    }
}
