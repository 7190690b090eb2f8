/* test_telnetproto.c - the telnet shell's input parser. */
#include <stdio.h>
#include <string.h>

#include "backy/telnetproto.h"
#include "tap.h"

/* Feed a string; collect the lines (joined by '|'), overflows ("<long>")
 * and replies ("<IAC cmd opt>"). */
static void run(struct tn_parser *p, const char *in, size_t n, char *out, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char one[TN_MAX_LINE + 16];
        switch (tn_feed(p, (unsigned char)in[i])) {
        case TN_LINE:
            snprintf(one, sizeof one, "%s|", p->line);
            break;
        case TN_OVERFLOW:
            snprintf(one, sizeof one, "<long>|");
            break;
        case TN_REPLY:
            snprintf(one, sizeof one, "<%d %d %d>", p->reply[0], p->reply[1], p->reply[2]);
            break;
        default:
            continue;
        }
        strncat(out, one, len - strlen(out) - 1);
    }
}

int main(void)
{
    struct tn_parser p;
    char out[4096];
    memset(&p, 0, sizeof p);
    run(&p, "jobs\r\nstatus\r\0help\nquit\r", 26, out, sizeof out);
    tap_ok(!strcmp(out, "jobs|status|help|quit|"), "CR LF, CR NUL, LF and CR end lines");
    memset(&p, 0, sizeof p);
    static const char neg[] = "\xff\xfd\x01\xff\xfb\x03\xff\xfc\x05\xff\xfe\x06x\r\n";
    run(&p, neg, sizeof neg - 1, out, sizeof out);
    tap_ok(!strcmp(out, "<255 252 1><255 254 3>x|"),
           "DO is refused with WONT, WILL with DONT, WONT and DONT get no reply");
    memset(&p, 0, sizeof p);
    static const char sb[] = "a\xff\xfa\x18\x01\xff\xff\xff\xf0" "b\xff\xff" "c\xff\xf1\r\n";
    run(&p, sb, sizeof sb - 1, out, sizeof out);
    tap_ok(!strcmp(out, "ab\xff" "c|"), "subnegotiation skipped, IAC IAC is a data byte, NOP ignored");
    memset(&p, 0, sizeof p);
    char big[TN_MAX_LINE + 10];
    memset(big, 'x', sizeof big);
    run(&p, big, sizeof big, out, sizeof out);
    run(&p, "\r\nok\r\n", 6, out, sizeof out);
    tap_ok(!strcmp(out, "<long>|ok|"), "an overlong line is dropped whole, the next one is read");
    memset(&p, 0, sizeof p);
    run(&p, big, TN_MAX_LINE, out, sizeof out);
    run(&p, "\n", 1, out, sizeof out);
    tap_ok(strlen(out) == TN_MAX_LINE + 1, "a line of exactly the maximum length is kept");
    char line[] = " \t jobs \t web.*  \t", *cmd, *arg;
    tn_split(line, &cmd, &arg);
    tap_ok(!strcmp(cmd, "jobs") && !strcmp(arg, "web.*"), "command and argument are split and trimmed");
    char shown[8];
    tn_sanitize("a\x1b[2Jbcdefgh", shown, sizeof shown);
    tap_ok(!strcmp(shown, "a?[2..."), "control bytes shown as '?', long input cut with ...");
    return tap_done();
}
