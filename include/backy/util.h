/* util.h - small helpers every tool shares: error messages, memory, paths,
 * atomic file replacement. Error messages follow one format:
 *   PROG: error: what failed: PATH: strerror
 * and are printed once, by the caller that gives up. */
#ifndef BACKY_UTIL_H
#define BACKY_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BK_NORETURN __attribute__((noreturn))
#define BK_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Program name used in messages ("backy-backup"); set once by main. */
extern const char *bk_prog;
void bk_setprog(const char *argv0);

/* Hold closed stdin/stdout/stderr with /dev/null (see bk_setprog) and say
 * whether fd (0-2) was closed when the program started. */
int bk_std_closed(int fd);
/* SIGPIPE ignored: a write to a pipe nobody reads fails with EPIPE instead
 * of killing the program (a backup is never killed by its own output). */
void bk_ignore_sigpipe(void);

/* Copy in to out with control characters escaped (\n, \r, \t, \xHH), so
 * a message is always one line; truncates to outlen. Returns the length. */
size_t bk_escape(char *out, size_t outlen, const char *in);
/* 1 when s contains a control character (below 0x20, or 0x7f). */
int bk_has_ctrl(const char *s);

/* Open dirfd/name (flags: O_RDONLY or O_WRONLY, maybe O_NOFOLLOW) so that
 * a FIFO or a device cannot block the caller: with O_NONBLOCK, checked with
 * fstat (into st if not NULL), O_NONBLOCK cleared again. Only the types in
 * types are accepted (BK_FT_REG, BK_FT_BLK); any other file (and a symlink
 * under O_NOFOLLOW) fails with errno BK_ENOTREG. Returns the descriptor or
 * -1/errno; bk_strerror() words the reason ("is a FIFO, not a regular
 * file"). */
#define BK_FT_REG 1u
#define BK_FT_BLK 2u
#define BK_ENOTREG 4000
struct stat;
int bk_open_file(int dirfd, const char *name, int flags, unsigned types, struct stat *st);
/* strerror(), also for BK_ENOTREG (names the type the last refused file had). */
const char *bk_strerror(int e);
/* "a FIFO", "a directory", ... for a st_mode. */
const char *bk_ftype(mode_t mode);

/* Print "PROG: error: MESSAGE" (to stderr and, if open, the log) and exit 1. */
BK_NORETURN BK_PRINTF(1, 2) void bk_die(const char *fmt, ...);
/* Same as bk_die, with ": strerror(errno)" appended. */
BK_NORETURN BK_PRINTF(1, 2) void bk_die_errno(const char *fmt, ...);

void *bk_malloc(size_t n);
void *bk_calloc(size_t n, size_t m);
void *bk_realloc(void *p, size_t n);
char *bk_strdup(const char *s);
BK_PRINTF(1, 2) char *bk_asprintf(const char *fmt, ...);

/* snprintf into a fixed buffer; returns -1 (and sets errno=ENAMETOOLONG) on truncation. */
BK_PRINTF(3, 4) int bk_snprintf(char *buf, size_t len, const char *fmt, ...);

/* Join n strings with sep between them into buf, the way snprintf
 * writes: never more than size bytes, NUL-terminated whenever size > 0,
 * as much of the join as fits. Returns the length of the whole join
 * (SIZE_MAX when that does not fit a size_t); a result >= size means buf
 * holds a truncated join. buf may be NULL when size is 0. */
size_t bk_join(char *buf, size_t size, char *const *items, size_t n, const char *sep);
/* The whole join, malloc'd (dies when out of memory). */
char *bk_join_alloc(char *const *items, size_t n, const char *sep);

/* Write all of buf; retries on EINTR and short writes. 0 or -1/errno. */
int bk_write_all(int fd, const void *buf, size_t len);
int bk_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* Read exactly len bytes unless EOF comes first; returns bytes read or -1. */
ssize_t bk_pread_full(int fd, void *buf, size_t len, off_t off);

/* Read a whole (small) regular file into a NUL-terminated buffer; max
 * bytes limit. Opened with bk_open_file: a FIFO or device does not block,
 * it fails with BK_ENOTREG. Returns NULL with errno set (EFBIG when larger
 * than max); word it with bk_strerror(). */
char *bk_read_file(int dirfd, const char *path, size_t max, size_t *lenp);

/* Replace dirfd/name atomically with the given contents and mode:
 * write "name.tmp-PID", fsync, rename over name, fsync the directory.
 * 0 or -1/errno; the temp file is removed on failure, and name is either
 * untouched or complete. The one way backy writes a file in place. */
int bk_atomic_write(int dirfd, const char *name, const void *buf, size_t len, mode_t mode);
/* The same with the contents in pieces. flags: BK_ATOMIC_NOREPLACE fails
 * with EEXIST when name exists (renameat2 RENAME_NOREPLACE, or link where
 * the filesystem lacks it) instead of replacing it. */
#define BK_ATOMIC_NOREPLACE 1u
struct iovec;
int bk_atomic_writev(int dirfd, const char *name, const struct iovec *iov, int iovcnt,
                     mode_t mode, unsigned flags);

/* Seconds on the monotonic clock (CLOCK_MONOTONIC): durations, deadlines. */
double bk_mono(void);
/* Seconds since the epoch with fractions (CLOCK_REALTIME): timestamps. */
double bk_now(void);

/* fsync a directory. */
int bk_fsync_dir(int dirfd);
/* fchmodat(dirfd, name, mode, 0) through a descriptor (open, fchmod): the
 * sandboxes allow chmod only on what Landlock lets a tool open. */
int bk_fchmodat(int dirfd, const char *name, mode_t mode);

/* Parse an unsigned decimal integer with no trailing garbage. 0 or -1. */
int bk_parse_u64(const char *s, uint64_t *out);

/* Absolute, normalised form of a path (no symlink resolution), malloc'd. */
char *bk_abspath(const char *path);

/* An executable by name: as given when it holds a slash, else the first
 * found in PATH (as execvp would). Allocated; NULL when not found. */
char *bk_find_program(const char *name);
/* The interpreter of a "#!" script (its first word), allocated; NULL when
 * PATH is not a script or cannot be read. */
char *bk_script_interpreter(const char *path);
/* What running the ssh command SSH_CMD (BACKY_SSH; NULL or "": "ssh")
 * executes: its program, and when that is a script (a wrapper) its
 * interpreter and the ssh in PATH. Allocated paths into out; their count. */
size_t bk_ssh_programs(const char *ssh_cmd, char *out[3]);

/* mkdir -p DIR: each missing component made with MODE. 0, or -1 with errno
 * and, when failed is not NULL, *failed the component that could not be
 * made (allocated). */
int bk_mkdir_p(const char *dir, mode_t mode, char **failed);
/* 1 when DIR is a directory with no entries at all, else 0. */
int bk_dir_empty(const char *dir);

/* A large I/O buffer (several MiB) on transparent huge pages, 2 MiB
 * aligned: copying from the page cache into 4 KiB pages costs about twice
 * the CPU (TLB misses), measured. NULL when out of memory; free() it. */
void *bk_big_alloc(size_t n);

/* Human readable size "149.31 MiB" (binary units, two decimals). */
void bk_fmt_size(char *buf, size_t len, uint64_t bytes);

/* "revision" or "revisions" for a count: bk_plural(n, "revision", "revisions") */
static inline const char *bk_plural(unsigned long long n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

#endif
