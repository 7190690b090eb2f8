/* backy-verify - check revision images against their block sums and
 * record each result in the revision's ID.rev (quarantine.h). Images and
 * sums are only read; the .rev is rewritten atomically under the job lock,
 * held only for the rewrite, so a long check never holds up a backup. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/jsonout.h"
#include "backy/log.h"
#include "backy/progress.h"
#include "backy/quarantine.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/sums.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-verify [-l LOGFILE] [-v] [-b DIR] [-r REVISION | --all] [--rate-limit MIBPS]\n"
    "                    [--progress|--no-progress] [--json]\n"
    "Checks the image of REVISION (default: the newest) against its block sums\n"
    "(ID.sums) and prints one line per revision: ok, DAMAGED with the first bad\n"
    "offsets, or 'no sums'. --all checks every complete revision, newest first.\n"
    "Each result is recorded in the revision's ID.rev (verify: good, damaged or\n"
    "unverifiable); a damaged revision is quarantined: never a parent, refused by\n"
    "find and restore without --force.\n"
    "  --rate-limit MIBPS   read at most MIBPS MiB per second (e.g. 50, 0.5)\n"
    "  --progress      show progress on stderr even when it is not a terminal (one line\n"
    "                  a second); by default only a terminal shows it\n"
    "  --no-progress   never show progress\n"
    "  --json          print one JSON document instead of the lines (backy-verify(1))\n"
    "Exit status: 0 all checked revisions intact, 1 a revision is damaged or an\n"
    "error occurred, 2 a revision has no sums (cannot be verified), none damaged.\n";

/* Reads images and sums; writes only ID.rev (atomic rename) under the job
 * lock, and (Landlock) cannot open anything outside the job directory. */
static struct sb_policy policy = {
    .name = "backy-verify",
    .groups = SB_BASE | SB_WRITE,
};

#define BUF_BYTES (4u * 1024 * 1024)
#define SHOW_BAD 5

/* V_ERR: the check could not be made (not recorded); V_BAD is damage. */
enum result { V_OK = 0, V_BAD = 1, V_NOSUMS = 2, V_ERR = 3 };

static void verify_progress_start(const char *dir, const char *id, uint64_t size)
{
    char label[256];
    snprintf(label, sizeof label, "verify %s %s", strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir, id);
    progress_start(size, label);
}

static double now_mono(void) { return bk_mono(); }

static double now_real(void) { return bk_now(); }

/* --rate-limit: bytes read so far against the time since the first read. */
static double rate_bps;     /* 0: no limit */
static double rate_start = -1;
static uint64_t rate_bytes;

static void throttle(size_t len)
{
    if (rate_bps <= 0)
        return;
    if (rate_start < 0)
        rate_start = now_mono();
    rate_bytes += len;
    double ahead = rate_start + (double)rate_bytes / rate_bps - now_mono();
    if (ahead <= 0)
        return;
    struct timespec ts = {.tv_sec = (time_t)ahead,
                          .tv_nsec = (long)((ahead - (double)(time_t)ahead) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Check one revision. Prints its line; returns an enum result (*damaged:
 * the blocks that differ, 0 when the damage is not counted in blocks). */
static int verify_one(int dirfd, const char *dir, const char *id, unsigned char *buf,
                      uint64_t *damaged)
{
    *damaged = 0;
    char name[BK_ID_MAX + 16], err[1024];
    snprintf(name, sizeof name, "%s%s", id, BK_SUMS_SUFFIX);
    struct bk_sums s;
    if (sums_load(dirfd, name, &s, err, sizeof err) < 0) {
        if (errno == ENOENT) {
            printf("%s: no sums: cannot verify (made by an older backy)\n", id);
            return V_NOSUMS;
        }
        const char *why = errno == EBADMSG ? "checksum mismatch (corrupt)"
                          : errno == EINVAL ? "not a backy sums file of a supported version"
                          : strerror(errno);
        printf("%s: DAMAGED: sums unreadable\n", id);
        log_error("cannot read sums: %s/%s: %s", dir, name, why);
        fprintf(stderr, "%s: error: cannot read sums: %s/%s: %s\n", bk_prog, dir, name, why);
        return V_BAD;
    }
    int fd = openat(dirfd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        int e = errno;
        fprintf(stderr, "%s: error: cannot open image: %s/%s: %s\n", bk_prog, dir, id, strerror(e));
        log_error("cannot open image: %s/%s: %s", dir, id, strerror(e));
        sums_free(&s);
        if (fd >= 0)
            close(fd);
        /* no permission or gone meanwhile says nothing about the image */
        if (e == EACCES || e == EPERM || e == ENOENT)
            return V_ERR;
        printf("%s: DAMAGED: image unreadable\n", id);
        return V_BAD;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    int rc = V_OK;
    if ((uint64_t)sb.st_size != s.size) {
        printf("%s: DAMAGED: image has %jd bytes, its sums describe %" PRIu64 "\n", id,
               (intmax_t)sb.st_size, s.size);
        rc = V_BAD;
        goto out;
    }
    uint64_t bad[SHOW_BAD], nbad = 0;
    size_t per = BUF_BYTES / s.block_size ? BUF_BYTES / s.block_size : 1;
    verify_progress_start(dir, id, s.size);
    for (uint64_t i = 0; i < s.nblocks; i += per) {
        uint64_t n = s.nblocks - i < per ? s.nblocks - i : per;
        uint64_t off = i * s.block_size;
        size_t len = (size_t)((i + n - 1) * s.block_size + sums_block_len(&s, i + n - 1) - off);
        throttle(len);
        ssize_t r = bk_pread_full(fd, buf, len, (off_t)off);
        progress_set(off + len);
        if (r < 0 || (size_t)r != len) {
            int e = r < 0 ? errno : EIO;
            progress_end(0);
            fprintf(stderr, "%s: error: cannot read image: %s/%s: offset %" PRIu64 ": %s\n",
                    bk_prog, dir, id, off, strerror(e));
            log_error("cannot read image: %s/%s: offset %" PRIu64 ": %s", dir, id, off, strerror(e));
            printf("%s: DAMAGED: unreadable at offset %" PRIu64 "\n", id, off);
            rc = V_BAD;
            goto out;
        }
        for (uint64_t k = i; k < i + n; k++) {
            struct bk_hash h;
            sums_hash(buf + (k - i) * s.block_size, (size_t)sums_block_len(&s, k), &h);
            if (!bk_hash_eq(&h, &s.h[k])) {
                if (nbad < SHOW_BAD)
                    bad[nbad] = k * s.block_size;
                nbad++;
            }
        }
    }
    progress_end(1);
    if (nbad) {
        printf("%s: DAMAGED: %" PRIu64 " of %" PRIu64 " %s of %u bytes %s; offsets", id,
               nbad, s.nblocks, bk_plural(s.nblocks, "block", "blocks"), s.block_size, nbad == 1 ? "differs" : "differ");
        for (uint64_t k = 0; k < nbad && k < SHOW_BAD; k++)
            printf(" %" PRIu64, bad[k]);
        printf("%s\n", nbad > SHOW_BAD ? " ..." : "");
        log_warn("verify: %s: %" PRIu64 " damaged %s, first at offset %" PRIu64, id, nbad,
                 bk_plural(nbad, "block", "blocks"), bad[0]);
        *damaged = nbad;
        rc = V_BAD;
    } else {
        char sz[32];
        bk_fmt_size(sz, sizeof sz, s.size);
        printf("%s: ok (%s, %" PRIu64 " %s)\n", id, sz, s.nblocks, bk_plural(s.nblocks, "block", "blocks"));
        log_debug("verify: %s: ok", id);
    }
out:
    close(fd);
    sums_free(&s);
    return rc;
}

/* --json: the document's "revisions"; NULL without --json. Each
 * revision's line is captured (stdout points at a memory stream while it
 * is checked; glibc lets a program assign stdout) and goes into the
 * document as its "message". */
static json_t *json_revs;
static FILE *json_real_stdout;
static char *json_line;
static size_t json_line_len;

static void json_capture(void)
{
    if (!json_revs)
        return;
    fflush(stdout);
    json_real_stdout = stdout;
    stdout = open_memstream(&json_line, &json_line_len);
    if (!stdout)
        bk_die_errno("cannot allocate memory");
}

/* --json: the revision's entry (v: its enum result; recorded: the result
 * is in its .rev). Puts stdout back. */
static void json_result(const struct bk_rev *r, int v, uint64_t damaged, int recorded)
{
    if (!json_revs)
        return;
    fclose(stdout);
    stdout = json_real_stdout;
    /* the line without "ID: " and the newline */
    char *msg = json_line;
    size_t idl = strlen(r->id);
    if (strncmp(msg, r->id, idl) == 0 && strncmp(msg + idl, ": ", 2) == 0)
        msg += idl + 2;
    msg[strcspn(msg, "\n")] = '\0';
    static const char *const names[] = {[V_OK] = "good", [V_BAD] = "damaged",
                                        [V_NOSUMS] = "unverifiable", [V_ERR] = "error"};
    json_t *o = json_object();
    json_object_set_new(o, "id", bk_json_str(r->id));
    bk_json_set_time(o, "timestamp", r->timestamp);
    json_object_set_new(o, "tags", bk_json_tags(r));
    json_object_set_new(o, "result", json_string(names[v]));
    json_object_set_new(o, "damaged_blocks",
                        v == V_BAD && damaged ? bk_json_u64(damaged) : v == V_OK ? json_integer(0) : json_null());
    json_object_set_new(o, "message", msg[0] ? bk_json_str(msg) : json_null());
    json_object_set_new(o, "recorded", json_boolean(recorded));
    json_array_append_new(json_revs, o);
    free(json_line);
    json_line = NULL;
}

static void print_json(const char *dir, int rc)
{
    json_t *doc = bk_json_doc();
    json_object_set_new(doc, "job", bk_json_str(dir));
    json_object_set_new(doc, "exit", json_integer(rc));
    json_object_set_new(doc, "revisions", json_revs);
    if (bk_json_print(doc) < 0)
        bk_die_errno("cannot write to stdout");
}

static const enum bk_verify_result recorded_as[] = {
    [V_OK] = BK_VERIFY_GOOD, [V_BAD] = BK_VERIFY_DAMAGED, [V_NOSUMS] = BK_VERIFY_UNVERIFIABLE};

/* Check one revision and record the result in its .rev. Returns the
 * result; V_ERR when the check or the recording failed. */
static int check_and_record(struct bk_store *st, const char *dir, const struct bk_rev *r,
                            unsigned char *buf)
{
    uint64_t damaged;
    json_capture();
    int v = verify_one(st->dirfd, dir, r->id, buf, &damaged);
    fflush(stdout);   /* each line as soon as known (a scrub's log, a pipe) */
    if (v == V_ERR) {
        json_result(r, V_ERR, 0, 0);
        return V_ERR;
    }
    char err[2048];
    int rc = rev_record_verify(st->dirfd, dir, r->id, recorded_as[v], damaged, now_real(), err,
                               sizeof err);
    json_result(r, v, damaged, rc == 0);
    if (rc < 0) {
        log_error("%s", err);
        fprintf(stderr, "%s: error: %s\n", bk_prog, err);
        return V_ERR;
    }
    if (rc == 1)
        log_info("verify: %s: removed meanwhile; result not recorded", r->id);
    else if (v == V_BAD)
        log_warn("verify: revision %s is quarantined (recorded in %s/%s.rev)", r->id, dir, r->id);
    return v;
}

static double parse_rate(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 1e6)
        bk_die("invalid rate limit: --rate-limit %s: MiB per second, a number above 0", s);
    return v * 1024 * 1024;
}

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    const char *spec = NULL;
    int all = 0, json = 0;
    static const struct option longopts[] = {
        BK_CLI_LONG, {"revision", required_argument, 0, 'r'}, {"all", no_argument, 0, 'A'},
        {"rate-limit", required_argument, 0, 'R'}, BK_PROGRESS_LONG,
        {"json", no_argument, 0, 'J'}, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT "r:", longopts, NULL)) != -1) {
        if (bk_cli_option(&cli, opt, optarg, usage) || progress_option(opt))
            continue;
        if (opt == 'r')
            spec = optarg;
        else if (opt == 'A')
            all = 1;
        else if (opt == 'R')
            rate_bps = parse_rate(optarg);
        else if (opt == 'J')
            json = 1;
    }
    if (optind != argc)
        bk_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    if (all && spec)
        bk_usage_error(usage, "-r and --all exclude each other");
    progress_init();
    /* stdout carries the report: log lines go to stderr unless -l */
    bk_cli_log(&cli, 1);
    log_no_reopen();
    char *dir = bk_cli_jobdir(&cli);
    unsigned char *buf = bk_big_alloc(64u * 1024 * 1024);   /* the largest block size */
    if (!buf)
        bk_die_errno("cannot allocate buffer");
    const struct sb_fs_rule fs[] = { { dir, -1, SB_FS_RW | SB_FS_OPTIONAL }, { NULL, -1, 0 } };
    policy.fs = fs;
    sandbox_enter(&policy);

    char err[2048];
    struct bk_store st;
    if (store_open(&st, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    if (json)
        json_revs = json_array();
    int bad = 0, failed = 0, nosums = 0, checked = 0;
    if (all) {
        /* newest first: the revisions the next backup and restore rely on */
        for (size_t i = st.n; i-- > 0;) {
            if (!st.revs[i].complete)
                continue;
            int r = check_and_record(&st, dir, &st.revs[i], buf);
            checked++;
            bad |= r == V_BAD;
            failed |= r == V_ERR;
            nosums |= r == V_NOSUMS;
        }
        if (!checked)
            bk_die("no complete revision to verify: %s", dir);
    } else {
        const struct bk_rev *r = store_resolve(&st, spec, err, sizeof err);
        if (!r)
            bk_die("%s", err);
        int v = check_and_record(&st, dir, r, buf);
        bad = v == V_BAD;
        failed = v == V_ERR;
        nosums = v == V_NOSUMS;
    }
    int rc = bad || failed ? 1 : nosums ? 2 : 0;
    if (json_revs)
        print_json(dir, rc);
    if (fflush(stdout) != 0)
        bk_die_errno("cannot write to stdout");
    store_close(&st);
    free(dir);
    free(buf);
    return rc;
}
