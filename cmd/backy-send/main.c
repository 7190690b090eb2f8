/* backy-send - write one revision of a job to stdout as a replication
 * stream (stream.h, doc/replication.md), whole or against a base revision
 * the receiver holds. Reads only the blocks it sends: the sums of the
 * revision and of the base say which differ. Cannot open anything for
 * writing. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/log.h"
#include "backy/progress.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/stream.h"
#include "backy/sums.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-send [-l LOGFILE] [-v] [-b DIR] [-r REVISION] [--base BASE] [--force]\n"
    "Writes REVISION (default: the newest) of the job in DIR to stdout as a\n"
    "replication stream for backy receive: its metadata, its block sums, the\n"
    "blocks that differ from BASE (without --base: every block, zero blocks as\n"
    "holes) and a trailer. The receiver must hold BASE.\n"
    "  --force   send a quarantined (damaged, see backy verify) revision anyway\n"
    "  --progress     show progress on stderr even when it is not a terminal (one\n"
    "                 line a second); by default only a terminal shows it\n"
    "  --no-progress  never show progress\n"
    "Exit status: 0 on success, 1 otherwise.\n";

/* Reads the job directory and writes to stdout only. */
static struct sb_policy policy = {
    .name = "backy-send",
    .groups = SB_BASE | SB_RDONLY,
};

struct image {
    const char *id;
    int fd;
    uint64_t size;
    struct bk_sums sums;
};

/* Sums of an image that has none (backy 2.0) or whose sums do not fit it:
 * read it once. */
static void compute_sums(const char *dir, struct image *im, uint32_t bs)
{
    sums_free(&im->sums);
    if (sums_init(&im->sums, im->size, bs) < 0)
        bk_die_errno("cannot allocate sums: %s/%s", dir, im->id);
    unsigned char *buf = bk_malloc(bs);
    for (uint64_t i = 0; i < im->sums.nblocks; i++) {
        size_t l = (size_t)sums_block_len(&im->sums, i);
        ssize_t n = bk_pread_full(im->fd, buf, l, (off_t)(i * bs));
        if (n < 0 || (size_t)n != l)
            bk_die("cannot read image: %s/%s: %s", dir, im->id,
                   n < 0 ? strerror(errno) : "unexpected end of file");
        sums_hash(buf, l, &im->sums.h[i]);
    }
    free(buf);
}

static void open_image(int dirfd, const char *dir, const struct bk_rev *r, struct image *im)
{
    memset(im, 0, sizeof *im);
    im->id = r->id;
    im->fd = openat(dirfd, r->id, O_RDONLY | O_CLOEXEC);
    if (im->fd < 0)
        bk_die_errno("cannot open image: %s/%s", dir, r->id);
    struct stat sb;
    if (fstat(im->fd, &sb) < 0)
        bk_die_errno("cannot stat image: %s/%s", dir, r->id);
    im->size = (uint64_t)sb.st_size;
}

static void load_sums(int dirfd, const char *dir, struct image *im, uint32_t want_bs)
{
    char name[BK_ID_MAX + 8], err[1024];
    snprintf(name, sizeof name, "%s%s", im->id, BK_SUMS_SUFFIX);
    if (sums_load(dirfd, name, &im->sums, err, sizeof err) == 0 && im->sums.size == im->size &&
        (!want_bs || im->sums.block_size == want_bs))
        return;
    log_info("revision %s: no usable sums (%s): reading its image to compute them", im->id,
             im->sums.h ? "they do not fit the image" : err);
    compute_sums(dir, im, want_bs ? want_bs : BK_SUMS_BLOCK);
}

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    const char *spec = NULL, *base_spec = NULL;
    int force = 0;
    static const struct option longopts[] = {BK_CLI_LONG,
                                             {"revision", required_argument, 0, 'r'},
                                             {"base", required_argument, 0, 'B'},
                                             {"force", no_argument, 0, 'F'},
                                             BK_PROGRESS_LONG,
                                             {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT "r:", longopts, NULL)) != -1) {
        if (bk_cli_option(&cli, opt, optarg, usage) || progress_option(opt))
            continue;
        if (opt == 'r')
            spec = optarg;
        else if (opt == 'B')
            base_spec = optarg;
        else if (opt == 'F')
            force = 1;
    }
    if (optind != argc)
        bk_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    progress_init();
    /* stdout carries the stream: log lines go to stderr unless -l */
    bk_cli_log(&cli, 1);
    log_no_reopen();
    if (isatty(STDOUT_FILENO))
        bk_die("refusing to write a stream to a terminal: redirect stdout (backy receive)");
    signal(SIGPIPE, SIG_IGN);
    char *dir = bk_cli_jobdir(&cli);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        bk_die_errno("cannot open job directory: %s", dir);
    char err[2048];
    struct bk_store st;
    if (store_open_fd(&st, dirfd, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    const struct bk_rev *r = store_resolve(&st, spec, err, sizeof err);
    if (!r)
        bk_die("%s", err);
    if (!r->complete)
        bk_die("revision is incomplete: %s/%s", dir, r->id);
    if (rev_quarantined(r) && !force)
        bk_die("revision %s is quarantined (damaged blocks found by verify): %s/%s.rev; "
               "--force sends it anyway", r->id, dir, r->id);
    if (!stream_id_valid(r->id))
        bk_die("revision ID cannot be sent: %s/%s", dir, r->id);
    const struct bk_rev *b = NULL;
    if (base_spec) {
        b = store_resolve(&st, base_spec, err, sizeof err);
        if (!b)
            bk_die("base: %s", err);
        if (!b->complete)
            bk_die("base revision is incomplete: %s/%s", dir, b->id);
        if (b == r)
            bk_die("base is the revision itself: %s/%s", dir, r->id);
    }
    struct image im, bim;
    open_image(dirfd, dir, r, &im);
    if (b)
        open_image(dirfd, dir, b, &bim);

    /* Landlock: reads the job directory only */
    const struct sb_fs_rule fs[] = { { NULL, dirfd, SB_FS_READ }, { NULL, -1, 0 } };
    policy.fs = fs;
    sandbox_enter(&policy);

    load_sums(dirfd, dir, &im, 0);
    uint32_t bs = im.sums.block_size;
    if (b)
        load_sums(dirfd, dir, &bim, bs);
    posix_fadvise(im.fd, 0, 0, POSIX_FADV_SEQUENTIAL);

    struct bk_stream_meta m = {0};
    m.rev = *r;
    m.rev.complete = 1;
    snprintf(m.base, sizeof m.base, "%s", b ? b->id : "");
    m.size = im.size;
    m.block_size = bs;
    struct bk_stream_wr w;
    if (stream_wr_begin(&w, STDOUT_FILENO, &m, &im.sums) < 0)
        bk_die_errno("cannot write stream to stdout");

    unsigned char *buf = bk_malloc(bs), *zeros = bk_calloc(1, bs);
    struct bk_hash zfull;
    sums_hash(zeros, bs, &zfull);
    uint64_t nsent = 0, nzero = 0, zrun = 0, zfirst = 0, bytes = 0;
    char *plabel = bk_asprintf("send %s %s", strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir, r->id);
    progress_start(im.size, plabel);
    for (uint64_t i = 0; i <= im.sums.nblocks; i++) {
        progress_set(i * (uint64_t)bs);
        int kind = 0; /* 0 skip, 1 zero, 2 data */
        size_t l = 0;
        if (i < im.sums.nblocks) {
            l = (size_t)sums_block_len(&im.sums, i);
            struct bk_hash zh = zfull;
            if (l != bs)
                sums_hash(zeros, l, &zh);
            if (b && i < bim.sums.nblocks && sums_block_len(&bim.sums, i) == l &&
                bk_hash_eq(&im.sums.h[i], &bim.sums.h[i]))
                kind = 0;
            else if (bk_hash_eq(&im.sums.h[i], &zh))
                kind = 1;
            else
                kind = 2;
        }
        if (kind != 1 && zrun) {
            if (stream_wr_zero(&w, zfirst, zrun) < 0)
                bk_die_errno("cannot write stream to stdout");
            nzero += zrun;
            zrun = 0;
        }
        if (kind == 1) {
            if (!zrun)
                zfirst = i;
            zrun++;
        } else if (kind == 2) {
            ssize_t n = bk_pread_full(im.fd, buf, l, (off_t)(i * bs));
            if (n < 0 || (size_t)n != l)
                bk_die("cannot read image: %s/%s: %s", dir, r->id,
                       n < 0 ? strerror(errno) : "unexpected end of file");
            struct bk_hash h;
            sums_hash(buf, l, &h);
            if (!bk_hash_eq(&h, &im.sums.h[i]))
                bk_die("revision %s is damaged: block %llu of %s/%s does not match its sum "
                       "(backy verify)", r->id, (unsigned long long)i, dir, r->id);
            if (stream_wr_data(&w, i, buf, l) < 0)
                bk_die_errno("cannot write stream to stdout");
            nsent++;
            bytes += l;
        }
    }
    uint64_t total = w.bytes;
    if (stream_wr_end(&w) < 0)
        bk_die_errno("cannot write stream to stdout");
    progress_end(1);
    free(plabel);
    char sz[32];
    bk_fmt_size(sz, sizeof sz, bytes);
    log_info("sent revision %s%s%s: %llu of %llu blocks (%s), %llu zero, %llu stream bytes", r->id,
             b ? " against " : "", b ? b->id : "", (unsigned long long)nsent,
             (unsigned long long)im.sums.nblocks, sz, (unsigned long long)nzero,
             (unsigned long long)total);
    free(buf);
    free(zeros);
    sums_free(&im.sums);
    if (b)
        sums_free(&bim.sums);
    store_close(&st);
    free(dir);
    return 0;
}
