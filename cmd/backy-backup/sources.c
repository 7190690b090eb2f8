/* sources.c - the source implementations backy-backup knows: one line each. */
#include <string.h>

#include "backy/sandbox.h"
#include "source_ceph.h"
#include "sources.h"

extern const struct bk_source_ops source_file_ops;
extern const struct bk_source_ops source_ceph_rbd_ops, source_flyingcircus_ops;

static const struct source_impl impls[] = {
    {"file", &source_file_ops, SB_BLOCKDEV, 0, NULL},
    {"ceph-rbd", &source_ceph_rbd_ops, SB_NET_CLIENT | SB_POLL, 1, ceph_sandbox_rules},
    {"flyingcircus", &source_flyingcircus_ops, SB_NET_CLIENT | SB_POLL, 1, ceph_sandbox_rules},
};

const struct source_impl *source_impl_find(const char *type)
{
    for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++)
        if (!strcmp(impls[i].type, type))
            return &impls[i];
    return NULL;
}
