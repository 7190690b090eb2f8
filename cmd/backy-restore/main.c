/* backy-restore - copy a revision out to a file, a block device or stdout.
 * The image and the target are opened and checked before the sandbox; the
 * copy runs inside it (reflink where the target shares the filesystem,
 * else a sparse-aware copy: see copyout.h), checking every block against
 * the revision's sums.
 *
 * A restore never writes into a backup: see target.h. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/copyout.h"
#include "backy/log.h"
#include "backy/progress.h"
#include "backy/quarantine.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/sums.h"
#include "backy/util.h"
#include "target.h"

static const char usage[] =
    "usage: backy-restore [-l LOGFILE] [-v] [-b DIR] [-r REVISION] [--force] [--no-verify]\n"
    "                     [--progress|--no-progress] TARGET\n"
    "Copies the image of REVISION (default: the newest) to TARGET: a new file\n"
    "(sparse where the image has holes), an existing empty file, a block device\n"
    "(must not be in use), or - for stdout. REVISION as for backy-find.\n"
    "Every block is checked against the revision's sums (ID.sums) on the way;\n"
    "on a damaged block the restore stops and removes the file it created.\n"
    "A file inside a job directory, a backup image or the job's source is\n"
    "never a target.\n"
    "  --force       overwrite an existing non-empty file; on damage copy\n"
    "                everything and keep the target (exit status still 1)\n"
    "  --no-verify   do not check the blocks (a reflink then reads nothing)\n"
    "  --progress    show progress on stderr even when it is not a terminal (one line\n"
    "                a second); by default only a terminal shows it\n"
    "  --no-progress never show progress\n"
    "A quarantined revision (verify found it damaged) is refused unless --force.\n"
    "Exit status: 0 on success, 1 otherwise (also when damage was found).\n";

/* Both files are open before the sandbox: the copy writes, resizes and
 * syncs the target and clones into it through its descriptor (SB_FDWRITE);
 * nothing can be opened for writing or created afterwards. To take back a
 * target file it created (target_undo) it may unlinkat files relative to
 * that file's directory descriptor only (seccomp), below that directory
 * only (Landlock); nothing outside the job directory can be opened. */
static struct sb_policy policy = {
    .name = "backy-restore",
    .groups = SB_BASE | SB_RDONLY | SB_FDWRITE | SB_BLOCKDEV,
};

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    const char *spec = NULL;
    int force = 0, no_verify = 0;
    static const struct option longopts[] = {BK_CLI_LONG,
                                              {"revision", required_argument, 0, 'r'},
                                              {"force", no_argument, 0, 'F'},
                                              {"no-verify", no_argument, 0, 'N'},
                                              BK_PROGRESS_LONG,
                                              {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT "r:", longopts, NULL)) != -1) {
        if (bk_cli_option(&cli, opt, optarg, usage) || progress_option(opt))
            continue;
        if (opt == 'r')
            spec = optarg;
        else if (opt == 'F')
            force = 1;
        else if (opt == 'N')
            no_verify = 1;
    }
    if (argc - optind != 1)
        bk_usage_error(usage, argc - optind < 1 ? "no TARGET given" : "too many arguments");
    const char *target = argv[optind];
    int to_stdout = !strcmp(target, "-");
    progress_init();
    bk_cli_log(&cli, to_stdout);
    char *dir = bk_cli_jobdir(&cli);
    char err[2048];

    struct bk_store st;
    if (store_open(&st, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    const struct bk_rev *r = store_resolve(&st, spec, err, sizeof err);
    if (!r)
        bk_die("%s", err);
    if (rev_quarantined(r) && !force) {
        quarantine_refusal(&st, r, err, sizeof err);
        bk_die("%s", err);
    }
    int src = openat(st.dirfd, r->id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (src < 0)
        bk_die_errno("cannot open image: %s/%s", dir, r->id);
    struct stat ss, jd;
    if (fstat(src, &ss) < 0 || fstat(st.dirfd, &jd) < 0)
        bk_die_errno("cannot stat image: %s/%s", dir, r->id);

    /* The sums, before anything is written: a damage that shows already
     * (unreadable sums, wrong size) writes nothing without --force. */
    struct bk_sums sums = {0};
    int have_sums = 0;
    char *damage = NULL;     /* damage found before the copy (--force) */
    if (!no_verify) {
        char name[BK_ID_MAX + 16];
        snprintf(name, sizeof name, "%s%s", r->id, BK_SUMS_SUFFIX);
        if (sums_load(st.dirfd, name, &sums, err, sizeof err) == 0) {
            have_sums = 1;
            if (sums.size != (uint64_t)ss.st_size) {
                damage = bk_asprintf("revision %s damaged: %s/%s: image has %jd bytes, its sums describe %" PRIu64,
                                     r->id, dir, r->id, (intmax_t)ss.st_size, sums.size);
                have_sums = 0;
            }
        } else if (errno != ENOENT) {
            const char *why = errno == EBADMSG ? "checksum mismatch (corrupt)"
                              : errno == EINVAL ? "not a backy sums file of a supported version"
                              : strerror(errno);
            damage = bk_asprintf("revision %s cannot be checked: %s/%s: %s", r->id, dir, name, why);
        }
        if (damage && !force)
            bk_die("%s: nothing written (--force restores it unchecked)", damage);
    }

    target_guard_job(&st);
    struct target t = {0};
    target_open(target, force, &jd, &t);
    log_no_reopen();
    const struct sb_fs_rule fs[] = {
        { NULL, st.dirfd, SB_FS_READ },
        { NULL, t.kind == T_STDOUT ? -1 : t.fd, SB_FS_WRITE },
        { NULL, t.kind == T_CREATED ? t.pdir : -1, SB_FS_REMOVE },
        { NULL, -1, 0 },
    };
    const struct sb_arg_eq undo[] = {
        { t.kind == T_CREATED ? "unlinkat" : NULL, 0, (uint64_t)t.pdir, 2, 0 },  /* files only */
        { NULL, 0, 0, -1, 0 },
    };
    policy.fs = fs;
    policy.extra_if = undo;
    sandbox_enter(&policy);

    if (no_verify)
        log_info("revision %s: not checked against its sums (--no-verify)", r->id);
    else if (!have_sums && !damage) {
        fprintf(stderr, "%s: warning: revision %s has no sums (made by an older backy): restored unchecked\n",
                bk_prog, r->id);
        if (!log_is_stdio())
            log_warn("revision %s has no sums (made by an older backy): restored unchecked", r->id);
    }
    struct bk_copy_stats cs = {0};
    struct bk_copy_check ck = {have_sums ? &sums : NULL, force};
    log_info("restoring revision %s (%s/%s) to %s", r->id, dir, r->id, target);
    int fresh = t.kind == T_CREATED || t.kind == T_EMPTY || t.kind == T_OVERWRITTEN;  /* reads as zeros */
    char *plabel = bk_asprintf("restore %s %s", strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir, r->id);
    progress_start((uint64_t)ss.st_size, plabel);
    int crc = bk_copyout_checked(src, t.fd, fresh, &ck, &cs, err, sizeof err);
    progress_end(crc == 0);
    free(plabel);
    if (crc < 0) {
        int e = errno;
        /* a created target is removed (unlinkat, in SB_WRITE) */
        const char *what = force ? "target kept (--force)" : target_undo(&t);
        if (e == EBADMSG)
            bk_die("revision %s damaged: %s/%s: %s; %s: %s", r->id, dir, r->id, err, what, target);
        bk_die("restore of %s/%s to %s failed: %s; %s", dir, r->id, target, err, what);
    }
    if (t.kind != T_STDOUT && close(t.fd) < 0)
        bk_die_errno("cannot close target: %s", target);
    if (t.kind == T_STDOUT && close(1) < 0)
        bk_die_errno("cannot write to stdout");
    if (damage)
        bk_die("%s; restored unchecked, target kept (--force): %s", damage, target);
    if (cs.bad_blocks)
        bk_die("revision %s damaged: %s/%s: %" PRIu64 " blocks differ from their sums, the first is "
               "block %" PRIu64 " at offset %" PRIu64 "; target kept (--force): %s",
               r->id, dir, r->id, cs.bad_blocks, cs.first_bad, cs.first_bad * cs.block_size, target);
    char sz[32];
    bk_fmt_size(sz, sizeof sz, cs.size);
    log_info("restored %s (%s, %s%s)", target, sz, bk_copy_method_name(cs.method),
             have_sums ? ", checked against its sums" : ", unchecked");
    sums_free(&sums);
    store_close(&st);
    free(t.base);
    free(dir);
    return 0;
}
