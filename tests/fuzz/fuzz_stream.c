/* fuzz_stream.c - libFuzzer harness: the replication stream reader
 * (stream.c), which backy-receive runs on whatever arrives on stdin. Every
 * record it hands out must be in range and, for DATA, hash to its sum.
 * The seed corpus (corpus/stream) comes from gen_stream_seeds.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "backy/stream.h"

struct mem {
    const uint8_t *p;
    size_t n, off;
};

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
    struct mem *m = arg;
    size_t left = m->n - m->off;
    /* short reads, as from a pipe */
    size_t l = len < left ? len : left;
    if (l > 4000)
        l = 4000;
    memcpy(buf, m->p + m->off, l);
    m->off += l;
    return (ssize_t)l;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mem m = {data, size, 0};
    struct bk_stream_rd r;
    char err[512];
    if (stream_rd_begin(&r, mem_read, &m, err, sizeof err) == 0) {
        struct bk_stream_rec rec;
        int rc;
        uint64_t last = 0;
        int any = 0;
        while ((rc = stream_rd_next(&r, &rec, err, sizeof err)) > 0) {
            if (rec.index + rec.count > r.sums.nblocks || (any && rec.index < last))
                abort();
            if (rec.type == BK_REC_DATA) {
                struct bk_hash h;
                if (rec.len != sums_block_len(&r.sums, rec.index))
                    abort();
                sums_hash(rec.data, rec.len, &h);
                if (!bk_hash_eq(&h, &r.sums.h[rec.index]))
                    abort();
            }
            last = rec.index + rec.count;
            any = 1;
        }
        if (rc == 0 && m.off != m.n)
            abort();
        if (!stream_id_valid(r.meta.rev.id))
            abort();
    }
    stream_rd_free(&r);
    return 0;
}
