/* launchmsg.h - the messages between backy-sched and its launcher.
 *
 * The scheduler and the launcher share a SOCK_SEQPACKET socketpair; every
 * packet is exactly one struct below, nothing else. The scheduler sends
 * requests (start a backup, start the telnet shell, signal a child); the
 * launcher answers each with LM_OK (pid) or LM_ERR (errno) carrying the
 * request's seq, and reports every child's end unasked with LM_EXITED.
 *
 * lm_parse_request is all the parsing the launcher does: a packet of the
 * wrong size, an unknown operation, a string without its NUL, a job
 * directory that is not an absolute path below base-dir or has an empty,
 * "." or ".." component, tags outside [A-Za-z0-9_.:@+-] and commas, a
 * signal other than SIGTERM/SIGKILL, a bad port, address list, user
 * name or scrub rate, a push target other than lm_valid_target's is
 * refused with a one-line reason. Whether a pid is the launcher's
 * own child is decided by the launcher itself. */
#ifndef BACKY_LAUNCHMSG_H
#define BACKY_LAUNCHMSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LM_DIR_MAX   4096
#define LM_TAGS_MAX  1024
#define LM_ADDRS_MAX 256
#define LM_USER_MAX  64
#define LM_RATE_MAX  100000
#define LM_TARGET_MAX 1024

enum lm_op {
    LM_BACKUP = 1,   /* backy-backup -b DIR -l DIR/backy.log TAGS */
    LM_TELNET = 2,   /* backy-telnetd -s STATUS -a ADDRS -p PORT -u USER [-l LOG] [-v] */
    LM_SIGNAL = 3,   /* kill(pid, sig) of a child the launcher started */
    LM_VERIFY = 4,   /* backy-verify -b DIR -l DIR/backy.log --all --rate-limit RATE */
    LM_PUSH = 5,     /* backy-push -b DIR -l DIR/backy.log -- TARGET */
    LM_CONFIG = 6,   /* open the configuration file named at the launcher's start and
                      * pass the descriptor with the LM_OK answer (SCM_RIGHTS): the
                      * scheduler's own file-system rules do not reach a config file
                      * an editor replaced */
};

struct lm_request {
    uint32_t op;                 /* enum lm_op */
    uint32_t seq;                /* echoed in the answer */
    int32_t pid;                 /* LM_SIGNAL */
    int32_t sig;                 /* LM_SIGNAL: SIGTERM or SIGKILL */
    int32_t port;                /* LM_TELNET: 1..65535 */
    int32_t rate;                /* LM_VERIFY: MiB/s, 1..LM_RATE_MAX */
    char dir[LM_DIR_MAX];        /* LM_BACKUP: job directory */
    char tags[LM_TAGS_MAX];      /* LM_BACKUP: tag1,tag2 */
    char addrs[LM_ADDRS_MAX];    /* LM_TELNET: addresses to listen on */
    char user[LM_USER_MAX];      /* LM_TELNET: user the shell runs as */
    char target[LM_TARGET_MAX];  /* LM_PUSH: [USER@]HOST:/DIR or /DIR (lm_valid_target) */
};

enum lm_kind {
    LM_OK = 1,       /* request done; pid of the child started or signalled */
    LM_ERR = 2,      /* request refused or failed; err is an errno value */
    LM_EXITED = 3,   /* child pid ended; status is its wait status */
};

struct lm_reply {
    uint32_t kind;               /* enum lm_kind */
    uint32_t seq;                /* of the request answered; 0 for LM_EXITED */
    uint32_t op;                 /* LM_BACKUP, LM_TELNET or LM_VERIFY for LM_EXITED */
    int32_t pid;
    int32_t status;              /* LM_EXITED: wait status */
    int32_t err;                 /* LM_ERR: errno */
};

/* Fill a request (zeroing it first). -1 with errno ENAMETOOLONG when a
 * string does not fit its field. */
int lm_make_backup(struct lm_request *r, uint32_t seq, const char *dir, const char *tags);
int lm_make_telnet(struct lm_request *r, uint32_t seq, int port, const char *addrs,
                   const char *user);
void lm_make_signal(struct lm_request *r, uint32_t seq, pid_t pid, int sig);
int lm_make_verify(struct lm_request *r, uint32_t seq, const char *dir, int rate);
int lm_make_push(struct lm_request *r, uint32_t seq, const char *dir, const char *target);
void lm_make_config(struct lm_request *r, uint32_t seq);

/* Check a received packet of len bytes; on success copy it to *out and
 * return 0, otherwise write the reason to err and return -1. */
int lm_parse_request(const void *buf, size_t len, const char *base_dir,
                     struct lm_request *out, char *err, size_t errlen);
int lm_parse_reply(const void *buf, size_t len, struct lm_reply *out);

/* The single checks, also used by the parser. */
int lm_valid_jobdir(const char *base_dir, const char *dir);
int lm_valid_tags(const char *tags);
/* A push target: an absolute directory "/DIR" or "[USER@]HOST:/DIR"; USER
 * and HOST of [A-Za-z0-9._-] (not starting with '-'), no control
 * characters, shorter than LM_TARGET_MAX. */
int lm_valid_target(const char *target);

#endif
