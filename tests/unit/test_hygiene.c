/* test_hygiene.c - input hygiene of the library: messages are one line
 * (control characters escaped), files that are not regular never block an
 * open, tags backy 2.0 wrote are read, revision specs with control
 * characters are refused, a directory without config is not a job. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backy/log.h"
#include "backy/revision.h"
#include "backy/util.h"
#include "tap.h"

static void test_escape(void)
{
    char out[64];
    bk_escape(out, sizeof out, "a\nb\r\tc\x01\x7f" "d\xc3\xa4");
    tap_ok(!strcmp(out, "a\\nb\\r\\tc\\x01\\x7fd\xc3\xa4"),
           "control characters escaped as \\n \\r \\t \\xHH, UTF-8 kept");
    bk_escape(out, 6, "ab\ncdef");
    tap_ok(!strcmp(out, "ab\\nc"), "escaping truncates to the buffer");
    bk_escape(out, 4, "ab\x01");
    tap_ok(!strcmp(out, "ab"), "an escape that does not fit is left out whole");
    tap_ok(bk_has_ctrl("a\nb") && bk_has_ctrl("\x7f") && !bk_has_ctrl("pre upgrade") &&
               !bk_has_ctrl("t\xc3\xa4g") && !bk_has_ctrl(""),
           "control character test");
}

static void test_open_file(const char *dir)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    char p[4096];
    snprintf(p, sizeof p, "%s/fifo", dir);
    mkfifo(p, 0600);
    snprintf(p, sizeof p, "%s/file", dir);
    FILE *f = fopen(p, "w");
    fputs("data", f);
    fclose(f);
    snprintf(p, sizeof p, "%s/link", dir);
    if (symlink("file", p) < 0)
        tap_ok(0, "symlink");

    struct stat st;
    errno = 0;
    int fd = bk_open_file(dfd, "fifo", O_RDONLY, BK_FT_REG, &st);
    tap_ok(fd < 0 && errno == BK_ENOTREG && S_ISFIFO(st.st_mode) &&
               !strcmp(bk_strerror(errno), "is a FIFO, not a regular file"),
           "a FIFO is refused without blocking, the reason names it");
    fd = bk_open_file(dfd, ".", O_RDONLY, BK_FT_REG | BK_FT_BLK, NULL);
    tap_ok(fd < 0 && errno == BK_ENOTREG && strstr(bk_strerror(errno), "a directory"),
           "a directory is refused");
    fd = bk_open_file(dfd, "file", O_RDONLY, BK_FT_REG, &st);
    char buf[8] = {0};
    tap_ok(fd >= 0 && S_ISREG(st.st_mode) && !(fcntl(fd, F_GETFL) & O_NONBLOCK) &&
               read(fd, buf, sizeof buf) == 4,
           "a regular file opens, O_NONBLOCK cleared");
    if (fd >= 0)
        close(fd);
    fd = bk_open_file(dfd, "link", O_RDONLY | O_NOFOLLOW, BK_FT_REG, NULL);
    tap_ok(fd < 0 && errno == BK_ENOTREG && strstr(bk_strerror(errno), "symbolic link"),
           "a symlink under O_NOFOLLOW is refused, named");
    fd = bk_open_file(dfd, "link", O_RDONLY, BK_FT_REG, NULL);
    tap_ok(fd >= 0, "a symlink is followed without O_NOFOLLOW");
    if (fd >= 0)
        close(fd);
    fd = bk_open_file(dfd, "nothing", O_RDONLY, BK_FT_REG, NULL);
    tap_ok(fd < 0 && errno == ENOENT, "a missing file keeps ENOENT");
    size_t len;
    char *b = bk_read_file(dfd, "fifo", 1024, &len);
    tap_ok(!b && errno == BK_ENOTREG, "bk_read_file of a FIFO fails at once");
    close(dfd);
}

static void test_tags(void)
{
    tap_ok(bk_tag_readable("pre upgrade") && bk_tag_readable("") && bk_tag_readable("t\xc3\xa4g") &&
               !bk_tag_readable("a\nb") && !bk_tag_readable("a\tb"),
           "read rule: anything without control characters, empty allowed");
    tap_ok(!bk_tag_valid("pre upgrade") && !bk_tag_valid("") && bk_tag_valid("daily"),
           "the strict rule for tags given here is unchanged");
    char err[512];
    struct bk_rev r = {0};
    tap_ok(rev_set_tags(&r, "daily,a\nb", err, sizeof err) < 0 && !strchr(err, '\n') &&
               strstr(err, "a\\nb"),
           "a command-line tag with a newline is refused, named escaped");
    rev_free(&r);

    /* what backy 2.0 writes for `backy backup "daily,pre upgrade,"` */
    const char *y = "{parent: '', stats: {bytes_written: 10, duration: 1.5}, "
                    "tags: ['', daily, pre upgrade], timestamp: 2015-11-04 20:09:32, "
                    "uuid: Q5N5Ng5kFzNFVv6FDDDCHi}\n";
    struct bk_rev q;
    int rc = rev_parse(y, strlen(y), "f.rev", &q, err, sizeof err);
    tap_ok(rc == 0 && q.ntags == 3 && !strcmp(q.tags[0], "") && !strcmp(q.tags[1], "daily") &&
               !strcmp(q.tags[2], "pre upgrade"),
           "backy 2.0 free-form tags are read (empty, with a space)");
    if (rc == 0) {
        char *out = rev_format(&q);
        struct bk_rev q2;
        rc = rev_parse(out, strlen(out), "g.rev", &q2, err, sizeof err);
        tap_ok(rc == 0 && q2.ntags == 3 && !strcmp(q2.tags[0], "") &&
                   !strcmp(q2.tags[2], "pre upgrade"),
               "and written back unchanged");
        if (rc == 0)
            rev_free(&q2);
        free(out);
        rev_free(&q);
    }
    const char *c = "{parent: '', stats: {duration: 1.5}, tags: [\"a\\nb\"], "
                    "timestamp: 2015-11-04 20:09:32, uuid: Q5N5Ng5kFzNFVv6FDDDCHi}\n";
    tap_ok(rev_parse(c, strlen(c), "c.rev", &q, err, sizeof err) < 0 && strstr(err, "invalid tag"),
           "a .rev tag with a control character is refused");
}

static void test_store(const char *dir)
{
    char err[1024], p[4096];
    struct bk_store st;
    snprintf(p, sizeof p, "%s/job", dir);
    mkdir(p, 0755);
    errno = 0;
    tap_ok(store_open(&st, p, err, sizeof err) < 0 && errno == ENOENT &&
               strstr(err, "not a job directory") && strstr(err, p),
           "a directory without config is not a job directory");
    char c[4200];
    snprintf(c, sizeof c, "%s/config", p);
    mkfifo(c, 0600);
    tap_ok(store_open(&st, p, err, sizeof err) < 0 && strstr(err, "FIFO"),
           "a FIFO as config: not a job directory, named");
    unlink(c);
    FILE *f = fopen(c, "w");
    fputs("type: file\nfilename: /dev/null\n", f);
    fclose(f);
    snprintf(c, sizeof c, "%s/ZZZZZZZZZZZZZZZZZZZZZZ.rev", p);
    mkfifo(c, 0600);
    int rc = store_open(&st, p, err, sizeof err);
    tap_ok(rc == 0 && st.n == 0, "a FIFO as .rev is skipped, not read");
    if (rc == 0) {
        const struct bk_rev *r = store_resolve(&st, "a\nb", err, sizeof err);
        tap_ok(!r && !strchr(err, '\n') && strstr(err, "'a\\nb'") && strstr(err, "control"),
               "a revision spec with a newline is refused, one line");
        store_close(&st);
    }
}

int main(void)
{
    char dir[] = "/tmp/backy-unit-hyg-XXXXXX";
    if (!mkdtemp(dir)) {
        tap_ok(0, "mkdtemp");
        return tap_done();
    }
    /* warnings (the skipped FIFO) go to stderr, not into the TAP stream */
    log_open(NULL, 0, 1);
    test_escape();
    test_open_file(dir);
    test_tags();
    test_store(dir);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        tap_ok(0, "cleanup");
    return tap_done();
}
