/* fuzz_status.c - libFuzzer harness: the scheduler's status file, read by
 * backy-check and backy-telnetd (the telnet shell as an unprivileged user). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backy/statusfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    struct bk_status st;
    if (status_parse((const char *)data, size, "fuzz.status", &st, err, sizeof err) == 0) {
        /* what parsed formats and reads back with the same jobs */
        char *again = status_format(&st);
        struct bk_status back;
        if (!again || status_parse(again, strlen(again), "again", &back, err, sizeof err) != 0)
            abort();
        if (back.njobs != st.njobs)
            abort();
        for (size_t i = 0; i < st.njobs; i++)
            if (strcmp(back.jobs[i].name, st.jobs[i].name))
                abort();
        status_free(&back);
        free(again);
        status_free(&st);
    }
    return 0;
}
