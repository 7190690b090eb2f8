/* sandbox.h - privilege drop for every tool, in one fixed order:
 *   1. prctl(PR_SET_NO_NEW_PRIVS)
 *   2. optionally switch to an unprivileged user (telnetd): getpwnam,
 *      setgroups, setresgid, setresuid, then check that root cannot be
 *      regained. The bounding set is pruned just before the switch, as that
 *      needs CAP_SETPCAP (without it, e.g. as non-root, it is left alone:
 *      no_new_privs already stops execve from gaining anything).
 *   3. drop every capability not in keep_caps from the effective,
 *      permitted, inheritable, ambient and bounding sets (capset is skipped
 *      when it would change nothing)
 *   4. load the seccomp allowlist (default: kill the process), synchronised
 *      over all threads (TSYNC) so library threads are covered too.
 * A tool's policy is a short table in its own main.c: named syscall groups
 * plus extra syscalls. SB_BASE is always included. Failure at any step is
 * fatal: "PROG: error: sandbox: WHAT: reason", exit 1.
 *
 * Debugging: BACKY_SECCOMP=trap makes a forbidden syscall print
 * "PROG: sandbox: forbidden syscall NAME (NR)" and exit 159 instead of a
 * silent kill; BACKY_SECCOMP=log lets it through and the kernel logs it
 * (audit). Nothing else relaxes the filter.
 *
 * Test hook: BACKY_SANDBOX_PROBE is honoured at the very end of
 * sandbox_enter, after the filter is loaded, so it can only make the
 * process wait or die:
 *   pause          block in pause() (inspect /proc/PID/status meanwhile)
 *   openat-write   openat(O_WRONLY|O_CREAT) of a scratch file (the path in
 *                  BACKY_SANDBOX_PROBE_PATH, default /tmp/backy-probe.PID)
 *   open-write     the same through the legacy open(2)
 *   socket         socket(AF_INET, SOCK_STREAM)
 *   socket-netlink socket(AF_NETLINK, SOCK_RAW) (answered with an errno)
 *   socket-packet  socket(AF_PACKET, SOCK_RAW)
 *   mmap-exec      an anonymous mmap with PROT_EXEC
 *   fork, clone    a child process (which exits at once)
 *   thread         a thread (pthread_create) that returns at once
 *   any other syscall name (ptrace, mount, execve, ...): that syscall with
 *                  all arguments zero.
 * If the filter allows the call the tool prints "allowed" on stdout and
 * exits 0, otherwise it is killed by SIGSYS (exit status 159 in a shell). */
#ifndef BACKY_SANDBOX_H
#define BACKY_SANDBOX_H

#include <stdint.h>

enum sb_group {
    SB_BASE      = 1u << 0,  /* memory, time, signals, exit, read/write on open fds, close, fstat */
    SB_RDONLY    = 1u << 1,  /* openat O_RDONLY only (no O_CREAT/O_TRUNC/O_WRONLY/O_RDWR), stat, getdents, readlink, lseek */
    SB_WRITE     = 1u << 2,  /* openat any flags, unlink, rename, mkdir, symlink, fchmod, ftruncate, fallocate, fsync, FICLONE, copy_file_range;
                                implies SB_RDONLY */
    SB_THREADS   = 1u << 3,  /* clone threads, futex, set_robust_list, rseq, sched_yield */
    SB_PROC      = 1u << 4,  /* fork/clone, execve, wait4, kill, pipe (scheduler spawning tools);
                                the spawned tools inherit this filter, so it also
                                allows what they need to start and enter their own
                                sandbox (PROT_EXEC mappings, prctl, seccomp, capset) */
    SB_NET_SERVE = 1u << 5,  /* accept4 on sockets made before the sandbox, poll/epoll, setsockopt, shutdown */
    SB_NET_CLIENT= 1u << 6,  /* socket (AF_INET/AF_INET6/AF_UNIX), connect, send/recv (ceph, consul) */
    SB_BLOCKDEV  = 1u << 7,  /* ioctl BLKGETSIZE64 / BLKSSZGET / BLKDISCARD... for block device sources and targets */
    SB_POLL      = 1u << 8,  /* poll/ppoll/epoll/timerfd/eventfd/signalfd */
    SB_PROT_EXEC = 1u << 9,  /* mmap/mprotect with PROT_EXEC: libraries that load plugins
                                at run time (librados) */
};

struct sb_policy {
    const char *name;            /* tool name for messages */
    unsigned groups;             /* enum sb_group bits */
    const int *extra;            /* extra syscall numbers, terminated by -1; may be NULL */
    uint64_t keep_caps;          /* bit (1ULL << CAP_x) for each capability kept */
    const char *run_as_user;     /* if non-NULL and running as root: switch to this user */
};

/* Enter the sandbox; on any failure prints an error and exits 1.
 * Capabilities are per thread: threads that exist already are asked by a
 * signal to drop theirs too, and checked. A thread that blocks all signals
 * cannot be asked and keeps its capabilities (still under the filter):
 * call sandbox_drop_privs before starting such threads. */
void sandbox_enter(const struct sb_policy *p);

/* Steps 1-3 only (no_new_privs, user switch, capabilities), for a tool
 * that must start threads before it can enter the sandbox (librados
 * threads block all signals): call it before the first thread, then
 * sandbox_enter later with the same policy. Calling it twice is harmless. */
void sandbox_drop_privs(const struct sb_policy *p);

#endif
