/* loopmount.c - read-only loop devices and filesystem recognition for
 * backy-mount and backy-umount (see loopmount.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backy/loopmount.h"
#include "backy/util.h"

/* ro alone is not enough: ext4 and XFS replay their journal even on a
 * read-only mount, and that writes to the device. */
static const struct bk_fstype fs_ext4 = {"ext4", "noload"};
/* nouuid: the image is a copy of a filesystem that may be mounted here */
static const struct bk_fstype fs_xfs = {"xfs", "norecovery,nouuid"};
static const struct bk_fstype fs_btrfs = {"btrfs", "rescue=nologreplay"};

static int at(int fd, uint64_t base, uint64_t off, const void *magic, size_t len)
{
    unsigned char buf[64];
    if (len > sizeof buf || bk_pread_full(fd, buf, len, (off_t)(base + off)) != (ssize_t)len)
        return 0;
    return memcmp(buf, magic, len) == 0;
}

const struct bk_fstype *bk_fs_detect(int fd, uint64_t b, const char **other)
{
    *other = NULL;
    if (at(fd, b, 1080, "\x53\xef", 2))
        return &fs_ext4;          /* ext2, ext3 and ext4: the ext4 driver mounts all */
    if (at(fd, b, 0, "XFSB", 4))
        return &fs_xfs;
    if (at(fd, b, 65536 + 64, "_BHRfS_M", 8))
        return &fs_btrfs;
    if (at(fd, b, 4096 - 10, "SWAPSPACE2", 10))
        *other = "swap space";
    else if (at(fd, b, 512 + 24, "LVM2 001", 8))
        *other = "LVM2 physical volume";
    else if (at(fd, b, 0, "LUKS\xba\xbe", 6))
        *other = "LUKS encrypted volume";
    else if (at(fd, b, 510, "\x55\xaa", 2))
        *other = "partition table";
    return NULL;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

#define SECTOR 512u

static int add_part(struct bk_part *parts, int n, int max, int num, uint64_t start, uint64_t len,
                    uint64_t size, char *err, size_t errlen)
{
    if (start == 0 || len == 0 || start > size || len > size - start) {
        snprintf(err, errlen, "partition %d lies outside the image (sectors %llu+%llu, image %llu)", num,
                 (unsigned long long)(start / SECTOR), (unsigned long long)(len / SECTOR),
                 (unsigned long long)(size / SECTOR));
        return -1;
    }
    if (n < max) {
        parts[n].num = num;
        parts[n].start = start;
        parts[n].len = len;
    }
    return n + 1;
}

static int gpt(int fd, uint64_t size, struct bk_part *parts, int max, char *err, size_t errlen)
{
    unsigned char h[92];
    if (bk_pread_full(fd, h, sizeof h, SECTOR) != (ssize_t)sizeof h || memcmp(h, "EFI PART", 8) != 0)
        return 0;
    uint64_t lba = le64(h + 72);
    uint32_t count = le32(h + 80), esize = le32(h + 84);
    if (esize < 128 || esize > 4096 || count > 1024 || lba > size / SECTOR) {
        snprintf(err, errlen, "GPT header is damaged");
        return -1;
    }
    int n = 0;
    unsigned char e[128];
    static const unsigned char unused[16];
    for (uint32_t i = 0; i < count; i++) {
        if (bk_pread_full(fd, e, sizeof e, (off_t)(lba * SECTOR + (uint64_t)i * esize)) != (ssize_t)sizeof e)
            break;
        if (!memcmp(e, unused, 16))
            continue;
        uint64_t first = le64(e + 32), last = le64(e + 40);
        if (last < first || last >= UINT64_MAX / SECTOR) {
            snprintf(err, errlen, "GPT entry %u is damaged", i + 1);
            return -1;
        }
        n = add_part(parts, n, max, (int)i + 1, first * SECTOR, (last - first + 1) * SECTOR, size, err, errlen);
        if (n < 0)
            return -1;
    }
    return n;
}

int bk_part_table(int fd, uint64_t size, struct bk_part *parts, int max, char *err, size_t errlen)
{
    unsigned char mbr[512];
    if (bk_pread_full(fd, mbr, sizeof mbr, 0) != (ssize_t)sizeof mbr || mbr[510] != 0x55 || mbr[511] != 0xaa)
        return 0;
    /* a filesystem's boot sector carries 55 AA too: only a table whose
     * entries have valid boot flags counts */
    for (int i = 0; i < 4; i++) {
        unsigned char boot = mbr[446 + 16 * i];
        if (boot != 0 && boot != 0x80)
            return 0;
    }
    for (int i = 0; i < 4; i++)
        if (mbr[446 + 16 * i + 4] == 0xee)
            return gpt(fd, size, parts, max, err, errlen);
    int n = 0;
    for (int i = 0; i < 4; i++) {
        const unsigned char *e = mbr + 446 + 16 * i;
        unsigned type = e[4];
        uint64_t start = le32(e + 8), len = le32(e + 12);
        if (type == 0 || len == 0)
            continue;
        if (type == 0x05 || type == 0x0f || type == 0x85) {
            /* extended: a chain of EBRs, each with one logical partition
             * (relative to the EBR) and a link (relative to the extended) */
            uint64_t ext = start, ebr = start;
            for (int num = 5; num < 5 + 256; num++) {
                unsigned char b[512];
                if (ebr * SECTOR >= size ||
                    bk_pread_full(fd, b, sizeof b, (off_t)(ebr * SECTOR)) != (ssize_t)sizeof b ||
                    b[510] != 0x55 || b[511] != 0xaa)
                    break;
                uint64_t ls = le32(b + 446 + 8), ll = le32(b + 446 + 12);
                if (b[446 + 4] && ll) {
                    n = add_part(parts, n, max, num, (ebr + ls) * SECTOR, ll * SECTOR, size, err, errlen);
                    if (n < 0)
                        return -1;
                }
                uint64_t next = le32(b + 446 + 16 + 8);
                if (!b[446 + 16 + 4] || !next)
                    break;
                ebr = ext + next;
            }
            continue;
        }
        n = add_part(parts, n, max, i + 1, start * SECTOR, len * SECTOR, size, err, errlen);
        if (n < 0)
            return -1;
    }
    return n < max ? n : max;
}

int bk_loop_attach(int loopctl, int imgfd, const char *name, uint64_t off, uint64_t len, int *num,
                   char *err, size_t errlen)
{
    /* Another process may take the free device between GET_FREE and
     * CONFIGURE (EBUSY): ask again a few times. */
    for (int tries = 0; tries < 16; tries++) {
        int n = ioctl(loopctl, LOOP_CTL_GET_FREE);
        if (n < 0) {
            snprintf(err, errlen, "no free loop device: /dev/loop-control: %s", strerror(errno));
            return -1;
        }
        char dev[32];
        snprintf(dev, sizeof dev, "/dev/loop%d", n);
        /* opened read-only: the kernel then sets LO_FLAGS_READ_ONLY itself */
        int fd = open(dev, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            snprintf(err, errlen, "cannot open loop device: %s: %s", dev, strerror(errno));
            return -1;
        }
        struct loop_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.fd = (unsigned)imgfd;
        cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
        cfg.info.lo_offset = off;
        cfg.info.lo_sizelimit = len;
        snprintf((char *)cfg.info.lo_file_name, sizeof cfg.info.lo_file_name, "%s", name);
        if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
            *num = n;
            return fd;
        }
        int e = errno;
        close(fd);
        if (e != EBUSY) {
            snprintf(err, errlen, "cannot attach image to loop device: %s: %s", dev, strerror(e));
            return -1;
        }
    }
    snprintf(err, errlen, "cannot attach image to a loop device: every free one was taken by another process");
    return -1;
}

char *bk_loop_backing_file(int num)
{
    char p[96];
    snprintf(p, sizeof p, "/sys/block/loop%d/loop/backing_file", num);
    size_t len;
    char *s = bk_read_file(AT_FDCWD, p, 8192, &len);
    if (!s)
        return NULL;
    while (len > 0 && s[len - 1] == '\n')
        s[--len] = '\0';
    return s;
}

int bk_loop_parse_dev(const char *dev, int *num, int *part)
{
    if (strncmp(dev, "/dev/loop", 9) != 0)
        return -1;
    const char *s = dev + 9;
    char *end;
    if (*s < '0' || *s > '9')
        return -1;
    long n = strtol(s, &end, 10);
    long p = 0;
    if (*end == 'p') {
        s = end + 1;
        if (*s < '1' || *s > '9')
            return -1;
        p = strtol(s, &end, 10);
    }
    if (*end || n < 0 || n > 1 << 20 || p < 0 || p > 1 << 16)
        return -1;
    *num = (int)n;
    *part = (int)p;
    return 0;
}
