/* test_statusfile.c - the JSON status file reads back what was written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backy/statusfile.h"
#include "tap.h"


int main(void)
{
    char err[256];
    struct bk_status_job jobs[2] = {
        { "test01", "default", 1, "waiting", 0, 1446724570.25, "daily", 50.7,
          1446810970, "daily,weekly", 86400, 0 },
        { "te\"st02", "frequent", 0, "running", 4242, -1, "", 0, -1, "hourly", 3600, -1 },
    };
    struct bk_status st = { 1234, 1446700000, 1446724600, 3, 1, 30, "/etc/backy.conf", jobs, 2 };
    struct bk_status rd;

    tap_plan(12);
    char *txt = status_format(&st);
    tap_ok(txt && strstr(txt, "\"2015-11-05 11:56:10 UTC\""), "text time in the file");
    tap_ok(txt && txt[strlen(txt) - 1] == '\n', "file ends in a newline");
    tap_ok(status_parse(txt, strlen(txt), "status", &rd, err, sizeof err) == 0, "parses back");
    tap_ok(rd.pid == 1234 && rd.worker_limit == 3 && rd.workers_busy == 1 && rd.njobs == 2,
       "scheduler facts read back");
    tap_ok(rd.written == 1446724600 && rd.status_interval == 30, "written time read back");
    tap_ok(!strcmp(rd.jobs[0].name, "test01") && rd.jobs[0].sla_ok &&
       rd.jobs[0].last_time == 1446724570.25 && rd.jobs[0].last_duration == 50.7,
       "first job read back");
    tap_ok(!strcmp(rd.jobs[1].name, "te\"st02") && !rd.jobs[1].sla_ok && rd.jobs[1].pid == 4242 &&
       rd.jobs[1].last_time < 0 && rd.jobs[1].next_time < 0 && rd.jobs[1].last_exit == -1,
       "second job (quoted name, no times) read back");
    tap_ok(!strcmp(rd.jobs[1].status, "running") && !strcmp(rd.jobs[0].next_tags, "daily,weekly"),
       "status and tags read back");
    status_free(&rd);
    free(txt);

    tap_ok(status_parse("{", 1, "status", &rd, err, sizeof err) == -1 && strstr(err, "status:1:"),
       "syntax error names file and line");
    tap_ok(status_parse("[1,2]", 5, "status", &rd, err, sizeof err) == -1 &&
       strstr(err, "not a backy status file"), "wrong shape refused");
    tap_ok(status_load("/nonexistent/status", &rd, err, sizeof err) == -1 &&
       strstr(err, "No such file"), "missing file reported with reason");
    const char *garbage = "\x01\x02\xff\xfe";
    tap_ok(status_parse(garbage, 4, "status", &rd, err, sizeof err) == -1, "binary garbage refused");
    return tap_done();
}
