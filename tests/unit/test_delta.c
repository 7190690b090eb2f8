/* test_delta.c - the delta engine on plain files in a temporary directory:
 * first backup, incremental, grow and shrink, zero blocks as holes, the
 * fallbacks when the parent's sums are missing, stale or damaged, a parent
 * image that no longer matches its sums, and sources with change lists. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backy/delta.h"
#include "backy/log.h"
#include "backy/sums.h"

#define BS 65536

static int ntest, nfail;

static void ok(int cond, const char *desc)
{
    ntest++;
    if (!cond)
        nfail++;
    printf("%sok %d - %s\n", cond ? "" : "not ", ntest, desc);
}

static char dir[] = "/tmp/backy-test-delta.XXXXXX";
static int dfd;

/* A source over a file; optionally with a change list instead of "all". */
struct extent { uint64_t off, len; int exists; };
struct tsrc {
    struct bk_source s;
    const struct extent *ext;
    int next;
    int full;
};

static int t_changed(struct bk_source *s, int *full, bk_extent_cb cb, void *arg, char *err,
                     size_t errlen)
{
    struct tsrc *t = (struct tsrc *)s;
    if (!t->ext) {
        *full = 1;
        return s->size ? cb(0, s->size, 1, arg) : 0;
    }
    *full = t->full;
    for (int i = 0; i < t->next; i++)
        if (cb(t->ext[i].off, t->ext[i].len, t->ext[i].exists, arg) < 0)
            return -1;
    return 0;
}

/* The clone gate: a before_clone hook that holds the clone back until the
 * source has been read to its end, then changes one block of the source
 * (as if it were written to during the backup). */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;
static const char *gate_change;     /* file and block to change, or NULL */
static uint64_t gate_block;

static void write_random(const char *name, uint64_t off, uint64_t len);

static ssize_t t_pread(struct bk_source *s, void *buf, size_t len, uint64_t off)
{
    ssize_t r = pread(s->fd, buf, len, (off_t)off);
    if (r > 0 && off + (uint64_t)r >= s->size) {
        pthread_mutex_lock(&gate_mu);
        gate_open = 1;
        pthread_cond_broadcast(&gate_cv);
        pthread_mutex_unlock(&gate_mu);
    }
    return r;
}

static void hold_clone(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&gate_mu);
    while (!gate_open)
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    if (gate_change)
        write_random(gate_change, gate_block * BS, BS);
}

static const struct bk_source_ops t_ops = { .type = "test", .changed = t_changed, .pread = t_pread };

static void src_open(struct tsrc *t, const char *name)
{
    memset(t, 0, sizeof *t);
    t->s.ops = &t_ops;
    t->s.desc = name;
    t->s.fd = openat(dfd, name, O_RDONLY);
    struct stat sb;
    fstat(t->s.fd, &sb);
    t->s.size = (uint64_t)sb.st_size;
}

static uint64_t rnd = 88172645463325252ull;
static uint64_t xr(void)
{
    rnd ^= rnd << 13;
    rnd ^= rnd >> 7;
    rnd ^= rnd << 17;
    return rnd;
}

static void write_random(const char *name, uint64_t off, uint64_t len)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT, 0640);
    char *buf = malloc(len);
    for (uint64_t i = 0; i < len; i += 8) {
        uint64_t v = xr();
        memcpy(buf + i, &v, len - i < 8 ? len - i : 8);
    }
    if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
        abort();
    free(buf);
    close(fd);
}

static void write_zero(const char *name, uint64_t off, uint64_t len)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT, 0640);
    char *buf = calloc(1, len);
    if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
        abort();
    free(buf);
    close(fd);
}

static void set_size(const char *name, uint64_t size)
{
    int fd = openat(dfd, name, O_WRONLY | O_CREAT, 0640);
    if (ftruncate(fd, (off_t)size) < 0)
        abort();
    close(fd);
}

static int files_equal(const char *a, const char *b)
{
    int fa = openat(dfd, a, O_RDONLY), fb = openat(dfd, b, O_RDONLY);
    struct stat sa, sb;
    int eq = fa >= 0 && fb >= 0 && fstat(fa, &sa) == 0 && fstat(fb, &sb) == 0 &&
             sa.st_size == sb.st_size;
    static char x[1 << 20], y[1 << 20];
    for (off_t off = 0; eq && off < sa.st_size; off += sizeof x) {
        ssize_t r1 = pread(fa, x, sizeof x, off), r2 = pread(fb, y, sizeof y, off);
        eq = r1 == r2 && r1 > 0 && memcmp(x, y, (size_t)r1) == 0;
    }
    close(fa);
    close(fb);
    return eq;
}

static int is_hole(const char *name, uint64_t off)
{
    int fd = openat(dfd, name, O_RDONLY);
    off_t h = lseek(fd, (off_t)off, SEEK_HOLE);
    close(fd);
    return h == (off_t)off;
}

/* The new sums must describe the new image exactly. */
static int sums_match(const char *id)
{
    char name[128], e[256];
    snprintf(name, sizeof name, "%s.sums", id);
    struct bk_sums s;
    if (sums_load(dfd, name, &s, e, sizeof e) < 0)
        return 0;
    int fd = openat(dfd, id, O_RDONLY);
    struct stat sb;
    fstat(fd, &sb);
    int good = s.size == (uint64_t)sb.st_size;
    static char buf[1 << 20];
    for (uint64_t i = 0; good && i < s.nblocks; i++) {
        size_t l = (size_t)sums_block_len(&s, i);
        struct bk_hash h;
        good = pread(fd, buf, l, (off_t)(i * s.block_size)) == (ssize_t)l;
        sums_hash(buf, l, &h);
        good = good && bk_hash_eq(&h, &s.h[i]);
    }
    close(fd);
    sums_free(&s);
    return good;
}

static int backup(const char *src, const char *id, const char *parent, enum bk_verify v,
                  struct bk_delta_stats *st, const struct extent *ext, int next, int full)
{
    struct tsrc t;
    src_open(&t, src);
    t.ext = ext;
    t.next = next;
    t.full = full;
    struct bk_delta_opts o = { .verify = v };
    char err[512] = "";
    int rc = delta_backup(dfd, dir, id, parent, &t.s, &o, st, err, sizeof err);
    if (rc < 0)
        fprintf(stderr, "# delta_backup %s: %s\n", id, err);
    close(t.s.fd);
    return rc;
}

static void corrupt(const char *name, uint64_t off)
{
    int fd = openat(dfd, name, O_RDWR);
    unsigned char c;
    if (pread(fd, &c, 1, (off_t)off) != 1)
        abort();
    c ^= 0x55;
    if (pwrite(fd, &c, 1, (off_t)off) != 1)
        abort();
    close(fd);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY);
    log_open(NULL, 0, 1);
    struct bk_delta_stats st;
    const uint64_t N = 64;   /* blocks in the test image */

    /* src: 64 blocks of random data, blocks 10..14 zero */
    write_random("src", 0, N * BS);
    write_zero("src", 10 * BS, 5 * BS);

    ok(backup("src", "r1", NULL, BK_VERIFY_DEFAULT, &st, NULL, 0, 0) == 0, "first backup");
    ok(files_equal("src", "r1"), "first: image equals source");
    ok(st.bytes_written == (N - 5) * BS, "first: zero blocks are not written");
    ok(is_hole("r1", 10 * BS), "first: zero blocks are holes");
    ok(sums_match("r1"), "first: sums describe the image");

    /* incremental: three blocks change */
    write_random("src", 3 * BS + 100, 10);
    write_random("src", 40 * BS, BS);
    write_random("src", 63 * BS + BS - 1, 1);
    ok(backup("src", "r2", "r1", BK_VERIFY_DEFAULT, &st, NULL, 0, 0) == 0, "incremental backup");
    ok(files_equal("src", "r2"), "incremental: image equals source");
    ok(st.used_sums == 1 && st.bytes_written == 3 * BS, "incremental: only changed blocks written");
    ok(st.bytes_read == N * BS, "incremental: source read once, parent image not read");
    ok(sums_match("r2"), "incremental: sums describe the image");

    /* a data block becomes zeros: hole punched */
    write_zero("src", 20 * BS, BS);
    ok(backup("src", "r3", "r2", BK_VERIFY_FULL, &st, NULL, 0, 0) == 0 && files_equal("src", "r3"),
       "zeroed block: backup with full verification equals source");
    ok(st.bytes_punched == BS && st.bytes_written == 0 && is_hole("r3", 20 * BS),
       "zeroed block: hole punched, nothing written");
    ok(!is_hole("r2", 20 * BS), "zeroed block: parent keeps its data");

    /* grow by a partial block, then shrink to an odd size */
    write_random("src", N * BS, BS + 1234);
    ok(backup("src", "r4", "r3", BK_VERIFY_DEFAULT, &st, NULL, 0, 0) == 0 && files_equal("src", "r4") &&
       sums_match("r4"), "grow: image and sums follow the source");
    ok(st.bytes_written == BS + 1234, "grow: only the new bytes written");
    set_size("src", 30 * BS + 777);
    ok(backup("src", "r5", "r4", BK_VERIFY_DEFAULT, &st, NULL, 0, 0) == 0 && files_equal("src", "r5") &&
       sums_match("r5"), "shrink: image and sums follow the source");
    ok(files_equal("r4", "r4") && sums_match("r4"), "shrink: parent untouched");

    /* parent without sums (an older revision): two-file compare */
    ok(unlinkat(dfd, "r5.sums", 0) == 0, "remove parent sums");
    write_random("src", 5 * BS, 2 * BS);
    ok(backup("src", "r6", "r5", BK_VERIFY_DEFAULT, &st, NULL, 0, 0) == 0 && files_equal("src", "r6"),
       "no parent sums: backup equals source");
    ok(st.used_sums == 0 && st.bytes_written == 2 * BS, "no parent sums: compare writes only changes");
    ok(sums_match("r6"), "no parent sums: sums written for the new revision");

    /* parent sums for another size (stale): fallback */
    struct bk_sums other;
    char e[256];
    sums_init(&other, 7 * BS, BS);
    unlinkat(dfd, "r6.sums", 0);
    sums_save(dfd, "r6.sums", &other, 0440, e, sizeof e);
    sums_free(&other);
    write_random("src", 7 * BS, 1);
    ok(backup("src", "r7", "r6", BK_VERIFY_DEFAULT, &st, NULL, 0, 0) == 0 && files_equal("src", "r7") &&
       st.used_sums == 0 && st.bytes_written == BS && sums_match("r7"),
       "stale parent sums: compared with the image, correct result");

    /* damaged parent sums file: rejected, fallback */
    corrupt("r7.sums", BK_SUMS_HDR_SIZE + 3);
    write_random("src", 8 * BS, 1);
    ok(backup("src", "r8", "r7", BK_VERIFY_DEFAULT, &st, NULL, 0, 0) == 0 && files_equal("src", "r8") &&
       st.used_sums == 0 && st.bytes_written == BS, "damaged parent sums: rejected, correct result");

    /* parent image damaged in one unchanged block: full verification catches it */
    corrupt("r8", 25 * BS + 9);
    ok(backup("src", "r9", "r8", BK_VERIFY_FULL, &st, NULL, 0, 0) == 0 && files_equal("src", "r9"),
       "damaged parent (verify full): backup still equals source");
    ok(st.parent_mismatch == 1, "damaged parent (verify full): mismatch detected");
    ok(sums_match("r9"), "damaged parent (verify full): sums describe the image");

    /* parent image damaged in every block: the default sample catches it */
    for (uint64_t i = 0; i < 30; i++)
        corrupt("r9", i * BS + 17);
    ok(backup("src", "r10", "r9", BK_VERIFY_DEFAULT, &st, NULL, 0, 0) == 0 && files_equal("src", "r10") &&
       st.parent_mismatch == 1 && sums_match("r10"),
       "damaged parent (default sample): detected and corrected");
    /* verification off: the promise is trusted, nothing is compared */
    for (uint64_t i = 0; i < 30; i++)
        corrupt("r10", i * BS + 17);
    ok(backup("src", "r11", "r10", BK_VERIFY_OFF, &st, NULL, 0, 0) == 0 && st.parent_mismatch == 0 &&
       !files_equal("src", "r11"), "verify off: damaged parent goes unnoticed (documented)");

    /* change-list source (like ceph): only the listed ranges are read */
    write_random("src", 0, 30 * BS + 777);   /* a fresh base */
    ok(backup("src", "c1", NULL, BK_VERIFY_DEFAULT, &st, NULL, 0, 0) == 0, "change list: base");
    write_random("src", 2 * BS + 5, 100);
    write_zero("src", 6 * BS, 3 * BS);
    struct extent ext[] = { { 2 * BS, 4096, 1 }, { 6 * BS, 3 * BS, 0 } };
    ok(backup("src", "c2", "c1", BK_VERIFY_DEFAULT, &st, ext, 2, 0) == 0 && files_equal("src", "c2"),
       "change list: image equals source");
    ok(st.bytes_written == BS && st.bytes_punched == 3 * BS && is_hole("c2", 7 * BS),
       "change list: one block written, discarded range punched");
    ok(st.bytes_read < 30 * BS, "change list: not the whole source is read (a sample at most)");
    ok(sums_match("c2"), "change list: unchanged blocks inherit the parent's sums");
    ok(backup("src", "c2off", "c1", BK_VERIFY_OFF, &st, ext, 2, 0) == 0 && files_equal("src", "c2off") &&
       st.bytes_read == BS, "change list, verify off: only the listed block is read");

    /* a change list that missed a change, with the parent's sums missing:
     * a full compare of everything follows only with verify: full */
    write_random("src", 12 * BS, 10);
    ok(backup("src", "c3", "c2", BK_VERIFY_FULL, &st, ext, 1, 0) == 0 && files_equal("src", "c3") &&
       st.parent_mismatch == 1, "change list missed a change: verify full corrects it");

    /* source reports full=1 with a list: everything compared */
    write_random("src", 14 * BS, 10);
    ok(backup("src", "c4", "c3", BK_VERIFY_DEFAULT, &st, ext, 1, 1) == 0 && files_equal("src", "c4") &&
       st.bytes_written == BS, "full flag: everything compared, one block written");

    /* the clone held back until the whole source is read: the stash holds
     * two changed blocks (and the zero block), the others are read again
     * after the clone; one of those changed in the meantime */
    {
        write_random("hs", 0, 32 * BS);
        ok(backup("hs", "h1", NULL, BK_VERIFY_DEFAULT, &st, NULL, 0, 0) == 0, "held clone: base");
        write_random("hs", 1 * BS, BS);
        write_random("hs", 5 * BS, BS);
        write_random("hs", 9 * BS, BS);
        write_random("hs", 13 * BS, BS);
        write_random("hs", 20 * BS, BS);
        write_zero("hs", 25 * BS, BS);
        struct tsrc th;
        src_open(&th, "hs");
        gate_open = 0;
        gate_change = "hs";
        gate_block = 13;
        struct bk_delta_opts oh = { .stash_bytes = 2 * BS, .before_clone = hold_clone };
        char herr[512] = "";
        int rc = delta_backup(dfd, dir, "h2", "h1", &th.s, &oh, &st, herr, sizeof herr);
        if (rc < 0)
            fprintf(stderr, "# delta_backup h2: %s\n", herr);
        close(th.s.fd);
        gate_change = NULL;
        ok(rc == 0 && st.blocks_held == 3 && st.blocks_reread == 3,
           "held clone: 2 blocks and a zero block stashed, 3 blocks read again");
        ok(files_equal("hs", "h2") && sums_match("h2"),
           "held clone: image and sums take the block changed meanwhile");
        ok(st.bytes_written == 5 * BS && st.bytes_punched == BS && is_hole("h2", 25 * BS),
           "held clone: 5 blocks written once, the zero block punched");
        ok(st.bytes_read == 32 * BS + 3 * BS, "held clone: only the 3 blocks read twice");
        ok(sums_match("h1") && !files_equal("hs", "h1"), "held clone: parent untouched");
    }

    /* errors: existing revision name; missing parent */
    char err[512] = "";
    struct tsrc t;
    src_open(&t, "src");
    struct bk_delta_opts o = { 0 };
    ok(delta_backup(dfd, dir, "c4", "c3", &t.s, &o, &st, err, sizeof err) < 0 &&
       strstr(err, "cannot create image") && strstr(err, "/c4: "), "existing new id: clear error");
    ok(files_equal("src", "c4"), "existing new id: revision untouched");
    ok(delta_backup(dfd, dir, "c9", "nope", &t.s, &o, &st, err, sizeof err) < 0 &&
       strstr(err, "cannot open parent image") && strstr(err, "nope"), "missing parent: clear error");
    close(t.s.fd);

    /* empty source */
    set_size("empty", 0);
    ok(backup("empty", "e1", NULL, BK_VERIFY_DEFAULT, &st, NULL, 0, 0) == 0 && files_equal("empty", "e1") &&
       sums_match("e1"), "empty source");

    /* another block size */
    {
        struct tsrc t2;
        src_open(&t2, "src");
        struct bk_delta_opts o2 = { .block_size = 131072 };
        ok(delta_backup(dfd, dir, "b1", "c4", &t2.s, &o2, &st, err, sizeof err) == 0 &&
           files_equal("src", "b1") && sums_match("b1") && st.used_sums == 0,
           "128 KiB blocks: parent sums of another block size are not used");
        close(t2.s.fd);
    }

    if (nfail == 0) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "test_delta: could not remove %s\n", dir);
    } else {
        fprintf(stderr, "test_delta: files left in %s\n", dir);
    }
    printf("1..%d\n", ntest);
    return nfail != 0;
}
