/* test_copyout.c - bk_copyout to a new file (sparse), over an existing
 * larger file, into a pipe and to /dev/null; refusing the image itself;
 * checked copies against sums (damage stops or is counted). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backy/copyout.h"
#include "backy/sums.h"
#include "tap.h"


#define MB (1024 * 1024)
static char dir[] = "/tmp/backy-test-copyout.XXXXXX";
static int dfd;

static void hash_fd(int fd, struct bk_hash *h, uint64_t *size)
{
    /* hash of the whole content, read in order */
    static char buf[16 * MB];
    size_t n = 0;
    ssize_t r;
    while ((r = read(fd, buf + n, sizeof buf - n)) > 0)
        n += (size_t)r;
    sums_hash(buf, n, h);
    *size = n;
}

static void hash_file(const char *name, struct bk_hash *h, uint64_t *size)
{
    int fd = openat(dfd, name, O_RDONLY);
    hash_fd(fd, h, size);
    close(fd);
}

struct reader { int fd; struct bk_hash h; uint64_t size; };

static void *read_pipe(void *arg)
{
    struct reader *r = arg;
    hash_fd(r->fd, &r->h, &r->size);
    return NULL;
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    dfd = open(dir, O_RDONLY | O_DIRECTORY);
    char err[512];
    struct bk_copy_stats st;

    /* image: 1 MiB data, 4 MiB hole, 1 MiB data, 2 MiB hole at the end */
    int img = openat(dfd, "img", O_RDWR | O_CREAT, 0640);
    char *data = malloc(MB);
    for (int i = 0; i < MB; i++)
        data[i] = (char)(i * 31 + (i >> 12));
    if (pwrite(img, data, MB, 0) != MB || pwrite(img, data, MB, 5 * MB) != MB ||
        ftruncate(img, 8 * MB) < 0)
        return 1;
    struct bk_hash hi, h;
    uint64_t si, s;
    hash_file("img", &hi, &si);

    int dst = openat(dfd, "new", O_WRONLY | O_CREAT | O_EXCL, 0640);
    tap_ok(bk_copyout(img, dst, 1, &st, err, sizeof err) == 0, "to a new file");
    close(dst);
    hash_file("new", &h, &s);
    tap_ok(s == si && bk_hash_eq(&h, &hi), "new file equals the image");
    struct stat sb;
    fstatat(dfd, "new", &sb, 0);
    tap_ok(sb.st_blocks * 512 <= 3 * MB, "new file is sparse");
    tap_ok(st.method != BK_COPY_NONE && st.size == 8 * MB, "stats: method and size");

    /* existing file, larger, full of other data */
    dst = openat(dfd, "old", O_WRONLY | O_CREAT, 0640);
    char *junk = malloc(MB);
    memset(junk, 0xa5, MB);
    for (int i = 0; i < 12; i++)
        if (pwrite(dst, junk, MB, (off_t)i * MB) != MB)
            return 1;
    tap_ok(bk_copyout(img, dst, 0, &st, err, sizeof err) == 0, "over an existing larger file");
    close(dst);
    hash_file("old", &h, &s);
    tap_ok(s == si && bk_hash_eq(&h, &hi), "existing file equals the image afterwards");

    /* pipe */
    int p[2];
    if (pipe(p) < 0)
        return 1;
    struct reader rd = { .fd = p[0] };
    pthread_t th;
    pthread_create(&th, NULL, read_pipe, &rd);
    int rc = bk_copyout(img, p[1], 0, &st, err, sizeof err);
    close(p[1]);
    pthread_join(th, NULL);
    close(p[0]);
    tap_ok(rc == 0 && rd.size == si && bk_hash_eq(&rd.h, &hi), "into a pipe, holes as zeros");

    int dn = open("/dev/null", O_WRONLY);
    tap_ok(bk_copyout(img, dn, 0, &st, err, sizeof err) == 0 && st.bytes_copied == 8 * MB,
       "to /dev/null: every byte streamed");
    close(dn);

    int self = openat(dfd, "img", O_WRONLY);
    tap_ok(bk_copyout(img, self, 0, &st, err, sizeof err) < 0 && strstr(err, "image itself"),
       "the image itself is refused");
    close(self);
    hash_file("img", &h, &s);
    tap_ok(s == si && bk_hash_eq(&h, &hi), "image untouched");

    /* checked copies: an image of odd size whose holes and data do not
     * line up with the 64 KiB blocks of its sums */
    int odd = openat(dfd, "odd", O_RDWR | O_CREAT, 0640);
    const uint64_t osize = MB + 5000;
    if (pwrite(odd, data, 70000, 0) != 70000 || pwrite(odd, data, 10000, 300000) != 10000 ||
        pwrite(odd, data, 5000, MB) != 5000 || ftruncate(odd, (off_t)osize) < 0)
        return 1;
    struct bk_hash ho;
    uint64_t so;
    hash_file("odd", &ho, &so);
    struct bk_sums sums;
    sums_init(&sums, osize, 64 * 1024);
    char *whole = calloc(1, osize);
    if (pread(odd, whole, osize, 0) != (ssize_t)osize)
        return 1;
    for (uint64_t k = 0; k < sums.nblocks; k++)
        sums_hash(whole + k * sums.block_size, (size_t)sums_block_len(&sums, k), &sums.h[k]);
    struct bk_copy_check ck = { .sums = &sums };

    dst = openat(dfd, "checked", O_WRONLY | O_CREAT | O_EXCL, 0640);
    rc = bk_copyout_checked(odd, dst, 1, &ck, &st, err, sizeof err);
    close(dst);
    hash_file("checked", &h, &s);
    tap_ok(rc == 0 && s == so && bk_hash_eq(&h, &ho), "checked copy to a new file");
    tap_ok(st.bytes_checked == osize && st.bad_blocks == 0, "checked copy: every byte checked, none bad");

    dn = open("/dev/null", O_WRONLY);
    rc = bk_copyout_checked(odd, dn, 0, &ck, &st, err, sizeof err);
    tap_ok(rc == 0 && st.bytes_checked == osize, "checked copy to /dev/null");

    /* a sum that does not match: the copy stops at that block */
    sums.h[3].lo ^= 1;
    rc = bk_copyout_checked(odd, dn, 0, &ck, &st, err, sizeof err);
    tap_ok(rc < 0 && errno == EBADMSG && strstr(err, "block 3 at offset 196608 differs"),
           "a damaged block stops the copy with EBADMSG");
    tap_ok(st.bytes_copied <= 3 * 64 * 1024, "nothing of or after the damaged block written");
    sums.h[16].hi ^= 1;     /* the short last block */
    ck.keep_going = 1;
    rc = bk_copyout_checked(odd, dn, 0, &ck, &st, err, sizeof err);
    tap_ok(rc == 0 && st.bad_blocks == 2 && st.first_bad == 3 && st.bytes_copied == osize,
           "keep_going: everything copied, damaged blocks counted");
    sums.h[3].lo ^= 1;
    sums.h[16].hi ^= 1;
    ck.keep_going = 0;
    sums.size--;
    rc = bk_copyout_checked(odd, dn, 0, &ck, &st, err, sizeof err);
    tap_ok(rc < 0 && errno == EBADMSG && strstr(err, "its sums describe"),
           "an image of another size than its sums fails at once");
    sums.size++;
    close(dn);
    sums_free(&sums);
    free(whole);
    close(odd);

    close(img);
    free(data);
    free(junk);
    if (tap_failed == 0) {
        unlinkat(dfd, "img", 0);
        unlinkat(dfd, "new", 0);
        unlinkat(dfd, "old", 0);
        unlinkat(dfd, "odd", 0);
        unlinkat(dfd, "checked", 0);
        rmdir(dir);
    } else {
        fprintf(stderr, "test_copyout: files left in %s\n", dir);
    }
    return tap_done();
}
