/* config.c - the scheduler's configuration at start and on SIGHUP: an
 * invalid new one keeps the old; what the running instance cannot change
 * (base-dir, status-file, metrics-file, push targets the launcher was not
 * given) is kept with a warning until the next start. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backy/log.h"
#include "backy/mainconf.h"
#include "backy/util.h"
#include "launcher.h"
#include "loop.h"
#include "sched.h"

/* Job directories are named to the launcher by absolute path. */
void absolute_base_dir(struct bk_mainconf *c)
{
    char *abs = bk_abspath(c->base_dir);
    if (!abs)
        bk_die_errno("cannot make base-dir absolute: %s", c->base_dir);
    free(c->base_dir);
    c->base_dir = abs;
}

void reload(double now)
{
    struct bk_mainconf nc;
    char err[1024];
    log_info("SIGHUP: re-reading %s", sched.config_path);
    /* opened by the launcher: the scheduler's own file-system rules do not
     * name the file (an editor may have replaced it with a new one) */
    int cfd = launch_open_config();
    if (cfd < 0) {
        log_error("invalid configuration, keeping the old one: %s: cannot open: %s",
                  sched.config_path,
                  strerror(errno));
        return;
    }
    int rc = mainconf_load_fd(cfd, sched.config_path, &nc, err, sizeof err);
    close(cfd);
    if (rc < 0) {
        log_error("invalid configuration, keeping the old one: %s", err);
        return;
    }
    absolute_base_dir(&nc);
    /* the lock and the job directories belong to the running instance */
    if (strcmp(nc.base_dir, sched.conf.base_dir) ||
        strcmp(nc.status_file, sched.conf.status_file)) {
        log_warn("base-dir and status-file changes take effect at the next start; keeping "
                 "%s and %s", sched.conf.base_dir, sched.conf.status_file);
        free(nc.base_dir);
        free(nc.status_file);
        nc.base_dir = bk_strdup(sched.conf.base_dir);
        nc.status_file = bk_strdup(sched.conf.status_file);
    }
    if (strcmp(nc.metrics_file ? nc.metrics_file : "",
               sched.conf.metrics_file ? sched.conf.metrics_file : "")) {
        log_warn("metrics-file changes take effect at the next start; keeping %s",
                 sched.conf.metrics_file ? sched.conf.metrics_file : "none");
        free(nc.metrics_file);
        nc.metrics_file = sched.conf.metrics_file ? bk_strdup(sched.conf.metrics_file) : NULL;
    }
    for (size_t i = 0; i < nc.njobs; i++)
        for (size_t k = 0; k < nc.jobs[i].npush; k++)
            if (!launcher_push_allowed(nc.jobs[i].push[k]))
                log_warn("%s: new push target %s takes effect at the next start (the "
                         "launcher's file-system rules are made at start)",
                         nc.jobs[i].name, nc.jobs[i].push[k]);
    int telnet_changed = nc.telnet_port != sched.conf.telnet_port ||
                         strcmp(nc.telnet_addrs, sched.conf.telnet_addrs) ||
                         strcmp(nc.telnet_user, sched.conf.telnet_user);
    struct bk_mainconf old = sched.conf;
    sched.conf = nc;
    apply_config(now);
    mainconf_free(&old);
    sched.next_status_write = now; /* interval may have changed */
    if (telnet_changed)
        telnet_reconfigured(now);
}
