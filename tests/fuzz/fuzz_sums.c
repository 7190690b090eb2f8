/* fuzz_sums.c - libFuzzer harness: ID.sums files (read from job
 * directories by backup, verify, restore). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backy/sums.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bk_sums s;
    memset(&s, 0, sizeof s);
    if (sums_decode(data, size, &s) == 0) {
        /* accepted sums are consistent and encode to what was read */
        if (s.block_size == 0 || (s.block_size & (s.block_size - 1)) ||
            s.nblocks != (s.size + s.block_size - 1) / s.block_size)
            abort();
        for (uint64_t i = 0; i < s.nblocks; i++)
            if (sums_block_len(&s, i) == 0 || sums_block_len(&s, i) > s.block_size)
                abort();
        size_t len;
        void *enc = sums_encode(&s, &len);
        struct bk_sums back;
        memset(&back, 0, sizeof back);
        if (!enc || sums_decode(enc, len, &back) != 0 || back.nblocks != s.nblocks ||
            back.size != s.size || (s.nblocks && memcmp(back.h, s.h, s.nblocks * sizeof *s.h)))
            abort();
        sums_free(&back);
        free(enc);
        sums_free(&s);
    }
    return 0;
}
