/* sourcetype_replica.c - a job that holds copies received from another
 * backup server (backy receive). It has no source to read: backy-backup
 * refuses it and the scheduler does not back it up. "origin" says where
 * the copies came from, for people. */
#include <stdio.h>
#include <string.h>

#include "backy/sourcetype.h"

static const char *const replica_keys[] = {"origin", NULL};
static const char *const replica_required[] = {NULL};

static int replica_from_init(const char *arg, struct bk_srccfg *cfg, char *err, size_t errlen)
{
    for (const char *p = arg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            snprintf(err, errlen, "origin must be printable text");
            return -1;
        }
    srccfg_set(cfg, "type", "replica");
    if (*arg)
        srccfg_set(cfg, "origin", arg);
    return 0;
}

static int replica_validate(const struct bk_srccfg *cfg, char *err, size_t errlen)
{
    (void)cfg;
    (void)err;
    (void)errlen;
    return 0;
}

const struct bk_sourcetype bk_sourcetype_replica = {
    .name = "replica",
    .init_syntax = "ORIGIN",
    .keys = replica_keys,
    .required = replica_required,
    .from_init_arg = replica_from_init,
    .validate = replica_validate,
};
