/* backy-init - create a job directory and write its config. Only the last
 * path component is created; an existing config is never overwritten. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/log.h"
#include "backy/sandbox.h"
#include "backy/sourcetype.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-init [-l LOGFILE] [-v] [-b DIR] TYPE SOURCE\n"
    "Creates the job directory DIR (default: the current directory; only its last\n"
    "component is created) and writes DIR/config for a source:\n"
    "  file FILENAME                             a file or block device\n"
    "  ceph-rbd POOL/IMAGE                       a Ceph RBD image (alias: ceph)\n"
    "  flyingcircus POOL/IMAGE,VM[,CONSUL_TOKEN] a Ceph RBD image of a Flying Circus VM\n"
    "  replica ORIGIN                            copies from another server (backy receive);\n"
    "                                            never backed up here\n"
    "An existing config is never overwritten.\n"
    "Exit status: 0 on success, 1 otherwise.\n";

/* Creates one directory (before the sandbox) and one file in it; Landlock
 * confines it to that directory. */
static struct sb_policy policy = {
    .name = "backy-init",
    .groups = SB_BASE | SB_WRITE,
};

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    static const struct option longopts[] = {BK_CLI_LONG, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT, longopts, NULL)) != -1)
        bk_cli_option(&cli, opt, optarg, usage);
    if (argc - optind != 2)
        bk_usage_error(usage, "expected TYPE and SOURCE");
    const char *type = argv[optind], *source = argv[optind + 1];
    char err[1024];

    const struct bk_sourcetype *t = sourcetype_find(type);
    if (!t) {
        char known[256] = "";
        size_t o = 0;
        for (const struct bk_sourcetype *const *p = sourcetype_all(); *p; p++)
            o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", o ? ", " : "", (*p)->name);
        bk_die("unknown source type '%s' (known: %s)", type, known);
    }
    struct bk_srccfg cfg = {0};
    if (t->from_init_arg(source, &cfg, err, sizeof err) < 0)
        bk_die("%s: %s (syntax: backy init %s %s)", type, err, t->name, t->init_syntax);
    if (t->validate && t->validate(&cfg, err, sizeof err) < 0)
        bk_die("%s: %s", type, err);

    bk_cli_log(&cli, 0);
    char *dir = bk_cli_jobdir(&cli);
    char *pcopy = bk_strdup(dir), *ncopy = bk_strdup(dir);
    const char *parent = dirname(pcopy), *name = basename(ncopy);
    int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0)
        bk_die_errno("cannot open the parent of the job directory: %s", parent);

    if (strcmp(name, "/") && mkdirat(pfd, name, 0750) < 0 && errno != EEXIST)
        bk_die_errno("cannot create job directory: %s", dir);
    int dfd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0)
        bk_die_errno("cannot open job directory: %s", dir);
    close(pfd);

    const struct sb_fs_rule fs[] = { { NULL, dfd, SB_FS_RW }, { NULL, -1, 0 } };
    policy.fs = fs;
    sandbox_enter(&policy);
    struct stat sb;
    if (fstatat(dfd, "config", &sb, AT_SYMLINK_NOFOLLOW) == 0)
        bk_die("job directory already has a config, not overwriting it: %s/config", dir);

    /* temp file, fsync, then a rename that refuses to replace */
    char *y = srccfg_format(&cfg);
    struct iovec iov = {.iov_base = y, .iov_len = strlen(y)};
    if (bk_atomic_writev(dfd, "config", &iov, 1, 0640, BK_ATOMIC_NOREPLACE) < 0) {
        if (errno == EEXIST)
            bk_die("job directory already has a config, not overwriting it: %s/config", dir);
        bk_die_errno("cannot write job configuration: %s/config", dir);
    }
    log_info("initialised job directory %s for %s source %s", dir, t->name, source);
    free(y);
    srccfg_free(&cfg);
    free(pcopy);
    free(ncopy);
    free(dir);
    return 0;
}
