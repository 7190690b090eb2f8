/* sourcetype_ceph.c - configuration of the Ceph source types:
 *   ceph-rbd (alias ceph):  pool, image
 *   flyingcircus:           pool, image, vm, [consul_acl_token], [consul_timeout]
 * The reading side lives in cmd/backy-backup/source_ceph.c. */
#include <string.h>
#include <stdio.h>
#include <stdint.h>

#include "backy/duration.h"
#include "backy/sourcetype.h"
#include "backy/util.h"

/* Ceph refuses '/' and '@' in image names (they separate pool and snapshot);
 * a pool name cannot hold '/'. Control characters make bad log lines. */
static int check_name(const char *what, const char *s, const char *forbidden,
                      char *err, size_t errlen)
{
    if (!s || !*s) {
        snprintf(err, errlen, "%s must not be empty", what);
        return -1;
    }
    if (strlen(s) > 255) {
        snprintf(err, errlen, "%s is longer than 255 characters: %s", what, s);
        return -1;
    }
    for (const char *p = s; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f || strchr(forbidden, *p)) {
            snprintf(err, errlen, "%s contains an invalid character: %s", what, s);
            return -1;
        }
    }
    return 0;
}

/* "POOL/IMAGE" -> pool, image (into cfg). */
static int split_pool_image(const char *arg, size_t len, struct bk_srccfg *cfg,
                            char *err, size_t errlen)
{
    char buf[600];
    if (len >= sizeof buf) {
        snprintf(err, errlen, "source too long, expected POOL/IMAGE");
        return -1;
    }
    memcpy(buf, arg, len);
    buf[len] = 0;
    char *slash = strchr(buf, '/');
    if (!slash) {
        snprintf(err, errlen, "expected POOL/IMAGE: %s", buf);
        return -1;
    }
    *slash = 0;
    if (check_name("pool", buf, "/", err, errlen) < 0 ||
        check_name("image", slash + 1, "/@", err, errlen) < 0)
        return -1;
    srccfg_set(cfg, "pool", buf);
    srccfg_set(cfg, "image", slash + 1);
    return 0;
}

static int rbd_from_init(const char *arg, struct bk_srccfg *cfg, char *err, size_t errlen)
{
    srccfg_set(cfg, "type", "ceph-rbd");
    return split_pool_image(arg, strlen(arg), cfg, err, errlen);
}

static int rbd_validate(const struct bk_srccfg *cfg, char *err, size_t errlen)
{
    if (check_name("pool", srccfg_get(cfg, "pool"), "/", err, errlen) < 0 ||
        check_name("image", srccfg_get(cfg, "image"), "/@", err, errlen) < 0)
        return -1;
    return 0;
}

/* "POOL/IMAGE,VM[,TOKEN]" */
static int fc_from_init(const char *arg, struct bk_srccfg *cfg, char *err, size_t errlen)
{
    srccfg_set(cfg, "type", "flyingcircus");
    const char *c1 = strchr(arg, ',');
    if (!c1) {
        snprintf(err, errlen, "expected POOL/IMAGE,VM[,CONSUL_ACL_TOKEN]: %s", arg);
        return -1;
    }
    if (split_pool_image(arg, (size_t)(c1 - arg), cfg, err, errlen) < 0)
        return -1;
    const char *vm = c1 + 1;
    const char *c2 = strchr(vm, ',');
    char vmbuf[256];
    size_t vmlen = c2 ? (size_t)(c2 - vm) : strlen(vm);
    if (vmlen >= sizeof vmbuf) {
        snprintf(err, errlen, "vm is longer than 255 characters");
        return -1;
    }
    memcpy(vmbuf, vm, vmlen);
    vmbuf[vmlen] = 0;
    if (check_name("vm", vmbuf, "\"\\", err, errlen) < 0)
        return -1;
    srccfg_set(cfg, "vm", vmbuf);
    if (c2) {
        if (check_name("consul_acl_token", c2 + 1, ",", err, errlen) < 0)
            return -1;
        srccfg_set(cfg, "consul_acl_token", c2 + 1);
    }
    return 0;
}

static int fc_validate(const struct bk_srccfg *cfg, char *err, size_t errlen)
{
    if (rbd_validate(cfg, err, errlen) < 0)
        return -1;
    if (check_name("vm", srccfg_get(cfg, "vm"), "\"\\", err, errlen) < 0)
        return -1;
    const char *tok = srccfg_get(cfg, "consul_acl_token");
    if (tok && *tok && check_name("consul_acl_token", tok, "", err, errlen) < 0)
        return -1;
    const char *t = srccfg_get(cfg, "consul_timeout");
    int64_t secs;
    if (t && duration_parse(t, &secs) < 0) {
        snprintf(err, errlen, "consul_timeout: not a duration (e.g. 30s, 2m): %s", t);
        return -1;
    }
    return 0;
}

static const char *const rbd_keys[] = { "pool", "image", NULL };
static const char *const rbd_required[] = { "pool", "image", NULL };
static const char *const fc_keys[] = {
    "pool", "image", "vm", "consul_acl_token", "consul_timeout", NULL
};
static const char *const fc_required[] = { "pool", "image", "vm", NULL };

const struct bk_sourcetype bk_sourcetype_ceph_rbd = {
    .name = "ceph-rbd",
    .init_syntax = "POOL/IMAGE",
    .keys = rbd_keys,
    .required = rbd_required,
    .from_init_arg = rbd_from_init,
    .validate = rbd_validate,
};

const struct bk_sourcetype bk_sourcetype_flyingcircus = {
    .name = "flyingcircus",
    .init_syntax = "POOL/IMAGE,VM[,CONSUL_ACL_TOKEN]",
    .keys = fc_keys,
    .required = fc_required,
    .from_init_arg = fc_from_init,
    .validate = fc_validate,
};
