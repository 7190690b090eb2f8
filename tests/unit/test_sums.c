/* test_sums.c - the .sums format: round trip in memory and on disk, and
 * rejection of damaged or foreign files. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backy/sums.h"
#include "tap.h"


static int same(const struct bk_sums *a, const struct bk_sums *b)
{
    return a->block_size == b->block_size && a->size == b->size && a->nblocks == b->nblocks &&
           memcmp(a->h, b->h, a->nblocks * sizeof(*a->h)) == 0;
}

static void fill(struct bk_sums *s)
{
    unsigned char blk[4096];
    for (uint64_t i = 0; i < s->nblocks; i++) {
        memset(blk, (int)(i * 7 + 1), sizeof blk);
        sums_hash(blk, sizeof blk, &s->h[i]);
    }
}

int main(void)
{
    char dir[] = "/tmp/backy-test-sums.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    char err[512];
    struct bk_sums s, t;

    tap_ok(sums_init(&s, 10 * 65536 + 1, 65536) == 0 && s.nblocks == 11, "init: block count rounds up");
    tap_ok(sums_block_len(&s, 10) == 1 && sums_block_len(&s, 9) == 65536, "last block is short");
    tap_ok(sums_init(&t, 100, 1000) < 0 && errno == EINVAL, "init: block size must be a power of two");
    fill(&s);

    size_t len;
    unsigned char *buf = sums_encode(&s, &len);
    tap_ok(buf && len == BK_SUMS_HDR_SIZE + 11 * 16 && memcmp(buf, "BACKYSUM", 8) == 0,
       "encode: header and 16 bytes per block");
    if (!buf)
        return tap_done(); /* nothing to decode */
    tap_ok(sums_decode(buf, len, &t) == 0 && same(&s, &t), "decode: round trip");
    sums_free(&t);
    buf[BK_SUMS_HDR_SIZE + 5] ^= 1;
    tap_ok(sums_decode(buf, len, &t) < 0 && errno == EBADMSG, "decode: flipped hash bit is detected");
    buf[BK_SUMS_HDR_SIZE + 5] ^= 1;
    buf[8] = 2;
    tap_ok(sums_decode(buf, len, &t) < 0 && errno == EINVAL, "decode: unknown version is rejected");
    buf[8] = 1;
    tap_ok(sums_decode(buf, len - 1, &t) < 0 && errno == EINVAL, "decode: truncated file is rejected");
    tap_ok(sums_decode(buf, 10, &t) < 0, "decode: short header is rejected");
    free(buf);

    tap_ok(sums_save(dfd, "a.sums", &s, 0440, err, sizeof err) == 0, "save");
    struct stat sb;
    tap_ok(fstatat(dfd, "a.sums", &sb, 0) == 0 && (sb.st_mode & 0777) == 0440, "save: mode 0440");
    char tmpname[64];
    snprintf(tmpname, sizeof tmpname, "a.sums.tmp-%ld", (long)getpid());
    tap_ok(fstatat(dfd, tmpname, &sb, 0) < 0 && errno == ENOENT, "save: no temp file left");
    tap_ok(sums_load(dfd, "a.sums", &t, err, sizeof err) == 0 && same(&s, &t), "load: round trip");
    sums_free(&t);
    tap_ok(sums_load(dfd, "missing.sums", &t, err, sizeof err) < 0 && errno == ENOENT &&
       strstr(err, "missing.sums"), "load: missing file gives ENOENT and names it");

    /* damage on disk: one byte of one hash */
    int fd = openat(dfd, "b.sums", O_WRONLY | O_CREAT | O_TRUNC, 0640);
    buf = sums_encode(&s, &len);
    buf[len - 1] ^= 0x80;
    tap_ok(fd >= 0 && write(fd, buf, len) == (ssize_t)len, "write damaged copy");
    close(fd);
    free(buf);
    tap_ok(sums_load(dfd, "b.sums", &t, err, sizeof err) < 0 && errno == EBADMSG &&
       strstr(err, "corrupt"), "load: damaged file is rejected as corrupt");

    /* resize keeps the hashes of the remaining blocks */
    struct bk_hash h3 = s.h[3];
    tap_ok(sums_resize(&s, 4 * 65536) == 0 && s.nblocks == 4 && bk_hash_eq(&s.h[3], &h3),
       "resize: shrink keeps hashes");
    tap_ok(sums_resize(&s, 6 * 65536) == 0 && s.nblocks == 6 && s.h[5].lo == 0 && s.h[5].hi == 0,
       "resize: grow adds zeroed hashes");

    /* empty image */
    sums_free(&s);
    tap_ok(sums_init(&s, 0, 65536) == 0 && s.nblocks == 0 &&
       sums_save(dfd, "e.sums", &s, 0640, err, sizeof err) == 0 &&
       sums_load(dfd, "e.sums", &t, err, sizeof err) == 0 && t.size == 0 && t.nblocks == 0,
       "empty image round trip");
    sums_free(&t);
    sums_free(&s);

    struct bk_hash x, y;
    sums_hash("abc", 3, &x);
    sums_hash("abd", 3, &y);
    tap_ok(!bk_hash_eq(&x, &y), "different data, different hash");

    if (tap_failed == 0) {
        unlinkat(dfd, "a.sums", 0);
        unlinkat(dfd, "b.sums", 0);
        unlinkat(dfd, "e.sums", 0);
        rmdir(dir);
    } else {
        fprintf(stderr, "test_sums: files left in %s\n", dir);
    }
    close(dfd);
    return tap_done();
}
