/* backy - the front command: global options, then the sibling tool that
 * does the work (found beside this executable, never through PATH). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy [-l LOGFILE] [-v] [-b DIRECTORY] [-c CONFIG] [-h] ACTION [OPTIONS]\n"
    "\n"
    "global options:\n"
    "  -l, --logfile LOGFILE    append log lines to LOGFILE (default: stdout)\n"
    "  -v, --verbose            include debug messages\n"
    "  -b, --backupdir DIR      job directory (default: the current directory)\n"
    "  -c, --config CONFIG      main configuration (scheduler, check, expire; default /etc/backy.conf)\n"
    "  -h, --help               this text; 'backy ACTION --help' for an action\n"
    "      --version            the version of backy\n"
    "\n"
    "actions:\n"
    "  init TYPE SOURCE         create a job directory and its config (types: file, ceph-rbd, flyingcircus)\n"
    "  backup TAGS              make a new revision, tagged with comma-separated TAGS\n"
    "  find [-r REVISION] [--force]   print the image path of a revision\n"
    "  restore [-r REV] [--force] [--no-verify] TARGET   copy a revision, checked, to a file, device or -\n"
    "  status                   list the revisions of a job\n"
    "  verify [-r REVISION|--all] [--rate-limit MIBPS]   check images against their block\n"
    "                           checksums, record the result; damaged ones are quarantined\n"
    "  scheduler [-c CONFIG]    run every job of the main configuration on its schedule\n"
    "  check [-c CONFIG]        Nagios check: are all jobs backed up in time?\n"
    "  telnetd                  the read-only telnet shell (normally started by the scheduler)\n"
    "  forget -r REVISION       remove one revision\n"
    "  tags -r REVISION set|add|remove TAGS   change the tags of a revision\n"
    "  expire [-c CONFIG] [--dry-run] [JOB...]   apply the retention of the main configuration\n"
    "  send [-r REV] [--base BASE]   write a revision to stdout as a replication stream\n"
    "  receive                  read a replication stream from stdin into the job (created if missing)\n"
    "  push [--all] [USER@]HOST:DIR | DIR   copy the revisions the other job lacks (over ssh)\n"
    "  revisions --json         the job's revisions as JSON (what push asks the other side)\n"
    "  mount [-r REVISION] [--partition N] MOUNTPOINT   mount a revision's filesystem read-only\n"
    "  umount MOUNTPOINT        unmount it and detach its loop device\n"
    "  backup, restore, verify, send: --progress / --no-progress (default: a progress line\n"
    "                           when stderr is a terminal); receive: --progress (default: none)\n"
    "  status, find, verify, check, expire: --json (one JSON document on stdout)\n"
    "\n"
    "Exit status: 0 on success, 1 otherwise; check: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n";

/* action -> tool; nothing else is ever executed */
static const struct { const char *action, *tool; } actions[] = {
    {"init", "backy-init"},       {"backup", "backy-backup"},   {"find", "backy-find"},
    {"restore", "backy-restore"}, {"status", "backy-status"},   {"verify", "backy-verify"},
    {"scheduler", "backy-sched"}, {"check", "backy-check"},     {"telnetd", "backy-telnetd"},
    {"forget", "backy-forget"},   {"tags", "backy-tags"},       {"expire", "backy-expire"},
    {"send", "backy-send"},       {"receive", "backy-receive"}, {"push", "backy-push"},
    {"revisions", "backy-revisions"},
    {"mount", "backy-mount"},     {"umount", "backy-umount"},
};

int main(int argc, char **argv)
{
    bk_setprog("backy");
    bk_cli_version(argc, argv);
    static const struct option longopts[] = {
        {"logfile", required_argument, 0, 'l'}, {"verbose", no_argument, 0, 'v'},
        {"backupdir", required_argument, 0, 'b'}, {"config", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    /* global options, in order, to pass on */
    char **pass = bk_calloc((size_t)argc * 2 + 4, sizeof *pass);
    int np = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "+l:vb:c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l': pass[np++] = "-l"; pass[np++] = optarg; break;
        case 'v': pass[np++] = "-v"; break;
        case 'b': pass[np++] = "-b"; pass[np++] = optarg; break;
        case 'c': pass[np++] = "-c"; pass[np++] = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default:
            fprintf(stderr, "backy: error: bad option (see backy --help)\n");
            return 1;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "backy: error: no ACTION given\n%s", usage);
        return 1;
    }
    const char *action = argv[optind++];
    const char *tool = NULL;
    for (size_t i = 0; i < sizeof actions / sizeof actions[0]; i++)
        if (!strcmp(action, actions[i].action))
            tool = actions[i].tool;
    if (!tool) {
        fprintf(stderr, "backy: error: unknown action '%s' (see backy --help)\n", action);
        return 1;
    }
    /* -c belongs to the tools that read the main configuration only */
    if (strcmp(tool, "backy-sched") && strcmp(tool, "backy-check") && strcmp(tool, "backy-telnetd") &&
        strcmp(tool, "backy-expire")) {
        int o = 1;
        for (int i = 1; i < np; i++) {
            if (!strcmp(pass[i], "-c")) {
                i++;
                continue;
            }
            pass[o++] = pass[i];
        }
        np = o;
    }
    /* the tool lives beside us */
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        bk_die_errno("cannot find my own executable: /proc/self/exe");
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    char *path = bk_asprintf("%s/%s", self, tool);
    pass[0] = (char *)tool;
    while (optind < argc)
        pass[np++] = argv[optind++];
    pass[np] = NULL;
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    execv(path, pass);
    bk_die_errno("cannot run %s", path);
}
