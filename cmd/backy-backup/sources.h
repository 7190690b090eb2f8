/* sources.h - private to backy-backup: which implementation reads which
 * source type, and what more the sandbox must allow while it does. */
#ifndef BACKY_BACKUP_SOURCES_H
#define BACKY_BACKUP_SOURCES_H

#include "backy/sandbox.h"
#include "backy/source.h"

struct source_impl {
    const char *type;                  /* as in sourcetype.h (canonical name) */
    const struct bk_source_ops *ops;
    unsigned sandbox_groups;           /* added to backy-backup's base policy */
    int starts_threads;                /* open() starts threads (librados): privileges
                                          are dropped before it, as capabilities and
                                          Landlock domains are per thread */
    /* Landlock rules for what the source opens while it runs (NULL: none):
     * fills at most max entries, returns how many */
    size_t (*sandbox_rules)(struct sb_fs_rule *r, size_t max);
};

const struct source_impl *source_impl_find(const char *type);

#endif
