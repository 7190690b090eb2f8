/* cli.c - global options shared by all tools. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backy/cli.h"
#include "backy/log.h"
#include "backy/util.h"
/* BUILD/version.h, made by the Makefile; builds without it (the fuzz
 * harnesses) say "unknown" */
#if defined(__has_include)
#if __has_include("version.h")
#include "version.h"
#endif
#endif
#ifndef BACKY_VERSION
#define BACKY_VERSION "unknown"
#endif

const char *bk_version(void)
{
    return BACKY_VERSION;
}

void bk_cli_version(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return;
        if (!strcmp(argv[i], "--version")) {
            printf("%s %s\n", bk_prog, BACKY_VERSION);
            exit(fflush(stdout) == 0 ? 0 : 1);
        }
    }
}

int bk_cli_option(struct bk_cli *cli, int opt, const char *arg, const char *usage)
{
    switch (opt) {
    case 'l':
        cli->logfile = arg;
        return 1;
    case 'v':
        cli->verbose = 1;
        return 1;
    case 'b':
        cli->dir = arg;
        return 1;
    case 'h':
        fputs(usage, stdout);
        exit(0);
    case '?':
        fprintf(stderr, "%s: error: bad option (see %s --help)\n", bk_prog, bk_prog);
        exit(1);
    default:
        return 0;
    }
}

void bk_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    char msg[2048], esc[4 * sizeof msg];
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    bk_escape(esc, sizeof esc, msg);
    fprintf(stderr, "%s: error: %s\n", bk_prog, esc);
    fputs(usage, stderr);
    exit(1);
}

void bk_cli_log(const struct bk_cli *cli, int stdout_is_data)
{
    /* Where stdout only carries log lines, a reader that goes away (`|
     * head -1`) must not kill the program half way through a backup or a
     * restore: the write fails with EPIPE and the log moves to stderr
     * (log.c). Where stdout is the data, SIGPIPE ends the program as usual. */
    if (!stdout_is_data)
        bk_ignore_sigpipe();
    else if (bk_std_closed(1))
        bk_die("cannot write to stdout: it is closed");
    if (log_open(cli->logfile, cli->verbose, stdout_is_data) < 0)
        bk_die_errno("cannot open log file: %s", cli->logfile);
}

char *bk_cli_jobdir(const struct bk_cli *cli)
{
    char *d = bk_abspath(cli->dir ? cli->dir : ".");
    if (!d)
        bk_die_errno("cannot determine the current directory");
    return d;
}
