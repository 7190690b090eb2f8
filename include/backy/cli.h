/* cli.h - the global options every tool takes (the backy wrapper passes
 * them on before the tool's own): -l/--logfile FILE, -v/--verbose,
 * -b/--backupdir DIR, -h/--help. A tool lists them in its getopt string
 * (BK_CLI_SHORT, BK_CLI_LONG) next to its own and hands them to
 * bk_cli_option(). */
#ifndef BACKY_CLI_H
#define BACKY_CLI_H

#include <getopt.h>

struct bk_cli {
    const char *logfile;   /* NULL: stdout (or stderr) */
    int verbose;
    const char *dir;       /* job directory; "." when not given */
};

#define BK_CLI_SHORT "l:vb:h"
#define BK_CLI_LONG                                      \
    {"logfile", required_argument, 0, 'l'},              \
    {"verbose", no_argument, 0, 'v'},                    \
    {"backupdir", required_argument, 0, 'b'},            \
    {"help", no_argument, 0, 'h'}

/* --version anywhere among the arguments (before "--"): print
 * "PROG VERSION" (the build's version: git describe, else the Makefile's
 * VERSION) and exit 0. Every main calls it once, after bk_setprog and
 * before its getopt loop. */
void bk_cli_version(int argc, char **argv);
/* The version string alone. */
const char *bk_version(void);

/* Handles l, v, b; for h prints usage to stdout and exits 0; for '?'
 * prints "see --help" and exits 1. Returns 1 when the option was a global
 * one, 0 otherwise. */
int bk_cli_option(struct bk_cli *cli, int opt, const char *arg, const char *usage);
/* Print usage to stderr with an error line and exit 1. */
void bk_usage_error(const char *usage, const char *fmt, ...) __attribute__((noreturn, format(printf, 2, 3)));
/* Open the log as the options say; logs go to stderr when stdout carries
 * data. When it does not, SIGPIPE is ignored (see bk_ignore_sigpipe). */
void bk_cli_log(const struct bk_cli *cli, int stdout_is_data);
/* Absolute path of the job directory (malloc'd). */
char *bk_cli_jobdir(const struct bk_cli *cli);

#endif
