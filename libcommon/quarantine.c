/* quarantine.c - recording verify results; choosing around quarantined
 * revisions (see quarantine.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "backy/quarantine.h"
#include "backy/util.h"

#define REV_MAX_SIZE (1u << 20)

int rev_record_verify(int dirfd, const char *dir, const char *id, int result, uint64_t damaged,
                      double when, char *err, size_t errlen)
{
    int lockfd = openat(dirfd, "config", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (lockfd < 0) {
        snprintf(err, errlen, "cannot open job configuration: %s/config: %s", dir,
                 strerror(errno));
        return -1;
    }
    while (flock(lockfd, LOCK_EX) < 0) {
        if (errno == EINTR)
            continue;
        snprintf(err, errlen, "cannot lock job configuration: %s/config: %s", dir,
                 strerror(errno));
        close(lockfd);
        return -1;
    }
    /* Under the lock the .rev is read again: a backup, an expiry or a tag
     * change may have rewritten it since the check began. */
    char name[BK_ID_MAX + 8], path[4096], e2[1024];
    snprintf(name, sizeof name, "%s.rev", id);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    int rc = -1;
    char *buf = bk_read_file(dirfd, name, REV_MAX_SIZE, &len);
    if (!buf) {
        if (errno == ENOENT)
            rc = 1;
        else
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        goto out;
    }
    struct bk_rev rev;
    if (rev_parse(buf, len, path, &rev, e2, sizeof e2) < 0) {
        snprintf(err, errlen, "cannot record the verify result: %s", e2);
        free(buf);
        goto out;
    }
    free(buf);
    rev.verify_result = result;
    rev.verify_time = when;
    rev.verify_damaged = result == BK_VERIFY_DAMAGED ? damaged : 0;
    if (rev_save(dirfd, &rev) < 0)
        snprintf(err, errlen, "cannot record the verify result: %s: %s", path, strerror(errno));
    else
        rc = 0;
    rev_free(&rev);
out:
    close(lockfd);
    return rc;
}

const struct bk_rev *store_last_good(const struct bk_store *st, const struct bk_rev **skipped)
{
    if (skipped)
        *skipped = NULL;
    for (size_t i = st->n; i-- > 0;) {
        const struct bk_rev *r = &st->revs[i];
        if (!r->complete || rev_in_future(r, st->now))
            continue;
        if (!rev_quarantined(r))
            return r;
        if (skipped && !*skipped)
            *skipped = r;
    }
    return NULL;
}

void quarantine_refusal(const struct bk_store *st, const struct bk_rev *r, char *buf, size_t len)
{
    char when[64], what[96];
    bk_fmt_time_utc(r->verify_time, when, sizeof when);
    if (r->verify_damaged)
        snprintf(what, sizeof what, "%llu damaged blocks", (unsigned long long)r->verify_damaged);
    else
        snprintf(what, sizeof what, "it damaged");
    snprintf(buf, len, "revision is quarantined: %s/%s: verify found %s on %s; --force uses it anyway",
             st->dir, r->id, what, when);
}
