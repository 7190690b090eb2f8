/* backy-umount - undo backy-mount: unmount the filesystem and detach its
 * loop device. Refuses any mount that is not a loop device backed by a
 * revision image. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/log.h"
#include "backy/loopmount.h"
#include "backy/sandbox.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-umount [-l LOGFILE] [-v] MOUNTPOINT\n"
    "Unmounts a revision mounted by backy-mount and detaches its loop device.\n"
    "Refuses mounts that are not a loop device backed by a revision image.\n"
    "Exit status: 0 on success, 1 otherwise.\n";

static const struct sb_policy policy = {
    .name = "backy-umount",
    .groups = SB_BASE | SB_RDONLY | SB_LOOPMOUNT,
    .keep_caps = 1ULL << CAP_SYS_ADMIN,
    .fs_exempt = "mount(2) and umount2(2) are refused to a Landlock-restricted process; "
                 "the seccomp filter allows only loop ioctls and read-only mounts",
};

/* Undo the octal escapes (\040 for a space) of /proc/self/mountinfo. */
static void unescape(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
            s[3] <= '7') {
            *o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* Source device of the topmost mount at MP (malloc'd), NULL when MP is
 * not a mount point. */
static char *mount_source(const char *mp)
{
    size_t len;
    char *buf = bk_read_file(AT_FDCWD, "/proc/self/mountinfo", 64u << 20, &len);
    if (!buf)
        bk_die_errno("cannot read /proc/self/mountinfo");
    char *found = NULL, *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER */
        char *f[5], *s2 = NULL, *p = line;
        int i;
        for (i = 0; i < 5 && (f[i] = strtok_r(p, " ", &s2)); i++)
            p = NULL;
        if (i < 5)
            continue;
        unescape(f[4]);
        if (strcmp(f[4], mp) != 0)
            continue;
        char *rest = s2 ? strstr(s2, " - ") : NULL;
        if (!rest && s2 && strncmp(s2, "- ", 2) == 0)
            rest = s2 - 1;
        if (!rest)
            continue;
        char type[64], src[PATH_MAX];
        if (sscanf(rest, " - %63s %4095s", type, src) != 2)
            continue;
        unescape(src);
        free(found);
        found = bk_strdup(src);   /* the last one is on top */
    }
    free(buf);
    return found;
}

int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    static const struct option longopts[] = {BK_CLI_LONG, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT, longopts, NULL)) != -1)
        bk_cli_option(&cli, opt, optarg, usage);
    if (argc - optind != 1)
        bk_usage_error(usage, argc - optind < 1 ? "no MOUNTPOINT given" : "too many arguments");
    bk_cli_log(&cli, 0);
    log_no_reopen();
    sandbox_enter(&policy);

    char mp[PATH_MAX];
    if (!realpath(argv[optind], mp))
        bk_die_errno("cannot use mount point: %s", argv[optind]);
    char *src = mount_source(mp);
    if (!src)
        bk_die("not a mount point: %s", mp);
    int num, part;
    if (bk_loop_parse_dev(src, &num, &part) < 0)
        bk_die("not mounted by backy-mount: %s: its source %s is no loop device", mp, src);
    char *backing = bk_loop_backing_file(num);
    if (!backing)
        bk_die("not mounted by backy-mount: %s: /dev/loop%d has no backing file", mp, num);
    /* a revision image: JOBDIR/ID with JOBDIR/ID.rev and JOBDIR/config
     * (an image expired while mounted shows as "PATH (deleted)") */
    static const char deleted[] = " (deleted)";
    size_t bl = strlen(backing);
    int gone = bl > sizeof deleted - 1 && !strcmp(backing + bl - (sizeof deleted - 1), deleted);
    char *path = bk_strdup(backing);
    if (gone)
        path[bl - (sizeof deleted - 1)] = '\0';
    char *slash = strrchr(path, '/');
    char *rev = bk_asprintf("%s.rev", path);
    char *config = bk_asprintf("%.*s/config", slash ? (int)(slash - path) : 0, path);
    struct stat sb;
    if (!slash || stat(config, &sb) < 0 || (!gone && stat(rev, &sb) < 0))
        bk_die("not mounted by backy-mount: %s: /dev/loop%d is backed by %s, not a revision image", mp, num,
               backing);

    /* Hold the loop device open across the unmount: autoclear cannot
     * detach it meanwhile, so no other image can be attached to the same
     * number before LOOP_CLR_FD below. */
    char dev[32];
    snprintf(dev, sizeof dev, "/dev/loop%d", num);
    int fd = open(dev, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        bk_die_errno("cannot open loop device: %s", dev);
    char *again = bk_loop_backing_file(num);
    if (!again || strcmp(again, backing) != 0)
        bk_die("loop device changed while checking it: %s", dev);
    free(again);
    if (umount2(mp, 0) < 0)
        bk_die_errno("cannot unmount %s", mp);
    /* with our descriptor the last one, the device is detached when it is
     * closed */
    if (ioctl(fd, LOOP_CLR_FD, 0) < 0 && errno != ENXIO)
        bk_die_errno("unmounted %s, but cannot detach %s", mp, dev);
    close(fd);
    log_info("unmounted %s, detached %s (%s)", mp, dev, path);
    printf("unmounted:  %s\n", mp);
    printf("detached:   %s (%s)\n", dev, path);
    if (fflush(stdout) != 0)
        bk_die_errno("cannot write to stdout");
    free(rev);
    free(config);
    free(path);
    free(backing);
    free(src);
    return 0;
}
