/* test_copyout.c - bk_copyout to a new file (sparse), over an existing
 * larger file, into a pipe and to /dev/null; refusing the image itself. */
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

    close(img);
    free(data);
    free(junk);
    if (tap_failed == 0) {
        unlinkat(dfd, "img", 0);
        unlinkat(dfd, "new", 0);
        unlinkat(dfd, "old", 0);
        rmdir(dir);
    } else {
        fprintf(stderr, "test_copyout: files left in %s\n", dir);
    }
    return tap_done();
}
