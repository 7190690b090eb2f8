/* loopmount.h - read-only loop devices for revision images (backy-mount,
 * backy-umount). An image, or one partition of it, is attached with
 * LOOP_CTL_GET_FREE and LOOP_CONFIGURE, read-only (image and loop device
 * opened O_RDONLY, LO_FLAGS_READ_ONLY) and with autoclear: the device goes
 * away by itself when the last user (the mount) lets it go. Partition
 * tables (MBR with logical partitions, GPT) are read here, not by the
 * kernel's partition scan, which depends on the kernel's configuration
 * (CONFIG_MSDOS_PARTITION, CONFIG_EFI_PARTITION) and on device nodes
 * appearing in time: a partition is a loop device with an offset and a
 * size limit. Filesystems are recognised by their superblock magic. */
#include <stdint.h>
#ifndef BACKY_LOOPMOUNT_H
#define BACKY_LOOPMOUNT_H

#include <stddef.h>

/* Filesystem types mounted, and the options that keep them from writing
 * (no journal replay). */
struct bk_fstype {
    const char *name;      /* "ext4", "xfs", "btrfs" */
    const char *options;   /* data argument of mount(2) */
};

/* The filesystem at byte OFF of the open file FD, or NULL when its
 * superblock matches none we mount. *other is set to a name for a few
 * recognised but unmountable contents ("swap space", "partition table",
 * ...) or NULL. */
const struct bk_fstype *bk_fs_detect(int fd, uint64_t off, const char **other);

struct bk_part {
    int num;           /* 1-4 primary, 5... logical (MBR); entry index + 1 (GPT) */
    uint64_t start;    /* bytes */
    uint64_t len;      /* bytes */
};

/* Partitions of the image FD of SIZE bytes (512-byte sectors): up to MAX
 * into PARTS; returns how many (0: no partition table), or -1 with a
 * message in err for a table that points outside the image. */
int bk_part_table(int fd, uint64_t size, struct bk_part *parts, int max, char *err, size_t errlen);

/* Attach IMGFD (opened O_RDONLY) as a read-only autoclear loop device,
 * from byte OFF for LEN bytes (0: to the end). NAME is recorded as the
 * backing file name. Returns the loop device's descriptor (O_RDONLY) and
 * its number in *num, or -1 with a message in err. LOOPCTL is an open
 * /dev/loop-control. */
int bk_loop_attach(int loopctl, int imgfd, const char *name, uint64_t off, uint64_t len, int *num,
                   char *err, size_t errlen);

/* Backing file of loop device NUM (malloc'd) from sysfs, or NULL. */
char *bk_loop_backing_file(int num);

/* Parse "/dev/loopN" or "/dev/loopNpM": returns 0 with *num (and *part, 0
 * for the whole device), -1 for anything else. */
int bk_loop_parse_dev(const char *dev, int *num, int *part);

#endif
