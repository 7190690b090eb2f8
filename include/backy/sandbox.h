/* sandbox.h - privilege drop for every tool, in one fixed order:
 *   1. prctl(PR_SET_NO_NEW_PRIVS)
 *   2. optionally switch to an unprivileged user (telnetd)
 *   3. drop every capability not in keep_caps from the effective,
 *      permitted, inheritable, ambient and bounding sets
 *   4. load the seccomp allowlist (default: kill the process), synchronised
 *      over all threads (TSYNC) so library threads are covered too.
 * A tool's policy is a short table in its own main.c: named syscall groups
 * plus extra syscalls. Failure at any step is fatal.
 *
 * Debugging: BACKY_SECCOMP=trap makes a forbidden syscall print its name
 * and exit 159 instead of a silent kill; BACKY_SECCOMP=log lets it through
 * and the kernel logs it (audit). Nothing else relaxes the filter. */
#ifndef BACKY_SANDBOX_H
#define BACKY_SANDBOX_H

#include <stdint.h>

enum sb_group {
    SB_BASE      = 1u << 0,  /* memory, time, signals, exit, read/write on open fds, close, fstat */
    SB_RDONLY    = 1u << 1,  /* openat O_RDONLY only (no O_CREAT/O_TRUNC/O_WRONLY/O_RDWR), stat, getdents, readlink, lseek */
    SB_WRITE     = 1u << 2,  /* openat any flags, unlink, rename, mkdir, symlink, fchmod, ftruncate, fallocate, fsync, FICLONE, copy_file_range */
    SB_THREADS   = 1u << 3,  /* clone threads, futex, set_robust_list, rseq, sched_yield */
    SB_PROC      = 1u << 4,  /* fork/clone, execve, wait4, kill, pipe (scheduler spawning tools) */
    SB_NET_SERVE = 1u << 5,  /* accept4 on sockets made before the sandbox, poll/epoll, setsockopt, shutdown */
    SB_NET_CLIENT= 1u << 6,  /* socket (AF_INET/AF_INET6/AF_UNIX), connect, send/recv (ceph, consul) */
    SB_BLOCKDEV  = 1u << 7,  /* ioctl BLKGETSIZE64 / BLKSSZGET / BLKDISCARD... for block device sources and targets */
    SB_POLL      = 1u << 8,  /* poll/ppoll/epoll/timerfd/eventfd/signalfd */
};

struct sb_policy {
    const char *name;            /* tool name for messages */
    unsigned groups;             /* enum sb_group bits */
    const int *extra;            /* extra syscall numbers, terminated by -1; may be NULL */
    uint64_t keep_caps;          /* bit (1ULL << CAP_x) for each capability kept */
    const char *run_as_user;     /* if non-NULL and running as root: switch to this user */
};

/* Enter the sandbox; on any failure prints an error and exits 1. */
void sandbox_enter(const struct sb_policy *p);

#endif
