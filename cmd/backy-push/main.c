/* backy-push - copy the revisions another job directory lacks to it,
 * locally or over ssh: ask the other side which revisions it holds, then
 * for each missing one, oldest first, run backy-send against the newest
 * revision both sides hold into backy receive on the other side. One
 * receive session (backy receive --session, one ssh connection) answers
 * the question and takes every stream; where the other side does not know
 * sessions, backy revisions --json and one backy receive per revision, over
 * one shared ssh connection (ControlMaster). Idempotent and resumable: what the
 * other side holds complete is never sent again, and an interrupted receive
 * leaves an incomplete revision that the next receive removes.
 *
 * The ssh command comes from BACKY_SSH (default "ssh", split on spaces),
 * the remote program from BACKY_REMOTE_BACKY (default "backy"). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/log.h"
#include "backy/revision.h"
#include "backy/sandbox.h"
#include "backy/util.h"

static const char usage[] =
    "usage: backy-push [-l LOGFILE] [-v] [-b DIR] [--all] [USER@]HOST:TARGETDIR | TARGETDIR\n"
    "Copies the revisions of the job in DIR that the job in TARGETDIR lacks,\n"
    "oldest first, each as an incremental stream against the newest revision\n"
    "both hold (backy send | backy receive). HOST:TARGETDIR goes through ssh\n"
    "(BACKY_SSH, default \"ssh\"; the remote program is BACKY_REMOTE_BACKY,\n"
    "default \"backy\", on the remote PATH); a TARGETDIR alone is local.\n"
    "TARGETDIR is created when missing.\n"
    "  --all   also send revisions older than the newest one both hold\n"
    "Exit status: 0 on success, 1 otherwise.\n";

/* Push only reads the job, but it starts backy-send, ssh and (locally)
 * backy-receive, which inherit its filter until they load their own: so it
 * allows what they need to start, ssh to connect (and listen on the socket
 * of its shared connection) and receive to write. */
static const int push_extra[] = {__NR_listen, -1};   /* ssh's shared connection */
static struct sb_policy policy = {
    .name = "backy-push",
    .groups = SB_BASE | SB_WRITE | SB_PROC | SB_POLL | SB_NET_CLIENT | SB_NET_SERVE | SB_THREADS,
    .extra = push_extra,
};

static char **ssh_argv;   /* BACKY_SSH split, NULL when local */
static size_t ssh_argc;
static char *mux_dir;     /* private directory of the shared connection's socket */
static int mux_started;   /* ssh was told to use it */
static char *ssh_copy;    /* BACKY_SSH, split in place into ssh_argv */
static const char *host, *tdir, *target;
static char *tooldir, *jobdir;
static const char *verbose_flag, *logfile;

/* Single-quoted for the remote shell. */
static char *shq(const char *s)
{
    size_t n = 3;
    for (const char *p = s; *p; p++)
        n += *p == '\'' ? 4 : 1;
    char *o = bk_malloc(n), *q = o;
    *q++ = '\'';
    for (const char *p = s; *p; p++) {
        if (*p == '\'') {
            memcpy(q, "'\\''", 4);
            q += 4;
        } else {
            *q++ = *p;
        }
    }
    *q++ = '\'';
    *q = '\0';
    return o;
}

/* argv of the other side's action, and the one string of it that was
 * allocated (the rest belongs to the caller or to ssh_argv) */
struct rcmd {
    char **argv;
    char *owned;
};

/* The other side's action: local tool beside us, or ssh HOST CMD. */
static struct rcmd remote_argv(const char *action, const char *extra1, const char *extra2,
                               const char *extra3)
{
    char **a = bk_calloc(ssh_argc + 12, sizeof *a);
    size_t n = 0;
    if (!ssh_argv) {
        char *tool = bk_asprintf("%s/backy-%s", tooldir, action);
        a[n++] = tool;
        a[n++] = "-b";
        a[n++] = (char *)tdir;
        if (verbose_flag)
            a[n++] = (char *)verbose_flag;
        if (extra1)
            a[n++] = (char *)extra1;
        if (extra2)
            a[n++] = (char *)extra2;
        if (extra3)
            a[n++] = (char *)extra3;
        return (struct rcmd){ a, tool };
    }
    for (size_t i = 0; i < ssh_argc; i++)
        a[n++] = ssh_argv[i];
    a[n++] = "--";
    a[n++] = (char *)host;
    const char *rb = getenv("BACKY_REMOTE_BACKY");
    char *qb = shq(rb && *rb ? rb : "backy"), *qd = shq(tdir);
    char *q1 = extra1 ? shq(extra1) : bk_strdup(""), *q2 = extra2 ? shq(extra2) : bk_strdup("");
    char *q3 = extra3 ? shq(extra3) : bk_strdup("");
    /* exactly: BACKY [-v] -b 'DIR' ACTION ['ARG' ['ARG' ['ARG']]] (the
     * forced command of doc/replication.md parses this) */
    char *cmd = bk_asprintf("%s%s -b %s %s%s%s%s%s%s%s", qb, verbose_flag ? " -v" : "", qd, action,
                            extra1 ? " " : "", q1, extra2 ? " " : "", q2, extra3 ? " " : "", q3);
    a[n++] = cmd;
    free(qb);
    free(qd);
    free(q1);
    free(q2);
    free(q3);
    return (struct rcmd){ a, cmd };
}

/* Free what remote_argv allocated. */
static void rcmd_free(struct rcmd *c)
{
    free(c->owned);
    free(c->argv);
}

/* Start argv with stdin/stdout/stderr redirected (-1: inherit). */
static pid_t spawn_err(char **argv, int in, int out, int errfd, int close1, int close2)
{
    pid_t p = fork();
    if (p < 0)
        bk_die_errno("cannot fork");
    if (p == 0) {
        if (in >= 0 && dup2(in, STDIN_FILENO) < 0)
            _exit(127);
        if (out >= 0 && dup2(out, STDOUT_FILENO) < 0)
            _exit(127);
        if (errfd >= 0 && errfd != STDERR_FILENO && dup2(errfd, STDERR_FILENO) < 0)
            _exit(127);
        if (close1 >= 0)
            close(close1);
        if (close2 >= 0)
            close(close2);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        fprintf(stderr, "%s: error: cannot run %s: %s\n", bk_prog, argv[0], strerror(errno));
        _exit(127);
    }
    return p;
}

static pid_t spawn(char **argv, int in, int out, int close1, int close2)
{
    return spawn_err(argv, in, out, -1, close1, close2);
}

static int wait_for(pid_t p, const char *what)
{
    int st;
    while (waitpid(p, &st, 0) < 0)
        if (errno != EINTR)
            bk_die_errno("cannot wait for %s", what);
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    log_warn("%s killed by signal %d", what, WTERMSIG(st));
    return 128 + WTERMSIG(st);
}

struct rrev {
    char *id;
    int complete;
};

static char **parse_answer(char *buf, size_t len, int session, size_t *np);

/* The answer to a revisions query from fd (malloc'd, *lenp bytes, at most
 * 64 MiB): up to the end of input, or with line, up to the end of the read
 * that brought the first newline. */
static char *read_answer(int fd, int line, size_t *lenp)
{
    size_t cap = 65536, len = 0;
    char *buf = bk_malloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap >= 64u << 20)
                bk_die("answer of %s to the revisions query is too large", target);
            cap *= 2;
            buf = bk_realloc(buf, cap);
        }
        ssize_t k = read(fd, buf + len, cap - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            bk_die_errno("cannot read the answer of %s", target);
        if (k == 0)
            break;
        len += (size_t)k;
        if (line && memchr(buf + len - (size_t)k, '\n', (size_t)k))
            break;
    }
    *lenp = len;
    return buf;
}

/* The other side's revisions (ids of complete ones), asked on their own
 * (a revisions query). */
static char **query(size_t *np)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        bk_die_errno("cannot make a pipe");
    struct rcmd a = remote_argv("revisions", "--json", NULL, NULL);
    pid_t p = spawn(a.argv, -1, pfd[1], pfd[0], -1);
    rcmd_free(&a);
    close(pfd[1]);
    size_t len;
    char *buf = read_answer(pfd[0], 0, &len);
    close(pfd[0]);
    int rc = wait_for(p, "revisions query");
    if (rc != 0)
        bk_die("cannot ask %s which revisions it holds (exit status %d)", target, rc);
    return parse_answer(buf, len, 0, np);
}

/* The ids of the complete revisions in an answer to the revisions query
 * (buf is freed); session: it must be a receive session's ("session": 1). */
static char **parse_answer(char *buf, size_t len, int session, size_t *np)
{
    json_error_t je;
    json_t *o = json_loadb(buf, len, 0, &je);
    free(buf);
    if (!o)
        bk_die("answer of %s to the revisions query is not JSON: %s", target, je.text);
    json_t *fmt = json_object_get(o, "format"), *list = json_object_get(o, "revisions");
    const char *refused = json_string_value(json_object_get(o, "error"));
    if (session && refused && json_is_integer(fmt) && json_integer_value(fmt) == 1)
        bk_die("%s refused the push: %s", target, refused);
    if (!json_is_integer(fmt) || json_integer_value(fmt) != 1 || !json_is_array(list))
        bk_die("answer of %s to the revisions query: unknown format", target);
    json_t *sv = json_object_get(o, "session");
    if (session && (!json_is_integer(sv) || json_integer_value(sv) != 1))
        bk_die("answer of %s to the revisions query: not a receive session (\"session\": 1 missing)",
               target);
    size_t n = json_array_size(list), k = 0;
    char **ids = bk_calloc(n + 1, sizeof *ids);
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(list, i);
        const char *id = json_string_value(json_object_get(r, "id"));
        if (id && json_is_true(json_object_get(r, "complete")))
            ids[k++] = bk_strdup(id);
    }
    json_decref(o);
    *np = k;
    return ids;
}

static int holds(char **ids, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ids[i], id))
            return 1;
    return 0;
}

/* The origin a receive records in a config it creates: HOST:JOBDIR. */
static char *origin_text(void)
{
    char host_name[256] = "";
    gethostname(host_name, sizeof host_name - 1);
    return bk_asprintf("%s:%s", host_name, jobdir);
}

/* argv (12 slots) of backy-send -b JOB [-v] [-l LOG] -r ID [--base B];
 * sargv[0] is allocated */
static void send_argv(char **sargv, const char *id, const char *base)
{
    size_t n = 0;
    sargv[n++] = bk_asprintf("%s/backy-send", tooldir);
    sargv[n++] = "-b";
    sargv[n++] = jobdir;
    if (verbose_flag)
        sargv[n++] = (char *)verbose_flag;
    if (logfile) {
        sargv[n++] = "-l";
        sargv[n++] = (char *)logfile;
    }
    sargv[n++] = "-r";
    sargv[n++] = (char *)id;
    if (base) {
        sargv[n++] = "--base";
        sargv[n++] = (char *)base;
    }
    sargv[n] = NULL;
}

/* backy-send -b JOB -r ID [--base B] | receive on the other side */
static void push_one(const char *id, const char *base)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        bk_die_errno("cannot make a pipe");
    char *sargv[12];
    send_argv(sargv, id, base);
    char *origin = origin_text();
    struct rcmd rcmd = remote_argv("receive", "--origin", origin, NULL);
    log_info("sending revision %s %s%s to %s", id, base ? "against " : "(whole)", base ? base : "",
             target);
    pid_t ps = spawn(sargv, -1, pfd[1], pfd[0], -1);
    /* the receive's log lines (from over there, too) go where ours go */
    pid_t pr = spawn(rcmd.argv, pfd[0], log_is_stdio() ? -1 : log_fd(), pfd[1], -1);
    close(pfd[0]);
    close(pfd[1]);
    rcmd_free(&rcmd);
    free(sargv[0]);
    int rs = wait_for(ps, "backy-send");
    int rr = wait_for(pr, "receive");
    if (rs != 0 || rr != 0)
        bk_die("push of revision %s to %s failed (send exit status %d, receive exit status %d)",
               id, target, rs, rr);
    free(origin);
}

/* A receive session: one receive on the other side (one ssh connection)
 * answers the revisions query, then takes every stream, one after the
 * other, until the end of its input. */
static pid_t ses_pid = -1;
static int ses_in = -1, ses_out = -1;
static const char *ses_last;   /* the last revision sent into it */

/* Start the session and read its answer: the ids of the other side's
 * complete revisions, or NULL when it gave no answer (an older backy, or
 * a forced command that does not know sessions, there); *rc is then the
 * exit status. Dies when ssh cannot connect (255) or the answer is bad. */
static char **session_start(size_t *np, int *rc)
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        bk_die_errno("cannot make a pipe");
    char *origin = origin_text();
    struct rcmd a = remote_argv("receive", "--origin", origin, "--session");
    /* the receive's log lines (its stderr, from over there, too) go where
     * ours go */
    ses_pid = spawn_err(a.argv, in[0], out[1], log_is_stdio() ? -1 : log_fd(), in[1], out[0]);
    rcmd_free(&a);
    free(origin);
    close(in[0]);
    close(out[1]);
    ses_in = in[1];
    ses_out = out[0];
    /* one line; nothing else comes on this pipe */
    size_t len;
    char *buf = read_answer(ses_out, 1, &len);
    if (len == 0) {
        free(buf);
        close(ses_in);
        close(ses_out);
        ses_in = ses_out = -1;
        *rc = wait_for(ses_pid, "receive");
        ses_pid = -1;
        /* 255: ssh could not connect; 127: no such program over there
         * (the query would fail the same way) */
        if (*rc == 255 || *rc == 127 || !ssh_argv)
            bk_die("cannot ask %s which revisions it holds (exit status %d)", target, *rc);
        return NULL;
    }
    if (buf[len - 1] != '\n')
        bk_die("answer of %s to the revisions query is cut short", target);
    return parse_answer(buf, len, 1, np);
}

/* backy-send -b JOB -r ID [--base B] into the session */
static void session_send(const char *id, const char *base)
{
    char *sargv[12];
    send_argv(sargv, id, base);
    log_info("sending revision %s %s%s to %s", id, base ? "against " : "(whole)", base ? base : "",
             target);
    pid_t ps = spawn(sargv, -1, ses_in, -1, -1);
    free(sargv[0]);
    int rs = wait_for(ps, "backy-send");
    if (rs != 0) {
        /* the receive sees its stream end early and removes the revision */
        close(ses_in);
        ses_in = -1;
        int rr = wait_for(ses_pid, "receive");
        ses_pid = -1;
        bk_die("push of revision %s to %s failed (send exit status %d, receive exit status %d)",
               id, target, rs, rr);
    }
    ses_last = id;
}

/* End of input for the session; its receive must end well. */
static void session_end(void)
{
    close(ses_in);
    ses_in = -1;
    char b[4096];
    ssize_t k;
    while ((k = read(ses_out, b, sizeof b)) > 0 || (k < 0 && errno == EINTR))
        ;
    close(ses_out);
    ses_out = -1;
    int rr = wait_for(ses_pid, "receive");
    ses_pid = -1;
    if (rr != 0) {
        if (ses_last)
            bk_die("push of revision %s to %s failed (send exit status 0, receive exit status %d)",
                   ses_last, target, rr);
        bk_die("receive session on %s failed (exit status %d)", target, rr);
    }
}

/* Stop the shared connection (ssh -O exit) and remove its directory. */
static void stop_mux(void)
{
    if (!mux_dir)
        return;
    if (!mux_started)
        goto remove;
    char **a = bk_calloc(ssh_argc + 6, sizeof *a);
    size_t n = 0;
    for (size_t i = 0; i < ssh_argc; i++)
        a[n++] = ssh_argv[i];
    a[n++] = "-O";
    a[n++] = "exit";
    a[n++] = "--";
    a[n++] = (char *)host;
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    pid_t p = fork();
    if (p == 0) {
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        execvp(a[0], a);
        _exit(127);
    }
    if (p > 0)
        while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
            ;
    if (devnull >= 0)
        close(devnull);
    free(a);
remove:;
    /* the socket, and the temporary name of one a killed ssh left */
    DIR *d = opendir(mux_dir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (!strncmp(de->d_name, "ssh", 3))
            unlinkat(dirfd(d), de->d_name, 0);
    if (d)
        closedir(d);
    rmdir(mux_dir);
    free(mux_dir);
    mux_dir = NULL;
}

/* For separate queries and receives (an other side without sessions):
 * one ssh connection for all of them. The first session becomes the
 * master, later ones ride on it (an idle master ends itself after 60 s,
 * should we die without stopping it); options in BACKY_SSH come first and
 * so win. */
static void start_mux(void)
{
    if (!mux_dir)
        return;
    mux_started = 1;
    ssh_argv = bk_realloc(ssh_argv, (ssh_argc + 8) * sizeof *ssh_argv);
    ssh_argv[ssh_argc++] = "-o";
    ssh_argv[ssh_argc++] = bk_asprintf("ControlPath=%s/ssh", mux_dir);
    ssh_argv[ssh_argc++] = "-o";
    ssh_argv[ssh_argc++] = "ControlMaster=auto";
    ssh_argv[ssh_argc++] = "-o";
    ssh_argv[ssh_argc++] = "ControlPersist=60";
}

/* The directory for start_mux, made before the sandbox (whose rules name
 * it); removed at exit whether it was used or not. Its parent: TMPDIR. */
static char *make_mux_dir(void)
{
    char tmpl[] = "/tmp/backy-push.XXXXXX";
    const char *td = getenv("TMPDIR");
    char *t = bk_asprintf("%s/backy-push.XXXXXX", td && *td == '/' ? td : "/tmp");
    if (strlen(t) > 80) {
        free(t);
        t = bk_strdup(tmpl);
    }
    if (!mkdtemp(t)) {
        log_warn("cannot make a directory for a shared ssh connection: %s: %s", t,
                 strerror(errno));
        free(t);
        return NULL;
    }
    mux_dir = t;
    atexit(stop_mux);
    char *parent = bk_strdup(t);
    *strrchr(parent, '/') = '\0';
    return parent;
}


int main(int argc, char **argv)
{
    bk_setprog(argv[0]);
    bk_cli_version(argc, argv);
    struct bk_cli cli = {0};
    int all = 0;
    static const struct option longopts[] = {BK_CLI_LONG, {"all", no_argument, 0, 'A'}, {0, 0, 0, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT, longopts, NULL)) != -1)
        if (!bk_cli_option(&cli, opt, optarg, usage) && opt == 'A')
            all = 1;
    if (argc - optind != 1)
        bk_usage_error(usage, argc == optind ? "no target given" : "too many arguments");
    target = argv[optind];
    bk_cli_log(&cli, 0);
    if (cli.verbose)
        verbose_flag = "-v";
    logfile = cli.logfile;
    jobdir = bk_cli_jobdir(&cli);

    /* HOST:DIR when a ':' comes before any '/', as scp and rsync read it */
    const char *colon = strchr(target, ':'), *slash = strchr(target, '/');
    if (colon && (!slash || colon < slash)) {
        host = bk_strdup(target);
        ((char *)host)[colon - target] = '\0';
        tdir = colon + 1;
        if (!*host || !*tdir || host[0] == '-')
            bk_usage_error(usage, "bad target '%s': [USER@]HOST:DIR", target);
        const char *sc = getenv("BACKY_SSH");
        ssh_copy = bk_strdup(sc && *sc ? sc : "ssh");
        ssh_argv = bk_calloc(strlen(ssh_copy) + 2, sizeof *ssh_argv);
        for (char *t = strtok(ssh_copy, " \t"); t; t = strtok(NULL, " \t"))
            ssh_argv[ssh_argc++] = t;
        if (!ssh_argc)
            bk_die("BACKY_SSH is empty");
    } else {
        char *abs = bk_abspath(target);
        if (!abs)
            bk_die_errno("cannot make %s absolute", target);
        tdir = abs;
        if (!strcmp(tdir, jobdir))
            bk_die("cannot push a job onto itself: %s", tdir);
    }
    char self[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl < 0)
        bk_die_errno("cannot find my own executable: /proc/self/exe");
    self[sl] = '\0';
    *strrchr(self, '/') = '\0';
    tooldir = bk_strdup(self);
    signal(SIGPIPE, SIG_IGN);

    char err[2048];
    struct bk_store st;
    if (store_open(&st, jobdir, err, sizeof err) < 0)
        bk_die("%s", err);

    /* One receive session answers the query and takes every stream; where
     * nothing could be sent (no complete revision here), only the query,
     * which creates nothing over there. */
    int sendable = 0;
    for (size_t i = 0; i < st.n; i++)
        if (st.revs[i].complete && !rev_quarantined(&st.revs[i]))
            sendable = 1;

    /* Landlock, inherited by backy-send, ssh and a local backy-receive
     * (which add their own): read everything (ssh reads its configuration,
     * keys and NSS files; the tools their job), execute the tools, the
     * libraries and the ssh program, write only the local target (made
     * here when there is something to send, as receive would), the
     * directory of ssh's shared connection (and remove it: rmdir below
     * TMPDIR), /dev/null and the log file's directory. */
    struct sb_fs_rule fs[16];
    size_t nfs = 0;
    fs[nfs++] = (struct sb_fs_rule){ "/", -1, SB_FS_READ };
    fs[nfs++] = (struct sb_fs_rule){ tooldir, -1, SB_FS_EXEC };
    fs[nfs++] = (struct sb_fs_rule){ "/usr/lib", -1, SB_FS_EXEC | SB_FS_OPTIONAL };
    fs[nfs++] = (struct sb_fs_rule){ "/lib", -1, SB_FS_EXEC | SB_FS_OPTIONAL };
    fs[nfs++] = (struct sb_fs_rule){ "/lib64", -1, SB_FS_EXEC | SB_FS_OPTIONAL };
    fs[nfs++] = (struct sb_fs_rule){ "/usr/lib64", -1, SB_FS_EXEC | SB_FS_OPTIONAL };
    char *progs[3], *muxparent = NULL, *ldir = NULL;
    if (host) {
        /* what BACKY_SSH runs (for a wrapper script also its interpreter and ssh) */
        size_t np = bk_ssh_programs(getenv("BACKY_SSH"), progs);
        for (size_t i = 0; i < np; i++)
            fs[nfs++] = (struct sb_fs_rule){ progs[i], -1, SB_FS_EXEC | SB_FS_OPTIONAL };
        fs[nfs++] = (struct sb_fs_rule){ "/dev/null", -1, SB_FS_WRITE };
        if (sendable && (muxparent = make_mux_dir())) {
            fs[nfs++] = (struct sb_fs_rule){ mux_dir, -1, SB_FS_RW | SB_FS_MAKE_SOCK };
            fs[nfs++] = (struct sb_fs_rule){ muxparent, -1, SB_FS_RMDIR };
        }
    } else if (sendable) {
        char *failed = NULL;
        if (bk_mkdir_p(tdir, 0750, &failed) < 0)
            bk_die_errno("cannot create directory: %s", failed);
        fs[nfs++] = (struct sb_fs_rule){ tdir, -1, SB_FS_RW };
    }
    if (logfile && (ldir = bk_abspath(logfile))) {
        *strrchr(ldir, '/') = '\0';
        fs[nfs++] = (struct sb_fs_rule){ *ldir ? ldir : "/", -1, SB_FS_WRITE | SB_FS_MAKE_FILE };
    }
    fs[nfs] = (struct sb_fs_rule){ NULL, -1, 0 };
    policy.fs = fs;
    sandbox_enter(&policy);
    size_t nr;
    char **rids = NULL;
    if (sendable) {
        int rc = 0;
        rids = session_start(&nr, &rc);
        if (!rids) {
            log_warn("%s did not answer a receive session (exit status %d; an older backy or "
                     "forced command there?): asking and receiving separately",
                     target, rc);
            start_mux();
        }
    }
    if (!rids)
        rids = query(&nr);
    /* local complete revisions, oldest first (store order) */
    const struct bk_rev *common = NULL;
    for (size_t i = 0; i < st.n; i++)
        if (st.revs[i].complete && !rev_quarantined(&st.revs[i]) && holds(rids, nr, st.revs[i].id))
            common = &st.revs[i];
    size_t sent = 0;
    for (size_t i = 0; i < st.n; i++) {
        const struct bk_rev *r = &st.revs[i];
        if (!r->complete || holds(rids, nr, r->id))
            continue;
        if (rev_quarantined(r)) {
            log_warn("not sending revision %s: it is quarantined (damaged blocks found by verify)",
                     r->id);
            continue;
        }
        int older = common && (r->timestamp < common->timestamp ||
                               (r->timestamp == common->timestamp && strcmp(r->id, common->id) < 0));
        if (older && !all)
            continue;
        /* the base: the newest revision both hold that is not newer than
         * r, else the newest both hold (only with --all) */
        const struct bk_rev *base = NULL;
        for (size_t k = 0; k < i; k++)
            if (st.revs[k].complete && !rev_quarantined(&st.revs[k]) &&
                holds(rids, nr, st.revs[k].id))
                base = &st.revs[k];
        if (!base)
            base = common;
        if (ses_pid > 0)
            session_send(r->id, base ? base->id : NULL);
        else
            push_one(r->id, base ? base->id : NULL);
        rids = bk_realloc(rids, (nr + 2) * sizeof *rids);
        rids[nr++] = bk_strdup(r->id);
        if (!common || !older)
            common = r;
        sent++;
    }
    if (ses_pid > 0)
        session_end();
    if (sent)
        log_info("pushed %zu revision%s to %s", sent, sent == 1 ? "" : "s", target);
    else
        log_info("%s holds every revision to push: nothing to send", target);
    for (size_t i = 0; i < nr; i++)
        free(rids[i]);
    free(rids);
    store_close(&st);
    stop_mux();
    if (ssh_argv) {
        for (size_t i = 1; i < ssh_argc; i++)
            if (!strncmp(ssh_argv[i], "ControlPath=", 12))
                free(ssh_argv[i]);
        free(ssh_copy);
        free(ssh_argv);
        free((char *)host);
    } else {
        free((char *)tdir);
    }
    free(tooldir);
    free(jobdir);
    return 0;
}
