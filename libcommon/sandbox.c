/* sandbox.c - no_new_privs, user switch, capability drop and a libseccomp
 * allowlist, applied in this order (see sandbox.h).
 *
 * Syscalls are listed by name and resolved with libseccomp, so a name the
 * architecture does not have (open, creat on arm64) is skipped instead of
 * needing an #ifdef per entry. Argument checks sit where they decide
 * something: openat flags for read-only tools, ioctl numbers, socket
 * domains, PROT_EXEC, clone flags. */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/fs.h>
#include <linux/fiemap.h>
#include <seccomp.h>
#include <sys/capability.h>
#include <linux/capability.h>

#include "backy/sandbox.h"

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
    "close", "close_range", "dup", "dup2", "dup3", "fcntl", "fcntl64",
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

static const char *const write_calls[] = {
    "creat", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "mkdir", "mkdirat", "rmdir", "symlink", "symlinkat", "link", "linkat",
    "chmod", "fchmod", "fchmodat", "fchown", "fchownat",
    "ftruncate", "ftruncate64", "truncate", "truncate64",
    "fallocate", "syncfs", "sync_file_range", "copy_file_range",
    "splice", "utimensat", "futimesat", "umask",
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
    "prlimit64", "getrlimit", "ugetrlimit",
    NULL,
};

static const char *const net_serve_calls[] = {
    "accept", "accept4", "setsockopt", "getsockopt", "shutdown",
    "getsockname", "getpeername", "sendto", "recvfrom", "sendmsg",
    "recvmsg",
    NULL,
};

static const char *const net_client_calls[] = {
    "connect", "bind", "setsockopt", "getsockopt", "shutdown",
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
    { SB_THREADS,    threads_calls },
    { SB_PROC,       proc_calls },
    { SB_NET_SERVE,  net_serve_calls },
    { SB_NET_CLIENT, net_client_calls },
    { SB_POLL,       poll_calls },
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

/* allow NAME when argument ARG masked with MASK equals VAL */
static void allow_masked(scmp_filter_ctx ctx, const char *name, unsigned arg,
                         uint64_t mask, uint64_t val)
{
    struct scmp_arg_cmp c = SCMP_CMP(arg, SCMP_CMP_MASKED_EQ, mask, val);
    rule(ctx, SCMP_ACT_ALLOW, name, 1, &c);
}

static void act_eq(scmp_filter_ctx ctx, uint32_t action, const char *name,
                   unsigned arg, uint64_t val)
{
    struct scmp_arg_cmp c = SCMP_CMP(arg, SCMP_CMP_EQ, val);
    rule(ctx, action, name, 1, &c);
}

/* ioctl request numbers are 32 bit in the kernel; compare only those */
static void ioctl_rule(scmp_filter_ctx ctx, uint32_t action, unsigned long req)
{
    struct scmp_arg_cmp c = SCMP_CMP(1, SCMP_CMP_MASKED_EQ, 0xffffffffu,
                                     (uint32_t)req);
    rule(ctx, action, "ioctl", 1, &c);
}

/* Flags that make an open write or create something. O_TMPFILE needs a
 * write access mode, so O_ACCMODE covers it. */
#define OPEN_WRITE_MASK ((uint64_t)(O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND))

#ifdef __s390__
#define CLONE_FLAGS_ARG 1       /* clone(stack, flags, ...) */
#else
#define CLONE_FLAGS_ARG 0
#endif

static void add_conditional(scmp_filter_ctx ctx, unsigned g)
{
    /* Code may only be mapped executable where a library loads plugins at
     * run time (librados: compressor and crypto plugins via dlopen), or
     * where exec'd children need their dynamic loader to map libraries.
     * Everywhere else a writable mapping can never become code. */
    int exec_ok = (g & (SB_PROT_EXEC | SB_PROC)) != 0;
#ifdef BACKY_SANITIZE
    exec_ok = 1;
#endif
    if (exec_ok) {
        allow(ctx, "mmap");
        allow(ctx, "mmap2");
        allow(ctx, "mprotect");
        allow(ctx, "pkey_mprotect");
    } else {
        allow_masked(ctx, "mmap", 2, PROT_EXEC, 0);
        allow_masked(ctx, "mmap2", 2, PROT_EXEC, 0);
        allow_masked(ctx, "mprotect", 2, PROT_EXEC, 0);
    }

    /* Opening: read-only tools may only open with O_RDONLY and without
     * O_CREAT/O_TRUNC/O_APPEND; openat2 hides its flags in a struct the
     * filter cannot read, so it reports ENOSYS and glibc uses openat. */
    if (g & SB_WRITE) {
        allow(ctx, "openat");
        allow(ctx, "open");
    } else if (g & SB_RDONLY) {
        allow_masked(ctx, "openat", 2, OPEN_WRITE_MASK, 0);
        allow_masked(ctx, "open", 1, OPEN_WRITE_MASK, 0);
    }
    rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "openat2", 0, NULL);

    /* fstat() of glibc is newfstatat(fd, "", st, AT_EMPTY_PATH); without
     * SB_RDONLY only that form is allowed, not a lookup by path. */
    if (!(g & SB_RDONLY)) {
        allow_masked(ctx, "newfstatat", 3, AT_EMPTY_PATH, AT_EMPTY_PATH);
        allow_masked(ctx, "fstatat64", 3, AT_EMPTY_PATH, AT_EMPTY_PATH);
        allow_masked(ctx, "statx", 2, AT_EMPTY_PATH, AT_EMPTY_PATH);
    }

    /* ioctl: only the listed requests. isatty() and the terminal size are
     * probes of stdio and table output: they fail as "not a terminal". */
    ioctl_rule(ctx, SCMP_ACT_ALLOW, FIONREAD);
    ioctl_rule(ctx, SCMP_ACT_ALLOW, FIOCLEX);
    ioctl_rule(ctx, SCMP_ACT_ALLOW, FIONCLEX);
    ioctl_rule(ctx, SCMP_ACT_ERRNO(ENOTTY), TCGETS);
    ioctl_rule(ctx, SCMP_ACT_ERRNO(ENOTTY), TIOCGWINSZ);
    if (g & SB_WRITE) {
        ioctl_rule(ctx, SCMP_ACT_ALLOW, FICLONE);
        ioctl_rule(ctx, SCMP_ACT_ALLOW, FICLONERANGE);
    }
    if (g & (SB_RDONLY | SB_WRITE))
        ioctl_rule(ctx, SCMP_ACT_ALLOW, FS_IOC_FIEMAP);
    if (g & SB_BLOCKDEV) {
        ioctl_rule(ctx, SCMP_ACT_ALLOW, BLKGETSIZE64);
        ioctl_rule(ctx, SCMP_ACT_ALLOW, BLKSSZGET);
        ioctl_rule(ctx, SCMP_ACT_ALLOW, BLKPBSZGET);
        ioctl_rule(ctx, SCMP_ACT_ALLOW, BLKIOMIN);
        ioctl_rule(ctx, SCMP_ACT_ALLOW, BLKIOOPT);
        ioctl_rule(ctx, SCMP_ACT_ALLOW, BLKROGET);
        if (g & SB_WRITE) {
            ioctl_rule(ctx, SCMP_ACT_ALLOW, BLKDISCARD);
            ioctl_rule(ctx, SCMP_ACT_ALLOW, BLKZEROOUT);
        }
    }

    /* Sockets: only local, IPv4 and IPv6. glibc's getaddrinfo asks the
     * kernel over netlink which address families are configured; refused,
     * it assumes both, which is the sane fallback. */
    if (g & SB_NET_CLIENT) {
        act_eq(ctx, SCMP_ACT_ALLOW, "socket", 0, AF_UNIX);
        act_eq(ctx, SCMP_ACT_ALLOW, "socket", 0, AF_INET);
        act_eq(ctx, SCMP_ACT_ALLOW, "socket", 0, AF_INET6);
        act_eq(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), "socket", 0, AF_NETLINK);
        act_eq(ctx, SCMP_ACT_ALLOW, "socketpair", 0, AF_UNIX);
    }

    /* Processes and threads. clone3 passes its flags in a struct, so it
     * reports ENOSYS and glibc falls back to clone, whose flags we see. */
    rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL);
    if (g & SB_PROC) {
        allow(ctx, "clone");
        allow(ctx, "kill");
        allow(ctx, "tgkill");
        allow(ctx, "prctl");
    } else {
        /* raise(), abort() and pthread_kill() signal the own process */
        act_eq(ctx, SCMP_ACT_ALLOW, "tgkill", 0, (uint64_t)getpid());
        act_eq(ctx, SCMP_ACT_ALLOW, "kill", 0, (uint64_t)getpid());
        if (g & SB_THREADS) {
            allow_masked(ctx, "clone", CLONE_FLAGS_ARG, CLONE_THREAD, CLONE_THREAD);
            act_eq(ctx, SCMP_ACT_ALLOW, "prctl", 0, PR_SET_NAME);
            act_eq(ctx, SCMP_ACT_ALLOW, "prctl", 0, PR_GET_NAME);
        }
    }
    /* reading resource limits (prlimit64 with new limit NULL) is harmless */
    if (!(g & SB_PROC))
        act_eq(ctx, SCMP_ACT_ALLOW, "prlimit64", 2, 0);
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
        } else if (strcmp(mode, "log") == 0) {
            def = SCMP_ACT_LOG;
        } else {
            sb_die("BACKY_SECCOMP: unknown mode (use trap or log)", 0);
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

    unsigned g = p->groups | SB_BASE;
    if (g & SB_WRITE)
        g |= SB_RDONLY;         /* what may write may also look */
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

    if ((rc = seccomp_load(ctx)) < 0)
        sb_die("seccomp_load", rc == -ESRCH ? ESRCH : -rc);
    seccomp_release(ctx);
}

/* ---- test hook ------------------------------------------------------ */

static void *probe_thread(void *arg)
{
    return arg;
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

    if (strcmp(what, "pause") == 0) {
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

/* ---- other threads ------------------------------------------------ */

/* Capabilities belong to each thread: capset and PR_CAPBSET_DROP change
 * only the caller. Threads started before the sandbox (a signal thread)
 * are asked through a signal to drop theirs as well, and checked before
 * the filter is loaded. A thread that blocks that signal (librados blocks
 * all signals in its threads) cannot be reached: it keeps its sets, under
 * the filter and no_new_privs like every thread. A tool avoids that by
 * calling sandbox_drop_privs() before it starts threads, which then
 * inherit the dropped sets. */

static struct __user_cap_header_struct bc_hdr;
static struct __user_cap_data_struct bc_data[2];
static uint64_t bc_keep;
static int bc_last, bc_bounding;
static atomic_int bc_acks;

static void on_drop_signal(int sig)
{
    int saved = errno;
    (void)sig;
    for (int c = 0; bc_bounding && c <= bc_last; c++)
        if (!(bc_keep & (1ULL << c)) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1)
            prctl(PR_CAPBSET_DROP, c, 0, 0, 0);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    syscall(SYS_capset, &bc_hdr, bc_data);
    atomic_fetch_add(&bc_acks, 1);
    errno = saved;
}

struct task_caps {
    uint64_t eff, prm, inh, bnd, amb, sigblk;
};

static int read_task(const char *tid, struct task_caps *tc)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/self/task/%s/status", tid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    memset(tc, 0, sizeof *tc);
    while (fgets(line, sizeof line, f)) {
        char *v = strchr(line, ':');
        if (!v)
            continue;
        *v++ = '\0';
        uint64_t x = strtoull(v, NULL, 16);
        if (!strcmp(line, "CapEff")) tc->eff = x;
        else if (!strcmp(line, "CapPrm")) tc->prm = x;
        else if (!strcmp(line, "CapInh")) tc->inh = x;
        else if (!strcmp(line, "CapBnd")) tc->bnd = x;
        else if (!strcmp(line, "CapAmb")) tc->amb = x;
        else if (!strcmp(line, "SigBlk")) tc->sigblk = x;
    }
    fclose(f);
    return 0;
}

static int caps_like(const struct task_caps *t, const struct task_caps *me)
{
    return t->eff == me->eff && t->prm == me->prm && t->inh == me->inh &&
           t->bnd == me->bnd && t->amb == me->amb;
}

/* Apply the caller's capability sets to every other thread; die if one
 * keeps more. */
static void sync_threads(uint64_t keep)
{
    char self[24];
    struct task_caps me, t;
    snprintf(self, sizeof self, "%ld", (long)syscall(SYS_gettid));
    if (read_task(self, &me) < 0)
        sb_die("cannot read /proc/self/task", errno);

    /* A thread just being created has every signal blocked for a moment,
     * so threads are looked at again for a while before giving up. */
    int sig = SIGRTMIN + 4, installed = 0, lost = 0;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_drop_signal;
    sigemptyset(&sa.sa_mask);
    DIR *d;
    struct dirent *e;
    for (int round = 0; round < 100 && !lost; round++) {
        int pending = 0, sent = 0;
        if (!(d = opendir("/proc/self/task")))
            sb_die("cannot list threads: /proc/self/task", errno);
        atomic_store(&bc_acks, 0);
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || !strcmp(e->d_name, self))
                continue;
            if (read_task(e->d_name, &t) < 0 || caps_like(&t, &me))
                continue;       /* gone, or already right */
            pending++;
            if (t.sigblk & (1ULL << (sig - 1)))
                continue;       /* not now */
            if (!installed) {
                bc_hdr.version = _LINUX_CAPABILITY_VERSION_3;
                bc_hdr.pid = 0;
                if (syscall(SYS_capget, &bc_hdr, bc_data) < 0)
                    sb_die("capget", errno);
                bc_keep = keep;
                bc_last = cap_last();
                bc_bounding = me.bnd == (me.bnd & keep);
                if (sigaction(sig, &sa, &old) < 0)
                    sb_die("sigaction", errno);
                installed = 1;
            }
            if (syscall(SYS_tgkill, getpid(), atoi(e->d_name), sig) == 0)
                sent++;
        }
        closedir(d);
        if (!pending)
            break;
        for (int i = 0; i < 1000 && atomic_load(&bc_acks) < sent; i++)
            usleep(1000);
        /* a signal still on its way must not meet the default action */
        lost = atomic_load(&bc_acks) < sent;
        usleep(1000);
    }
    if (installed && !lost)
        sigaction(sig, &old, NULL);

    if (!(d = opendir("/proc/self/task")))
        sb_die("cannot list threads: /proc/self/task", errno);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || read_task(e->d_name, &t) < 0)
            continue;
        /* A thread blocking every signal (librados) cannot be asked; it
         * stays under the filter (TSYNC) and no_new_privs, and a tool
         * avoids it by calling sandbox_drop_privs before starting it. */
        if (!caps_like(&t, &me) && !(t.sigblk & (1ULL << (sig - 1)))) {
            char what[300];
            snprintf(what, sizeof what,
                     "thread %.32s keeps capabilities the policy drops "
                     "(drop privileges before starting threads: sandbox_drop_privs)",
                     e->d_name);
            sb_die(what, 0);
        }
    }
    closedir(d);
}

/* ---- entry ---------------------------------------------------------- */

void sandbox_drop_privs(const struct sb_policy *p)
{
    struct passwd pwbuf, *pw = NULL;

    if (p->name)
        sb_name = p->name;

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

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        sb_die("prctl PR_SET_NO_NEW_PRIVS", errno);

    drop_bounding(p->keep_caps);
    if (pw)
        switch_user(pw, p->keep_caps);
    drop_caps(p->keep_caps);
    sync_threads(p->keep_caps);
}

void sandbox_enter(const struct sb_policy *p)
{
    sandbox_drop_privs(p);
    load_filter(p);

    const char *pr = getenv("BACKY_SANDBOX_PROBE");
    if (pr && *pr)
        probe(p, pr);
}
