/* sdnotify.c - READY=1 to systemd over NOTIFY_SOCKET (see sdnotify.h). */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "backy/sdnotify.h"

static int notify_fd = -1;

void bk_sd_notify_prepare(void)
{
    const char *e = getenv("NOTIFY_SOCKET");
    if (!e || !*e || notify_fd >= 0)
        return;
    struct sockaddr_un sa;
    size_t len = strlen(e);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if ((e[0] == '/' || e[0] == '@') && len < sizeof sa.sun_path) {
        memcpy(sa.sun_path, e, len);
        if (e[0] == '@')
            sa.sun_path[0] = '\0';   /* abstract namespace */
        int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            if (connect(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) == 0)
                notify_fd = fd;
            else
                close(fd);
        }
    }
    unsetenv("NOTIFY_SOCKET");
}

int bk_sd_notify(const char *state)
{
    if (notify_fd < 0)
        return 0;
    size_t len = strlen(state);
    ssize_t n;
    do
        n = write(notify_fd, state, len);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len ? 1 : -1;
}
