/* test_metrics.c - the Prometheus text format of the scheduler's metrics. */
#include <stdlib.h>
#include <string.h>

#include "backy/metrics.h"
#include "tap.h"

int main(void)
{
    struct bk_status_job j[2];
    memset(j, 0, sizeof j);
    j[0].name = "vm1";
    j[0].status = "waiting";
    j[0].sla_ok = 1;
    j[0].last_time = 1446667772.5;
    j[0].last_duration = 12.25;
    j[0].next_time = 1446754172;
    j[0].min_interval = 86400;
    j[0].last_exit = 0;
    j[0].revisions = 7;
    j[0].last_bytes = 4194304;
    j[0].quarantined = 2;
    j[0].failed_time = -1;
    j[0].retry_time = -1;
    j[0].push_targets = 2;
    j[0].last_push_time = 1446667800;
    j[1].last_push_time = -1;
    j[0].last_verify_time = 1446667900;
    j[1].last_verify_time = -1;
    j[1].name = "odd\"name\\x";
    j[1].status = "failed";
    j[1].last_time = -1;
    j[1].next_time = -1;
    j[1].min_interval = 3600;
    j[1].last_exit = 1;
    j[1].failures = 3;
    j[1].failed_time = 1446667000;
    j[1].retry_time = 1446667240;
    struct bk_status st = { .pid = 1, .started = 100, .written = 200, .worker_limit = 2,
                            .workers_busy = 0, .jobs = j, .njobs = 2 };
    char *m = metrics_format(&st);
    tap_ok(m != NULL, "metrics are formatted");
    if (!m)
        return tap_done(); /* nothing to look into */
    tap_ok(strstr(m, "# TYPE backy_job_last_success_time_seconds gauge\n") &&
               strstr(m, "backy_job_last_success_time_seconds{job=\"vm1\"} 1446667772.5\n"),
           "the last successful backup per job, with HELP and TYPE");
    tap_ok(!strstr(m, "backy_job_last_success_time_seconds{job=\"odd"),
           "a job without a backup has no last-success sample");
    tap_ok(strstr(m, "backy_job_failed{job=\"odd\\\"name\\\\x\"} 1\n") != NULL,
           "label values escape double quotes and backslashes");
    tap_ok(strstr(m, "backy_job_sla_ok{job=\"vm1\"} 1\n") &&
               strstr(m, "backy_job_sla_ok{job=\"odd\\\"name\\\\x\"} 0\n"),
           "SLA state per job");
    tap_ok(strstr(m, "backy_job_revisions{job=\"vm1\"} 7\n") &&
               strstr(m, "backy_job_last_written_bytes{job=\"vm1\"} 4194304\n") &&
               strstr(m, "backy_job_quarantined_revisions{job=\"vm1\"} 2\n"),
           "revisions, bytes written and quarantined revisions per job");
    tap_ok(strstr(m, "backy_job_consecutive_failures{job=\"odd\\\"name\\\\x\"} 3\n") &&
               strstr(m, "backy_job_retry_time_seconds{job=\"odd\\\"name\\\\x\"} 1446667240\n") &&
               !strstr(m, "backy_job_retry_time_seconds{job=\"vm1\"}"),
           "failures and the retry time; no retry sample without one");
    tap_ok(strstr(m, "backy_job_last_push_time_seconds{job=\"vm1\"} 1446667800\n") &&
               strstr(m, "backy_job_push_failures{job=\"vm1\"} 0\n") &&
               !strstr(m, "backy_job_push_failures{job=\"odd") &&
               !strstr(m, "backy_job_last_push_time_seconds{job=\"odd"),
           "push time and failures only for jobs with push targets");
    tap_ok(strstr(m, "backy_job_last_verify_time_seconds{job=\"vm1\"} 1446667900\n") &&
               !strstr(m, "backy_job_last_verify_time_seconds{job=\"odd"),
           "the last scrub (newest verify record) per job");
    tap_ok(m[strlen(m) - 1] == '\n', "the text ends with a newline");
    free(m);
    return tap_done();
}
