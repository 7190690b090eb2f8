/* test_mainconf.c - main configuration: defaults, backy 2.0 spelling, and
 * errors that name line and column. */
#include <stdio.h>
#include <string.h>

#include "backy/mainconf.h"
#include "tap.h"


static const char good[] =
    "global:\n"
    "    base-dir: /b\n"
    "    worker-limit: 3\n"
    "    telnet_port: 7000\n"
    "schedules:\n"
    "    default:\n"
    "        daily: {interval: 1d, keep: 7}\n"
    "        weekly:\n"
    "            interval: 1w\n"
    "            keep: 4\n"
    "jobs:\n"
    "    zeta:\n"
    "        schedule: default\n"
    "        source: {type: file, filename: /x}\n"
    "    alpha:\n"
    "        schedule: default\n"
    "        source:\n"
    "            type: file\n"
    "            filename: /y\n";

static int bad(const char *txt, const char *want, const char *desc)
{
    struct bk_mainconf c;
    char err[512] = "";
    int rc = mainconf_parse(txt, strlen(txt), "conf", &c, err, sizeof err);
    if (rc == 0)
        mainconf_free(&c);
    int good_err = rc == -1 && strstr(err, want) != NULL;
    if (!good_err)
        printf("# got: rc %d err '%s', wanted '%s'\n", rc, err, want);
    tap_ok(good_err, desc);
    return good_err;
}

#define HEAD "schedules:\n  s:\n    daily: {interval: 1d, keep: 7}\njobs:\n"

int main(void)
{
    struct bk_mainconf c;
    char err[512];

    tap_plan(25);
    tap_ok(mainconf_parse(good, sizeof good - 1, "conf", &c, err, sizeof err) == 0, "good config");
    tap_ok(!strcmp(c.base_dir, "/b") && c.worker_limit == 3 && c.telnet_port == 7000 &&
       !strcmp(c.status_file, "/b/status") && c.status_interval == 30 &&
       !strcmp(c.telnet_addrs, "127.0.0.1, ::1") && c.retry_delay == 60,
       "global: settings and defaults");
    tap_ok(c.nscheds == 1 && c.scheds[0].n == 2 && c.scheds[0].iv[1].interval == 604800 &&
       c.scheds[0].iv[1].keep == 4, "schedule intervals");
    tap_ok(c.njobs == 2 && !strcmp(c.jobs[0].name, "alpha") && mainconf_job(&c, "zeta") &&
       !mainconf_job(&c, "nope"), "jobs sorted, found by name");
    tap_ok(!strcmp(srccfg_get(&c.jobs[1].src, "filename"), "/x"), "job source read");
    mainconf_free(&c);

    const char *off = "config:\n  telnet: off\n";
    tap_ok(mainconf_parse(off, strlen(off), "conf", &c, err, sizeof err) == 0 && c.telnet_port == 0,
       "telnet: off turns the shell off");
    mainconf_free(&c);

    const char *rd = "config:\n  retry-delay: 5m\n";
    tap_ok(mainconf_parse(rd, strlen(rd), "conf", &c, err, sizeof err) == 0 && c.retry_delay == 300,
       "retry-delay read");
    mainconf_free(&c);
    bad("config:\n  retry-delay: soon\n", "conf:2:16: retry-delay: bad duration 'soon'",
        "bad retry-delay at its line:col");

    bad("a: [", "conf:", "YAML syntax error named");
    bad(HEAD "  j:\n    schedule: nope\n    source: {type: file, filename: /x}\n",
        "conf:6:15: job 'j': unknown schedule 'nope'", "unknown schedule at its line:col");
    bad("schedules:\n  s:\n    daily: {interval: 1x, keep: 7}\n", "conf:3:23: bad interval '1x'",
        "bad duration");
    bad("schedules:\n  s:\n    daily: {interval: 1d, keep: 0}\n", "keep must be a positive",
        "keep 0 refused");
    bad("schedules:\n  s:\n    daily: {interval: 1d, keep: -2}\n", "keep must be a positive",
        "negative keep refused");
    bad(HEAD "  j:\n    schedule: s\n    source: {filename: /x}\n", "source has no 'type'",
        "missing source type");
    bad("config:\n  base_dri: /x\n", "conf:2:3: unknown setting 'base_dri'", "typo in config key");
    bad(HEAD "  j:\n    schedul: s\n", "conf:6:5: unknown key 'schedul'", "typo in job key");
    bad(HEAD "  ../x:\n    schedule: s\n    source: {type: file, filename: /x}\n",
        "bad job name", "job name with a slash");
    bad("config:\n  worker-limit: 0\n", "worker-limit must be", "worker-limit 0 refused");
    bad("jobz:\n  a: 1\n", "conf:1:1: unknown section 'jobz'", "typo in a section");

    /* the scrub: defaults, global settings, per-job override, off */
    tap_ok(mainconf_parse(good, sizeof good - 1, "conf", &c, err, sizeof err) == 0 &&
               c.scrub_interval == 7 * 86400 && c.scrub_rate == 50 &&
               c.jobs[0].scrub_interval == -1,
           "scrub defaults: weekly, 50 MiB/s, no per-job override");
    mainconf_free(&c);
    const char *sc = "config:\n  scrub-interval: 3d\n  scrub_rate: 20\n" HEAD
                     "  j:\n    schedule: s\n    scrub-interval: off\n"
                     "    source: {type: file, filename: /x}\n"
                     "  k:\n    schedule: s\n    scrub-interval: 12h\n"
                     "    source: {type: file, filename: /x}\n";
    tap_ok(mainconf_parse(sc, strlen(sc), "conf", &c, err, sizeof err) == 0 &&
               c.scrub_interval == 3 * 86400 && c.scrub_rate == 20 &&
               mainconf_job(&c, "j")->scrub_interval == 0 &&
               mainconf_job(&c, "k")->scrub_interval == 12 * 3600,
           "scrub-interval and scrub-rate, global and per job");
    mainconf_free(&c);
    bad("config:\n  scrub-interval: weekly\n", "conf:2:19: scrub-interval: bad duration",
        "bad scrub-interval");
    bad("config:\n  scrub-rate: 0\n", "scrub-rate must be", "scrub-rate 0 refused");
    bad("config:\n  scrub-rate: fast\n", "scrub-rate must be", "scrub-rate not a number");
    bad(HEAD "  j:\n    schedule: s\n    scrub-interval: 1x\n    source: {type: file, filename: /x}\n",
        "conf:7:21: scrub-interval: bad duration", "bad per-job scrub-interval");
    return tap_done();
}
