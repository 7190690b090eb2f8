/* backy-telnetd - the read-only live shell of the scheduler.
 *
 * Commands: jobs [REGEX], status, help, quit. It reads nothing but the
 * status file the scheduler writes (re-read when it changes), so a client
 * can never influence a backup.
 *
 * One process, one poll loop, non-blocking sockets. Every client has a
 * bounded input line, and while a reply is still being sent no further
 * input is consumed, so a client that does not read costs at most one
 * reply. Telnet negotiation (IAC ...) is parsed and every option refused,
 * so clients stay in line mode with local echo (libcommon/telnetproto.c).
 *
 * No client can hold a slot for long without being served: each must send
 * a complete line within the line deadline (-t) of its connection or of
 * the previous answer (single bytes do not extend it), and every
 * connection ends after its lifetime (-L). When all slots are taken, a new
 * connection takes the slot of the client that has waited longest for a
 * complete line, so idle or trickling clients cannot lock others out.
 *
 * Privileges: the listening sockets are made first; then the sandbox
 * switches to an unprivileged user (nobody unless -u says otherwise) and
 * allows only accepting, polling, reading and writing sockets and opening
 * files read-only. The scheduler writes the status file mode 0644, so the
 * unprivileged user can read it as long as it may search the directories
 * on the way (a warning at start says when it cannot). */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backy/cli.h"
#include "backy/log.h"
#include "backy/mainconf.h"
#include "backy/sandbox.h"
#include "backy/statusfile.h"
#include "backy/table.h"
#include "backy/telnetproto.h"
#include "backy/util.h"

#define PROMPT "backy-2.0 % "
#define RAW_BUF 4096             /* one read() */
#define OUT_SOFT (256 * 1024)    /* stop consuming input above this much pending output */
#define MAX_LISTEN 16

static const char usage[] =
    "usage: backy-telnetd [-c CONFIG | -s STATUSFILE] [-a ADDRS] [-p PORT] [-u USER]\n"
    "                     [-t SECONDS] [-L SECONDS] [-m MAX_CLIENTS] [-l LOGFILE] [-v] [-h]\n"
    "Read-only telnet shell over the scheduler's status file.\n"
    "  -c CONFIG        take status-file, telnet-addrs, telnet-port, telnet-user from CONFIG\n"
    "  -s STATUSFILE    the status file (default: from CONFIG, /srv/backy/status)\n"
    "  -a ADDRS         comma-separated addresses to listen on (default \"127.0.0.1, ::1\")\n"
    "  -p PORT          TCP port (default 6023)\n"
    "  -u USER          user to run as when started as root (default nobody)\n"
    "  -t SECONDS       a client must send a complete line within this time of connecting\n"
    "                   or of the previous answer, or is dropped (default 600)\n"
    "  -L SECONDS       drop every connection after this time (default 3600)\n"
    "  -m N             at most N clients at once (default 64); when all are taken, a new\n"
    "                   client takes the slot of the one waiting longest for a line\n";

static const struct sb_policy policy_tmpl = {
    .name = "backy-telnetd",
    .groups = SB_BASE | SB_RDONLY | SB_NET_SERVE | SB_POLL,
    .extra = NULL,
    .keep_caps = 0,
    .run_as_user = BK_DEFAULT_TELNET_USER,
};

struct client {
    int fd;
    char peer[64];
    unsigned char raw[RAW_BUF];
    size_t raw_len, raw_off;
    struct tn_parser in;
    char *out;
    size_t out_len, out_off, out_cap;
    int closing;                 /* close once out is sent */
    time_t connected;            /* for the lifetime (monotonic clock) */
    time_t line_since;           /* connection or previous answer: the line deadline runs from here */
};

/* -s, else the configuration's status-file, else the default */
static const char *status_path = BK_DEFAULT_BASEDIR "/status";
static struct bk_status status;
static int status_loaded;
static struct stat status_sb;
static char status_err[512];
static struct client **clients;
static size_t nclients;
static long max_clients = 64;
static long line_timeout = 600;
static long lifetime = 3600;
static volatile sig_atomic_t stop;

static void on_term(int sig)
{
    (void)sig;
    stop = 1;
}

/* ---- status file -------------------------------------------------- */

static int cmp_job(const void *a, const void *b)
{
    return strcmp(((const struct bk_status_job *)a)->name,
                  ((const struct bk_status_job *)b)->name);
}

/* Re-read when the file changed (the scheduler renames a new one over it). */
static int refresh_status(void)
{
    struct stat sb;
    if (stat(status_path, &sb) < 0) {
        snprintf(status_err, sizeof status_err, "status file not available: %s: %s",
                 status_path, strerror(errno));
        return -1;
    }
    if (status_loaded && sb.st_ino == status_sb.st_ino && sb.st_dev == status_sb.st_dev &&
        sb.st_size == status_sb.st_size && sb.st_mtim.tv_sec == status_sb.st_mtim.tv_sec &&
        sb.st_mtim.tv_nsec == status_sb.st_mtim.tv_nsec)
        return 0;
    struct bk_status st;
    char err[512];
    if (status_load(status_path, &st, err, sizeof err) < 0) {
        snprintf(status_err, sizeof status_err, "%s", err);
        return status_loaded ? 0 : -1; /* keep showing the last good one */
    }
    qsort(st.jobs, st.njobs, sizeof *st.jobs, cmp_job);
    if (status_loaded)
        status_free(&status);
    status = st;
    status_sb = sb;
    status_loaded = 1;
    return 0;
}

/* ---- output ------------------------------------------------------- */

static void out_add(struct client *c, const char *s, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        c->out = bk_realloc(c->out, cap);
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, s, n);
    c->out_len += n;
}

/* Text with "\n" line ends, sent as telnet's CR LF. */
static void out_text(struct client *c, const char *s)
{
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        out_add(c, s, n);
        if (!nl)
            break;
        out_add(c, "\r\n", 2);
        s = nl + 1;
    }
}

BK_PRINTF(2, 3) static void out_fmt(struct client *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    out_text(c, buf);
}

static void fmt_time(double t, char *buf, size_t len)
{
    time_t s = (time_t)t;
    struct tm tm;
    if (t < 0 || !gmtime_r(&s, &tm))
        snprintf(buf, len, "-");
    else
        strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* ---- commands ----------------------------------------------------- */

/* What the scheduler found wrong on disk or in the last backup, "-" if
 * nothing. The status file holds these already escaped to one line. */
static void job_problems(const struct bk_status_job *j, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
#define ADD(...)                                                                       \
    do {                                                                               \
        if (off < len)                                                                 \
            off += (size_t)snprintf(buf + off, len - off, "%s", off ? "; " : "");      \
        if (off < len)                                                                 \
            off += (size_t)snprintf(buf + off, len - off, __VA_ARGS__);                \
    } while (0)
    if (j->dir_missing)
        ADD("job directory missing");
    if (j->quarantined > 0)
        ADD("%ld quarantined", j->quarantined);
    if (j->future > 0) {
        char ft[40];
        fmt_time(j->future_time, ft, sizeof ft);
        ADD("%ld dated in the future (%s)", j->future, ft);
    }
    if (j->incomplete > 0)
        ADD("%ld incomplete", j->incomplete);
    if (j->failures > 0)
        ADD("failed: %.200s", j->last_error[0] ? j->last_error : "?");
#undef ADD
    if (!buf[0])
        snprintf(buf, len, "-");
}

static void cmd_jobs(struct client *c, const char *arg)
{
    regex_t re;
    int have_re = 0;
    if (arg && *arg) {
        int rc = regcomp(&re, arg, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[256], shown[128];
            regerror(rc, &re, msg, sizeof msg);
            tn_sanitize(arg, shown, sizeof shown);
            out_fmt(c, "error: bad regular expression '%s': %s\n", shown, msg);
            return;
        }
        have_re = 1;
    }
    if (refresh_status() < 0) {
        out_fmt(c, "error: %s\n", status_err);
        if (have_re)
            regfree(&re);
        return;
    }
    static const char *const head[] = { "Job", "SLA", "Status", "Last Backup", "Last Tags",
                                        "Last Dur", "Next Backup", "Next Tags", "Retry",
                                        "Problems" };
    static const enum table_align al[] = { TA_LEFT, TA_LEFT, TA_LEFT, TA_LEFT, TA_LEFT,
                                           TA_RIGHT, TA_LEFT, TA_LEFT, TA_LEFT, TA_LEFT };
    struct table *t = table_new(10, head, al);
    for (size_t i = 0; i < status.njobs; i++) {
        const struct bk_status_job *j = &status.jobs[i];
        if (have_re && regexec(&re, j->name, 0, NULL, 0) != 0)
            continue;
        char last[40], next[40], dur[32];
        fmt_time(j->last_time, last, sizeof last);
        fmt_time(j->next_time, next, sizeof next);
        if (j->last_time < 0)
            snprintf(dur, sizeof dur, "-");
        else
            snprintf(dur, sizeof dur, "%.1f s", j->last_duration);
        char retry[64], problems[512];
        if (j->failures > 0 && j->retry_time >= 0) {
            char rt[40];
            fmt_time(j->retry_time, rt, sizeof rt);
            snprintf(retry, sizeof retry, "#%ld %s", j->failures, rt);
        } else {
            snprintf(retry, sizeof retry, "-");
        }
        job_problems(j, problems, sizeof problems);
        const char *row[] = { j->name, j->sla_ok ? "OK" : "TOO OLD", j->status, last,
                              *j->last_tags ? j->last_tags : "-", dur, next,
                              *j->next_tags ? j->next_tags : "-", retry, problems };
        table_add_row(t, row);
    }
    char *txt = table_render(t);
    out_text(c, txt);
    free(txt);
    table_free(t);
    if (have_re)
        regfree(&re);
}

static void cmd_status(struct client *c)
{
    if (refresh_status() < 0) {
        out_fmt(c, "error: %s\n", status_err);
        return;
    }
    char started[40], written[40];
    size_t running = 0, failed = 0, late = 0, missing = 0, quarantined = 0, future = 0;
    size_t incomplete = 0, retrying = 0;
    for (size_t i = 0; i < status.njobs; i++) {
        const struct bk_status_job *j = &status.jobs[i];
        missing += j->dir_missing != 0;
        quarantined += j->quarantined > 0;
        future += j->future > 0;
        incomplete += j->incomplete > 0;
        retrying += j->failures > 0;
        if (!strcmp(status.jobs[i].status, "running"))
            running++;
        else if (!strcmp(status.jobs[i].status, "failed"))
            failed++;
        if (!status.jobs[i].sla_ok)
            late++;
    }
    fmt_time(status.started, started, sizeof started);
    fmt_time(status.written, written, sizeof written);
    double age = (double)time(NULL) - status.written;
    if (age < 0)
        age = 0;
    out_fmt(c, "scheduler pid:    %ld\n", (long)status.pid);
    out_fmt(c, "started:          %s\n", started);
    out_fmt(c, "status written:   %s (%.0f s ago, every %lld s)\n", written, age,
            (long long)status.status_interval);
    out_fmt(c, "workers:          %ld busy of %ld\n", status.workers_busy, status.worker_limit);
    out_fmt(c, "jobs:             %zu (%zu running, %zu failed, %zu with SLA too old)\n",
            status.njobs, running, failed, late);
    out_fmt(c, "problems:         %zu job directories missing, %zu jobs failing (retrying), "
               "%zu with quarantined, %zu with future-dated, %zu with incomplete revisions\n",
            missing, retrying, quarantined, future, incomplete);
    out_fmt(c, "config:           %s\n", status.config);
    out_fmt(c, "status file:      %s\n", status_path);
    out_fmt(c, "telnet clients:   %zu of at most %ld\n", nclients, max_clients);
}

static void cmd_help(struct client *c)
{
    out_text(c, "commands:\n"
                "  jobs [REGEX]   jobs with their last and next backup, retries and\n"
                "                 problems; REGEX (POSIX extended) selects job names\n"
                "  status         scheduler facts\n"
                "  help           this text\n"
                "  quit           close the connection\n");
}

static void run_line(struct client *c, char *line)
{
    char *cmd, *p;
    tn_split(line, &cmd, &p);
    c->line_since = (time_t)bk_mono();
    if (!*cmd) {
        /* empty line: just a new prompt */
    } else if (!strcmp(cmd, "jobs")) {
        cmd_jobs(c, p);
    } else if (!strcmp(cmd, "status") && !*p) {
        cmd_status(c);
    } else if (!strcmp(cmd, "help") || !strcmp(cmd, "?")) {
        cmd_help(c);
    } else if (!strcmp(cmd, "quit") || !strcmp(cmd, "exit") || !strcmp(cmd, "\x04")) {
        c->closing = 1;
        return;
    } else {
        char shown[64];
        tn_sanitize(cmd, shown, sizeof shown);
        out_fmt(c, "error: unknown command '%s' (try help)\n", shown);
    }
    out_add(c, PROMPT, strlen(PROMPT));
}

/* ---- input: telnet bytes to lines --------------------------------- */

static void feed(struct client *c, unsigned char b)
{
    switch (tn_feed(&c->in, b)) {
    case TN_LINE:
        run_line(c, c->in.line);
        break;
    case TN_OVERFLOW:
        c->line_since = (time_t)bk_mono();
        out_fmt(c, "error: line too long (at most %d bytes)\n", TN_MAX_LINE);
        out_add(c, PROMPT, strlen(PROMPT));
        break;
    case TN_REPLY:
        out_add(c, (const char *)c->in.reply, sizeof c->in.reply);
        break;
    case TN_NONE:
        break;
    }
}

/* Consume buffered input while the pending reply is small. */
static void consume(struct client *c)
{
    while (c->raw_off < c->raw_len && !c->closing && c->out_len - c->out_off <= OUT_SOFT)
        feed(c, c->raw[c->raw_off++]);
    if (c->raw_off == c->raw_len)
        c->raw_off = c->raw_len = 0;
}

/* ---- sockets ------------------------------------------------------ */

static void drop_client(size_t i)
{
    struct client *c = clients[i];
    log_debug("telnet: %s disconnected", c->peer);
    close(c->fd);
    free(c->out);
    free(c);
    clients[i] = clients[--nclients];
}

static int flush_out(struct client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    if (c->out_cap > 65536) { /* give back what a large reply took */
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
    return 0;
}

/* A last word to a client that is about to be dropped (best effort). */
static void say_bye(struct client *c, const char *msg)
{
    ssize_t w = send(c->fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)w;
}

/* "HOST port N" of the address accept4 wrote sl bytes of into the zeroed
 * ss; "? port 0" when it is no IPv4 or IPv6 address, or not all of one */
static void peer_name(const struct sockaddr_storage *ss, socklen_t sl, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET && sl >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6 && sl >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *a = (const void *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    snprintf(buf, len, "%s port %d", host, port);
}

static void accept_one(int lfd)
{
    struct sockaddr_storage ss = { 0 };
    socklen_t sl = sizeof ss;
    int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            log_warn("telnet: accept: %s", strerror(errno));
        return;
    }
    char peer[64];
    peer_name(&ss, sl, peer, sizeof peer);
    if ((long)nclients >= max_clients) {
        /* full: the client waiting longest for a complete line gives way */
        size_t oldest = 0;
        for (size_t i = 1; i < nclients; i++)
            if (clients[i]->line_since < clients[oldest]->line_since)
                oldest = i;
        if (nclients > 0 && !clients[oldest]->closing) {
            say_bye(clients[oldest], "\r\nerror: all slots are taken and you sent no command, bye\r\n");
            log_info("telnet: %s dropped for %s: all %ld slots taken", clients[oldest]->peer, peer,
                     max_clients);
            drop_client(oldest);
        }
    }
    if ((long)nclients >= max_clients) {
        static const char msg[] = "error: too many clients, try again later\r\n";
        ssize_t w = send(fd, msg, sizeof msg - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)w;
        /* closing with unread input would reset the connection and could
         * discard the message: drain what is there and end our side first */
        char junk[512];
        while (recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0)
            ;
        shutdown(fd, SHUT_WR);
        close(fd);
        log_warn("telnet: %s refused: %ld %s connected already", peer, max_clients,
                 bk_plural((unsigned long long)max_clients, "client", "clients"));
        return;
    }
    struct client *c = bk_calloc(1, sizeof *c);
    c->fd = fd;
    snprintf(c->peer, sizeof c->peer, "%s", peer);
    c->connected = c->line_since = (time_t)bk_mono();
    out_add(c, PROMPT, strlen(PROMPT));
    clients[nclients++] = c;
    log_debug("telnet: %s connected", c->peer);
}

static int listen_on(const char *addr, const char *port, int *fds, int *nfds)
{
    struct addrinfo hints = { 0 }, *res, *ai;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
    int rc = getaddrinfo(addr, port, &hints, &res);
    if (rc != 0) {
        log_error("telnet: bad listen address '%s': %s", addr, gai_strerror(rc));
        return -1;
    }
    int ok = 0;
    for (ai = res; ai && *nfds < MAX_LISTEN; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            log_warn("telnet: cannot listen on %s: socket: %s", addr, strerror(errno));
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
            log_warn("telnet: cannot listen on %s port %s: %s", addr, port, strerror(errno));
            close(fd);
            continue;
        }
        fds[(*nfds)++] = fd;
        ok = 1;
        log_info("telnet: listening on %s port %s", addr, port);
    }
    freeaddrinfo(res);
    return ok ? 0 : -1;
}

static long parse_num(const char *s, const char *what, long lo, long hi)
{
    uint64_t v;
    if (bk_parse_u64(s, &v) < 0 || (long)v < lo || (long)v > hi)
        bk_die("bad %s: %s (want %ld to %ld)", what, s, lo, hi);
    return (long)v;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        BK_CLI_LONG,
        { "config", required_argument, 0, 'c' },
        { "status-file", required_argument, 0, 's' },
        { "addrs", required_argument, 0, 'a' },
        { "port", required_argument, 0, 'p' },
        { "user", required_argument, 0, 'u' },
        { "idle-timeout", required_argument, 0, 't' },
        { "line-timeout", required_argument, 0, 't' },
        { "lifetime", required_argument, 0, 'L' },
        { "max-clients", required_argument, 0, 'm' },
        { 0, 0, 0, 0 },
    };
    struct bk_cli cli = { 0 };
    const char *config = NULL, *spath = NULL, *addrs = NULL, *port = NULL, *user = NULL;
    int opt;

    bk_setprog("backy-telnetd");
    bk_cli_version(argc, argv);
    while ((opt = getopt_long(argc, argv, BK_CLI_SHORT "c:s:a:p:u:t:L:m:", longopts, NULL)) != -1) {
        if (bk_cli_option(&cli, opt, optarg, usage))
            continue;
        switch (opt) {
        case 'c': config = optarg; break;
        case 's': spath = optarg; break;
        case 'a': addrs = optarg; break;
        case 'p': port = optarg; break;
        case 'u': user = optarg; break;
        case 't': line_timeout = parse_num(optarg, "line timeout", 1, 86400 * 7); break;
        case 'L': lifetime = parse_num(optarg, "lifetime", 1, 86400 * 7); break;
        case 'm': max_clients = parse_num(optarg, "max clients", 1, 4096); break;
        }
    }
    if (optind < argc)
        bk_usage_error(usage, "unexpected argument: %s", argv[optind]);
    bk_cli_log(&cli, 0);

    struct bk_mainconf conf;
    char err[1024];
    int have_conf = 0;
    if (config) {
        if (mainconf_load(config, &conf, err, sizeof err) < 0)
            bk_die("invalid configuration: %s", err);
        have_conf = 1;
        if (!spath)
            spath = conf.status_file;
        if (!addrs)
            addrs = conf.telnet_addrs;
        if (!user)
            user = conf.telnet_user;
        if (!port) {
            if (conf.telnet_port == 0)
                bk_die("the telnet shell is turned off in %s", config);
            port = bk_asprintf("%d", conf.telnet_port);
        }
    }
    if (spath)
        status_path = spath;
    if (!addrs)
        addrs = BK_DEFAULT_TELNET_ADDRS;
    if (!port)
        port = "6023";
    parse_num(port, "port", 1, 65535);
    if (!user)
        user = BK_DEFAULT_TELNET_USER;

    int lfds[MAX_LISTEN], nl = 0;
    char *list = bk_strdup(addrs), *save = NULL;
    for (char *a = strtok_r(list, ", \t", &save); a; a = strtok_r(NULL, ", \t", &save))
        listen_on(a, port, lfds, &nl);
    free(list);
    if (nl == 0)
        bk_die("cannot listen on any of: %s port %s", addrs, port);

    struct sigaction sa = { 0 };
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    /* the sandbox may not reopen a rotated log: keep the descriptor */
    log_no_reopen();
    /* Landlock: only files of the status file's directory can be read
     * (the scheduler replaces the file, so the rule is on the directory);
     * nothing can be listed, written or created, no TCP bind or connect. */
    char *sdir = bk_strdup(status_path);
    const struct sb_fs_rule fs[] = { { dirname(sdir), -1, SB_FS_READ_FILE | SB_FS_OPTIONAL },
                                     { NULL, -1, 0 } };
    struct sb_policy policy = policy_tmpl;
    policy.run_as_user = user;
    policy.fs = fs;
    sandbox_enter(&policy);
    (void)have_conf;

    if (refresh_status() < 0)
        log_warn("telnet: %s (as uid %ld; the scheduler writes it mode 0644, its directories "
                 "must be searchable)", status_err, (long)getuid());

    clients = bk_calloc((size_t)max_clients, sizeof *clients);
    struct pollfd *pfd = bk_calloc((size_t)max_clients + MAX_LISTEN, sizeof *pfd);
    while (!stop) {
        size_t n = 0;
        for (int i = 0; i < nl; i++)
            pfd[n++] = (struct pollfd){ .fd = lfds[i], .events = POLLIN };
        for (size_t i = 0; i < nclients; i++) {
            struct client *c = clients[i];
            short ev = 0;
            if (!c->closing && c->raw_len == 0)
                ev |= POLLIN;
            if (c->out_len > c->out_off)
                ev |= POLLOUT;
            pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
        }
        int r = poll(pfd, n, 1000);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            bk_die_errno("poll");
        }
        time_t now = (time_t)bk_mono();
        /* clients first: accepting reorders nothing, dropping does */
        for (size_t i = nclients; i-- > 0;) {
            struct client *c = clients[i];
            short re = pfd[nl + i].revents;
            int dead = 0;
            if (re & (POLLERR | POLLNVAL))
                dead = 1;
            if (!dead && (re & (POLLIN | POLLHUP)) && c->raw_len == 0 && !c->closing) {
                ssize_t got = recv(c->fd, c->raw, sizeof c->raw, 0);
                if (got > 0) {
                    c->raw_len = (size_t)got;
                    c->raw_off = 0;
                } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                    dead = 1;
                }
            }
            if (!dead) {
                consume(c);
                if (flush_out(c) < 0)
                    dead = 1;
                else
                    consume(c); /* the reply left: take the next command */
            }
            if (!dead && c->closing && c->out_len == c->out_off)
                dead = 1;
            if (!dead && now - c->connected >= lifetime) {
                say_bye(c, "\r\nerror: connection lifetime over, bye\r\n");
                log_debug("telnet: %s connected for %ld s", c->peer, lifetime);
                dead = 1;
            } else if (!dead && now - c->line_since >= line_timeout) {
                say_bye(c, "\r\nerror: no command within the line timeout, bye\r\n");
                log_debug("telnet: %s sent no complete line for %ld s", c->peer, line_timeout);
                dead = 1;
            }
            if (dead)
                drop_client(i);
        }
        for (int i = 0; i < nl; i++)
            if (pfd[i].revents & POLLIN)
                accept_one(lfds[i]);
    }
    log_info("telnet: stopping");
    return 0;
}
