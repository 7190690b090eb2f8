/* test_sourcetype_ceph.c - the config side of ceph-rbd / flyingcircus:
 * init arguments, the "ceph" alias, required keys, validation. */
#include <string.h>

#include "backy/sourcetype.h"
#include "backy/ynode.h"
#include "tap.h"

static int init(const char *type, const char *arg, struct bk_srccfg *cfg, char *err, size_t len)
{
    const struct bk_sourcetype *t = sourcetype_find(type);
    memset(cfg, 0, sizeof *cfg);
    err[0] = 0;
    return t ? t->from_init_arg(arg, cfg, err, len) : -2;
}

static int from_yaml(const char *yaml, struct bk_srccfg *cfg, char *err, size_t len)
{
    struct ynode *n = ynode_parse(yaml, strlen(yaml), "config", err, len);
    if (!n)
        return -2;
    int r = srccfg_from_ynode(n, "config", cfg, err, len);
    ynode_free(n);
    return r;
}

static int eq(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

int main(void)
{
    struct bk_srccfg c;
    char err[512];

    tap_ok(init("ceph-rbd", "rbd/vm1.root", &c, err, sizeof err) == 0 &&
               eq(srccfg_get(&c, "type"), "ceph-rbd") && eq(srccfg_get(&c, "pool"), "rbd") &&
               eq(srccfg_get(&c, "image"), "vm1.root"),
           "ceph-rbd POOL/IMAGE gives type, pool, image");
    srccfg_free(&c);
    tap_ok(init("ceph", "p/i", &c, err, sizeof err) == 0 && eq(srccfg_get(&c, "type"), "ceph-rbd"),
           "alias ceph gives type ceph-rbd");
    srccfg_free(&c);
    tap_ok(init("ceph-rbd", "noslash", &c, err, sizeof err) == -1 && strstr(err, "POOL/IMAGE"),
           "missing slash is refused");
    srccfg_free(&c);
    tap_ok(init("ceph-rbd", "/img", &c, err, sizeof err) == -1 && strstr(err, "pool must not be empty"),
           "empty pool is refused");
    srccfg_free(&c);
    tap_ok(init("ceph-rbd", "rbd/", &c, err, sizeof err) == -1 && strstr(err, "image must not be empty"),
           "empty image is refused");
    srccfg_free(&c);
    tap_ok(init("ceph-rbd", "rbd/a@snap", &c, err, sizeof err) == -1 && strstr(err, "invalid character"),
           "image with @ is refused");
    srccfg_free(&c);
    tap_ok(init("ceph-rbd", "rbd/a/b", &c, err, sizeof err) == -1, "image with / is refused");
    srccfg_free(&c);

    tap_ok(init("flyingcircus", "rbd/vm1.root,vm1,tok", &c, err, sizeof err) == 0 &&
               eq(srccfg_get(&c, "type"), "flyingcircus") && eq(srccfg_get(&c, "image"), "vm1.root") &&
               eq(srccfg_get(&c, "vm"), "vm1") && eq(srccfg_get(&c, "consul_acl_token"), "tok"),
           "flyingcircus POOL/IMAGE,VM,TOKEN");
    srccfg_free(&c);
    tap_ok(init("flyingcircus", "rbd/vm1.root,vm1", &c, err, sizeof err) == 0 &&
               !srccfg_get(&c, "consul_acl_token"),
           "flyingcircus without a token");
    srccfg_free(&c);
    tap_ok(init("flyingcircus", "rbd/vm1.root", &c, err, sizeof err) == -1 && strstr(err, "VM"),
           "flyingcircus without VM is refused");
    srccfg_free(&c);
    tap_ok(init("flyingcircus", "rbd/vm1.root,", &c, err, sizeof err) == -1 &&
               strstr(err, "vm must not be empty"),
           "flyingcircus with an empty VM is refused");
    srccfg_free(&c);

    tap_ok(from_yaml("type: ceph\npool: rbd\nimage: x\n", &c, err, sizeof err) == 0 &&
               eq(srccfg_get(&c, "type"), "ceph-rbd"),
           "config 'type: ceph' is read as ceph-rbd");
    srccfg_free(&c);
    tap_ok(from_yaml("type: ceph-rbd\npool: rbd\n", &c, err, sizeof err) == -1 && strstr(err, "image"),
           "config without image is refused");
    tap_ok(from_yaml("type: ceph-rbd\npool: rbd\nimage: x\nvm: y\n", &c, err, sizeof err) == -1 &&
               strstr(err, "unknown key 'vm'"),
           "vm is not a ceph-rbd key");
    tap_ok(from_yaml("type: flyingcircus\npool: rbd\nimage: x\nvm: y\nconsul_timeout: 5s\n"
                     "verify: full\n", &c, err, sizeof err) == 0 &&
               eq(srccfg_get(&c, "consul_timeout"), "5s"),
           "flyingcircus with consul_timeout and a generic key");
    srccfg_free(&c);
    tap_ok(from_yaml("type: flyingcircus\npool: rbd\nimage: x\nvm: y\nconsul_timeout: soon\n", &c, err,
                     sizeof err) == -1 && strstr(err, "consul_timeout"),
           "a bad consul_timeout is refused");
    tap_ok(from_yaml("type: flyingcircus\npool: rbd\nimage: x\n", &c, err, sizeof err) == -1 &&
               strstr(err, "'vm'"),
           "flyingcircus config without vm is refused");
    return tap_done();
}
