/* fuzz_rev.c - libFuzzer harness: .rev documents (outside input read from
 * every job directory) and the revision-spec resolver over what parsed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backy/revision.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    struct bk_rev rev;
    if (rev_parse((const char *)data, size, "fuzz.rev", &rev, err, sizeof err) == 0) {
        char *again = rev_format(&rev);
        struct bk_rev back;
        /* what we write must read back */
        if (rev_parse(again, strlen(again), "again.rev", &back, err, sizeof err) != 0)
            abort();
        if (strcmp(back.id, rev.id) || back.ntags != rev.ntags || back.complete != rev.complete)
            abort();
        struct bk_store st = {.dirfd = -1, .dir = "fuzz", .revs = &rev, .n = 1};
        char spec[32];
        size_t l = size < sizeof spec - 1 ? size : sizeof spec - 1;
        memcpy(spec, data, l);
        spec[l] = '\0';
        store_resolve(&st, spec, err, sizeof err);
        store_resolve(&st, rev.ntags ? rev.tags[0] : "0", err, sizeof err);
        rev_free(&back);
        free(again);
        rev_free(&rev);
    }
    return 0;
}
