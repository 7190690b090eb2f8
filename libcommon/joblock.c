/* joblock.c - flock on JOBDIR/config (see joblock.h). */
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "backy/joblock.h"

int job_lock(int dirfd)
{
    int fd = openat(dirfd, "config", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int e = errno;
        close(fd);
        errno = e == EAGAIN ? EWOULDBLOCK : e;
        return -1;
    }
    return fd;
}
