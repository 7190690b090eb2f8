/* backy-mount - mount one filesystem of a revision read-only, for copying
 * out single files. The image is attached to a read-only loop device with
 * partition scan; the filesystem is mounted read-only without replaying
 * its journal, so nothing ever writes into the image. backy-umount undoes
 * it. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/capability.h>

#include "backy/cli.h"
#include "backy/log.h"
#include "backy/loopmount.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-mount [-l LOGFILE] [-v] [-b DIR] [-r REVISION] [--partition N] [--force] MOUNTPOINT\n"
    "Attaches the image of REVISION (default: the newest) to a read-only loop device\n"
    "(or one partition of it) and mounts its filesystem read-only at MOUNTPOINT, without\n"
    "replaying its journal (ext4: noload; xfs: norecovery; btrfs: rescue=nologreplay).\n"
    "Without --partition: the image's own filesystem, or the only partition holding\n"
    "one. --force mounts a quarantined (damaged) revision. Undo with backy-umount.\n"
    "REVISION as for backy-find.\n"
    "Exit status: 0 on success, 1 otherwise.\n";

/* Opens only for reading; may attach loop devices, and mount with
 * MS_RDONLY (the filter refuses any other mount). CAP_SYS_ADMIN is the one
 * capability kept: loop configuration and mount need it. */
static const struct sb_policy policy = {
    .name = "backy-mount",
    .groups = SB_BASE | SB_RDONLY | SB_LOOPMOUNT,
    .keep_caps = 1ULL << CAP_SYS_ADMIN,
    .fs_exempt = "mount(2) and umount2(2) are refused to a Landlock-restricted process; "
                 "the seccomp filter allows only loop ioctls and read-only mounts",
};

#define MAX_PARTS 128

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    const char *spec = NULL;
    int part = 0, force = 0;
    static const struct option longopts[] = {BK_CLI_LONG,
                                             {"revision", required_argument, 0, 'r'},
                                             {"partition", required_argument, 0, 'p'},
                                             {"force", no_argument, 0, 'f'},
                                             {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT "r:p:f", longopts, NULL)) != -1) {
        if (bk_cli_option(&cli, opt, optarg, usage))
            continue;
        if (opt == 'r') {
            spec = optarg;
        } else if (opt == 'p') {
            uint64_t v;
            if (bk_parse_u64(optarg, &v) < 0 || v < 1 || v > MAX_PARTS)
                bk_usage_error(usage, "bad partition number: '%s' (1 to %d)", optarg, MAX_PARTS);
            part = (int)v;
        } else if (opt == 'f') {
            force = 1;
        }
    }
    if (argc - optind != 1)
        bk_usage_error(usage, argc - optind < 1 ? "no MOUNTPOINT given" : "too many arguments");
    bk_cli_log(&cli, 0);
    char *dir = bk_cli_jobdir(&cli);
    char err[2048];

    char mp[PATH_MAX];
    if (!realpath(argv[optind], mp))
        bk_die_errno("cannot use mount point: %s", argv[optind]);
    struct stat ms;
    if (stat(mp, &ms) < 0 || !S_ISDIR(ms.st_mode))
        bk_die("mount point is not a directory: %s", mp);

    struct bk_store st;
    if (store_open(&st, dir, err, sizeof err) < 0)
        bk_die("%s", err);
    const struct bk_rev *r = store_resolve(&st, spec, err, sizeof err);
    if (!r)
        bk_die("%s", err);
    if (!r->complete)
        bk_die("revision is incomplete: %s/%s", dir, r->id);
    if (rev_quarantined(r) && !force)
        bk_die("revision is quarantined (damaged blocks found by verify): %s/%s: use --force to mount it anyway",
               dir, r->id);
    char *image = bk_asprintf("%s/%s", dir, r->id);
    int img = openat(st.dirfd, r->id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (img < 0)
        bk_die_errno("cannot open image: %s", image);
    int ctl = open("/dev/loop-control", O_RDONLY | O_CLOEXEC);
    if (ctl < 0)
        bk_die_errno("cannot open loop control device: /dev/loop-control");
    log_no_reopen();
    sandbox_enter(&policy);

    struct stat is;
    if (fstat(img, &is) < 0)
        bk_die_errno("cannot stat image: %s", image);
    uint64_t size = (uint64_t)is.st_size, off = 0, len = 0;
    struct bk_part parts[MAX_PARTS];
    int nparts = bk_part_table(img, size, parts, MAX_PARTS, err, sizeof err);
    if (nparts < 0)
        bk_die("bad partition table: %s: %s", image, err);
    const struct bk_fstype *fs = NULL;
    const char *other = NULL;
    if (part) {
        int i;
        for (i = 0; i < nparts && parts[i].num != part; i++)
            ;
        if (i == nparts)
            bk_die("image has no partition %d: %s", part, image);
        off = parts[i].start;
        len = parts[i].len;
        fs = bk_fs_detect(img, off, &other);
        if (!fs)
            bk_die("no filesystem backy can mount on partition %d of %s%s%s", part, image,
                   other ? ": found " : "", other ? other : "");
    } else if (!(fs = bk_fs_detect(img, 0, &other))) {
        /* the only partition with a filesystem */
        char list[1024] = "";
        size_t ll = 0;
        int found = 0;
        for (int i = 0; i < nparts; i++) {
            const char *o = NULL;
            const struct bk_fstype *pf = bk_fs_detect(img, parts[i].start, &o);
            if (ll < sizeof list)
                ll += (size_t)snprintf(list + ll, sizeof list - ll, "%s%d (%s)", ll ? ", " : "", parts[i].num,
                                       pf ? pf->name : o ? o : "unknown");
            if (pf) {
                found++;
                fs = pf;
                part = parts[i].num;
                off = parts[i].start;
                len = parts[i].len;
            }
        }
        if (nparts == 0)
            bk_die("no filesystem backy can mount in %s%s%s (ext4, xfs and btrfs are)", image,
                   other ? ": found " : "", other ? other : "");
        if (found != 1)
            bk_die("%s: %s: partitions %s: choose one with --partition N", image,
                   found ? "more than one partition holds a filesystem"
                         : "no partition holds a filesystem backy can mount",
                   list);
    }

    int num;
    int loopfd = bk_loop_attach(ctl, img, image, off, len, &num, err, sizeof err);
    if (loopfd < 0)
        bk_die("%s: %s", image, err);
    char dev[32];
    snprintf(dev, sizeof dev, "/dev/loop%d", num);
    log_debug("attached %s (from byte %llu) to %s, read-only", image, (unsigned long long)off, dev);
    /* From here on an error exit closes the loop device, and autoclear
     * detaches it. */

    unsigned long flags = MS_RDONLY | MS_NOSUID | MS_NODEV;
    if (mount(dev, mp, fs->name, flags, fs->options) < 0)
        bk_die_errno("cannot mount %s (%s, options ro,%s) at %s", dev, fs->name, fs->options, mp);
    close(loopfd);   /* the mount holds the device now; autoclear detaches it after umount */
    log_info("mounted revision %s (%s) read-only at %s", r->id, image, mp);
    printf("revision:   %s\n", r->id);
    printf("image:      %s\n", image);
    if (part)
        printf("device:     %s (read-only; partition %d: %llu bytes from byte %llu)\n", dev, part,
               (unsigned long long)len, (unsigned long long)off);
    else
        printf("device:     %s (read-only)\n", dev);
    printf("filesystem: %s\n", fs->name);
    printf("mounted:    %s (ro,nosuid,nodev,%s)\n", mp, fs->options);
    printf("undo with:  backy umount %s\n", mp);
    if (fflush(stdout) != 0)
        bk_die_errno("cannot write to stdout");
    free(image);
    store_close(&st);
    free(dir);
    return 0;
}
