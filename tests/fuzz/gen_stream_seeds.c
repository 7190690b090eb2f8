/* gen_stream_seeds.c - writes the seed corpus of fuzz_stream: small valid
 * streams with 4 KiB blocks (whole, incremental, with zeros, a short last
 * block). Build and run from the top of the tree:
 *   cc -Iinclude -D_GNU_SOURCE -o /tmp/gen tests/fuzz/gen_stream_seeds.c \
 *      build/libcommon.a -ljansson -lxxhash -lyaml -lm && /tmp/gen tests/fuzz/corpus/stream */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backy/stream.h"

static void one(const char *dir, const char *name, uint64_t size, const char *base, int skip_first)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    uint32_t bs = 4096;
    unsigned char *img = calloc(1, size + 1);
    for (uint64_t i = 0; i < size; i++)
        img[i] = (i / bs) % 2 == 1 ? 0 : (unsigned char)(i * 7 + 3);
    struct bk_sums s;
    sums_init(&s, size, bs);
    for (uint64_t i = 0; i < s.nblocks; i++)
        sums_hash(img + i * bs, sums_block_len(&s, i), &s.h[i]);
    struct bk_stream_meta m = {0};
    snprintf(m.rev.id, sizeof m.rev.id, "kXDkjWxZ2QEeHEu5qTLkEg");
    snprintf(m.rev.parent, sizeof m.rev.parent, "%s", base ? base : "");
    snprintf(m.base, sizeof m.base, "%s", base ? base : "");
    m.rev.timestamp = 1764636811.395325;
    m.rev.duration = 0.25;
    m.rev.bytes_written = 8192;
    char *tags[] = {"daily", "weekly"};
    m.rev.tags = tags;
    m.rev.ntags = 2;
    m.size = size;
    m.block_size = bs;
    struct bk_stream_wr w;
    stream_wr_begin(&w, fd, &m, &s);
    for (uint64_t i = skip_first ? 1 : 0; i < s.nblocks; i++) {
        uint64_t l = sums_block_len(&s, i);
        if ((i / 1) % 2 == 1 && l == bs)
            stream_wr_zero(&w, i, 1);
        else
            stream_wr_data(&w, i, img + i * bs, l);
    }
    stream_wr_end(&w);
    close(fd);
    free(img);
    sums_free(&s);
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    one(argv[1], "full-2blocks", 8192, NULL, 0);
    one(argv[1], "full-short-tail", 8192 + 100, NULL, 0);
    one(argv[1], "incremental", 8192 + 100, "5JSRFxqmiJMQmtwRTLhocL", 1);
    one(argv[1], "empty-image", 0, NULL, 0);
    return 0;
}
