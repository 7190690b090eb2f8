/* util.c - messages, memory, small I/O helpers. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "backy/log.h"
#include "backy/progress.h"
#include "backy/util.h"

const char *bk_prog = "backy";

static int std_closed;

void bk_setprog(const char *argv0)
{
    const char *s = strrchr(argv0, '/');
    bk_prog = s ? s + 1 : argv0;
    /* A tool started with stdin, stdout or stderr closed would hand that
     * number to the next file it opens, and its messages would go into
     * that file: hold them with /dev/null, and remember. Close-on-exec:
     * a program this one runs (the backy wrapper runs the tool) sees them
     * closed, as they were. */
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int n = open("/dev/null", (fd ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
        if (n < 0)
            break;
        if (n != fd) {
            dup3(n, fd, O_CLOEXEC);
            close(n);
        }
        std_closed |= 1 << fd;
    }
}

int bk_std_closed(int fd)
{
    return fd >= 0 && fd <= 2 && (std_closed & (1 << fd));
}

void bk_ignore_sigpipe(void)
{
    struct sigaction sa = {.sa_handler = SIG_IGN};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
}

size_t bk_escape(char *out, size_t outlen, const char *in)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (!outlen)
        return 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        char e[5];
        size_t el;
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            e[0] = '\\';
            e[1] = *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
            el = 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            e[0] = '\\';
            e[1] = 'x';
            e[2] = hex[*p >> 4];
            e[3] = hex[*p & 15];
            el = 4;
        } else {
            e[0] = (char)*p;
            el = 1;
        }
        if (o + el >= outlen)
            break;
        memcpy(out + o, e, el);
        o += el;
    }
    out[o] = '\0';
    return o;
}

int bk_has_ctrl(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 1;
    return 0;
}

static __thread mode_t bad_mode;

const char *bk_ftype(mode_t m)
{
    switch (m & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFLNK: return "a symbolic link";
    default: return "of unknown type";
    }
}

const char *bk_strerror(int e)
{
    static __thread char buf[96];
    if (e != BK_ENOTREG)
        return strerror(e);
    snprintf(buf, sizeof buf, "is %s, not a regular file", bk_ftype(bad_mode));
    return buf;
}

int bk_open_file(int dirfd, const char *name, int flags, unsigned types, struct stat *stp)
{
    struct stat sb;
    if (!stp)
        stp = &sb;
    int fd = openat(dirfd, name, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP && (flags & O_NOFOLLOW)) {
            bad_mode = S_IFLNK;
            errno = BK_ENOTREG;
        }
        return -1;
    }
    if (fstat(fd, stp) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    int ok = (S_ISREG(stp->st_mode) && (types & BK_FT_REG)) ||
             (S_ISBLK(stp->st_mode) && (types & BK_FT_BLK));
    if (!ok) {
        close(fd);
        bad_mode = stp->st_mode;
        errno = BK_ENOTREG;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static BK_NORETURN void die_v(int with_errno, const char *fmt, va_list ap)
{
    int e = errno;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (with_errno) {
        size_t l = strlen(msg);
        snprintf(msg + l, sizeof msg - l, ": %s", strerror(e));
    }
    /* The log gets the message too, unless it is the terminal we print to.
     * One error is one line: control characters (a newline in a path or a
     * revision spec) are escaped, here and in the log. */
    if (!log_is_stdio())
        log_error("%s", msg);
    char esc[4 * sizeof msg];
    bk_escape(esc, sizeof esc, msg);
    progress_clear();
    fprintf(stderr, "%s%s: error: %s\n", log_is_journal_fd(2) ? "<3>" : "", bk_prog, esc);
    exit(1);
}

void bk_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    die_v(0, fmt, ap);
    va_end(ap); /* not reached (die_v exits); pairs va_start for the analysers */
}

void bk_die_errno(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    die_v(1, fmt, ap);
    va_end(ap); /* not reached (die_v exits); pairs va_start for the analysers */
}

void *bk_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "%s: error: out of memory\n", bk_prog);
        exit(1);
    }
    return p;
}

void *bk_calloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p) {
        fprintf(stderr, "%s: error: out of memory\n", bk_prog);
        exit(1);
    }
    return p;
}

void *bk_realloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "%s: error: out of memory\n", bk_prog);
        exit(1);
    }
    return p;
}

char *bk_strdup(const char *s)
{
    size_t l = strlen(s) + 1;
    return memcpy(bk_malloc(l), s, l);
}

char *bk_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) {
        fprintf(stderr, "%s: error: out of memory\n", bk_prog);
        exit(1);
    }
    va_end(ap);
    return s;
}

int bk_snprintf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* Copy what fits of s (l bytes) to *p, count all of it in *total. */
static void join_part(char **p, size_t *room, size_t *total, const char *s, size_t l)
{
    size_t c = l < *room ? l : *room;
    if (c) {
        memcpy(*p, s, c);
        *p += c;
        *room -= c;
    }
    *total = *total > SIZE_MAX - l ? SIZE_MAX : *total + l;
}

size_t bk_join(char *buf, size_t size, char *const *items, size_t n, const char *sep)
{
    size_t total = 0, room = size ? size - 1 : 0, seplen = strlen(sep);
    char *p = buf;
    for (size_t i = 0; i < n; i++) {
        if (i)
            join_part(&p, &room, &total, sep, seplen);
        join_part(&p, &room, &total, items[i], strlen(items[i]));
    }
    if (size)
        *p = '\0';
    return total;
}

char *bk_join_alloc(char *const *items, size_t n, const char *sep)
{
    size_t len = bk_join(NULL, 0, items, n, sep);
    if (len == SIZE_MAX)
        bk_die("cannot join %zu strings: too long", n);
    char *s = bk_malloc(len + 1);
    bk_join(s, len + 1, items, n, sep);
    return s;
}

int bk_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int bk_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t bk_pread_full(int fd, void *buf, size_t len, off_t off)
{
    char *p = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, p + done, len - done, off + (off_t)done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

char *bk_read_file(int dirfd, const char *path, size_t max, size_t *lenp)
{
    int fd = bk_open_file(dirfd, path, O_RDONLY, BK_FT_REG, NULL);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = bk_malloc(cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > max) {
                free(buf);
                close(fd);
                errno = EFBIG;
                return NULL;
            }
            cap *= 2;
            buf = bk_realloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (len > max) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[len] = '\0';
    if (lenp)
        *lenp = len;
    return buf;
}

double bk_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bk_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bk_fsync_dir(int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

int bk_atomic_writev(int dirfd, const char *name, const struct iovec *iov, int iovcnt,
                     mode_t mode, unsigned flags)
{
    char tmp[4096];
    if (bk_snprintf(tmp, sizeof tmp, "%s.tmp-%ld", name, (long)getpid()) < 0)
        return -1;
    struct stat sb;
    if ((flags & BK_ATOMIC_NOREPLACE) && fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
        errno = EEXIST;
        return -1;
    }
    unlinkat(dirfd, tmp, 0);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    int r = 0;
    for (int i = 0; i < iovcnt && r == 0; i++)
        r = bk_write_all(fd, iov[i].iov_base, iov[i].iov_len);
    if (r < 0 || fchmod(fd, mode) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlinkat(dirfd, tmp, 0);
        errno = e;
        return -1;
    }
    if (close(fd) < 0)
        goto fail;
    if (flags & BK_ATOMIC_NOREPLACE) {
        if (renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) < 0) {
            if (errno != EINVAL && errno != ENOSYS)
                goto fail;
            /* filesystems without RENAME_NOREPLACE: link refuses to replace too */
            if (linkat(dirfd, tmp, dirfd, name, 0) < 0)
                goto fail;
            unlinkat(dirfd, tmp, 0);
        }
    } else if (renameat(dirfd, tmp, dirfd, name) < 0) {
        goto fail;
    }
    if (bk_fsync_dir(dirfd) < 0 && errno != EINVAL)
        return -1;
    return 0;
fail:;
    int e = errno;
    unlinkat(dirfd, tmp, 0);
    errno = e;
    return -1;
}

int bk_atomic_write(int dirfd, const char *name, const void *buf, size_t len, mode_t mode)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    return bk_atomic_writev(dirfd, name, &iov, 1, mode, 0);
}

int bk_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

char *bk_abspath(const char *path)
{
    char *joined;
    if (path[0] == '/') {
        joined = bk_strdup(path);
    } else {
        char *cwd = getcwd(NULL, 0);
        if (!cwd)
            return NULL;
        joined = bk_asprintf("%s/%s", cwd, path);
        free(cwd);
    }
    /* normalise: collapse //, drop ., resolve .. lexically */
    size_t n = strlen(joined);
    char *out = bk_malloc(n + 2);
    size_t o = 0;
    const char *p = joined;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 1 && p[0] == '.') {
            /* skip */
        } else if (l == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, p, l);
            o += l;
        }
        p += l;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    free(joined);
    return out;
}

void bk_fmt_size(char *buf, size_t len, uint64_t bytes)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else
        snprintf(buf, len, "%.2f %s", v, units[u]);
}

void *bk_big_alloc(size_t n)
{
    size_t align = 2u * 1024 * 1024, len = (n + align - 1) / align * align;
    void *p = aligned_alloc(align, len ? len : align);
    if (p)
        madvise(p, len ? len : align, MADV_HUGEPAGE);
    return p;
}

int bk_fchmodat(int dirfd, const char *name, mode_t mode)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -1;
    int r = fchmod(fd, mode), e = errno;
    close(fd);
    errno = e;
    return r;
}

char *bk_find_program(const char *name)
{
    if (strchr(name, '/'))
        return bk_strdup(name);
    const char *path = getenv("PATH");
    char *dirs = bk_strdup(path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
    char *found = NULL, *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d && !found; d = strtok_r(NULL, ":", &save)) {
        char *f = bk_asprintf("%s/%s", *d ? d : ".", name);
        if (access(f, X_OK) == 0)
            found = f;
        else
            free(f);
    }
    free(dirs);
    return found;
}

char *bk_script_interpreter(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n < 3 || buf[0] != '#' || buf[1] != '!')
        return NULL;
    buf[n] = '\0';
    char *p = buf + 2;
    p += strspn(p, " \t");
    size_t len = strcspn(p, " \t\r\n");
    if (!len || p[0] != '/')
        return NULL;
    p[len] = '\0';
    return bk_strdup(p);
}

size_t bk_ssh_programs(const char *ssh_cmd, char *out[3])
{
    char *first = bk_strdup(ssh_cmd && *ssh_cmd ? ssh_cmd : "ssh");
    first[strcspn(first, " \t")] = '\0';
    size_t n = 0;
    char *prog = bk_find_program(first);
    free(first);
    if (!prog)
        return 0;
    out[n++] = prog;
    char *interp = bk_script_interpreter(prog);
    if (interp) {
        out[n++] = interp;
        char *plain = bk_find_program("ssh");
        if (plain)
            out[n++] = plain;
    }
    return n;
}

int bk_mkdir_p(const char *dir, mode_t mode, char **failed)
{
    char *p = bk_strdup(dir);
    for (char *s = p + 1;; s++) {
        if (*s && *s != '/')
            continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            int e = errno;
            if (failed)
                *failed = p;
            else
                free(p);
            errno = e;
            return -1;
        }
        if (!c)
            break;
        *s = c;
    }
    free(p);
    return 0;
}

int bk_dir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    const struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            empty = 0;
    closedir(d);
    return empty;
}
