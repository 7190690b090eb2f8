/* test_launcher.c - the launcher's request parser (launchmsg.h): every
 * malformed or out-of-bounds request from the scheduler is refused. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "backy/launchmsg.h"
#include "tap.h"

#define BASE "/srv/backy"

static struct lm_request out;
static char err[8192];

static int parse(const struct lm_request *r)
{
    err[0] = '\0';
    return lm_parse_request(r, sizeof *r, BASE, &out, err, sizeof err);
}

static int backup_ok(const char *dir, const char *tags)
{
    struct lm_request r;
    if (lm_make_backup(&r, 7, dir, tags) < 0)
        return -2;
    return parse(&r);
}

int main(void)
{
    struct lm_request r;

    /* well-formed requests pass and are copied out */
    tap_ok(backup_ok(BASE "/vm01", "daily,weekly") == 0 && out.seq == 7 &&
               out.op == LM_BACKUP && !strcmp(out.dir, BASE "/vm01") &&
               !strcmp(out.tags, "daily,weekly"),
           "backup of a job below base-dir with two tags");
    tap_ok(backup_ok(BASE "/a.b-c_d", "x_1.2:3@4+5-6") == 0, "every tag character");
    tap_ok(lm_make_telnet(&r, 1, 6023, "127.0.0.1, ::1", "nobody") == 0 && parse(&r) == 0,
           "telnet request");
    lm_make_signal(&r, 2, 1234, SIGTERM);
    tap_ok(parse(&r) == 0 && out.pid == 1234, "SIGTERM request");
    lm_make_signal(&r, 2, 1234, SIGKILL);
    tap_ok(parse(&r) == 0, "SIGKILL request");

    /* job directories */
    tap_ok(backup_ok("vm01", "daily") < 0, "relative job directory refused");
    tap_ok(backup_ok("/srv/backyX/vm01", "daily") < 0, "sibling of base-dir refused");
    tap_ok(backup_ok("/srv/other/vm01", "daily") < 0, "directory elsewhere refused");
    tap_ok(backup_ok(BASE, "daily") < 0 && backup_ok(BASE "/", "daily") < 0,
           "base-dir itself refused");
    tap_ok(backup_ok(BASE "/../etc", "daily") < 0 && strstr(err, "job directory"),
           "'..' refused with a reason");
    tap_ok(backup_ok(BASE "/vm01/..", "daily") < 0, "trailing '..' refused");
    tap_ok(backup_ok(BASE "/./vm01", "daily") < 0, "'.' component refused");
    tap_ok(backup_ok(BASE "//vm01", "daily") < 0, "empty component refused");
    tap_ok(backup_ok(BASE "/vm01/", "daily") < 0, "trailing slash refused");
    tap_ok(backup_ok(BASE "/vm\n01", "daily") < 0, "control character refused");
    tap_ok(backup_ok(BASE "/..vm", "daily") == 0, "a name merely starting with '..' is fine");
    tap_ok(lm_valid_jobdir("/", "/vm01") && !lm_valid_jobdir("/", "/") &&
               lm_valid_jobdir(BASE "/", BASE "/vm01"),
           "base-dir / and a trailing slash on base-dir");

    /* tags */
    tap_ok(backup_ok(BASE "/vm01", "") < 0, "no tags refused");
    tap_ok(backup_ok(BASE "/vm01", "-v") < 0, "option-like tag refused");
    tap_ok(backup_ok(BASE "/vm01", "daily weekly") < 0, "space refused");
    tap_ok(backup_ok(BASE "/vm01", "daily,,weekly") < 0, "empty tag refused");
    tap_ok(backup_ok(BASE "/vm01", ",daily") < 0 && backup_ok(BASE "/vm01", "daily,") < 0,
           "leading or trailing comma refused");
    tap_ok(backup_ok(BASE "/vm01", "da/ily") < 0 && backup_ok(BASE "/vm01", "t\xc3\xa4g") < 0,
           "characters outside the tag syntax refused");

    /* telnet */
    tap_ok(lm_make_telnet(&r, 1, 0, "127.0.0.1", "nobody") == 0 && parse(&r) < 0,
           "port 0 refused");
    tap_ok(lm_make_telnet(&r, 1, 65536, "127.0.0.1", "nobody") == 0 && parse(&r) < 0,
           "port 65536 refused");
    tap_ok(lm_make_telnet(&r, 1, 23, "-x", "nobody") == 0 && parse(&r) < 0,
           "option-like address refused");
    tap_ok(lm_make_telnet(&r, 1, 23, "127.0.0.1;rm", "nobody") == 0 && parse(&r) < 0,
           "odd address character refused");
    tap_ok(lm_make_telnet(&r, 1, 23, "127.0.0.1", "") == 0 && parse(&r) < 0,
           "empty user refused");
    tap_ok(lm_make_telnet(&r, 1, 23, "127.0.0.1", "-root") == 0 && parse(&r) < 0,
           "option-like user refused");
    tap_ok(lm_make_telnet(&r, 1, 23, "127.0.0.1", "a/b") == 0 && parse(&r) < 0,
           "odd user character refused");

    /* signals */
    lm_make_signal(&r, 2, 1234, SIGHUP);
    tap_ok(parse(&r) < 0, "SIGHUP refused");
    lm_make_signal(&r, 2, 1234, 0);
    tap_ok(parse(&r) < 0, "signal 0 refused");
    lm_make_signal(&r, 2, 1, SIGTERM);
    tap_ok(parse(&r) < 0, "pid 1 refused");
    lm_make_signal(&r, 2, -1, SIGKILL);
    tap_ok(parse(&r) < 0, "pid -1 (every process) refused");
    lm_make_signal(&r, 2, 0, SIGKILL);
    tap_ok(parse(&r) < 0, "pid 0 (process group) refused");

    /* framing */
    lm_make_backup(&r, 3, BASE "/vm01", "daily");
    tap_ok(lm_parse_request(&r, sizeof r - 1, BASE, &out, err, sizeof err) < 0,
           "short packet refused");
    {
        unsigned char big[sizeof r + 1];
        memcpy(big, &r, sizeof r);
        big[sizeof r] = 0;
        tap_ok(lm_parse_request(big, sizeof big, BASE, &out, err, sizeof err) < 0,
               "long packet refused");
    }
    tap_ok(lm_parse_request(&r, 0, BASE, &out, err, sizeof err) < 0, "empty packet refused");
    r.op = 99;
    tap_ok(parse(&r) < 0 && strstr(err, "unknown"), "unknown operation refused");
    r.op = 0;
    tap_ok(parse(&r) < 0, "operation 0 refused");
    lm_make_backup(&r, 3, BASE "/vm01", "daily");
    memset(r.tags, 'a', sizeof r.tags);
    tap_ok(parse(&r) < 0, "unterminated tags refused");
    lm_make_backup(&r, 3, BASE "/vm01", "daily");
    memset(r.user, 'a', sizeof r.user);
    tap_ok(parse(&r) < 0, "an unterminated unused field is refused too");
    memset(&out, 0x5a, sizeof out);
    lm_make_backup(&r, 3, BASE "/../x", "daily");
    parse(&r);
    tap_ok(out.op == 0x5a5a5a5a, "a refused request is not copied out");

    /* building requests */
    {
        char *longdir = malloc(LM_DIR_MAX + 10);
        memset(longdir, 'a', LM_DIR_MAX + 9);
        longdir[LM_DIR_MAX + 9] = '\0';
        tap_ok(lm_make_backup(&r, 1, longdir, "daily") < 0, "too long a directory is not sent");
        free(longdir);
    }

    /* push requests */
    tap_ok(lm_make_push(&r, 3, BASE "/vm01", "backup2.example.com:/srv/backy/vm01") == 0 &&
               parse(&r) == 0 && out.op == LM_PUSH &&
               !strcmp(out.target, "backup2.example.com:/srv/backy/vm01"),
           "push to HOST:/DIR");
    tap_ok(lm_make_push(&r, 3, BASE "/vm01", "/mnt/copy/vm01") == 0 && parse(&r) == 0,
           "push to a local directory");
    tap_ok(lm_make_push(&r, 3, BASE "/vm01", "backy@10.0.0.2:/b/vm") == 0 && parse(&r) == 0,
           "push to USER@HOST:/DIR");
    tap_ok(lm_make_push(&r, 3, "/etc", "/mnt/copy") == 0 && parse(&r) < 0 &&
               strstr(err, "job directory"),
           "push of a directory outside base-dir refused");
    tap_ok(lm_make_push(&r, 3, BASE "/vm01", "-oProxyCommand=x:/a") == 0 && parse(&r) < 0 &&
               strstr(err, "push target"),
           "a target that reads as an option refused");
    tap_ok(!lm_valid_target("") && !lm_valid_target("relative/dir") &&
               !lm_valid_target("host:relative") && !lm_valid_target("/a\nb") &&
               !lm_valid_target("/a\033b") && !lm_valid_target("@host:/a") &&
               !lm_valid_target("user@-host:/a") && !lm_valid_target("ho st:/a") &&
               !lm_valid_target("a;b:/c") && !lm_valid_target(":/a"),
           "empty, relative, control characters, odd user or host refused");
    {
        char *longt = malloc(LM_TARGET_MAX + 1);
        memset(longt, 'a', LM_TARGET_MAX);
        longt[0] = '/';
        longt[LM_TARGET_MAX] = '\0';
        tap_ok(!lm_valid_target(longt) && lm_make_push(&r, 3, BASE "/vm01", longt) < 0,
               "a target too long refused");
        longt[LM_TARGET_MAX - 1] = '\0';
        tap_ok(lm_valid_target(longt) && lm_make_push(&r, 3, BASE "/vm01", longt) == 0 &&
                   parse(&r) == 0,
               "a target of LM_TARGET_MAX - 1 bytes is fine");
        free(longt);
    }
    memset(&r, 0, sizeof r);
    r.op = LM_PUSH;
    strcpy(r.dir, BASE "/vm01");
    memset(r.target, 'a', sizeof r.target);
    tap_ok(parse(&r) < 0 && strstr(err, "unterminated"), "unterminated target refused");

    /* replies */
    struct lm_reply rep = { .kind = LM_EXITED, .pid = 42, .status = 0 }, got;
    tap_ok(lm_parse_reply(&rep, sizeof rep, &got) == 0 && got.pid == 42, "exit report");
    tap_ok(lm_parse_reply(&rep, sizeof rep - 1, &got) < 0, "short reply refused");
    rep.kind = 9;
    tap_ok(lm_parse_reply(&rep, sizeof rep, &got) < 0, "unknown reply refused");
    rep.kind = LM_EXITED;
    rep.pid = 0;
    tap_ok(lm_parse_reply(&rep, sizeof rep, &got) < 0, "exit report without a pid refused");

    /* the scrub: backy-verify of a job directory at a bounded rate */
    tap_ok(lm_make_verify(&r, 9, BASE "/vm01", 50) == 0 && parse(&r) == 0 &&
               out.op == LM_VERIFY && out.rate == 50 && !strcmp(out.dir, BASE "/vm01"),
           "scrub request of a job below base-dir");
    tap_ok(lm_make_verify(&r, 9, BASE "/../etc", 50) == 0 && parse(&r) < 0 &&
               strstr(err, "job directory"),
           "scrub of a directory outside base-dir refused");
    tap_ok(lm_make_verify(&r, 9, BASE "/vm01", 0) == 0 && parse(&r) < 0 &&
               strstr(err, "scrub rate"),
           "scrub rate 0 refused");
    tap_ok(lm_make_verify(&r, 9, BASE "/vm01", LM_RATE_MAX + 1) == 0 && parse(&r) < 0,
           "scrub rate above the maximum refused");
    tap_ok(lm_make_verify(&r, 9, BASE "/vm01", -5) == 0 && parse(&r) < 0,
           "negative scrub rate refused");

    return tap_done();
}
