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
 *   4. Landlock: the file-system rules of the policy (.fs), every right of
 *      the kernel's ABI handled; TCP and scoping as described at .fs
 *   5. load the seccomp allowlist (default: kill the process), synchronised
 *      over all threads (TSYNC) so library threads are covered too.
 * Steps 1-4 need a process with exactly one thread (capabilities and the
 * Landlock domain are per thread, inherited by later threads).
 * A tool's policy is a short table in its own main.c: named syscall groups
 * plus extra syscalls, and its Landlock rules. SB_BASE is always included.
 * Failure at any step is fatal: "PROG: error: sandbox: WHAT: reason", exit 1.
 *
 * Debugging: BACKY_SECCOMP=trap makes a forbidden syscall print
 * "PROG: sandbox: forbidden syscall NAME (NR)" and exit 159 instead of a
 * silent kill; BACKY_SECCOMP=log (debug builds only: make DEBUG=1) lets it
 * through and the kernel logs it (audit). Nothing else relaxes the filter.
 * BACKY_SANDBOX_PRINT=1 prints the effective policy and exits 0.
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
 * exits 0, otherwise it is killed by SIGSYS (exit status 159 in a shell).
 *   fs-create, fs-write, fs-read, fs-chmod, fs-fchmod, fs-unlink, fs-mkdir
 *                  on BACKY_SANDBOX_PROBE_PATH (see doc/sandbox.md): print
 *                  "ok" and exit 0, or "failed ERRNO" and exit 3 (Landlock
 *                  answers EACCES); a call the filter forbids kills. */
#ifndef BACKY_SANDBOX_H
#define BACKY_SANDBOX_H

#include <stdint.h>

enum sb_group {
    SB_BASE      = 1u << 0,  /* memory, time, signals, exit, read/write on open fds, close, fstat */
    SB_RDONLY    = 1u << 1,  /* openat O_RDONLY only (no O_CREAT/O_TRUNC/O_WRONLY/O_RDWR), stat, getdents, readlink, lseek */
    SB_WRITE     = 1u << 2,  /* openat any flags, unlink, rename, mkdir, symlink, link, fchmod, fchown
                                (by descriptor only: no chmod/chown by path);
                                implies SB_RDONLY and SB_FDWRITE */
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
    SB_FDWRITE   = 1u << 10, /* change files through descriptors opened before: ftruncate,
                                fallocate, syncfs, copy_file_range, FICLONE(RANGE), with
                                SB_BLOCKDEV also BLKDISCARD/BLKZEROOUT; no opening for
                                writing, no creating or removing by path */
    SB_LOOPMOUNT = 1u << 11, /* read-only loop devices and mounts (backy-mount, backy-umount):
                                ioctl LOOP_CTL_GET_FREE / LOOP_CONFIGURE / LOOP_CLR_FD /
                                LOOP_GET_STATUS64, mount only with MS_RDONLY (no remount,
                                bind or move), umount2 */
};

/* File-system access a tool keeps once sandboxed (Landlock). Everything
 * not granted by a rule is refused (EACCES) for files opened after
 * sandbox_enter; descriptors opened before keep working. */
enum sb_fs_access {
    SB_FS_READ     = 1u << 0,  /* read files, list directories */
    SB_FS_WRITE    = 1u << 1,  /* write to and truncate existing files */
    SB_FS_CREATE   = 1u << 2,  /* create, remove and rename files, directories, symlinks
                                  (directories only: below them) */
    SB_FS_EXEC     = 1u << 3,  /* execute files */
    SB_FS_IOCTL    = 1u << 4,  /* ioctl on device files opened later */
    SB_FS_MAKE_FILE= 1u << 5,  /* create regular files (in a directory; no removing) */
    SB_FS_READ_FILE= 1u << 6,  /* read files, without listing directories */
    SB_FS_OPTIONAL = 1u << 7,  /* a missing (or unreachable) path skips the rule
                                  instead of failing */
    SB_FS_REMOVE   = 1u << 8,  /* remove files (in a directory; nothing else) */
    SB_FS_MAKE_SOCK= 1u << 9,  /* create Unix sockets (bind to a path below) */
    SB_FS_RMDIR    = 1u << 10, /* remove (empty) directories below; nothing else */
};
#define SB_FS_RW (SB_FS_READ | SB_FS_WRITE | SB_FS_CREATE)

/* One rule: a path, or (path NULL) an open descriptor (any kind, O_PATH
 * too). A directory's rule covers everything below it. A list of rules
 * ends with an entry whose access is 0. */
struct sb_fs_rule {
    const char *path;
    int fd;
    unsigned access;             /* enum sb_fs_access bits */
};

/* A syscall allowed only when its arguments equal values known at run
 * time (a descriptor): CALL with argument ARG == VALUE, and ARG2 == VALUE2
 * when arg2 >= 0. A list ends with call NULL. */
struct sb_arg_eq {
    const char *call;
    int arg;
    uint64_t value;
    int arg2;
    uint64_t value2;
};

/* A rule list granting nothing: the tool opens no file after its sandbox. */
extern const struct sb_fs_rule sb_fs_nothing[];

struct sb_policy {
    const char *name;            /* tool name for messages */
    unsigned groups;             /* enum sb_group bits */
    const int *extra;            /* extra syscall numbers, terminated by -1; may be NULL */
    uint64_t keep_caps;          /* bit (1ULL << CAP_x) for each capability kept */
    const char *run_as_user;     /* if non-NULL and running as root: switch to this user */
    /* Landlock rules (see sb_fs_rule). NULL: none declared, which the
     * policy listing (BACKY_SANDBOX_PRINT) and tests/sandbox.bats flag;
     * the tool then runs without file-system confinement. TCP bind and
     * connect are refused unless the groups include SB_NET_CLIENT
     * (connect and bind) or SB_PROC (children may need both). */
    const struct sb_fs_rule *fs;
    const struct sb_arg_eq *extra_if;  /* optional: run-time argument rules */
    /* Why the tool cannot have Landlock rules at all, for the few whose
     * job Landlock forbids (mount(2) and umount(2) are refused to a
     * Landlock-restricted process): with fs NULL the listing shows this
     * reason instead of flagging the tool; its seccomp filter must then
     * say what it may do. */
    const char *fs_exempt;
};

/* Enter the sandbox; on any failure prints an error and exits 1.
 * Steps 1-3 and Landlock (sandbox_drop_privs) unless done already, then
 * the seccomp filter, which covers every thread (TSYNC). */
void sandbox_enter(const struct sb_policy *p);

/* no_new_privs, user switch, capabilities and the Landlock rules, for a
 * tool that must start threads before its filter is loaded (librados):
 * call it before the first thread, then sandbox_enter later with the
 * same policy. Capabilities and Landlock domains belong to each thread
 * and are inherited by threads started later, so it dies unless the
 * process has exactly one thread. Calling it twice is harmless.
 * BACKY_SANDBOX_PRINT=1 makes it print the policy (what is allowed, as
 * in tests/fixtures/policy/) on stdout and exit 0 instead. */
void sandbox_drop_privs(const struct sb_policy *p);

/* Calls fn with every syscall name of the built-in tables (for tests). */
void sandbox_each_syscall(void (*fn)(const char *name, void *arg), void *arg);

#endif
