/* backy-receive - read a replication stream (backy send) from stdin into a
 * job directory, created when missing (config type "replica").
 *
 * Order: options; create the directory and its config when missing; lock
 * (flock on config); enter the sandbox; read and check the stream's
 * metadata and sums; clean up leftovers of interrupted runs; a revision
 * already here: read the rest, check it, done; the base must be here;
 * write ID.rev without stats (incomplete); clone the base (reflink, else a
 * full copy with a warning); write the blocks, each checked against the
 * stream's sums by the parser; check the trailer and that every block not
 * sent equals the base's; fsync; ID.sums; complete ID.rev; image 0440;
 * last/last.rev. A failure or signal removes the incomplete revision; a
 * SIGKILL leaves it incomplete for the next run to remove.
 *
 * --session (what backy push runs): after the sandbox, the answer to the
 * revisions query goes to stdout as one line of JSON (the log to stderr),
 * then streams are received as above, one after the other, each complete
 * before the next begins, until the end of input; the lock is taken when
 * the first stream arrives. A non-empty directory without a config is
 * refused, with the reason as the answer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/joblock.h"
#include "backy/jsonout.h"
#include "backy/log.h"
#include "backy/progress.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/shortuuid.h"
#include "backy/sourcetype.h"
#include "backy/stream.h"
#include "backy/sums.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-receive [-l LOGFILE] [-v] [-b DIR] [--origin TEXT] [--progress]\n"
    "Reads one revision as a replication stream (backy send) from stdin into\n"
    "the job in DIR, which is created when missing, with a config of type\n"
    "replica (origin: TEXT) that is never backed up from. Incremental streams\n"
    "need their base revision in DIR. A revision already in DIR is a no-op.\n"
    "  --progress     show progress on stderr (a line rewritten in place on a\n"
    "                 terminal, else one line a second); off by default, since\n"
    "                 backy send shows it on its terminal\n"
    "  --no-progress  never show progress (the default)\n"
    "  --session      first answer the revisions query on stdout (one line,\n"
    "                 the JSON of backy revisions --json, with \"session\": 1),\n"
    "                 then receive any number of streams one after the other\n"
    "                 until the end of input (what backy push runs)\n"
    "Exit status: 0 on success, 1 otherwise.\n";

/* Writes inside the job directory, reads stdin. */
static struct sb_policy policy = {
    .name = "backy-receive",
    .groups = SB_BASE | SB_WRITE,
};

static volatile sig_atomic_t got_signal;
static int job_dirfd = -1;
static const char *job_dir;
static char new_id[BK_ID_MAX];
static int rev_started;

static void on_signal(int sig)
{
    got_signal = sig;
}

/* A byte read ahead (session: to tell the next stream from the end of
 * input), -1 when none. */
static int pushed_back = -1;

/* stdin, but a signal ends the read (no SA_RESTART) and the receive. */
static ssize_t stdin_read(void *arg, void *buf, size_t len)
{
    (void)arg;
    if (pushed_back >= 0 && len > 0) {
        *(unsigned char *)buf = (unsigned char)pushed_back;
        pushed_back = -1;
        return 1;
    }
    for (;;) {
        if (got_signal) {
            errno = EINTR;
            return -1;
        }
        ssize_t n = read(STDIN_FILENO, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        return n;
    }
}

/* Give up: remove the incomplete revision when there is one. */
BK_NORETURN BK_PRINTF(1, 2) static void give_up(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (got_signal)
        snprintf(msg, sizeof msg, "interrupted by signal %d (%s)", (int)got_signal,
                 strsignal(got_signal));
    if (rev_started) {
        rev_remove(job_dirfd, new_id);
        bk_die("%s; revision %s removed", msg, new_id);
    }
    bk_die("%s", msg);
}


static int session_mode;

/* Refuse before anything is done; a session also answers with the reason
 * ({"format": 1, "session": 1, "error": TEXT}), so that push names it
 * instead of taking the silence for a side without sessions. */
BK_NORETURN BK_PRINTF(1, 2) static void refuse(const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (session_mode) {
        json_t *o = bk_json_doc();
        json_object_set_new(o, "session", json_integer(1));
        json_object_set_new(o, "error", bk_json_str(msg));
        char *line = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        if (line) {
            size_t ll = strlen(line);
            line[ll] = '\n';
            (void)bk_write_all(STDOUT_FILENO, line, ll + 1);
            free(line);
        }
    }
    bk_die("%s", msg);
}

/* The job lock, once. */
static void lock_job(int dirfd, const char *dir)
{
    static int locked;
    if (locked)
        return;
    if (job_lock(dirfd) < 0) {
        if (errno == EWOULDBLOCK)
            bk_die("job is busy (a backup or receive holds its lock): %s/config", dir);
        bk_die_errno("cannot lock job configuration: %s/config", dir);
    }
    locked = 1;
}

/* Create the job directory (and missing parents) and its config. */
static int open_jobdir(const char *dir, const char *origin)
{
    char *failed = NULL;
    if (bk_mkdir_p(dir, 0750, &failed) < 0)
        bk_die_errno("cannot create %s: %s", strcmp(failed, dir) ? "directory" : "job directory",
                     failed);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        bk_die_errno("cannot open job directory: %s", dir);
    struct stat sb;
    if (fstatat(dfd, "config", &sb, AT_SYMLINK_NOFOLLOW) == 0)
        return dfd;
    struct bk_srccfg cfg = {0};
    char err[512];
    const struct bk_sourcetype *t = sourcetype_find("replica");
    if (!t || t->from_init_arg(origin, &cfg, err, sizeof err) < 0)
        bk_die("--origin: %s", err);
    char *y = srccfg_format(&cfg);
    /* NOREPLACE: a config another receive made meanwhile stays */
    struct iovec iov = {.iov_base = y, .iov_len = strlen(y)};
    if (bk_atomic_writev(dfd, "config", &iov, 1, 0640, BK_ATOMIC_NOREPLACE) < 0 && errno != EEXIST)
        bk_die_errno("cannot write job configuration: %s/config", dir);
    log_info("created job directory %s for copies from %s", dir, *origin ? origin : "another server");
    free(y);
    srccfg_free(&cfg);
    return dfd;
}

/* Make img a copy of the base: reflink, else a sparse copy (warned). */
static void clone_base(int img, int bfd, const char *bid)
{
    if (ioctl(img, FICLONE, bfd) == 0)
        return;
    int e = errno;
    if (e != EOPNOTSUPP && e != EXDEV && e != EINVAL && e != ENOTTY && e != ENOSYS)
        give_up("cannot clone base image: %s/%s: %s", job_dir, bid, strerror(e));
    log_warn("filesystem has no reflink support: making a full copy of base %s", bid);
    struct stat sb;
    if (fstat(bfd, &sb) < 0)
        give_up("cannot stat base image: %s/%s: %s", job_dir, bid, strerror(errno));
    off_t off = 0, end = sb.st_size;
    while (off < end) {
        off_t d = lseek(bfd, off, SEEK_DATA), h;
        if (d < 0 && errno == ENXIO)
            break;
        if (d < 0) {
            d = off;
            h = end;
        } else {
            h = lseek(bfd, d, SEEK_HOLE);
            if (h < 0)
                h = end;
        }
        off_t in = d, out = d;
        while (in < h) {
            ssize_t r = copy_file_range(bfd, &in, img, &out, (size_t)(h - in), 0);
            if (r < 0)
                give_up("cannot copy base image: %s/%s: %s", job_dir, bid, strerror(errno));
            if (r == 0)
                break;
        }
        off = h;
    }
}

static void punch(int img, uint64_t off, uint64_t len, const unsigned char *zeros, uint32_t bs)
{
    if (fallocate(img, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0)
        return;
    if (errno != EOPNOTSUPP)
        give_up("cannot punch hole in image: %s/%s: %s", job_dir, new_id, strerror(errno));
    while (len) {
        size_t l = len < bs ? (size_t)len : bs;
        if (bk_pwrite_all(img, zeros, l, (off_t)off) < 0)
            give_up("cannot write image: %s/%s: %s", job_dir, new_id, strerror(errno));
        off += l;
        len -= l;
    }
}

/* Release a store opened on the job's descriptor, which stays open for
 * the next stream of a session. */
static void store_done(struct bk_store *st)
{
    st->dirfd = -1;
    store_close(st);
}

/* Receive one stream from stdin into the job (locked, sandboxed);
 * more: another stream may follow this one (a session). */
static void receive_one(int dirfd, const char *dir, int more)
{
    char err[2048];
    struct bk_stream_rd rd;
    if (stream_rd_begin(&rd, stdin_read, NULL, err, sizeof err) < 0)
        give_up("stream refused: %s", err);
    rd.more = more;
    struct bk_stream_meta *m = &rd.meta;
    snprintf(new_id, sizeof new_id, "%s", m->rev.id);

    struct bk_store st;
    if (store_open_fd(&st, dirfd, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    store_cleanup(&st);
    if (store_reload(&st, err, sizeof err) < 0)
        bk_die("%s", err);

    struct bk_stream_rec rec;
    int rc;
    for (size_t i = 0; i < st.n; i++) {
        if (strcmp(st.revs[i].id, new_id))
            continue;
        /* already here (cleanup left only complete revisions, or a
         * read-only image it does not dare remove) */
        if (!st.revs[i].complete)
            bk_die("revision %s is here but incomplete with a read-only image: %s/%s.rev", new_id,
                   dir, new_id);
        while ((rc = stream_rd_next(&rd, &rec, err, sizeof err)) > 0)
            ;
        if (rc < 0)
            bk_die("stream refused: %s", err);
        log_info("revision %s is already in %s: nothing to do", new_id, dir);
        stream_rd_free(&rd);
        store_done(&st);
        return;
    }

    int bfd = -1;
    struct bk_sums bsums = {0};
    if (*m->base) {
        const struct bk_rev *b = NULL;
        for (size_t i = 0; i < st.n; i++)
            if (!strcmp(st.revs[i].id, m->base) && st.revs[i].complete)
                b = &st.revs[i];
        if (!b)
            bk_die("stream refused: base revision %s is missing in %s", m->base, dir);
        if (rev_quarantined(b))
            bk_die("stream refused: base revision %s is quarantined (damaged) in %s", m->base, dir);
        bfd = openat(dirfd, m->base, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (bfd < 0)
            bk_die_errno("cannot open base image: %s/%s", dir, m->base);
        char sn[BK_ID_MAX + 8];
        snprintf(sn, sizeof sn, "%s%s", m->base, BK_SUMS_SUFFIX);
        struct stat sb;
        if (sums_load(dirfd, sn, &bsums, err, sizeof err) < 0 || fstat(bfd, &sb) < 0 ||
            bsums.size != (uint64_t)sb.st_size)
            bk_die("stream refused: base revision %s has no usable sums in %s", m->base, dir);
    }

    /* the new revision, incomplete until the end */
    struct bk_rev nrev = m->rev;
    nrev.complete = 0;
    if (rev_save(dirfd, &nrev) < 0)
        bk_die_errno("cannot write revision file: %s/%s.rev", dir, new_id);
    rev_started = 1;
    int img = openat(dirfd, new_id, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (img < 0)
        give_up("cannot create image: %s/%s: %s", dir, new_id, strerror(errno));
    if (bfd >= 0)
        clone_base(img, bfd, m->base);
    if (ftruncate(img, (off_t)m->size) < 0)
        give_up("cannot resize image: %s/%s: %s", dir, new_id, strerror(errno));

    uint32_t bs = m->block_size;
    uint64_t n = rd.sums.nblocks;
    unsigned char *sent = bk_calloc((size_t)(n / 8 + 1), 1);
    unsigned char *zeros = bk_calloc(1, bs);
    uint64_t nwritten = 0, nzero = 0, bytes = 0;
    char *plabel = bk_asprintf("receive %s %s", strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir, new_id);
    progress_start(m->size, plabel);
    while ((rc = stream_rd_next(&rd, &rec, err, sizeof err)) > 0) {
        progress_set((rec.index + rec.count) * (uint64_t)bs);
        if (got_signal)
            give_up("interrupted");
        uint64_t off = rec.index * (uint64_t)bs;
        if (rec.type == BK_REC_DATA) {
            if (bk_pwrite_all(img, rec.data, rec.len, (off_t)off) < 0)
                give_up("cannot write image: %s/%s: %s", dir, new_id, strerror(errno));
            nwritten++;
            bytes += rec.len;
        } else {
            uint64_t end = (rec.index + rec.count) * (uint64_t)bs;
            if (end > m->size)
                end = m->size;
            if (bfd >= 0)
                punch(img, off, end - off, zeros, bs);
            nzero += rec.count;
        }
        for (uint64_t i = rec.index; i < rec.index + rec.count; i++)
            sent[i / 8] |= (unsigned char)(1u << (i % 8));
    }
    progress_end(rc == 0);
    free(plabel);
    if (rc < 0)
        give_up("stream refused: %s", err);
    /* every block not sent must be the base's */
    for (uint64_t i = 0; i < n; i++) {
        if (sent[i / 8] & (1u << (i % 8)))
            continue;
        if (bfd < 0 || i >= bsums.nblocks || bsums.block_size != bs ||
            sums_block_len(&bsums, i) != sums_block_len(&rd.sums, i) ||
            !bk_hash_eq(&bsums.h[i], &rd.sums.h[i]))
            give_up("stream refused: block %llu is not in the stream and differs from base %s",
                    (unsigned long long)i, *m->base ? m->base : "(none)");
    }
    if (fsync(img) < 0)
        give_up("cannot flush image: %s/%s: %s", dir, new_id, strerror(errno));
    char sn[BK_ID_MAX + 8];
    snprintf(sn, sizeof sn, "%s%s", new_id, BK_SUMS_SUFFIX);
    if (sums_save(dirfd, sn, &rd.sums, 0440, err, sizeof err) < 0)
        give_up("%s", err);
    if (got_signal)
        give_up("interrupted");
    /* complete: from here on the revision stays */
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    nrev.complete = 1;
    if (rev_save(dirfd, &nrev) < 0)
        give_up("cannot complete revision file: %s/%s.rev: %s", dir, new_id, strerror(errno));
    rev_started = 0;
    if (bk_fchmodat(dirfd, new_id, 0440) < 0)
        log_warn("cannot make the image read-only: %s/%s: %s", dir, new_id, strerror(errno));
    if (store_reload(&st, err, sizeof err) == 0) {
        const struct bk_rev *last = store_last(&st);
        if (last && store_update_last(dirfd, last->id) < 0)
            log_warn("cannot update %s/last: %s", dir, strerror(errno));
    }
    char sz[32];
    bk_fmt_size(sz, sizeof sz, bytes);
    log_info("received revision %s into %s%s%s: %llu blocks written (%s), %llu zero", new_id, dir,
             *m->base ? " against " : "", m->base, (unsigned long long)nwritten, sz,
             (unsigned long long)nzero);
    free(sent);
    free(zeros);
    sums_free(&bsums);
    stream_rd_free(&rd);
    store_done(&st);
    sigprocmask(SIG_UNBLOCK, &all, NULL);
}

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    const char *origin = "";
    int session = 0;
    static const struct option longopts[] = {BK_CLI_LONG, {"origin", required_argument, 0, 'O'},
                                             {"session", no_argument, 0, 'S'},
                                             BK_PROGRESS_LONG, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT, longopts, NULL)) != -1)
        if (!bk_cli_option(&cli, opt, optarg, usage) && !progress_option(opt)) {
            if (opt == 'O')
                origin = optarg;
            else if (opt == 'S')
                session = 1;
        }
    if (optind != argc)
        bk_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    progress_init_asked();
    /* a session's stdout carries its answer: the log goes to stderr */
    bk_cli_log(&cli, session);
    char *dir = bk_cli_jobdir(&cli);
    job_dir = dir;
    session_mode = session;
    struct stat dsb;
    int existed = stat(dir, &dsb) == 0;
    /* a session answers as the query does: a directory that holds other
     * things but no config is not a job, and none is made of it */
    char *cfg = bk_asprintf("%s/config", dir);
    if (session && existed && lstat(cfg, &dsb) < 0 && errno == ENOENT && !bk_dir_empty(dir))
        refuse("not a job directory: %s: it has no config (create one with 'backy init')", dir);
    free(cfg);
    int dirfd = open_jobdir(dir, origin);
    job_dirfd = dirfd;

    /* a session takes the lock when its first stream arrives: the answer,
     * like the query, needs none, so a push with nothing to send does not
     * wait for (or fail on) a busy job */
    if (!session)
        lock_job(dirfd, dir);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Landlock: the job directory only */
    const struct sb_fs_rule fs[] = { { NULL, dirfd, SB_FS_RW }, { NULL, -1, 0 } };
    policy.fs = fs;
    sandbox_enter(&policy);

    if (!session) {
        receive_one(dirfd, dir, 0);
        free(dir);
        return 0;
    }
    /* a session: the answer to the revisions query, one line on stdout,
     * then streams until the end of input */
    char err[2048];
    struct bk_store st;
    if (store_open_fd(&st, dirfd, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    json_t *o = bk_json_revisions(&st, dir, existed);
    json_object_set_new(o, "session", json_integer(1));
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    store_done(&st);
    if (!line)
        bk_die("cannot encode the answer to the revisions query");
    size_t ll = strlen(line);
    line[ll] = '\n';   /* over the final NUL: written by length */
    if (bk_write_all(STDOUT_FILENO, line, ll + 1) < 0)
        bk_die_errno("cannot write the answer to the revisions query to stdout");
    free(line);
    for (;;) {
        unsigned char c;
        ssize_t k = stdin_read(NULL, &c, 1);
        if (k < 0 && got_signal)
            bk_die("interrupted by signal %d (%s)", (int)got_signal, strsignal(got_signal));
        if (k < 0)
            bk_die_errno("cannot read stream");
        if (k == 0)
            break;
        pushed_back = c;
        lock_job(dirfd, dir);
        receive_one(dirfd, dir, 1);
    }
    free(dir);
    return 0;
}
