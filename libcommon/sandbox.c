/* sandbox.c - no_new_privs, user switch, capability drop, Landlock and a
 * libseccomp allowlist, applied in this order (see sandbox.h).
 *
 * Syscalls are listed by name and resolved with libseccomp, so a name the
 * architecture does not have (open, creat on arm64) is skipped instead of
 * needing an #ifdef per entry. Argument checks are rows of arg_rows[]:
 * openat flags for read-only tools, ioctl, fcntl, socket domains, socket
 * options, PROT_EXEC, clone flags. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/loop.h>
#include <sys/mount.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/fs.h>
#include <linux/fiemap.h>
#include <seccomp.h>
#include <sys/capability.h>
#include <linux/capability.h>

#include "backy/log.h"
#include "backy/sandbox.h"
#include "backy/sdnotify.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_IS_SET 1
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define TRAP_EXIT 159           /* what a shell shows for death by SIGSYS */

static const char *sb_name = "backy";

static void sb_die(const char *what, int err) __attribute__((noreturn));
static void sb_die(const char *what, int err)
{
    if (err)
        fprintf(stderr, "%s: error: sandbox: %s: %s\n", sb_name, what, strerror(err));
    else
        fprintf(stderr, "%s: error: sandbox: %s\n", sb_name, what);
    exit(1);
}

/* ---- syscall groups ------------------------------------------------- */

/* Unconditional entries per group. Calls with argument checks (mmap,
 * mprotect, openat, ioctl, socket, clone, kill, prctl, ...) are added in
 * add_conditional(). */
static const char *const base_calls[] = {
    /* memory; libseccomp itself frees its buffers after the load */
    "brk", "munmap", "mremap", "madvise",
    /* time */
    "clock_gettime", "clock_getres", "gettimeofday", "time",
    "clock_nanosleep", "nanosleep",
    /* signals */
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
    "restart_syscall", "pause", "rt_sigsuspend", "rt_sigpending",
    "rt_sigtimedwait", "alarm", "setitimer", "getitimer",
    /* exit */
    "exit", "exit_group",
    /* descriptors already open */
    "read", "write", "readv", "writev", "pread64", "pwrite64",
    "preadv", "pwritev", "preadv2", "pwritev2", "lseek", "_llseek",
    "close", "close_range", "dup", "dup2", "dup3",
    "fstat", "fstat64", "fstatfs", "fstatfs64", "flock",
    "fsync", "fdatasync",
    /* identity and environment, read only */
    "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
    "getegid", "getresuid", "getresgid", "getgroups", "getpgrp",
    "getpgid", "getsid", "uname", "sysinfo", "getrusage", "times",
    "getrandom", "sched_getaffinity", "sched_yield", "getcpu",
    /* glibc: futex for stdio locks, rseq is registered per thread */
    "futex", "futex_time64", "rseq", "set_robust_list", "get_robust_list",
    NULL,
};

static const char *const rdonly_calls[] = {
    "newfstatat", "fstatat64", "stat", "lstat", "stat64", "lstat64",
    "statx", "statfs", "statfs64",
    "getdents", "getdents64", "readlink", "readlinkat",
    "access", "faccessat", "faccessat2",
    "getcwd", "chdir", "fchdir",
    "fadvise64", "fadvise64_64", "readahead",
    "sendfile", "sendfile64",
    NULL,
};

/* creating, removing and changing files by path (SB_WRITE); chmod and
 * chown only through a descriptor, which Landlock confines (it cannot
 * confine chmod, chown or utimes by path) */
static const char *const write_calls[] = {
    "creat", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "mkdir", "mkdirat", "rmdir", "symlink", "symlinkat", "link", "linkat",
    "fchown", "umask",
    NULL,
};

/* changing files through descriptors opened before (SB_FDWRITE, in
 * SB_WRITE too); fsync and fdatasync are in SB_BASE */
static const char *const fdwrite_calls[] = {
    "ftruncate", "ftruncate64", "fallocate", "syncfs", "sync_file_range",
    "copy_file_range", "splice",
    NULL,
};

static const char *const threads_calls[] = {
    "membarrier", "sched_setaffinity", "sched_getparam",
    "sched_getscheduler", "sched_get_priority_min",
    "sched_get_priority_max", "mlock", "munlock",
    NULL,
};

static const char *const proc_calls[] = {
    "fork", "vfork", "execve", "execveat", "wait4", "waitid",
    "tkill", "pipe", "pipe2", "setpgid", "setsid",
    /* what an exec'd child needs to start and sandbox itself */
    "arch_prctl", "set_tid_address", "seccomp", "capget", "capset",
    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
    "prlimit64", "getrlimit", "ugetrlimit",
    NULL,
};

static const char *const net_serve_calls[] = {
    "accept", "accept4", "getsockopt", "shutdown",
    "getsockname", "getpeername", "sendto", "recvfrom", "sendmsg",
    "recvmsg",
    NULL,
};

static const char *const net_client_calls[] = {
    "connect", "bind", "getsockopt", "shutdown",
    "getsockname", "getpeername", "sendto", "sendmsg", "sendmmsg",
    "recvfrom", "recvmsg", "recvmmsg",
    NULL,
};

static const char *const poll_calls[] = {
    "poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6",
    "pselect6_time64",
    "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
    "epoll_pwait", "epoll_pwait2",
    "timerfd_create", "timerfd_settime", "timerfd_gettime",
    "timerfd_settime64", "timerfd_gettime64",
    "eventfd", "eventfd2", "signalfd", "signalfd4",
    NULL,
};

#ifdef BACKY_SANITIZE
/* ASan/UBSan/LSan: maps of the process, the leak checker's stop-the-world
 * thread (clone + ptrace), symbolizing through /proc. Never in releases. */
static const char *const sanitize_calls[] = {
    "clone", "ptrace", "wait4", "prctl", "prlimit64", "getrlimit",
    "setrlimit", "readlink", "readlinkat", "getdents64", "newfstatat",
    "tgkill", "kill", "sched_yield", "mincore", "personality",
    "process_vm_readv", "pipe2", "execve",
    NULL,
};
#endif

static const struct {
    unsigned group;
    const char *const *calls;
} group_table[] = {
    { SB_BASE,       base_calls },
    { SB_RDONLY,     rdonly_calls },
    { SB_WRITE,      write_calls },
    { SB_FDWRITE,    fdwrite_calls },
    { SB_THREADS,    threads_calls },
    { SB_PROC,       proc_calls },
    { SB_NET_SERVE,  net_serve_calls },
    { SB_NET_CLIENT, net_client_calls },
    { SB_POLL,       poll_calls },
};

/* ---- argument rules --------------------------------------------------- */

/* One row per argument check (chrony's sys_linux.c is the model). A row
 * applies when the policy has every group in `when` and none in `unless`
 * (groups after expansion: SB_WRITE brings SB_RDONLY and SB_FDWRITE,
 * SB_PROC brings SB_PROT_EXEC). Up to two comparisons, all of which must
 * hold; none: the call itself. err 0 allows, otherwise the call fails
 * with that errno. */
struct arg_cmp {
    unsigned arg;
    enum scmp_compare op;
    uint64_t mask, value;       /* mask only for SCMP_CMP_MASKED_EQ */
};

struct arg_row {
    unsigned when, unless;
    const char *call;
    int err;
    unsigned n;
    struct arg_cmp c[2];
    const char *label;          /* the condition, for the listing */
};

#define SELF_PID UINT64_MAX     /* value: the pid at load time */

#define ROW_ANY(w, u, name) { (w), (u), (name), 0, 0, { { 0 } }, NULL }
#define ROW_ERR(w, u, name, e) { (w), (u), (name), (e), 0, { { 0 } }, NULL }
#define ROW_EQ(w, u, name, a, v, lbl) \
    { (w), (u), (name), 0, 1, { { (a), SCMP_CMP_EQ, 0, (uint64_t)(v) } }, (lbl) }
#define ROW_EQ_ERR(w, u, name, a, v, e, lbl) \
    { (w), (u), (name), (e), 1, { { (a), SCMP_CMP_EQ, 0, (uint64_t)(v) } }, (lbl) }
#define ROW_MASK(w, u, name, a, m, v, lbl) \
    { (w), (u), (name), 0, 1, { { (a), SCMP_CMP_MASKED_EQ, (uint64_t)(m), (uint64_t)(v) } }, (lbl) }
/* ioctl request numbers are 32 bit in the kernel; compare only those */
#define ROW_IOCTL(w, u, req, e) \
    { (w), (u), "ioctl", (e), 1, { { 1, SCMP_CMP_MASKED_EQ, 0xffffffffu, (uint32_t)(req) } }, #req }
#define ROW_FCNTL(cmd) \
    { SB_BASE, 0, "fcntl", 0, 1, { { 1, SCMP_CMP_EQ, 0, (uint64_t)(cmd) } }, #cmd }, \
    { SB_BASE, 0, "fcntl64", 0, 1, { { 1, SCMP_CMP_EQ, 0, (uint64_t)(cmd) } }, #cmd }
#define ROW_SOCKET(w, name, dom, e) \
    { (w), 0, (name), (e), 1, { { 0, SCMP_CMP_EQ, 0, (uint64_t)(dom) } }, #dom }
#define ROW_SOCKOPT(w, lvl, opt) \
    { (w), 0, "setsockopt", 0, 2, { { 1, SCMP_CMP_EQ, 0, (uint64_t)(lvl) }, \
                                   { 2, SCMP_CMP_EQ, 0, (uint64_t)(opt) } }, #lvl " " #opt }

/* Flags that make an open write or create something. O_TMPFILE needs a
 * write access mode, so O_ACCMODE covers it. */
#define OPEN_WRITE_MASK ((uint64_t)(O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND))

#ifdef __s390__
#define CLONE_FLAGS_ARG 1       /* clone(stack, flags, ...) */
#else
#define CLONE_FLAGS_ARG 0
#endif

static const struct arg_row arg_rows[] = {
    /* Code may only be mapped executable where a library loads plugins at
     * run time (librados: compressor and crypto plugins via dlopen), or
     * where exec'd children need their dynamic loader to map libraries.
     * Everywhere else a writable mapping can never become code. */
    ROW_ANY(SB_PROT_EXEC, 0, "mmap"),
    ROW_ANY(SB_PROT_EXEC, 0, "mmap2"),
    ROW_ANY(SB_PROT_EXEC, 0, "mprotect"),
    ROW_ANY(SB_PROT_EXEC, 0, "pkey_mprotect"),
    /* no tool makes a setuid, setgid or sticky file: a compromised one
     * that can read a root-owned binary cannot make it a setuid backdoor */
    ROW_MASK(SB_WRITE, 0, "fchmod", 1, 07000, 0, "without setuid, setgid or sticky bits"),
    ROW_MASK(SB_BASE, SB_PROT_EXEC, "mmap", 2, PROT_EXEC, 0, "without PROT_EXEC"),
    ROW_MASK(SB_BASE, SB_PROT_EXEC, "mmap2", 2, PROT_EXEC, 0, "without PROT_EXEC"),
    ROW_MASK(SB_BASE, SB_PROT_EXEC, "mprotect", 2, PROT_EXEC, 0, "without PROT_EXEC"),

    /* Opening: read-only tools may only open with O_RDONLY and without
     * O_CREAT/O_TRUNC/O_APPEND; openat2 hides its flags in a struct the
     * filter cannot read, so it reports ENOSYS and glibc uses openat. */
    ROW_ANY(SB_WRITE, 0, "openat"),
    ROW_ANY(SB_WRITE, 0, "open"),
    ROW_MASK(SB_RDONLY, SB_WRITE, "openat", 2, OPEN_WRITE_MASK, 0,
             "without O_WRONLY O_RDWR O_CREAT O_TRUNC O_APPEND"),
    ROW_MASK(SB_RDONLY, SB_WRITE, "open", 1, OPEN_WRITE_MASK, 0,
             "without O_WRONLY O_RDWR O_CREAT O_TRUNC O_APPEND"),
    ROW_ERR(SB_BASE, 0, "openat2", ENOSYS),

    /* fstat() of glibc is newfstatat(fd, "", st, AT_EMPTY_PATH); without
     * SB_RDONLY only that form is allowed, not a lookup by path. */
    ROW_MASK(SB_BASE, SB_RDONLY, "newfstatat", 3, AT_EMPTY_PATH, AT_EMPTY_PATH, "AT_EMPTY_PATH"),
    ROW_MASK(SB_BASE, SB_RDONLY, "fstatat64", 3, AT_EMPTY_PATH, AT_EMPTY_PATH, "AT_EMPTY_PATH"),
    ROW_MASK(SB_BASE, SB_RDONLY, "statx", 2, AT_EMPTY_PATH, AT_EMPTY_PATH, "AT_EMPTY_PATH"),

    /* ioctl: only the listed requests. isatty() and the terminal size are
     * probes of stdio and table output: they fail as "not a terminal". */
    ROW_IOCTL(SB_BASE, 0, FIONREAD, 0),
    ROW_IOCTL(SB_BASE, 0, FIOCLEX, 0),
    ROW_IOCTL(SB_BASE, 0, FIONCLEX, 0),
    ROW_IOCTL(SB_BASE, 0, TCGETS, ENOTTY),
    ROW_IOCTL(SB_BASE, 0, TIOCGWINSZ, ENOTTY),
    ROW_IOCTL(SB_FDWRITE, 0, FICLONE, 0),
    ROW_IOCTL(SB_FDWRITE, 0, FICLONERANGE, 0),
    ROW_IOCTL(SB_RDONLY, 0, FS_IOC_FIEMAP, 0),
    ROW_IOCTL(SB_FDWRITE, SB_RDONLY, FS_IOC_FIEMAP, 0),
    ROW_IOCTL(SB_BLOCKDEV, 0, BLKGETSIZE64, 0),
    ROW_IOCTL(SB_BLOCKDEV, 0, BLKSSZGET, 0),
    ROW_IOCTL(SB_BLOCKDEV, 0, BLKPBSZGET, 0),
    ROW_IOCTL(SB_BLOCKDEV, 0, BLKIOMIN, 0),
    ROW_IOCTL(SB_BLOCKDEV, 0, BLKIOOPT, 0),
    ROW_IOCTL(SB_BLOCKDEV, 0, BLKROGET, 0),
    ROW_IOCTL(SB_BLOCKDEV | SB_FDWRITE, 0, BLKDISCARD, 0),
    ROW_IOCTL(SB_BLOCKDEV | SB_FDWRITE, 0, BLKZEROOUT, 0),

    /* Read-only loop devices and mounts (backy-mount, backy-umount): the
     * filter itself refuses a mount without MS_RDONLY, and a remount, bind
     * or move. */
    ROW_IOCTL(SB_LOOPMOUNT, 0, LOOP_CTL_GET_FREE, 0),
    ROW_IOCTL(SB_LOOPMOUNT, 0, LOOP_CONFIGURE, 0),
    ROW_IOCTL(SB_LOOPMOUNT, 0, LOOP_CLR_FD, 0),
    ROW_IOCTL(SB_LOOPMOUNT, 0, LOOP_GET_STATUS64, 0),
    ROW_MASK(SB_LOOPMOUNT, 0, "mount", 3, MS_RDONLY | MS_REMOUNT | MS_BIND | MS_MOVE, MS_RDONLY,
             "MS_RDONLY, without MS_REMOUNT MS_BIND MS_MOVE"),
    ROW_ANY(SB_LOOPMOUNT, 0, "umount2"),

    /* fcntl: descriptor flags, status flags, duplicating, record locks and
     * pipe sizes; not F_SETOWN/F_SETSIG (signals to other processes),
     * leases or directory notification. */
    ROW_FCNTL(F_GETFD), ROW_FCNTL(F_SETFD), ROW_FCNTL(F_GETFL), ROW_FCNTL(F_SETFL),
    ROW_FCNTL(F_DUPFD), ROW_FCNTL(F_DUPFD_CLOEXEC),
    ROW_FCNTL(F_GETLK), ROW_FCNTL(F_SETLK), ROW_FCNTL(F_SETLKW),
    ROW_FCNTL(F_OFD_GETLK), ROW_FCNTL(F_OFD_SETLK), ROW_FCNTL(F_OFD_SETLKW),
    ROW_FCNTL(F_GETPIPE_SZ), ROW_FCNTL(F_SETPIPE_SZ),

    /* Sockets: only local, IPv4 and IPv6. glibc's getaddrinfo asks the
     * kernel over netlink which address families are configured; refused,
     * it assumes both, which is the sane fallback. */
    ROW_SOCKET(SB_NET_CLIENT, "socket", AF_UNIX, 0),
    ROW_SOCKET(SB_NET_CLIENT, "socket", AF_INET, 0),
    ROW_SOCKET(SB_NET_CLIENT, "socket", AF_INET6, 0),
    ROW_SOCKET(SB_NET_CLIENT, "socket", AF_NETLINK, EAFNOSUPPORT),
    ROW_SOCKET(SB_NET_CLIENT, "socketpair", AF_UNIX, 0),

    /* socket options a client library sets (librados, libcurl); servers
     * set theirs before the sandbox */
    ROW_SOCKOPT(SB_NET_CLIENT, SOL_SOCKET, SO_KEEPALIVE),
    ROW_SOCKOPT(SB_NET_CLIENT, SOL_SOCKET, SO_RCVBUF),
    ROW_SOCKOPT(SB_NET_CLIENT, SOL_SOCKET, SO_SNDBUF),
    ROW_SOCKOPT(SB_NET_CLIENT, SOL_SOCKET, SO_REUSEADDR),
    ROW_SOCKOPT(SB_NET_CLIENT, SOL_SOCKET, SO_PRIORITY),
    ROW_SOCKOPT(SB_NET_CLIENT, SOL_SOCKET, SO_RCVTIMEO),
    ROW_SOCKOPT(SB_NET_CLIENT, SOL_SOCKET, SO_SNDTIMEO),
    ROW_SOCKOPT(SB_NET_CLIENT, SOL_SOCKET, SO_LINGER),
    ROW_SOCKOPT(SB_NET_CLIENT, IPPROTO_TCP, TCP_NODELAY),
    ROW_SOCKOPT(SB_NET_CLIENT, IPPROTO_TCP, TCP_KEEPIDLE),
    ROW_SOCKOPT(SB_NET_CLIENT, IPPROTO_TCP, TCP_KEEPINTVL),
    ROW_SOCKOPT(SB_NET_CLIENT, IPPROTO_TCP, TCP_KEEPCNT),
    ROW_SOCKOPT(SB_NET_CLIENT, IPPROTO_IP, IP_TOS),
    ROW_SOCKOPT(SB_NET_CLIENT, IPPROTO_IPV6, IPV6_TCLASS),
    ROW_SOCKOPT(SB_NET_CLIENT, IPPROTO_IPV6, IPV6_V6ONLY),

    /* Processes and threads. clone3 passes its flags in a struct, so it
     * reports ENOSYS and glibc falls back to clone, whose flags we see. */
    ROW_ERR(SB_BASE, 0, "clone3", ENOSYS),
    ROW_ANY(SB_PROC, 0, "clone"),
    ROW_ANY(SB_PROC, 0, "kill"),
    ROW_ANY(SB_PROC, 0, "tgkill"),
    ROW_ANY(SB_PROC, 0, "prctl"),
    /* raise(), abort() and pthread_kill() signal the own process */
    ROW_EQ(SB_BASE, SB_PROC, "tgkill", 0, SELF_PID, "own process"),
    ROW_EQ(SB_BASE, SB_PROC, "kill", 0, SELF_PID, "own process"),
    ROW_MASK(SB_THREADS, SB_PROC, "clone", CLONE_FLAGS_ARG, CLONE_THREAD, CLONE_THREAD,
             "CLONE_THREAD"),
    ROW_EQ(SB_THREADS, SB_PROC, "prctl", 0, PR_SET_NAME, "PR_SET_NAME"),
    ROW_EQ(SB_THREADS, SB_PROC, "prctl", 0, PR_GET_NAME, "PR_GET_NAME"),
    /* reading resource limits (prlimit64 with new limit NULL) is harmless */
    ROW_EQ(SB_BASE, SB_PROC, "prlimit64", 2, 0, "reading only (new limit NULL)"),
};

/* ---- rule helpers --------------------------------------------------- */

static int resolve(const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);
    /* unknown, or a pseudo number for a call this architecture lacks */
    return nr == __NR_SCMP_ERROR || nr < 0 ? -1 : nr;
}

static void rule(scmp_filter_ctx ctx, uint32_t action, const char *name,
                 unsigned n, const struct scmp_arg_cmp *cmp)
{
    int nr = resolve(name);
    if (nr < 0)
        return;
    int rc = seccomp_rule_add_array(ctx, action, nr, n, cmp);
    /* the same call reached through two groups is not an error */
    if (rc < 0 && rc != -EEXIST) {
        char what[96];
        snprintf(what, sizeof what, "seccomp_rule_add %s", name);
        sb_die(what, -rc);
    }
}

static void allow(scmp_filter_ctx ctx, const char *name)
{
    rule(ctx, SCMP_ACT_ALLOW, name, 0, NULL);
}

static void allow_list(scmp_filter_ctx ctx, const char *const *names)
{
    for (; *names; names++)
        allow(ctx, *names);
}

#ifdef BACKY_SANITIZE
/* allow NAME when argument ARG masked with MASK equals VAL */
static void allow_masked(scmp_filter_ctx ctx, const char *name, unsigned arg,
                         uint64_t mask, uint64_t val)
{
    struct scmp_arg_cmp c = SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, mask, val);
    rule(ctx, SCMP_ACT_ALLOW, name, 1, &c);
}
#endif

/* the groups a policy has, with what they imply */
static unsigned expand_groups(unsigned g)
{
    g |= SB_BASE;
    if (g & SB_WRITE)
        g |= SB_RDONLY | SB_FDWRITE;    /* what may write may also look */
    if (g & SB_PROC)
        g |= SB_PROT_EXEC;              /* exec'd children map their libraries */
#ifdef BACKY_SANITIZE
    g |= SB_PROT_EXEC;
#endif
    return g;
}

static int row_applies(const struct arg_row *r, unsigned g)
{
    return (g & r->when) == r->when && !(g & r->unless);
}

static void add_conditional(scmp_filter_ctx ctx, unsigned g)
{
    for (size_t i = 0; i < sizeof arg_rows / sizeof arg_rows[0]; i++) {
        const struct arg_row *r = &arg_rows[i];
        if (!row_applies(r, g))
            continue;
        struct scmp_arg_cmp c[2];
        for (unsigned k = 0; k < r->n; k++) {
            uint64_t v = r->c[k].value == SELF_PID ? (uint64_t)getpid() : r->c[k].value;
            c[k] = (struct scmp_arg_cmp){ .arg = r->c[k].arg, .op = r->c[k].op,
                                          .datum_a = r->c[k].op == SCMP_CMP_MASKED_EQ
                                                         ? r->c[k].mask : v,
                                          .datum_b = r->c[k].op == SCMP_CMP_MASKED_EQ ? v : 0 };
        }
        rule(ctx, r->err ? SCMP_ACT_ERRNO((uint32_t)r->err) : SCMP_ACT_ALLOW, r->call, r->n, c);
    }
}

void sandbox_each_syscall(void (*fn)(const char *name, void *arg), void *arg)
{
    for (size_t i = 0; i < sizeof group_table / sizeof group_table[0]; i++)
        for (const char *const *n = group_table[i].calls; *n; n++)
            fn(*n, arg);
    for (size_t i = 0; i < sizeof arg_rows / sizeof arg_rows[0]; i++)
        fn(arg_rows[i].call, arg);
}

/* ---- SIGSYS reporting for BACKY_SECCOMP=trap ------------------------ */

#define TRAP_NAMES 1024
static char *trap_names[TRAP_NAMES];    /* resolved before the filter */

static size_t put(char *buf, size_t at, size_t len, const char *s)
{
    while (*s && at + 1 < len)
        buf[at++] = *s++;
    return at;
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)uc;
    char buf[256], num[24];
    int nr = si->si_syscall;
    size_t n = 0, k = sizeof num;
    unsigned v = nr < 0 ? 0 : (unsigned)nr;

    num[--k] = '\0';
    do {
        num[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v && k > 0);
    n = put(buf, n, sizeof buf, sb_name);
    n = put(buf, n, sizeof buf, ": sandbox: forbidden syscall ");
    n = put(buf, n, sizeof buf,
            nr >= 0 && nr < TRAP_NAMES && trap_names[nr] ? trap_names[nr] : "?");
    n = put(buf, n, sizeof buf, " (");
    n = put(buf, n, sizeof buf, num + k);
    n = put(buf, n, sizeof buf, ")\n");
    ssize_t w = write(2, buf, n);
    (void)w;
    _exit(TRAP_EXIT);
}

static void setup_trap(void)
{
    for (int nr = 0; nr < TRAP_NAMES; nr++)
        trap_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSYS, &sa, NULL) < 0)
        sb_die("sigaction SIGSYS", errno);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGSYS);
    if (sigprocmask(SIG_UNBLOCK, &set, NULL) < 0)
        sb_die("sigprocmask", errno);
}

/* ---- the steps ------------------------------------------------------ */

static void switch_user(const struct passwd *pw, uint64_t keep)
{
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;

    if (keep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        sb_die("prctl PR_SET_KEEPCAPS", errno);
    if (setgroups(1, &gid) < 0)
        sb_die("setgroups", errno);
    if (setresgid(gid, gid, gid) < 0)
        sb_die("setresgid", errno);
    if (setresuid(uid, uid, uid) < 0)
        sb_die("setresuid", errno);
    if (keep && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        sb_die("prctl PR_SET_KEEPCAPS", errno);

    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0)
        sb_die("getresuid", errno);
    if (r != uid || e != uid || s != uid || rg != gid || eg != gid || sg != gid)
        sb_die("user switch did not take effect", 0);
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        sb_die("root could be regained after the user switch", 0);
}

static int cap_last(void)
{
    int last = (int)cap_max_bits() - 1;
    return last > 63 ? 63 : last;
}

static void drop_bounding(uint64_t keep)
{
    cap_t cur = cap_get_proc();
    cap_flag_value_t have = CAP_CLEAR;
    if (!cur)
        sb_die("cap_get_proc", errno);
    cap_get_flag(cur, CAP_SETPCAP, CAP_EFFECTIVE, &have);
    cap_free(cur);
    if (have != CAP_SET)
        return;         /* cannot; no_new_privs keeps execve from gaining */
    for (int c = 0; c <= cap_last(); c++) {
        if (keep & (1ULL << c))
            continue;
        int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
        if (r == 1 && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
            sb_die("prctl PR_CAPBSET_DROP", errno);
    }
}

static void drop_caps(uint64_t keep)
{
    /* ambient */
    int any_ambient = 0;
    for (int c = 0; c <= cap_last(); c++)
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1)
            any_ambient = 1;
    if (any_ambient && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        sb_die("prctl PR_CAP_AMBIENT_CLEAR_ALL", errno);

    /* effective, permitted, inheritable: keep only what is asked for and
     * still permitted */
    cap_t cur = cap_get_proc(), want = cap_init();
    if (!cur || !want)
        sb_die("cap_get_proc", errno);
    for (int c = 0; c <= cap_last(); c++) {
        cap_flag_value_t v = CAP_CLEAR;
        cap_value_t cv = c;
        if (!(keep & (1ULL << c)))
            continue;
        cap_get_flag(cur, cv, CAP_PERMITTED, &v);
        if (v == CAP_SET) {
            cap_set_flag(want, CAP_PERMITTED, 1, &cv, CAP_SET);
            cap_set_flag(want, CAP_EFFECTIVE, 1, &cv, CAP_SET);
        }
    }
    /* an outer sandbox may forbid capset: only call it to change something */
    if (cap_compare(cur, want) != 0 && cap_set_proc(want) < 0)
        sb_die("capset", errno);
    cap_free(cur);
    cap_free(want);
}

static void load_filter(const struct sb_policy *p)
{
    const char *mode = getenv("BACKY_SECCOMP");
    uint32_t def = SCMP_ACT_KILL_PROCESS;

    if (mode && *mode) {
        if (strcmp(mode, "trap") == 0) {
            def = SCMP_ACT_TRAP;
            setup_trap();
#ifdef BACKY_DEBUG
        } else if (strcmp(mode, "log") == 0) {
            def = SCMP_ACT_LOG;
#endif
        } else {
#ifdef BACKY_DEBUG
            sb_die("BACKY_SECCOMP: unknown mode (use trap or log)", 0);
#else
            sb_die("BACKY_SECCOMP: unknown mode (use trap; log needs a debug build)", 0);
#endif
        }
    }

    scmp_filter_ctx ctx = seccomp_init(def);
    if (!ctx)
        sb_die("seccomp_init", ENOMEM);
    int rc;
    if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0)
        sb_die("seccomp TSYNC", -rc);
    if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0)
        sb_die("seccomp bad-arch action", -rc);

    unsigned g = expand_groups(p->groups);
    for (size_t i = 0; i < sizeof group_table / sizeof group_table[0]; i++)
        if (g & group_table[i].group)
            allow_list(ctx, group_table[i].calls);
    add_conditional(ctx, g);
#ifdef BACKY_SANITIZE
    allow_list(ctx, sanitize_calls);
    if (!(g & (SB_RDONLY | SB_WRITE)))
        allow_masked(ctx, "openat", 2, OPEN_WRITE_MASK, 0);
#endif
    for (const int *x = p->extra; x && *x >= 0; x++) {
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, *x, 0);
        if (rc < 0 && rc != -EEXIST)
            sb_die("seccomp_rule_add (extra)", -rc);
    }
    for (const struct sb_arg_eq *a = p->extra_if; a && a->call; a++) {
        struct scmp_arg_cmp c[2] = { SCMP_CMP((unsigned)a->arg, SCMP_CMP_EQ, a->value),
                                     SCMP_CMP((unsigned)(a->arg2 < 0 ? 0 : a->arg2), SCMP_CMP_EQ,
                                              a->value2) };
        rule(ctx, SCMP_ACT_ALLOW, a->call, a->arg2 >= 0 ? 2 : 1, c);
    }

    if ((rc = seccomp_load(ctx)) < 0)
        sb_die("seccomp_load", rc == -ESRCH ? ESRCH : -rc);
    seccomp_release(ctx);
}

/* ---- Landlock --------------------------------------------------------- */

/* Raw system calls and the constants of newer ABIs than the installed
 * <linux/landlock.h> may know. The kernel reads as much of the ruleset
 * attribute as the size passed says, so older kernels get a shorter one. */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#define LL_VERSION            (1U << 0)
#define LL_RULE_PATH_BENEATH  1
#define LL_FS_EXECUTE         (1ULL << 0)
#define LL_FS_WRITE_FILE      (1ULL << 1)
#define LL_FS_READ_FILE       (1ULL << 2)
#define LL_FS_READ_DIR        (1ULL << 3)
#define LL_FS_REMOVE_DIR      (1ULL << 4)
#define LL_FS_REMOVE_FILE     (1ULL << 5)
#define LL_FS_MAKE_CHAR       (1ULL << 6)
#define LL_FS_MAKE_DIR        (1ULL << 7)
#define LL_FS_MAKE_REG        (1ULL << 8)
#define LL_FS_MAKE_SOCK       (1ULL << 9)
#define LL_FS_MAKE_FIFO       (1ULL << 10)
#define LL_FS_MAKE_BLOCK      (1ULL << 11)
#define LL_FS_MAKE_SYM        (1ULL << 12)
#define LL_FS_REFER           (1ULL << 13)   /* ABI 2 */
#define LL_FS_TRUNCATE        (1ULL << 14)   /* ABI 3 */
#define LL_FS_IOCTL_DEV       (1ULL << 15)   /* ABI 5 */
#define LL_NET_BIND_TCP       (1ULL << 0)    /* ABI 4 */
#define LL_NET_CONNECT_TCP    (1ULL << 1)    /* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0)   /* ABI 6 */
#define LL_SCOPE_SIGNAL       (1ULL << 1)    /* ABI 6 */
/* rights that make sense on a file (not a directory) */
#define LL_FS_FILE (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | \
                    LL_FS_IOCTL_DEV)

struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct ll_path_beneath {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

const struct sb_fs_rule sb_fs_nothing[] = { { NULL, -1, 0 } };

/* The Landlock ABI of the running kernel; 0: none (not built in, or
 * disabled at boot). In debug builds BACKY_LANDLOCK_ABI caps it lower, to
 * test older ABIs and the warning; releases have no such switch. */
static int ll_abi(void)
{
    long v = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_VERSION);
    if (v < 0)
        return 0;
#ifdef BACKY_DEBUG
    const char *cap = getenv("BACKY_LANDLOCK_ABI");
    if (cap && *cap && atoi(cap) >= 0 && atoi(cap) < v)
        v = atoi(cap);
#endif
    return (int)v;
}

static uint64_t ll_handled_fs(int abi)
{
    uint64_t h = 0;
    if (abi >= 1)
        h = (LL_FS_MAKE_SYM << 1) - 1;
    if (abi >= 2)
        h |= LL_FS_REFER;
    if (abi >= 3)
        h |= LL_FS_TRUNCATE;
    if (abi >= 5)
        h |= LL_FS_IOCTL_DEV;
    return h;
}

/* TCP a tool may still use: none, unless it is a network client (connect,
 * and bind for libraries that pick their source port) or starts programs
 * (the launcher: its children inherit its domain). */
static uint64_t ll_handled_net(unsigned g)
{
    if (g & SB_PROC)
        return 0;
    if (g & SB_NET_CLIENT)
        return 0;
    return LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
}

static uint64_t ll_access(unsigned a)
{
    uint64_t r = 0;
    if (a & SB_FS_READ)
        r |= LL_FS_READ_FILE | LL_FS_READ_DIR;
    if (a & SB_FS_READ_FILE)
        r |= LL_FS_READ_FILE;
    if (a & SB_FS_WRITE)
        r |= LL_FS_WRITE_FILE | LL_FS_TRUNCATE;
    if (a & SB_FS_CREATE)
        r |= LL_FS_REMOVE_DIR | LL_FS_REMOVE_FILE | LL_FS_MAKE_DIR | LL_FS_MAKE_REG |
             LL_FS_MAKE_SYM | LL_FS_REFER;
    if (a & SB_FS_MAKE_FILE)
        r |= LL_FS_MAKE_REG;
    if (a & SB_FS_REMOVE)
        r |= LL_FS_REMOVE_FILE;
    if (a & SB_FS_MAKE_SOCK)
        r |= LL_FS_MAKE_SOCK;
    if (a & SB_FS_RMDIR)
        r |= LL_FS_REMOVE_DIR;
    if (a & SB_FS_EXEC)
        r |= LL_FS_EXECUTE;
    if (a & SB_FS_IOCTL)
        r |= LL_FS_IOCTL_DEV;
    return r;
}

/* Rules as opened descriptors, made before anything is dropped (a path
 * may only be reachable with the privileges still held). */
#define LL_MAX_RULES 256
static struct {
    int fd;             /* ours to close, or the caller's */
    int own;
    unsigned access;
} ll_rules[LL_MAX_RULES];
static int ll_nrules;

#ifdef BACKY_SANITIZE
static void ll_extra(const char *path, unsigned access)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd >= 0 && ll_nrules < LL_MAX_RULES) {
        ll_rules[ll_nrules].fd = fd;
        ll_rules[ll_nrules].own = 1;
        ll_rules[ll_nrules].access = access;
        ll_nrules++;
    }
}
#endif

static void ll_open_rules(const struct sb_policy *p)
{
    ll_nrules = 0;
    if (!p->fs)
        return;
    for (const struct sb_fs_rule *r = p->fs; r->access; r++) {
        if (ll_nrules == LL_MAX_RULES)
            sb_die("landlock: too many rules", 0);
        int fd = r->fd, own = 0;
        if (r->path) {
            fd = open(r->path, O_PATH | O_CLOEXEC);
            if (fd < 0) {
                /* an optional path that is missing or out of reach: no
                 * rule, so opening it later fails as it would have */
                if ((errno == ENOENT || errno == EACCES || errno == ENOTDIR) &&
                    (r->access & SB_FS_OPTIONAL))
                    continue;
                char what[PATH_MAX + 64];
                snprintf(what, sizeof what, "landlock: cannot open %s", r->path);
                sb_die(what, errno);
            }
            own = 1;
        } else if (fd < 0) {
            continue;
        }
        ll_rules[ll_nrules].fd = fd;
        ll_rules[ll_nrules].own = own;
        ll_rules[ll_nrules].access = r->access;
        ll_nrules++;
    }
#ifdef BACKY_SANITIZE
    /* ASan and LSan read /proc/self/maps; never in releases */
    ll_extra("/proc", SB_FS_READ);
#endif
}

static void landlock_apply(const struct sb_policy *p)
{
    if (!p->fs)
        return;         /* nothing declared: flagged by the listing */
    int abi = ll_abi();
    if (abi == 0) {
        log_warn("%s: sandbox: Landlock is not available in this kernel: file-system "
                 "access is not confined", sb_name);
        return;
    }
    unsigned g = expand_groups(p->groups);
    struct ll_ruleset_attr attr = {
        .handled_access_fs = ll_handled_fs(abi),
        .handled_access_net = abi >= 4 ? ll_handled_net(g) : 0,
        .scoped = abi >= 6 ? LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL : 0,
    };
    size_t size = abi >= 6 ? sizeof attr : abi >= 4 ? 2 * sizeof(uint64_t) : sizeof(uint64_t);
    int rs = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (rs < 0)
        sb_die("landlock_create_ruleset", errno);
    for (int i = 0; i < ll_nrules; i++) {
        struct stat st;
        if (fstat(ll_rules[i].fd, &st) < 0)
            sb_die("landlock: fstat of a rule's path", errno);
        uint64_t acc = ll_access(ll_rules[i].access) & attr.handled_access_fs;
        if (!S_ISDIR(st.st_mode))
            acc &= LL_FS_FILE;
        if (!acc)
            continue;
        struct ll_path_beneath pb = { .allowed_access = acc, .parent_fd = ll_rules[i].fd };
        if (syscall(__NR_landlock_add_rule, rs, LL_RULE_PATH_BENEATH, &pb, 0) < 0)
            sb_die("landlock_add_rule", errno);
    }
    if (syscall(__NR_landlock_restrict_self, rs, 0) < 0)
        sb_die("landlock_restrict_self", errno);
    close(rs);
    for (int i = 0; i < ll_nrules; i++)
        if (ll_rules[i].own)
            close(ll_rules[i].fd);
    ll_nrules = 0;
}

/* ---- the policy listing (BACKY_SANDBOX_PRINT) ------------------------- */

static const struct {
    unsigned bit;
    const char *name;
} group_names[] = {
    { SB_BASE, "BASE" }, { SB_RDONLY, "RDONLY" }, { SB_WRITE, "WRITE" },
    { SB_FDWRITE, "FDWRITE" }, { SB_THREADS, "THREADS" }, { SB_PROC, "PROC" },
    { SB_NET_SERVE, "NET_SERVE" }, { SB_NET_CLIENT, "NET_CLIENT" },
    { SB_BLOCKDEV, "BLOCKDEV" }, { SB_POLL, "POLL" }, { SB_PROT_EXEC, "PROT_EXEC" },
    { SB_LOOPMOUNT, "LOOPMOUNT" },
};

static void print_access(FILE *f, unsigned a)
{
    static const struct {
        unsigned bit;
        const char *name;
    } n[] = {
        { SB_FS_READ, "read" }, { SB_FS_READ_FILE, "read-files" }, { SB_FS_WRITE, "write" },
        { SB_FS_CREATE, "create-remove" }, { SB_FS_MAKE_FILE, "create-files" },
        { SB_FS_REMOVE, "remove-files" }, { SB_FS_MAKE_SOCK, "create-sockets" },
        { SB_FS_RMDIR, "remove-dirs" },
        { SB_FS_EXEC, "execute" }, { SB_FS_IOCTL, "ioctl-dev" },
        { SB_FS_OPTIONAL, "optional" },
    };
    int first = 1;
    for (size_t i = 0; i < sizeof n / sizeof n[0]; i++)
        if (a & n[i].bit) {
            fprintf(f, "%s%s", first ? "" : ",", n[i].name);
            first = 0;
        }
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* What the policy allows, architecture-independent (names as listed,
 * whether or not this architecture has them), one line each. */
static void print_policy(const struct sb_policy *p, FILE *f)
{
    unsigned g = expand_groups(p->groups);
    fprintf(f, "policy: %s\ngroups:", p->name ? p->name : "?");
    for (size_t i = 0; i < sizeof group_names / sizeof group_names[0]; i++)
        if (p->groups & group_names[i].bit || group_names[i].bit == SB_BASE)
            fprintf(f, " %s", group_names[i].name);
    fprintf(f, "\ncapabilities kept:");
    if (!p->keep_caps)
        fprintf(f, " none");
    for (int c = 0; c < 64; c++)
        if (p->keep_caps & (1ULL << c)) {
            char *n = cap_to_name(c);
            fprintf(f, " %s", n ? n : "?");
            cap_free(n);
        }
    fprintf(f, "\nuser: %s\n", p->run_as_user ? p->run_as_user : "(unchanged)");

    if (!p->fs && p->fs_exempt) {
        fprintf(f, "landlock: not applied: %s\n", p->fs_exempt);
    } else if (!p->fs) {
        fprintf(f, "landlock: NO RULES DECLARED (file system not confined)\n");
    } else {
        fprintf(f, "landlock: every file-system right of the kernel's ABI is handled\n");
        int any = 0;
        for (const struct sb_fs_rule *r = p->fs; r->access; r++) {
            char fdpath[PATH_MAX] = "";
            const char *shown = r->path;
            if (!shown) {
                if (r->fd < 0)
                    continue;
                char link[64];
                snprintf(link, sizeof link, "/proc/self/fd/%d", r->fd);
                ssize_t n = readlink(link, fdpath, sizeof fdpath - 1);
                fdpath[n < 0 ? 0 : n] = '\0';
                shown = fdpath;
            }
            fprintf(f, "fs: ");
            print_access(f, r->access);
            fprintf(f, " %s\n", shown);
            any = 1;
        }
        if (!any)
            fprintf(f, "fs: nothing\n");
        uint64_t net = ll_handled_net(g);
        fprintf(f, "tcp bind: %s\ntcp connect: %s\n",
                net & LL_NET_BIND_TCP ? "refused" : "allowed",
                net & LL_NET_CONNECT_TCP ? "refused" : "allowed");
        fprintf(f, "scope: abstract unix sockets and signals of this domain only\n");
    }

    /* unconditional calls, sorted and unique */
    size_t n = 0, cap = 0;
    const char **names = NULL;
    for (size_t i = 0; i < sizeof group_table / sizeof group_table[0]; i++) {
        if (!(g & group_table[i].group))
            continue;
        for (const char *const *c = group_table[i].calls; *c; c++) {
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                names = realloc(names, cap * sizeof *names);
                if (!names)
                    sb_die("listing", ENOMEM);
            }
            names[n++] = *c;
        }
    }
    qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]))
            fprintf(f, "allow %s\n", names[i]);
    free(names);
    for (size_t i = 0; i < sizeof arg_rows / sizeof arg_rows[0]; i++) {
        const struct arg_row *r = &arg_rows[i];
        if (!row_applies(r, g))
            continue;
        if (r->err)
            fprintf(f, "errno %s %s", strerrorname_np(r->err), r->call);
        else
            fprintf(f, "allow %s", r->call);
        fprintf(f, "%s%s\n", r->label ? " if " : "", r->label ? r->label : "");
    }
    for (const int *x = p->extra; x && *x >= 0; x++) {
        char *nm = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, *x);
        fprintf(f, "allow %s (extra)\n", nm ? nm : "?");
        free(nm);
    }
    for (const struct sb_arg_eq *a = p->extra_if; a && a->call; a++) {
        fprintf(f, "allow %s if arg%d == %llu", a->call, a->arg, (unsigned long long)a->value);
        if (a->arg2 >= 0)
            fprintf(f, " and arg%d == %llu", a->arg2, (unsigned long long)a->value2);
        fprintf(f, " (extra, run time)\n");
    }
    fprintf(f, "everything else: kills the process\n");
}

/* ---- test hook ------------------------------------------------------ */

static void *probe_thread(void *arg)
{
    return arg;
}

/* File-system probes: the call's result, not the filter's verdict. */
static void probe_fs(const char *what, const char *path) __attribute__((noreturn));
static void probe_fs(const char *what, const char *path)
{
    int r = -1, fd;
    char buf[1];
    if (!strcmp(what, "fs-create")) {
        r = fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    } else if (!strcmp(what, "fs-write")) {
        r = fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd >= 0)
            close(fd);
    } else if (!strcmp(what, "fs-read")) {
        r = fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            r = (int)read(fd, buf, 1) < 0 ? -1 : 0;
            close(fd);
        }
    } else if (!strcmp(what, "fs-chmod")) {
        r = (int)syscall(SYS_fchmodat, AT_FDCWD, path, 04755);
    } else if (!strcmp(what, "fs-fchmod")) {
        r = fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            r = fchmod(fd, 04755);
            close(fd);
        }
    } else if (!strcmp(what, "fs-unlink")) {
        r = (int)syscall(SYS_unlinkat, AT_FDCWD, path, 0);
    } else if (!strcmp(what, "fs-mkdir")) {
        r = (int)syscall(SYS_mkdirat, AT_FDCWD, path, 0700);
    } else {
        sb_die("BACKY_SANDBOX_PROBE: unknown fs probe", 0);
    }
    if (r < 0) {
        printf("failed %s\n", strerrorname_np(errno));
        fflush(stdout);
        _exit(3);
    }
    ssize_t w = write(1, "ok\n", 3);
    (void)w;
    _exit(0);
}

static void probe(const struct sb_policy *p, const char *what) __attribute__((noreturn));

static void probe(const struct sb_policy *p, const char *what)
{
    long r = 0;
    char path[256];
    const char *pp = getenv("BACKY_SANDBOX_PROBE_PATH");

    if (pp && *pp)
        snprintf(path, sizeof path, "%s", pp);
    else
        snprintf(path, sizeof path, "/tmp/backy-probe.%ld", (long)getpid());

    if (strncmp(what, "fs-", 3) == 0) {
        probe_fs(what, path);
    } else if (strcmp(what, "pause") == 0) {
        for (;;)
            pause();
    } else if (strcmp(what, "openat-write") == 0 || strcmp(what, "open-write") == 0) {
        if (what[4] == 't')
            r = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT, 0600);
#ifdef SYS_open
        else
            r = syscall(SYS_open, path, O_WRONLY | O_CREAT, 0600);
#else
        else
            r = syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT, 0600);
#endif
        if (r >= 0) {
            close((int)r);
            if (p->groups & SB_WRITE)
                unlink(path);
        }
    } else if (strcmp(what, "socket") == 0) {
        r = socket(AF_INET, SOCK_STREAM, 0);
    } else if (strcmp(what, "socket-netlink") == 0) {
        r = socket(AF_NETLINK, SOCK_RAW, 0);
    } else if (strcmp(what, "socket-packet") == 0) {
        r = socket(AF_PACKET, SOCK_RAW, 0);
    } else if (strcmp(what, "mmap-exec") == 0) {
        void *m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        r = m == MAP_FAILED ? -1 : 0;
    } else if (strcmp(what, "fork") == 0 || strcmp(what, "clone") == 0) {
#ifdef SYS_fork
        if (what[0] == 'f')
            r = syscall(SYS_fork);
        else
#endif
            r = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
        if (r == 0)
            _exit(0);
        if (r > 0)
            waitpid((pid_t)r, NULL, 0);
    } else if (strcmp(what, "thread") == 0) {
        pthread_t t;
        int e = pthread_create(&t, NULL, probe_thread, NULL);
        if (e == 0)
            pthread_join(t, NULL);
        r = e ? -1 : 0;
        errno = e;
    } else if (strcmp(what, "exit") == 0 || strcmp(what, "exit_group") == 0 ||
               strcmp(what, "rt_sigreturn") == 0 || strcmp(what, "vfork") == 0) {
        sb_die("BACKY_SANDBOX_PROBE: this syscall cannot be probed", 0);
    } else {
        int nr = resolve(what);
        if (nr < 0)
            sb_die("BACKY_SANDBOX_PROBE: unknown syscall name", 0);
        r = syscall(nr, 0, 0, 0, 0, 0, 0);
    }
    /* still alive: the filter let it through */
    fprintf(stderr, "%s: sandbox: probe %s returned %ld%s%s\n", sb_name, what, r,
            r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
    ssize_t w = write(1, "allowed\n", 8);
    (void)w;
    _exit(0);
}

/* ---- one thread ----------------------------------------------------- */

/* Capabilities and the Landlock domain belong to each thread: both are
 * set for the calling thread only, and threads started later inherit
 * them. So privileges are dropped while the process has exactly one
 * thread; a tool that needs threads starts them afterwards. */
static void assert_one_thread(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    long n = -1;
    if (!f)
        sb_die("cannot read /proc/self/status", errno);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Threads:", 8) == 0)
            n = strtol(line + 8, NULL, 10);
    fclose(f);
    if (n != 1) {
        char what[160];
        snprintf(what, sizeof what,
                 "%ld threads running: privileges must be dropped before the first thread "
                 "starts (sandbox_drop_privs)", n);
        sb_die(what, 0);
    }
}

/* ---- entry ---------------------------------------------------------- */

static int dropped;

void sandbox_drop_privs(const struct sb_policy *p)
{
    struct passwd pwbuf, *pw = NULL;

    if (dropped)
        return;
    if (p->name)
        sb_name = p->name;

    /* "1": every process prints its policy; a policy name: only that one
     * (the others end here silently: backy-sched-launcher) */
    const char *pr = getenv("BACKY_SANDBOX_PRINT");
    if (pr && *pr && strcmp(pr, "0")) {
        fflush(stdout);
        if (!strcmp(pr, "1") || (p->name && !strcmp(pr, p->name)))
            print_policy(p, stdout);
        fflush(stdout);
        exit(0);
    }

    assert_one_thread();

    /* the user database is read while files and NSS modules still load */
    if (p->run_as_user && geteuid() == 0) {
        pw = getpwnam(p->run_as_user);
        if (!pw) {
            char what[160];
            snprintf(what, sizeof what, "unknown user: %s", p->run_as_user);
            sb_die(what, 0);
        }
        pwbuf = *pw;
        pw = &pwbuf;
    }
    /* the time zone is read now, while /etc/localtime may be opened */
    tzset();
    ll_open_rules(p);

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        sb_die("prctl PR_SET_NO_NEW_PRIVS", errno);

    drop_bounding(p->keep_caps);
    if (pw)
        switch_user(pw, p->keep_caps);
    drop_caps(p->keep_caps);
    landlock_apply(p);
    dropped = 1;
}

void sandbox_enter(const struct sb_policy *p)
{
    bk_sd_notify_prepare();     /* socket() is not allowed afterwards */
    sandbox_drop_privs(p);
    load_filter(p);

    const char *pr = getenv("BACKY_SANDBOX_PROBE");
    if (pr && *pr)
        probe(p, pr);
}
