/* revision.h - the job directory: revisions, their .rev metadata, revision
 * specs, and the last/last.rev links. Compatible with backy 2.0:
 *
 *   JOBDIR/ID       raw image (0440 once complete)
 *   JOBDIR/ID.rev   YAML: uuid, timestamp, parent, stats {bytes_written,
 *                   duration}, tags [..]   (flow or block style)
 *   JOBDIR/ID.*     further per-revision files (ID.sums, ...)
 *   JOBDIR/last, JOBDIR/last.rev   symlinks to the newest complete revision
 *
 *   verify: {time, result: good|damaged|unverifiable, damaged_blocks}
 *                   the last check of the image against its sums (backy
 *                   verify, the scheduler's scrub); backy 2.0 ignores it
 *
 * A revision without stats.duration is incomplete. Timestamps are UTC;
 * naive timestamps (no zone) written by backy 2.0 mean UTC. */
#ifndef BACKY_REVISION_H
#define BACKY_REVISION_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define BK_ID_MAX 65

/* The last recorded check of a revision's image against its sums. */
enum bk_verify_result {
    BK_VERIFY_NONE = 0,       /* never checked (or no record) */
    BK_VERIFY_GOOD,           /* every block matched its sum */
    BK_VERIFY_DAMAGED,        /* blocks differ: the revision is quarantined */
    BK_VERIFY_UNVERIFIABLE,   /* no sums to check against (backy 2.0) */
};

struct bk_rev {
    char id[BK_ID_MAX];
    char parent[BK_ID_MAX];   /* "" when none */
    double timestamp;         /* seconds since the epoch, UTC, with fraction */
    char **tags;              /* sorted, unique */
    size_t ntags;
    int complete;             /* stats.duration present */
    double duration;          /* seconds */
    uint64_t bytes_written;
    char *backend_type;       /* kept as read, NULL if absent */
    int verify_result;        /* enum bk_verify_result, from "verify:" */
    double verify_time;       /* when it was checked, 0 if never */
    uint64_t verify_damaged;  /* damaged blocks found by that check */
};

/* A damaged revision is quarantined: never a parent, refused by restore,
 * find and send without --force. */
static inline int rev_quarantined(const struct bk_rev *rev)
{
    return rev->verify_result == BK_VERIFY_DAMAGED;
}
const char *bk_verify_result_name(int result);   /* "good", ... ; "" for NONE */
int bk_verify_result_parse(const char *s);        /* -1 if unknown */

/* Time sanity: a revision dated more than BK_FUTURE_SLACK seconds after
 * "now" was written under a wrong clock. It is reported (check, status,
 * log), reachable by its ID, and never counts as the newest revision: not
 * for -r 0 / last, relative numbers, tags, parents, due times or the SLA. */
#define BK_FUTURE_SLACK 300.0
static inline int rev_in_future(const struct bk_rev *rev, double now)
{
    return rev->timestamp > now + BK_FUTURE_SLACK;
}

/* All revisions of a directory, oldest first (by timestamp, then ID). */
struct bk_store {
    int dirfd;
    char *dir;
    struct bk_rev *revs;
    size_t n;
    double now;               /* clock when read: what "future" is measured against */
};

/* Open dir and read every *.rev. A directory without a regular file
 * "config" is not a job directory (-1, errno ENOENT when it has none). A
 * .rev that cannot be parsed or is not a regular file (a FIFO never
 * blocks) is skipped with a warning naming it. 0, or -1 with a message in
 * err. */
int store_open(struct bk_store *st, const char *dir, char *err, size_t errlen);
/* Use an already open directory descriptor (taken over; closed by store_close). */
int store_open_fd(struct bk_store *st, int dirfd, const char *dir, char *err, size_t errlen);
/* Re-read the revisions (after a change). */
int store_reload(struct bk_store *st, char *err, size_t errlen);
void store_close(struct bk_store *st);

/* Newest complete revision not in the future (st->now), or NULL. */
const struct bk_rev *store_last(const struct bk_store *st);
/* Number of revisions dated in the future (st->now). */
size_t store_future(const struct bk_store *st);

/* Resolve a revision spec (manual, -r): full ID, unique ID prefix,
 * relative number (0 = newest complete), last/latest, a tag (newest
 * complete revision with it). Relative numbers, last and tags count only
 * revisions not in the future; a future-dated one is reachable by its ID
 * or ID prefix. NULL spec means "last". A spec with a control character is
 * refused. On failure returns NULL with a message naming the spec
 * (escaped) in err. */
const struct bk_rev *store_resolve(const struct bk_store *st, const char *spec, char *err, size_t errlen);

/* Parse / format one .rev document. rev_parse: 0 or -1 with err. */
int rev_parse(const char *buf, size_t len, const char *name, struct bk_rev *rev, char *err, size_t errlen);
char *rev_format(const struct bk_rev *rev);  /* malloc'd YAML */
void rev_free(struct bk_rev *rev);           /* frees members, not rev */
int rev_set_tags(struct bk_rev *rev, const char *comma_list, char *err, size_t errlen);
int rev_has_tag(const struct bk_rev *rev, const char *tag);
/* The rule for a tag this project gives (command line, config, launcher):
 * 1-64 of letters, digits and _-.:@+, not starting with '-'. */
int bk_tag_valid(const char *tag);
/* The rule for a tag read from a .rev: backy 2.0 took free-form tags, so
 * anything without control characters (spaces, empty), up to 1024 bytes. */
int bk_tag_readable(const char *tag);

/* Write ID.rev atomically (mode 0440 when complete, 0640 otherwise). */
int rev_save(int dirfd, const struct bk_rev *rev);
/* Remove a revision: ID, ID.rev and every other ID.* file; fsync the dir.
 * The image goes first and the .rev last, so a crash at any point leaves
 * either the whole revision or one that reads as incomplete (which the
 * next backup removes), never a complete-looking one with parts missing.
 * 0 or -1/errno. */
int rev_remove(int dirfd, const char *id);
/* Point last and last.rev at the given revision (symlink + rename). */
int store_update_last(int dirfd, const char *id);
/* Remove last and last.rev (no complete revision left). 0 or -1/errno. */
int store_remove_last(int dirfd);
/* Leftovers of interrupted runs, for a writer holding the job lock
 * (backup, receive): incomplete revisions (unless their image is read-only:
 * only a finished run makes it so), files named ID or ID.* whose ID.rev is
 * gone, and ID.rev.tmp-PID of a killed .rev rewrite. Complete revisions are
 * never touched. Dies with a message when something cannot be removed. */
void store_cleanup(struct bk_store *st);

/* Timestamps: parse "2015-11-04 20:09:32[.ffffff][Z|+HH:MM]" (T allowed),
 * format "YYYY-MM-DD HH:MM:SS UTC" (for tables) and ISO-8601 for .rev. */
int bk_parse_time(const char *s, double *out);
void bk_fmt_time_utc(double t, char *buf, size_t len);   /* 2015-11-04 20:09:32 UTC */
void bk_fmt_time_iso(double t, char *buf, size_t len);   /* 2015-11-04 20:09:32.123456+00:00 */

#endif
