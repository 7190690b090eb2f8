/* source_ceph.h - private to backy-backup: the Ceph sources (ceph-rbd,
 * flyingcircus) and the Consul request the flyingcircus source makes. */
#ifndef BACKY_SOURCE_CEPH_H
#define BACKY_SOURCE_CEPH_H

#include <stddef.h>
#include "backy/source.h"

extern const struct bk_source_ops source_ceph_rbd_ops;
extern const struct bk_source_ops source_flyingcircus_ops;

/* Consul KV: PUT snapshot/UUID = {"vm": VM, "snapshot": SNAP} so that the
 * VM's host freezes the VM and creates the snapshot. Returns 0 with *key
 * (malloc'd "snapshot/UUID") set, or -1 with err. */
int consul_put_snapshot_request(const char *vm, const char *snap, const char *token,
                                char **key, char *err, size_t errlen);
/* DELETE the key again. 0 or -1 with err. */
/* Landlock rules (read) for what librados and libcurl open while they run:
 * fills at most max entries of r, returns how many. */
struct sb_fs_rule;
size_t ceph_sandbox_rules(struct sb_fs_rule *r, size_t max);

int consul_delete_key(const char *key, const char *token, char *err, size_t errlen);

#endif
