/* test_expire.c - expire_apply on a real job directory in a temporary
 * directory: dry run changes nothing, the run rewrites and removes what
 * sched_expire decides, reports each action once, keeps ad-hoc tags. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backy/expire.h"
#include "backy/shortuuid.h"
#include "backy/util.h"
#include "tap.h"

#define DAY 86400

static char ids[5][SHORTUUID_LEN + 1];
static int nevents, ndelete, nrewrite;
static char expired_of_2[64];

static void report(void *ctx, const struct bk_expire_event *ev)
{
    (void)ctx;
    nevents++;
    if (ev->action == EXP_DELETE)
        ndelete++;
    else
        nrewrite++;
    if (!strcmp(ev->rev->id, ids[2]))
        snprintf(expired_of_2, sizeof expired_of_2, "%s", ev->expired);
}

static int exists(int dirfd, const char *name)
{
    struct stat sb;
    return fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0;
}

int main(void)
{
    tap_plan(12);
    char tmpl[] = "/tmp/backy-test-expire.XXXXXX";
    char *dir = mkdtemp(tmpl);
    if (!dir)
        return 1;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY);
    /* a job directory has a config */
    int cfd = openat(dirfd, "config", O_WRONLY | O_CREAT, 0640);
    if (cfd < 0 || write(cfd, "type: file\nfilename: /dev/null\n", 31) != 31)
        return 1;
    close(cfd);
    int64_t now = 1700000000;
    /* five daily revisions 10, 9, 8, 7, 0 days old; the one 9 days old
     * also has the ad-hoc tag "manual" */
    for (int i = 0; i < 5; i++) {
        struct bk_rev r = {0};
        shortuuid_new(ids[i]);
        memcpy(r.id, ids[i], SHORTUUID_LEN + 1);
        static const int age[] = {10, 9, 8, 7, 0};
        r.timestamp = (double)(now - age[i] * DAY);
        r.complete = 1;
        r.duration = 1;
        char err[256];
        rev_set_tags(&r, i == 1 ? "daily,manual" : "daily", err, sizeof err);
        int fd = openat(dirfd, r.id, O_WRONLY | O_CREAT, 0440);
        close(fd);
        rev_save(dirfd, &r);
        rev_free(&r);
    }
    store_update_last(dirfd, ids[4]);
    struct bk_interval iv[] = {{"daily", DAY, 2}};
    struct bk_schedule s = {"d", iv, 1};
    char err[1024];
    struct bk_store st;
    if (store_open(&st, dir, err, sizeof err) < 0) {
        printf("# %s\n", err);
        return 1;
    }

    struct bk_expire_stats stats;
    size_t n = expire_apply(&st, &s, now, 1, report, NULL, &stats);
    tap_ok(n == 3 && nevents == 3, "dry run: three revisions touched, three reports");
    tap_ok(stats.removed == 2 && stats.rewritten == 1 && stats.failed == 0, "dry run: counted");
    int all = 1;
    for (int i = 0; i < 5; i++) {
        char rn[128];
        snprintf(rn, sizeof rn, "%s.rev", ids[i]);
        all &= exists(dirfd, ids[i]) && exists(dirfd, rn);
    }
    tap_ok(all, "dry run: every file still there");
    store_reload(&st, err, sizeof err);

    nevents = ndelete = nrewrite = 0;
    n = expire_apply(&st, &s, now, 0, report, NULL, &stats);
    tap_ok(n == 3 && ndelete == 2 && nrewrite == 1, "run: two removed, one rewritten");
    tap_ok(stats.removed == 2 && stats.rewritten == 1 && stats.failed == 0, "run: counted");
    tap_ok(!strcmp(expired_of_2, "daily"), "the expired tag is named");
    tap_ok(!exists(dirfd, ids[0]) && !exists(dirfd, ids[2]), "images of removed revisions gone");
    char rn[128];
    snprintf(rn, sizeof rn, "%s.rev", ids[0]);
    tap_ok(!exists(dirfd, rn), ".rev of a removed revision gone");
    store_reload(&st, err, sizeof err);
    tap_ok(st.n == 3, "three revisions left");
    tap_ok(st.n == 3 && !strcmp(st.revs[0].id, ids[1]) && st.revs[0].ntags == 1 &&
               rev_has_tag(&st.revs[0], "manual"),
           "the revision with the ad-hoc tag stays, with only that tag");
    struct stat sb;
    snprintf(rn, sizeof rn, "%s.rev", ids[1]);
    tap_ok(fstatat(dirfd, rn, &sb, 0) == 0 && (sb.st_mode & 07777) == 0440, "rewritten .rev is 0440");
    char link[64] = "";
    ssize_t l = readlinkat(dirfd, "last", link, sizeof link - 1);
    if (l > 0)
        link[l] = '\0';
    tap_ok(!strcmp(link, ids[4]), "last still points at the newest");
    store_close(&st);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return tap_done();
}
