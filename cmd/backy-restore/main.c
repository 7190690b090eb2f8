/* backy-restore - copy a revision out to a file, a block device or stdout.
 * The image and the target are opened before the sandbox; the copy runs
 * inside it (reflink where the target shares the filesystem, else a
 * sparse-aware copy: see copyout.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/copyout.h"
#include "backy/log.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-restore [-l LOGFILE] [-v] [-b DIR] [-r REVISION] TARGET\n"
    "Copies the image of REVISION (default: the newest) to TARGET: a file (created\n"
    "or overwritten; sparse where the image has holes), a block device (must not be\n"
    "in use), or - for stdout. REVISION as for backy-find.\n"
    "Exit status: 0 on success, 1 otherwise.\n";

/* Both files are open before the sandbox: the copy needs to write, resize
 * and sync the target and clone into it (FICLONE is in SB_WRITE), but
 * opening anything for writing afterwards is not needed; SB_WRITE is used
 * all the same because FICLONE is only allowed there. */
static const struct sb_policy policy = {
    .name = "backy-restore",
    .groups = SB_BASE | SB_WRITE | SB_BLOCKDEV,
};

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    struct bk_cli cli = {0};
    const char *spec = NULL;
    static const struct option longopts[] = {BK_CLI_LONG, {"revision", required_argument, 0, 'r'}, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT "r:", longopts, NULL)) != -1)
        if (!bk_cli_option(&cli, opt, optarg, usage) && opt == 'r')
            spec = optarg;
    if (argc - optind != 1)
        bk_usage_error(usage, argc - optind < 1 ? "no TARGET given" : "too many arguments");
    const char *target = argv[optind];
    int to_stdout = !strcmp(target, "-");
    bk_cli_log(&cli, to_stdout);
    char *dir = bk_cli_jobdir(&cli);
    char err[2048];

    struct bk_store st;
    if (store_open(&st, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    const struct bk_rev *r = store_resolve(&st, spec, err, sizeof err);
    if (!r)
        bk_die("%s", err);
    int src = openat(st.dirfd, r->id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (src < 0)
        bk_die_errno("cannot open image: %s/%s", dir, r->id);
    struct stat ss, jd;
    if (fstat(src, &ss) < 0 || fstat(st.dirfd, &jd) < 0)
        bk_die_errno("cannot stat image: %s/%s", dir, r->id);

    int dst, dst_is_new = 0;
    if (to_stdout) {
        if (isatty(1))
            bk_die("refusing to write an image to a terminal: redirect stdout");
        dst = 1;
    } else {
        struct stat ts;
        if (stat(target, &ts) == 0 && S_ISBLK(ts.st_mode)) {
            /* O_EXCL on a block device: fails when it is mounted or in use */
            dst = open(target, O_WRONLY | O_EXCL | O_CLOEXEC);
            if (dst < 0)
                bk_die_errno("cannot open target device (in use?): %s", target);
        } else {
            dst = open(target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
            if (dst < 0)
                bk_die_errno("cannot open target: %s", target);
            if (fstat(dst, &ts) < 0)
                bk_die_errno("cannot stat target: %s", target);
            if (S_ISREG(ts.st_mode)) {
                if (ts.st_dev == ss.st_dev && ts.st_ino == ss.st_ino)
                    bk_die("target is the image itself: %s", target);
                /* never write into the job directory: it holds the backups */
                char *tcopy = bk_strdup(target);
                struct stat pd;
                if (stat(dirname(tcopy), &pd) == 0 && pd.st_dev == jd.st_dev && pd.st_ino == jd.st_ino)
                    bk_die("target is inside the job directory: %s", target);
                free(tcopy);
                if (ftruncate(dst, 0) < 0)
                    bk_die_errno("cannot truncate target: %s", target);
                dst_is_new = 1;
            }
        }
    }
    log_no_reopen();
    sandbox_enter(&policy);

    struct bk_copy_stats cs = {0};
    log_info("restoring revision %s (%s/%s) to %s", r->id, dir, r->id, target);
    if (bk_copyout(src, dst, dst_is_new, &cs, err, sizeof err) < 0)
        bk_die("restore of %s/%s to %s failed: %s", dir, r->id, target, err);
    if (!to_stdout && close(dst) < 0)
        bk_die_errno("cannot close target: %s", target);
    if (to_stdout && close(1) < 0)
        bk_die_errno("cannot write to stdout");
    char sz[32];
    bk_fmt_size(sz, sizeof sz, cs.size);
    log_info("restored %s (%s, %s)", target, sz, bk_copy_method_name(cs.method));
    store_close(&st);
    free(dir);
    return 0;
}
