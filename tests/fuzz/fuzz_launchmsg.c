/* fuzz_launchmsg.c - libFuzzer harness: requests the launcher receives from
 * the sandboxed scheduler (the scheduler may be compromised) and replies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backy/launchmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    struct lm_request r;
    if (lm_parse_request(data, size, "/srv/backy", &r, err, sizeof err) == 0) {
        /* an accepted request has terminated strings and a valid target */
        if (!memchr(r.dir, 0, sizeof r.dir) || !memchr(r.tags, 0, sizeof r.tags) ||
            !memchr(r.addrs, 0, sizeof r.addrs) || !memchr(r.user, 0, sizeof r.user))
            abort();
        if (r.op == LM_BACKUP && (!lm_valid_jobdir("/srv/backy", r.dir) || !lm_valid_tags(r.tags)))
            abort();
    } else if (!memchr(err, 0, sizeof err)) {
        abort();
    }
    struct lm_reply rep;
    lm_parse_reply(data, size, &rep);
    /* the single checks on arbitrary strings */
    char s[300];
    size_t l = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, l);
    s[l] = '\0';
    lm_valid_jobdir("/srv/backy", s);
    lm_valid_tags(s);
    return 0;
}
