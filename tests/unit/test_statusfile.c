/* test_statusfile.c - the JSON status file reads back what was written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "backy/statusfile.h"
#include "tap.h"


int main(void)
{
    char err[256];
    struct bk_status_job jobs[2] = {
        { "test01", "default", 1, "waiting", 0, 1446724570.25, "daily", 50.7,
          1446810970, "daily,weekly", 86400, 0, 0, 0, 0, 0, -1, 0, -1, "", -1, 3, 1048576, 0, -1, 0, "", 1446724000 },
        { "te\"st02", "frequent", 0, "running", 4242, -1, "", 0, -1, "hourly", 3600, -1,
          1, 2, 3, 1, 1924992000, 4, 1446724000, "source: gone", 1446724060, 0, 0, 2, 1446724500, 3, "push: gone", -1 },
    };
    struct bk_status st = { 1234, 1446700000, 1446724600, 3, 1, 30, "/etc/backy.conf", jobs, 2 };
    struct bk_status rd;

    tap_plan(21);
    char *txt = status_format(&st);
    tap_ok(txt && strstr(txt, "\"2015-11-05 11:56:10 UTC\""), "text time in the file");
    if (!txt)
        return tap_done(); /* nothing to look into */
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
    tap_ok(!rd.jobs[0].dir_missing && rd.jobs[0].failures == 0 && rd.jobs[0].retry_time < 0 &&
       rd.jobs[0].future_time < 0 && !strcmp(rd.jobs[0].last_error, ""),
       "a healthy job: no problems read back");
    tap_ok(rd.jobs[1].dir_missing && rd.jobs[1].incomplete == 2 && rd.jobs[1].quarantined == 3 &&
       rd.jobs[1].future == 1 && rd.jobs[1].future_time == 1924992000 &&
       rd.jobs[1].failures == 4 && rd.jobs[1].failed_time == 1446724000 &&
       !strcmp(rd.jobs[1].last_error, "source: gone") && rd.jobs[1].retry_time == 1446724060,
       "missing directory, counts, failure and retry read back");
    tap_ok(txt && strstr(txt, "\"retry_backup\": \"2015-11-05 11:47:40 UTC\"") &&
       strstr(txt, "\"future_backup\": \"2031-01-01 00:00:00 UTC\""), "retry and future as text");
    tap_ok(rd.jobs[0].revisions == 3 && rd.jobs[0].last_bytes == 1048576 &&
       rd.jobs[1].revisions == 0 && rd.jobs[0].last_verify_time == 1446724000 &&
       rd.jobs[1].last_verify_time < 0 && rd.jobs[1].push_failures == 3 &&
       !strcmp(rd.jobs[1].push_error, "push: gone") && rd.jobs[1].last_push_time == 1446724500,
       "revision count, bytes written, last verify and pushes read back");
    status_free(&rd);
    free(txt);

    /* a file of an older scheduler (no new fields) reads with no problems */
    const char *old = "{\"format\": 1, \"scheduler\": {\"pid\": 1}, \"jobs\": [{\"name\": \"a\", "
                      "\"last_time\": 5, \"sla_ok\": true}]}";
    tap_ok(status_parse(old, strlen(old), "status", &rd, err, sizeof err) == 0 && rd.njobs == 1 &&
       !rd.jobs[0].dir_missing && rd.jobs[0].failures == 0 && rd.jobs[0].quarantined == 0 &&
       rd.jobs[0].future == 0 && rd.jobs[0].retry_time < 0 && !strcmp(rd.jobs[0].last_error, ""),
       "an older status file reads without the new fields");
    status_free(&rd);

    char line[32];
    status_one_line("a\tb\x1b[31m\\c\xc3\xa4", 12, line, sizeof line);
    tap_ok(!strcmp(line, "a\\x09b\\x1b[31m\\x5cc\\xc3\\xa4"), "control characters escaped");
    status_one_line("0123456789012345678901234567890123456789", 40, line, sizeof line);
    tap_ok(strlen(line) == 31 && !strcmp(line + 28, "..."), "long lines cut with ...");

    char dir[] = "/tmp/backy-unit-XXXXXX";
    char lp[64];
    if (mkdtemp(dir)) {
        snprintf(lp, sizeof lp, "%s/backy.log", dir);
        FILE *f = fopen(lp, "w");
        fputs("2026-12-02 01:00:00 [77] ERROR first error of 77\n"
              "2026-12-02 01:00:01 [78] ERROR error of another process\n"
              "2026-12-02 01:00:02 [77] ERROR cannot open source: /x: No such file\x07\n"
              "2026-12-02 01:00:03 [77] INFO after the error\n", f);
        fclose(f);
    }
    char msg[128];
    tap_ok(status_log_error(AT_FDCWD, lp, 77, msg, sizeof msg) == 1 &&
       !strcmp(msg, "cannot open source: /x: No such file\\x07"),
       "the last ERROR line of the process, escaped");
    tap_ok(status_log_error(AT_FDCWD, lp, 79, msg, sizeof msg) == 0 && !msg[0] &&
       status_log_error(AT_FDCWD, "/nonexistent/backy.log", 77, msg, sizeof msg) == 0,
       "no line of the process, no log: not found");
    unlink(lp);
    rmdir(dir);

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
