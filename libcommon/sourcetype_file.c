/* sourcetype_file.c - configuration of the "file" source: a regular file
 * or a block device, read as it is (no snapshot). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backy/sourcetype.h"
#include "backy/util.h"

static const char *const file_keys[] = {"filename", NULL};

static int file_from_init(const char *arg, struct bk_srccfg *cfg, char *err, size_t errlen)
{
    if (!*arg) {
        snprintf(err, errlen, "file source needs a FILENAME");
        return -1;
    }
    char *abs = bk_abspath(arg);
    if (!abs) {
        snprintf(err, errlen, "cannot make %s absolute", arg);
        return -1;
    }
    srccfg_set(cfg, "type", "file");
    srccfg_set(cfg, "filename", abs);
    free(abs);
    return 0;
}

static int file_validate(const struct bk_srccfg *cfg, char *err, size_t errlen)
{
    const char *f = srccfg_get(cfg, "filename");
    if (!f || f[0] != '/') {
        snprintf(err, errlen, "filename must be an absolute path (not '%s')", f ? f : "");
        return -1;
    }
    return 0;
}

const struct bk_sourcetype bk_sourcetype_file = {
    .name = "file",
    .init_syntax = "FILENAME",
    .keys = file_keys,
    .required = file_keys,
    .from_init_arg = file_from_init,
    .validate = file_validate,
};
