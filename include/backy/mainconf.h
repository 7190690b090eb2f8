/* mainconf.h - the main configuration file (/etc/backy.conf), read by
 * backy-sched, backy-check and backy-telnetd -c. Layout in backy.conf(5):
 *
 *   config:            (backy 2.0 spells it "global:"; both are read)
 *     base-dir, worker-limit, status-file, metrics-file (NULL: none),
 *     status-interval, retry-delay,
 *     telnet-addrs, telnet-port (0 = off), telnet (on/off), telnet-user,
 *     scrub-interval (DURATION, 0 or off), scrub-rate (MiB/s)
 *   schedules:  NAME: { TAG: { interval: DURATION, keep: N }, ... }
 *   jobs:       NAME: { schedule: NAME, source: { type: TYPE, ... },
 *                       scrub-interval: DURATION (optional),
 *                       push: TARGET | [ TARGET, ... ] (optional) }
 *
 * Every error names the place: "PATH:LINE:COL: message". Unknown keys are
 * errors (a typo would otherwise silently change nothing). */
#ifndef BACKY_MAINCONF_H
#define BACKY_MAINCONF_H

#include <stddef.h>
#include <stdint.h>
#include "schedule.h"
#include "sourcetype.h"

#define BK_DEFAULT_CONFIG "/etc/backy.conf"
#define BK_DEFAULT_BASEDIR "/srv/backy"
#define BK_DEFAULT_TELNET_ADDRS "127.0.0.1, ::1"
#define BK_DEFAULT_TELNET_PORT 6023
#define BK_DEFAULT_TELNET_USER "nobody"
#define BK_DEFAULT_RETRY_DELAY 60  /* first retry of a failed backup, seconds */
#define BK_DEFAULT_SCRUB_INTERVAL (7 * 86400)
#define BK_DEFAULT_SCRUB_RATE 50   /* MiB/s */

struct bk_jobcfg {
    char *name;
    size_t sched;              /* index into bk_mainconf.scheds */
    struct bk_srccfg src;
    int64_t scrub_interval;    /* seconds, 0 no scrub, -1 the global one */
    char **push;               /* push targets (lm_valid_target), after each backup */
    size_t npush;
};

struct bk_mainconf {
    char *path;
    char *base_dir;
    long worker_limit;
    char *status_file;
    char *metrics_file;        /* Prometheus text file, NULL: none */
    int64_t status_interval;   /* seconds */
    int64_t retry_delay;       /* first retry after a failed backup, seconds */
    char *telnet_addrs;        /* comma separated */
    int telnet_port;           /* 0: telnet shell off */
    char *telnet_user;
    int64_t scrub_interval;    /* seconds between scrubs of a job, 0: none */
    long scrub_rate;           /* MiB/s a scrub may read */
    struct bk_schedule *scheds;
    size_t nscheds;
    struct bk_jobcfg *jobs;    /* sorted by name */
    size_t njobs;
};

/* 0, or -1 with "PATH:LINE:COL: message" (or "PATH: reason") in err. */
int mainconf_load(const char *path, struct bk_mainconf *c, char *err, size_t errlen);
/* The same from an open descriptor (not closed); PATH names it in messages. */
int mainconf_load_fd(int fd, const char *path, struct bk_mainconf *c, char *err, size_t errlen);
/* Same from a buffer (name used in messages). */
int mainconf_parse(const char *buf, size_t len, const char *name, struct bk_mainconf *c,
                   char *err, size_t errlen);
void mainconf_free(struct bk_mainconf *c);

/* Job by name (binary search), NULL if absent. */
const struct bk_jobcfg *mainconf_job(const struct bk_mainconf *c, const char *name);

/* Deep copy of a schedule / free of one (for holders that outlive a config). */
void schedule_copy(struct bk_schedule *dst, const struct bk_schedule *src);
void schedule_free(struct bk_schedule *s);
int schedule_equal(const struct bk_schedule *a, const struct bk_schedule *b);

#endif
