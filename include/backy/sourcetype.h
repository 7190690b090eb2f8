/* sourcetype.h - what each source type's configuration looks like.
 *
 * This part knows no librbd: backy-init, backy-sched and backy-backup use it
 * to turn "backy init TYPE SOURCE" into a config and to validate a job's
 * source section. The implementations that read data live in
 * cmd/backy-backup/source_*.c. A new source type is a new file here plus one
 * line in the table in sourcetype.c, and a new file in backy-backup plus one
 * line in its table. */
#ifndef BACKY_SOURCETYPE_H
#define BACKY_SOURCETYPE_H

#include <stddef.h>
#include "ynode.h"

/* A job's source configuration as ordered key/value strings ("type" first). */
struct bk_kv { char *key, *value; };
struct bk_srccfg {
    struct bk_kv *kv;
    size_t n;
};

struct bk_sourcetype {
    const char *name;          /* "file", "ceph-rbd", ... */
    const char *init_syntax;   /* "FILENAME", "POOL/IMAGE", ... for help texts */
    const char *const *keys;   /* known keys besides "type", NULL-terminated */
    const char *const *required;
    /* SOURCE argument of backy init -> config keys. 0 or -1 with err. */
    int (*from_init_arg)(const char *arg, struct bk_srccfg *cfg, char *err, size_t errlen);
    /* Type-specific checks of a complete config. 0 or -1 with err. */
    int (*validate)(const struct bk_srccfg *cfg, char *err, size_t errlen);
};

/* Lookup by name (aliases: "ceph" = "ceph-rbd"). NULL if unknown. */
const struct bk_sourcetype *sourcetype_find(const char *name);
/* NULL-terminated list of all types, for help texts. */
const struct bk_sourcetype *const *sourcetype_all(void);

const char *srccfg_get(const struct bk_srccfg *cfg, const char *key);
void srccfg_set(struct bk_srccfg *cfg, const char *key, const char *value);
void srccfg_free(struct bk_srccfg *cfg);

/* From a YAML map (the job's source: section or a job config file).
 * Checks type, unknown keys and required keys; err says "NAME:LINE:COL: ...". */
int srccfg_from_ynode(const struct ynode *map, const char *name, struct bk_srccfg *cfg,
                      char *err, size_t errlen);
/* Read / write JOBDIR/config (YAML). The file is the job's "source" map. */
int srccfg_load(int dirfd, const char *dirname, struct bk_srccfg *cfg, char *err, size_t errlen);
char *srccfg_format(const struct bk_srccfg *cfg);    /* malloc'd YAML */
int srccfg_equal(const struct bk_srccfg *a, const struct bk_srccfg *b);

#endif
