/* test_sandbox - enters sandbox policies in forked children and checks
 * what the kernel reports and enforces: /proc/self/status fields, death
 * by SIGSYS for forbidden calls, errno answers for probes, thread
 * synchronisation, the trap and log modes, capabilities and the user
 * switch. Prints TAP. Capability and user tests need root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/fs.h>

#include <seccomp.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include "backy/sandbox.h"

#define NTESTS 45

/* ASan/LSan need ptrace, clone, PROT_EXEC...: their bans are not tested there */
#ifdef BACKY_SANITIZE
static const int sanitize_build = 1;
#else
static const int sanitize_build = 0;
#endif
#define SAN_SKIP(desc) \
    if (sanitize_build) \
        skip(desc, "allowed in sanitizer builds"); \
    else

static int testno, failed;
static char scratch[256];

static void result(int ok, const char *desc)
{
    printf("%sok %d - %s\n", ok ? "" : "not ", ++testno, desc);
    if (!ok)
        failed++;
    fflush(stdout);
}

static void skip(const char *desc, const char *why)
{
    printf("ok %d - %s # SKIP %s\n", ++testno, desc, why);
    fflush(stdout);
}

/* Run fn in a child after entering a policy with the given groups.
 * Returns the raw wait status; child stderr goes to errbuf if given. */
static int run(unsigned groups, uint64_t keep, const char *user, const char *mode,
               int (*fn)(void), char *errbuf, size_t errlen)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        abort();
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        close(pfd[0]);
        dup2(pfd[1], 2);
        if (mode)
            setenv("BACKY_SECCOMP", mode, 1);
        else
            unsetenv("BACKY_SECCOMP");
        struct sb_policy p = { "test_sandbox", groups, NULL, keep, user, NULL, NULL, NULL };
        sandbox_enter(&p);
        _exit(fn());
    }
    close(pfd[1]);
    char buf[1024];
    size_t got = 0;
    ssize_t n;
    while ((n = read(pfd[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    buf[got] = '\0';
    close(pfd[0]);
    if (errbuf)
        snprintf(errbuf, errlen, "%s", buf);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

static int killed_by_sigsys(int st)
{
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
}

static int exited(int st, int code)
{
    return WIFEXITED(st) && WEXITSTATUS(st) == code;
}

/* ---- child bodies ---- */

static int status_field(const char *key, char *out, size_t len)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kl = strlen(key);
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            char *v = line + kl + 1;
            while (*v == '\t' || *v == ' ')
                v++;
            v[strcspn(v, "\n")] = '\0';
            snprintf(out, len, "%s", v);
            fclose(f);
            return 0;
        }
    }
    fclose(f);
    return -1;
}

static int field_is(const char *key, const char *want)
{
    char v[128];
    return status_field(key, v, sizeof v) == 0 && strcmp(v, want) == 0;
}

static int c_seccomp_nnp(void)
{
    return field_is("Seccomp", "2") && field_is("NoNewPrivs", "1") ? 0 : 1;
}

static int c_caps_zero(void)
{
    const char *z = "0000000000000000";
    return field_is("CapEff", z) && field_is("CapPrm", z) && field_is("CapInh", z) &&
           field_is("CapBnd", z) && field_is("CapAmb", z) ? 0 : 1;
}

static int c_caps_dac_read(void)
{
    const char *one = "0000000000000004";   /* CAP_DAC_READ_SEARCH = 2 */
    return field_is("CapEff", one) && field_is("CapPrm", one) &&
           field_is("CapBnd", one) && field_is("CapInh", "0000000000000000") ? 0 : 1;
}

static int c_openat_wronly(void) { return openat(AT_FDCWD, scratch, O_WRONLY | O_CREAT, 0600) >= 0 ? 0 : 2; }
static int c_openat_rdwr(void) { return openat(AT_FDCWD, "/proc/self/status", O_RDWR) >= 0 ? 0 : 2; }
static int c_openat_append(void) { return openat(AT_FDCWD, scratch, O_RDONLY | O_APPEND) >= 0 ? 0 : 2; }
static int c_openat_rdonly(void)
{
    int fd = openat(AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
    return fd >= 0 ? 0 : 2;
}
#ifdef SYS_open
static int c_open_wronly(void) { return syscall(SYS_open, scratch, O_WRONLY | O_CREAT, 0600) >= 0 ? 0 : 2; }
static int c_creat(void) { return syscall(SYS_creat, scratch, 0600) >= 0 ? 0 : 2; }
#endif
static int c_write_file(void)
{
    int fd = openat(AT_FDCWD, scratch, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "x", 1) != 1 || fsync(fd) < 0 || close(fd) < 0)
        return 2;
    return unlink(scratch) == 0 ? 0 : 3;
}
static int c_unlink(void) { unlink(scratch); return 0; }
static int c_ptrace(void) { syscall(SYS_ptrace, -1L, 0, 0, 0); return 0; }
/* never allowed, not even in sanitizer builds; harmless if it were */
static int c_swapoff(void) { syscall(SYS_swapoff, NULL); return 0; }
static int c_mount(void) { mount("none", "/", "tmpfs", 0, NULL); return 0; }
static int c_execve(void)
{
    char *argv[] = { "true", NULL };
    execve("/bin/true", argv, NULL);
    return 2;
}
static int c_socket_inet(void) { return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : 2; }
static int c_socket_netlink(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW, 0);
    return fd < 0 && errno == EAFNOSUPPORT ? 0 : 2;
}
static int c_socket_packet(void) { socket(AF_PACKET, SOCK_RAW, 0); return 0; }
static int c_mmap_exec(void)
{
    void *m = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return m != MAP_FAILED ? 0 : 2;
}
static int c_mprotect_exec(void)
{
    void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return 2;
    mprotect(m, 4096, PROT_READ | PROT_EXEC);
    return 0;
}
static int c_isatty(void)
{
    errno = 0;
    int r = isatty(0);
    return r == 0 && errno == ENOTTY ? 0 : 2;
}
static int c_ficlone(void)
{
    int r = ioctl(-1, FICLONE, 0);
    return r < 0 && errno == EBADF ? 0 : 2;
}
static int c_ioctl_other(void) { ioctl(0, TIOCSTI, "x"); return 0; }
static void *thr_fn(void *a) { return a; }
static int c_thread(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, thr_fn, NULL) != 0)
        return 2;
    pthread_join(t, NULL);
    return 0;
}
static int c_fork_exec(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        char *argv[] = { "true", NULL };
        execve("/bin/true", argv, NULL);
        _exit(3);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return 4;
    return exited(st, 0) ? 0 : 5;
}
static int c_abort(void) { abort(); }
static int c_uid_nobody(void)
{
    if (getuid() == 0 || geteuid() == 0)
        return 2;
    /* setuid itself is not in the allowlist; sandbox_enter has already
     * checked that it fails before loading the filter */
    return c_caps_zero() == 0 && c_seccomp_nnp() == 0 ? 0 : 4;
}
static int c_probe(void) { return 7; }      /* not reached: the probe exits */

/* a thread started before the sandbox waits, then makes a forbidden call */
static volatile int go;
static void *late_ptrace(void *a)
{
    while (!go)
        usleep(1000);
    syscall(SYS_swapoff, NULL);
    return a;
}
static int c_tsync(void)
{
    go = 1;
    for (;;)
        pause();
    return 0;
}

/* threads started before the sandbox: one plain, one blocking all signals
 * (as librados threads do) */
static void *idle_thread(void *a)
{
    if (a) {
        sigset_t all;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, NULL);
    }
    for (;;)
        pause();
    return NULL;
}

/* mode 0: plain thread; 1: blocking thread; 2: blocking thread started
 * after sandbox_drop_privs. The child checks every thread's CapEff. */
static int thread_caps_child(int mode, char *err, size_t errlen)
{
    int pfd[2];
    if (pipe(pfd) < 0)
        abort();
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        dup2(pfd[1], 2);
        struct sb_policy p = { "test_sandbox", SB_RDONLY | SB_THREADS, NULL, 0, NULL, NULL, NULL, NULL };
        pthread_t t;
        if (mode == 2)
            sandbox_drop_privs(&p);
        if (pthread_create(&t, NULL, idle_thread, mode ? (void *)1 : NULL) != 0)
            _exit(2);
        usleep(20000);
        sandbox_enter(&p);
        /* every thread's CapEff */
        char path[300], line[256];
        int bad = 0;
        DIR *d = opendir("/proc/self/task");
        struct dirent *e;
        if (!d)
            _exit(3);
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "/proc/self/task/%s/status", e->d_name);
            FILE *f = fopen(path, "r");
            if (!f)
                continue;
            while (fgets(line, sizeof line, f))
                if (!strncmp(line, "CapEff:", 7) && strcmp(line + 7, "\t0000000000000000\n"))
                    bad = 1;
            fclose(f);
        }
        _exit(bad ? 4 : 0);
    }
    close(pfd[1]);
    size_t got = 0;
    ssize_t n;
    while ((n = read(pfd[0], err + got, errlen - 1 - got)) > 0)
        got += (size_t)n;
    err[got] = '\0';
    close(pfd[0]);
    int st;
    waitpid(pid, &st, 0);
    return st;
}

/* ---- syscall names ---- */
struct names_ctx {
    int n, bad;
    char first_bad[200];
};
static int resolves(uint32_t arch, const char *name)
{
    return seccomp_syscall_resolve_name_arch(arch, name) >= 0;
}
static void check_name(const char *name, void *arg)
{
    struct names_ctx *c = arg;
    c->n++;
    if (resolves(SCMP_ARCH_X86_64, name) || resolves(SCMP_ARCH_AARCH64, name) ||
        resolves(SCMP_ARCH_X86, name) || resolves(SCMP_ARCH_ARM, name))
        return;
    if (!c->bad++)
        snprintf(c->first_bad, sizeof c->first_bad, "unknown syscall name in the tables: %s", name);
}
/* legacy calls arm64 lacks, and 32-bit variants */
static const char *const not_on_arm64[] = {
    "open", "creat", "unlink", "rename", "mkdir", "rmdir", "symlink", "link", "chmod",
    "stat", "lstat", "access", "readlink", "getdents", "poll", "select", "epoll_create",
    "epoll_wait", "eventfd", "signalfd", "fork", "vfork", "pipe", "alarm", "pause", "time",
    "arch_prctl", "getpgrp", "futimesat", "sendfile", "fadvise64", "getrlimit", "mmap", "dup2",
    NULL,
};
static void check_core_name(const char *name, void *arg)
{
    struct names_ctx *c = arg;
    size_t l = strlen(name);
    if (name[0] == '_' || (l > 2 && !strcmp(name + l - 2, "64") && strcmp(name, "pread64") &&
                           strcmp(name, "pwrite64") && strcmp(name, "prlimit64")) ||
        strstr(name, "time64") || !strcmp(name, "ugetrlimit") || !strcmp(name, "mmap2"))
        return;         /* 32-bit only */
    if (!resolves(SCMP_ARCH_X86_64, name))
        goto bad;
    for (const char *const *x = not_on_arm64; *x; x++)
        if (!strcmp(*x, name))
            return;
    if (resolves(SCMP_ARCH_AARCH64, name))
        return;
bad:
    fprintf(stderr, "# not on x86_64 and aarch64: %s\n", name);
    if (!c->bad++)
        snprintf(c->first_bad, sizeof c->first_bad, "syscall %s does not resolve on x86_64 and aarch64",
                 name);
}

/* ---- Landlock ---- */
static const char *ll_dir, *ll_inside, *ll_outside;
static int c_landlock(void)
{
    int fd = open(ll_inside, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return 10;
    close(fd);
    if (open(ll_outside, O_WRONLY) >= 0 || errno != EACCES)
        return 11;
    if (unlink(ll_outside) == 0 || errno != EACCES)
        return 12;
    if (open("/etc/passwd", O_RDONLY) >= 0 || errno != EACCES)
        return 13;
    return 0;
}
static int c_landlock_ro(void)
{
    if (open(ll_outside, O_RDONLY) >= 0 || errno != EACCES)
        return 10;
    int fd = open(ll_dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return 11;
    close(fd);
    return 0;
}
static int run_fs(unsigned groups, int (*fn)(void))
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        struct sb_fs_rule rules[] = { { ll_dir, -1, groups & SB_WRITE ? SB_FS_RW : SB_FS_READ },
                                      { NULL, -1, 0 } };
        struct sb_policy p = { "test_sandbox", groups, NULL, 0, NULL, rules, NULL, NULL };
        sandbox_enter(&p);
        _exit(fn());
    }
    int st;
    waitpid(pid, &st, 0);
    return st;
}

/* Landlock TCP: a socket made before the sandbox, connect allowed by the
 * filter (extra); the Landlock domain refuses it unless the policy is a
 * network client. */
static int tcp_port;
static int run_connect(unsigned groups)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
            _exit(20);
        static const int extra[] = { __NR_connect, -1 };
        struct sb_policy p = { "test_sandbox", groups, extra, 0, NULL, sb_fs_nothing, NULL, NULL };
        sandbox_enter(&p);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)tcp_port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0)
            _exit(0);
        _exit(errno == EACCES ? 13 : 21);
    }
    int st;
    waitpid(pid, &st, 0);
    return st;
}

/* Landlock signal scope: kill is allowed by the filter (SB_PROC), the
 * parent is outside the child's domain */
static int c_kill_parent(void)
{
    if (kill(getppid(), 0) == 0)
        return 10;
    return errno == EPERM ? 0 : 11;
}
static int run_scoped(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        abort();
    if (pid == 0) {
        struct sb_policy p = { "test_sandbox", SB_BASE | SB_PROC, NULL, 0, NULL, sb_fs_nothing, NULL, NULL };
        sandbox_enter(&p);
        _exit(c_kill_parent());
    }
    int st;
    waitpid(pid, &st, 0);
    return st;
}

int main(void)
{
    int root = geteuid() == 0;
    char err[1024];
    int st;
    const unsigned RO = SB_BASE | SB_RDONLY, RW = SB_BASE | SB_RDONLY | SB_WRITE;

    snprintf(scratch, sizeof scratch, "%s/backy-test-sandbox.%ld",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (long)getpid());
    signal(SIGPIPE, SIG_IGN);
    /* the tests choose the mode themselves */
    unsetenv("BACKY_SECCOMP");
    unsetenv("BACKY_SANDBOX_PROBE");
    printf("1..%d\n", NTESTS);

    st = run(RO, 0, NULL, NULL, c_seccomp_nnp, NULL, 0);
    result(exited(st, 0), "read-only policy: Seccomp 2 and NoNewPrivs 1 in /proc/self/status");
    if (root) {
        st = run(RO, 0, NULL, NULL, c_caps_zero, NULL, 0);
        result(exited(st, 0), "all capability sets empty");
        st = run(RO, 1ULL << CAP_DAC_READ_SEARCH, NULL, NULL, c_caps_dac_read, NULL, 0);
        result(exited(st, 0), "keep_caps keeps exactly CAP_DAC_READ_SEARCH (eff, prm, bnd)");
        st = run(RO, 0, "nobody", NULL, c_uid_nobody, NULL, 0);
        result(exited(st, 0), "run_as_user nobody: uid not root, caps empty, filter loaded");
    } else {
        skip("all capability sets empty", "not root");
        skip("keep_caps keeps exactly CAP_DAC_READ_SEARCH", "not root");
        skip("run_as_user nobody", "not root");
    }

    st = run(RO, 0, NULL, NULL, c_openat_rdonly, NULL, 0);
    result(exited(st, 0), "read-only policy: openat O_RDONLY allowed");
    st = run(RO, 0, NULL, NULL, c_openat_wronly, NULL, 0);
    result(killed_by_sigsys(st), "read-only policy: openat O_WRONLY|O_CREAT killed by SIGSYS");
    st = run(RO, 0, NULL, NULL, c_openat_rdwr, NULL, 0);
    result(killed_by_sigsys(st), "read-only policy: openat O_RDWR killed");
    st = run(RO, 0, NULL, NULL, c_openat_append, NULL, 0);
    result(killed_by_sigsys(st), "read-only policy: openat O_APPEND killed");
#ifdef SYS_open
    st = run(RO, 0, NULL, NULL, c_open_wronly, NULL, 0);
    result(killed_by_sigsys(st), "read-only policy: legacy open O_WRONLY killed");
    st = run(RO, 0, NULL, NULL, c_creat, NULL, 0);
    result(killed_by_sigsys(st), "read-only policy: creat killed");
#else
    skip("legacy open O_WRONLY", "no open(2) on this architecture");
    skip("creat", "no creat(2) on this architecture");
#endif
    st = run(RO, 0, NULL, NULL, c_unlink, NULL, 0);
    result(killed_by_sigsys(st), "read-only policy: unlink killed");
    st = run(RW, 0, NULL, NULL, c_write_file, NULL, 0);
    result(exited(st, 0), "write policy: create, write, fsync, unlink allowed");

    SAN_SKIP("ptrace killed") {
        st = run(RW, 0, NULL, NULL, c_ptrace, NULL, 0);
        result(killed_by_sigsys(st), "ptrace killed");
    }
    st = run(RW, 0, NULL, NULL, c_mount, NULL, 0);
    result(killed_by_sigsys(st), "mount killed");
    SAN_SKIP("execve killed without SB_PROC") {
        st = run(RW, 0, NULL, NULL, c_execve, NULL, 0);
        result(killed_by_sigsys(st), "execve killed without SB_PROC");
    }
    st = run(RW | SB_PROC, 0, NULL, NULL, c_fork_exec, NULL, 0);
    result(exited(st, 0), "SB_PROC: fork and execve of /bin/true work");

    st = run(RW, 0, NULL, NULL, c_socket_inet, NULL, 0);
    result(killed_by_sigsys(st), "socket killed without SB_NET_CLIENT");
    st = run(RW | SB_NET_CLIENT, 0, NULL, NULL, c_socket_inet, NULL, 0);
    result(exited(st, 0), "SB_NET_CLIENT: socket(AF_INET) allowed");
    st = run(RW | SB_NET_CLIENT, 0, NULL, NULL, c_socket_netlink, NULL, 0);
    result(exited(st, 0), "SB_NET_CLIENT: socket(AF_NETLINK) fails with EAFNOSUPPORT");
    st = run(RW | SB_NET_CLIENT, 0, NULL, NULL, c_socket_packet, NULL, 0);
    result(killed_by_sigsys(st), "SB_NET_CLIENT: socket(AF_PACKET) killed");

    SAN_SKIP("mmap PROT_EXEC killed") {
        st = run(RW, 0, NULL, NULL, c_mmap_exec, NULL, 0);
        result(killed_by_sigsys(st), "mmap PROT_EXEC killed");
    }
    SAN_SKIP("mprotect PROT_EXEC killed") {
        st = run(RW, 0, NULL, NULL, c_mprotect_exec, NULL, 0);
        result(killed_by_sigsys(st), "mprotect PROT_EXEC killed");
    }
    st = run(RW | SB_PROT_EXEC, 0, NULL, NULL, c_mmap_exec, NULL, 0);
    result(exited(st, 0), "SB_PROT_EXEC: mmap PROT_EXEC allowed");

    st = run(RO, 0, NULL, NULL, c_isatty, NULL, 0);
    result(exited(st, 0), "isatty probe (TCGETS) answered ENOTTY, not killed");
    st = run(RW, 0, NULL, NULL, c_ficlone, NULL, 0);
    result(exited(st, 0), "write policy: ioctl FICLONE allowed");
    st = run(RO, 0, NULL, NULL, c_ficlone, NULL, 0);
    result(killed_by_sigsys(st), "read-only policy: ioctl FICLONE killed");
    st = run(RW, 0, NULL, NULL, c_ioctl_other, NULL, 0);
    result(killed_by_sigsys(st), "ioctl TIOCSTI killed");

    st = run(RO | SB_THREADS, 0, NULL, NULL, c_thread, NULL, 0);
    result(exited(st, 0), "SB_THREADS: pthread_create works (clone3 ENOSYS, clone fallback)");
    SAN_SKIP("without SB_THREADS: pthread_create killed") {
        st = run(RO, 0, NULL, NULL, c_thread, NULL, 0);
        result(killed_by_sigsys(st), "without SB_THREADS: pthread_create killed");
    }

    /* TSYNC: a thread started after sandbox_drop_privs, before the filter,
     * is covered by it */
    {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            struct sb_policy p = { "test_sandbox", RO | SB_THREADS, NULL, 0, NULL, NULL, NULL, NULL };
            sandbox_drop_privs(&p);
            pthread_t t;
            if (pthread_create(&t, NULL, late_ptrace, NULL) != 0)
                _exit(2);
            sandbox_enter(&p);
            _exit(c_tsync());
        }
        waitpid(pid, &st, 0);
        result(killed_by_sigsys(st), "TSYNC: forbidden call in an earlier thread kills the process");
    }

    st = thread_caps_child(0, err, sizeof err);
    result(exited(st, 1) && strstr(err, "test_sandbox: error: sandbox: 2 threads running") != NULL,
           "a second thread before the privileges are dropped is an error");
    if (root) {
        st = thread_caps_child(2, err, sizeof err);
        result(exited(st, 0), "sandbox_drop_privs before starting threads: all threads without capabilities");
    } else {
        skip("sandbox_drop_privs before threads", "not root");
    }

    /* every syscall name of the tables is known to libseccomp on x86_64
     * or aarch64 (or, for the 32-bit-only names, on i386 or arm) */
    {
        struct names_ctx nc = { 0, 0, "" };
        sandbox_each_syscall(check_name, &nc);
        result(nc.n > 100 && nc.bad == 0, nc.bad ? nc.first_bad : "every syscall name of the tables resolves");
        struct names_ctx core = { 0, 0, "" };
        sandbox_each_syscall(check_core_name, &core);
        result(core.bad == 0, core.bad ? core.first_bad
                                       : "the core names resolve on both x86_64 and aarch64");
    }

    /* Landlock: a rule for one directory; everything else refused */
    {
        char dir[300], inside[320], outside[320];
        snprintf(dir, sizeof dir, "%s.d", scratch);
        snprintf(inside, sizeof inside, "%s/in", dir);
        snprintf(outside, sizeof outside, "%s.out", scratch);
        mkdir(dir, 0700);
        int fd = open(outside, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0)
            close(fd);
        ll_dir = dir;
        ll_inside = inside;
        ll_outside = outside;
        st = run_fs(RW, c_landlock);
        result(exited(st, 0), "Landlock: write below the rule's directory, EACCES outside it");
        st = run_fs(RO, c_landlock_ro);
        result(exited(st, 0), "Landlock read rule: the directory reads, a file outside is EACCES");
        unlink(inside);
        unlink(outside);
        rmdir(dir);
    }

    {
        int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof a;
        if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 8) < 0 ||
            getsockname(ls, (struct sockaddr *)&a, &al) < 0)
            abort();
        tcp_port = ntohs(a.sin_port);
        st = run_connect(RO);
        result(exited(st, 13), "Landlock: TCP connect refused (EACCES) to a tool that is no network client");
        st = run_connect(RO | SB_NET_CLIENT);
        result(exited(st, 0), "Landlock: TCP connect allowed to a network client");
        close(ls);
    }

    st = run_scoped();
    result(exited(st, 0), "Landlock scope: no signal to a process outside the domain (EPERM)");

#ifdef BACKY_DEBUG
    /* a kernel without Landlock: one warning, the rest of the sandbox */
    setenv("BACKY_LANDLOCK_ABI", "0", 1);
    {
        char dir[300], outside[320];
        snprintf(dir, sizeof dir, "%s.d", scratch);
        snprintf(outside, sizeof outside, "%s.out", scratch);
        mkdir(dir, 0700);
        ll_dir = dir;
        ll_outside = outside;
        int pfd[2];
        if (pipe(pfd) < 0)
            abort();
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            dup2(pfd[1], 1);
            dup2(pfd[1], 2);
            struct sb_fs_rule rules[] = { { dir, -1, SB_FS_READ }, { NULL, -1, 0 } };
            struct sb_policy p = { "test_sandbox", RW, NULL, 0, NULL, rules, NULL, NULL };
            sandbox_enter(&p);
            int fd = open(outside, O_WRONLY | O_CREAT, 0600);
            _exit(fd >= 0 ? 0 : 1);
        }
        close(pfd[1]);
        char buf[512] = "";
        ssize_t n = read(pfd[0], buf, sizeof buf - 1);
        buf[n > 0 ? n : 0] = '\0';
        close(pfd[0]);
        waitpid(pid, &st, 0);
        result(exited(st, 0) && strstr(buf, "Landlock is not available") != NULL &&
                   strstr(strstr(buf, "Landlock is not available") + 1, "Landlock") == NULL,
               "without Landlock: one warning, files not confined (debug build)");
        unlink(outside);
        rmdir(dir);
    }
    unsetenv("BACKY_LANDLOCK_ABI");
#else
    skip("without Landlock: one warning", "BACKY_LANDLOCK_ABI needs a debug build");
#endif

    st = run(RO, 0, NULL, NULL, c_abort, NULL, 0);
    result(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, "abort() raises SIGABRT (tgkill to itself allowed)");

    st = run(RW, 0, NULL, "trap", c_swapoff, err, sizeof err);
    result(exited(st, 159) && strstr(err, "test_sandbox: sandbox: forbidden syscall swapoff (") != NULL,
           "BACKY_SECCOMP=trap: names the syscall and exits 159");
#ifdef BACKY_DEBUG
    st = run(RW, 0, NULL, "log", c_swapoff, NULL, 0);
    result(exited(st, 0), "BACKY_SECCOMP=log (debug build): forbidden call passes (logged)");
#else
    st = run(RW, 0, NULL, "log", c_swapoff, err, sizeof err);
    result(exited(st, 1) && strstr(err, "log needs a debug build") != NULL,
           "BACKY_SECCOMP=log is refused outside debug builds");
#endif
    st = run(RW, 0, NULL, "off", c_swapoff, err, sizeof err);
    result(exited(st, 1) && strstr(err, "test_sandbox: error: sandbox: BACKY_SECCOMP") != NULL,
           "BACKY_SECCOMP=off is an error, not a way out");

    setenv("BACKY_SANDBOX_PROBE", "swapoff", 1);
    st = run(RW, 0, NULL, NULL, c_probe, NULL, 0);
    result(killed_by_sigsys(st), "BACKY_SANDBOX_PROBE=swapoff: killed");
    unsetenv("BACKY_SANDBOX_PROBE");

    unlink(scratch);
    if (testno != NTESTS) {
        int ran = testno;
        printf("not ok %d - test count %d does not match plan\n", ++testno, ran);
        failed++;
    }
    return failed ? 1 : 0;
}
