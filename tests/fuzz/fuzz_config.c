/* fuzz_config.c - libFuzzer harness: YAML job configurations (the tree
 * parser and the source validation) and tag lists. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backy/revision.h"
#include "backy/sourcetype.h"
#include "backy/ynode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    struct ynode *n = ynode_parse((const char *)data, size, "fuzz.yaml", err, sizeof err);
    if (n) {
        struct bk_srccfg cfg;
        const struct ynode *src = ynode_get(n, "source") ? ynode_get(n, "source") : n;
        if (srccfg_from_ynode(src, "fuzz.yaml", &cfg, err, sizeof err) == 0) {
            char *y = srccfg_format(&cfg);
            struct ynode *m = ynode_parse(y, strlen(y), "again.yaml", err, sizeof err);
            struct bk_srccfg back;
            /* a valid config we write must read back the same */
            if (!m || srccfg_from_ynode(m, "again.yaml", &back, err, sizeof err) != 0 ||
                !srccfg_equal(&cfg, &back))
                abort();
            srccfg_free(&back);
            ynode_free(m);
            free(y);
            srccfg_free(&cfg);
        }
        ynode_free(n);
    }
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    struct bk_rev r = {0};
    rev_set_tags(&r, s, err, sizeof err);
    rev_free(&r);
    free(s);
    return 0;
}
