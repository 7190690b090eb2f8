/* backy-forget - remove one revision of a job, under the job lock.
 *
 * Order: options; job directory; lock (flock on JOBDIR/config, as
 * backy-backup: a running backup makes forget refuse); sandbox; revisions
 * read under the lock; last/last.rev moved to the newest complete revision
 * that stays (removed when none stays); then the revision removed, image
 * first and .rev last (rev_remove). A crash before the removal leaves
 * the links on an older revision and the revision whole; a crash during it
 * leaves an incomplete-looking revision that the next backup, or forget
 * again, removes. Other revisions are never touched. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/joblock.h"
#include "backy/log.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-forget [-l LOGFILE] [-v] [-b DIR] -r REVISION\n"
    "Removes REVISION (its image, .rev and every other ID.* file) from the job in\n"
    "DIR and points last/last.rev at the newest complete revision left (removes\n"
    "them when none is left). Prints what it removed.\n"
    "REVISION: a full ID or unique ID prefix, a relative number (0 = newest),\n"
    "last or latest, or a tag (the newest revision with it). An incomplete\n"
    "revision left by an interrupted backup can be named by its ID.\n"
    "Refuses while a backup of the job is running (the job is locked).\n"
    "Exit status: 0 on success, 1 otherwise.\n";

/* Removes files and replaces the last links in the job directory. */
static struct sb_policy policy = {
    .name = "backy-forget",
    .groups = SB_BASE | SB_WRITE,
};

/* What the report says, also in the log when the log is a file. */
BK_PRINTF(1, 2) static void say(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    printf("%s\n", line);
    if (!log_is_stdio())
        log_info("%s", line);
}

/* A revision store_resolve refuses because it is incomplete: by full ID
 * or unique ID prefix. Under the lock no backup is writing it, so it is a
 * leftover of an interrupted one (or of an interrupted forget). */
static const struct bk_rev *resolve_incomplete(const struct bk_store *st, const char *spec)
{
    const struct bk_rev *found = NULL;
    size_t sl = strlen(spec);
    for (size_t i = 0; i < st->n; i++)
        if (!strncmp(st->revs[i].id, spec, sl)) {
            if (found)
                return NULL;
            found = &st->revs[i];
        }
    return found && !found->complete ? found : NULL;
}

static void join_tags(const struct bk_rev *r, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->ntags && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", r->tags[i]);
    if (!r->ntags)
        snprintf(buf, len, "none");
}

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    const char *spec = NULL;
    static const struct option longopts[] = {BK_CLI_LONG, {"revision", required_argument, 0, 'r'}, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT "r:", longopts, NULL)) != -1)
        if (!bk_cli_option(&cli, opt, optarg, usage) && opt == 'r')
            spec = optarg;
    if (optind != argc)
        bk_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    if (!spec)
        bk_usage_error(usage, "no revision given (-r REVISION): forget never picks one itself");
    /* stdout carries the report: log lines go to stderr unless -l */
    bk_cli_log(&cli, 1);
    char *dir = bk_cli_jobdir(&cli);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        bk_die_errno("cannot open job directory: %s", dir);
    int lockfd = job_lock(dirfd);
    if (lockfd < 0 && errno == EWOULDBLOCK)
        bk_die("job is busy (a backup is running): %s/config is locked; nothing removed, try again later", dir);
    if (lockfd < 0)
        bk_die_errno("cannot lock job configuration: %s/config", dir);
    /* Landlock: the job directory only */
    const struct sb_fs_rule fs[] = { { NULL, dirfd, SB_FS_RW }, { NULL, -1, 0 } };
    policy.fs = fs;
    sandbox_enter(&policy);

    char err[2048];
    struct bk_store st;
    if (store_open_fd(&st, dirfd, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    const struct bk_rev *r = store_resolve(&st, spec, err, sizeof err);
    if (!r && !(r = resolve_incomplete(&st, spec)))
        bk_die("%s", err);

    /* the links first: they never point at a revision half removed */
    const struct bk_rev *keep = NULL;
    for (size_t i = st.n; i-- > 0 && !keep;)
        if (st.revs[i].complete && &st.revs[i] != r)
            keep = &st.revs[i];
    char cur[BK_ID_MAX + 1] = "";
    ssize_t cl = readlinkat(dirfd, "last", cur, sizeof cur - 1);
    if (cl > 0)
        cur[cl] = '\0';
    if (keep && strcmp(cur, keep->id)) {
        if (store_update_last(dirfd, keep->id) < 0)
            bk_die_errno("cannot point last at revision %s: %s/last", keep->id, dir);
    } else if (!keep) {
        if (store_remove_last(dirfd) < 0)
            bk_die_errno("cannot remove the last links: %s/last", dir);
    }

    char when[64], tags[512];
    bk_fmt_time_utc(r->timestamp, when, sizeof when);
    join_tags(r, tags, sizeof tags);
    if (rev_remove(dirfd, r->id) < 0)
        bk_die_errno("cannot remove revision %s: %s", r->id, dir);
    say("removed revision %s (%s, %s, tags %s) from %s", r->id, when,
        r->complete ? "complete" : "incomplete", tags, dir);
    if (keep)
        say("last: %s", keep->id);
    else
        say("no complete revision left: last and last.rev removed");
    if (fflush(stdout) != 0)
        bk_die_errno("cannot write to stdout");
    store_close(&st);
    close(lockfd);
    free(dir);
    return 0;
}
