/* fuzz_spec.c - libFuzzer harness: revision specs (-r) and tag lists from
 * the command line, resolved over a small fixed store. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backy/revision.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const ids[] = {"Q5N5Ng5kFzNFVv6FDDDCHi", "Q5N5Ng5kFzNFVv6FDDDCHj",
                                      "FqZGAe6iG2hadwJoHdpigW"};
    struct bk_rev revs[3];
    char err[512];
    memset(revs, 0, sizeof revs);
    for (int i = 0; i < 3; i++) {
        strcpy(revs[i].id, ids[i]);
        revs[i].timestamp = 1446667772.0 + i * 86400;
        revs[i].complete = i != 2;
        rev_set_tags(&revs[i], i ? "daily" : "daily,weekly", err, sizeof err);
    }
    struct bk_store st = {.dirfd = -1, .dir = "fuzz", .revs = revs, .n = 3};
    char *spec = malloc(size + 1);
    memcpy(spec, data, size);
    spec[size] = '\0';
    const struct bk_rev *r = store_resolve(&st, spec, err, sizeof err);
    if (r && (r < revs || r >= revs + 3))
        abort();
    if (!r && !memchr(err, 0, sizeof err))
        abort();
    struct bk_rev t;
    memset(&t, 0, sizeof t);
    if (rev_set_tags(&t, spec, err, sizeof err) == 0) {
        /* every accepted tag obeys the tag rule; the list is sorted and unique */
        for (size_t i = 0; i < t.ntags; i++) {
            if (!bk_tag_valid(t.tags[i]))
                abort();
            if (i && strcmp(t.tags[i - 1], t.tags[i]) >= 0)
                abort();
        }
    }
    rev_free(&t);
    for (int i = 0; i < 3; i++)
        rev_free(&revs[i]);
    free(spec);
    return 0;
}
