/* sdnotify.h - systemd's readiness protocol without libsystemd: one
 * datagram ("READY=1") to the AF_UNIX socket named in NOTIFY_SOCKET (a
 * path, or "@name" for the abstract namespace).
 *
 * The socket is made and connected by bk_sd_notify_prepare(), which
 * sandbox_enter() calls before it loads the filter (a tool in its sandbox
 * cannot call socket()); it also removes NOTIFY_SOCKET from the
 * environment, so programs started later do not talk to systemd in the
 * service's name. bk_sd_notify() is then a plain write() on that socket,
 * which every sandbox allows. Without NOTIFY_SOCKET both do nothing. */
#ifndef BACKY_SDNOTIFY_H
#define BACKY_SDNOTIFY_H

void bk_sd_notify_prepare(void);
/* Send STATE ("READY=1", "STOPPING=1", ...). Returns 1 when sent, 0 when
 * there is no notify socket, -1 with errno on failure. */
int bk_sd_notify(const char *state);

#endif
