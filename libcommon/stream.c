/* stream.c - the replication stream (stream.h): writer for backy-send,
 * hostile-input reader for backy-receive. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "backy/shortuuid.h"
#include "backy/stream.h"
#include "backy/util.h"

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int stream_id_valid(const char *s)
{
    /* exactly what backy makes (a short UUID): never "config", "last" or
     * a name that ID.* could make collide with other files of a job */
    return strlen(s) == SHORTUUID_LEN && shortuuid_valid(s);
}

void stream_meta_free(struct bk_stream_meta *m)
{
    rev_free(&m->rev);
    memset(m, 0, sizeof *m);
}

/* ---- writer ----------------------------------------------------------------- */

static int wr_bytes(struct bk_stream_wr *w, const void *p, size_t n)
{
    if (bk_write_all(w->fd, p, n) < 0)
        return -1;
    XXH3_128bits_update((XXH3_state_t *)w->h, p, n);
    w->bytes += n;
    return 0;
}

/* One record from up to two payload pieces. */
static int wr_record(struct bk_stream_wr *w, uint32_t type, const void *a, size_t alen,
                     const void *b, size_t blen)
{
    unsigned char hdr[BK_STREAM_RECHDR];
    put32(hdr, type);
    put32(hdr + 4, 0);
    put64(hdr + 8, (uint64_t)alen + blen);
    XXH3_state_t *c = XXH3_createState();
    if (!c) {
        errno = ENOMEM;
        return -1;
    }
    XXH3_64bits_reset(c);
    XXH3_64bits_update(c, hdr, 16);
    if (alen)
        XXH3_64bits_update(c, a, alen);
    if (blen)
        XXH3_64bits_update(c, b, blen);
    put64(hdr + 16, XXH3_64bits_digest(c));
    XXH3_freeState(c);
    if (wr_bytes(w, hdr, sizeof hdr) < 0 || (alen && wr_bytes(w, a, alen) < 0) ||
        (blen && wr_bytes(w, b, blen) < 0))
        return -1;
    w->records++;
    return 0;
}

static char *meta_json(const struct bk_stream_meta *m)
{
    char iso[64];
    bk_fmt_time_iso(m->rev.timestamp, iso, sizeof iso);
    json_t *tags = json_array();
    for (size_t i = 0; i < m->rev.ntags; i++)
        json_array_append_new(tags, json_string(m->rev.tags[i]));
    json_t *o = json_pack("{s:s, s:s, s:f, s:s, s:o, s:I, s:I, s:s, s:{s:I, s:f}}",
                          "id", m->rev.id, "parent", m->rev.parent, "timestamp",
                          m->rev.timestamp, "time", iso, "tags", tags, "size",
                          (json_int_t)m->size, "block_size", (json_int_t)m->block_size, "base",
                          m->base, "stats", "bytes_written", (json_int_t)m->rev.bytes_written,
                          "duration", m->rev.duration);
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}

int stream_wr_begin(struct bk_stream_wr *w, int fd, const struct bk_stream_meta *m,
                    const struct bk_sums *sums)
{
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->h = XXH3_createState();
    if (!w->h) {
        errno = ENOMEM;
        return -1;
    }
    XXH3_128bits_reset((XXH3_state_t *)w->h);
    unsigned char pre[BK_STREAM_PREAMBLE];
    memcpy(pre, BK_STREAM_MAGIC, 8);
    put32(pre + 8, BK_STREAM_VERSION);
    put32(pre + 12, 0);
    if (wr_bytes(w, pre, sizeof pre) < 0)
        return -1;
    char *js = meta_json(m);
    if (!js) {
        errno = ENOMEM;
        return -1;
    }
    int rc = wr_record(w, BK_REC_META, js, strlen(js), NULL, 0);
    free(js);
    if (rc < 0)
        return -1;
    size_t sl;
    void *enc = sums_encode(sums, &sl);
    if (!enc)
        return -1;
    rc = wr_record(w, BK_REC_SUMS, enc, sl, NULL, 0);
    free(enc);
    return rc;
}

int stream_wr_data(struct bk_stream_wr *w, uint64_t index, const void *data, size_t len)
{
    unsigned char ix[8];
    put64(ix, index);
    return wr_record(w, BK_REC_DATA, ix, 8, data, len);
}

int stream_wr_zero(struct bk_stream_wr *w, uint64_t first, uint64_t count)
{
    unsigned char p[16];
    put64(p, first);
    put64(p + 8, count);
    return wr_record(w, BK_REC_ZERO, p, 16, NULL, 0);
}

int stream_wr_end(struct bk_stream_wr *w)
{
    unsigned char p[32];
    put64(p, w->records);
    put64(p + 8, w->bytes);
    XXH128_hash_t h = XXH3_128bits_digest((XXH3_state_t *)w->h);
    put64(p + 16, h.low64);
    put64(p + 24, h.high64);
    int rc = wr_record(w, BK_REC_END, p, 32, NULL, 0);
    stream_wr_free(w);
    return rc;
}

void stream_wr_free(struct bk_stream_wr *w)
{
    if (w->h)
        XXH3_freeState((XXH3_state_t *)w->h);
    w->h = NULL;
}

/* ---- reader ----------------------------------------------------------------- */

ssize_t stream_fd_read(void *arg, void *buf, size_t len)
{
    int fd = *(int *)arg;
    for (;;) {
        ssize_t n = read(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        return n;
    }
}

BK_PRINTF(3, 4) static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Exactly n bytes or an error naming what was cut off. Hashed when hash. */
static int rd_exact(struct bk_stream_rd *r, void *buf, size_t n, const char *what, char *err,
                    size_t errlen)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = r->read(r->arg, (unsigned char *)buf + got, n - got);
        if (k < 0)
            return fail(err, errlen, "cannot read stream: %s", strerror(errno));
        if (k == 0)
            return fail(err, errlen, "stream truncated: end of input in %s at byte %llu", what,
                        (unsigned long long)r->bytes + got);
        got += (size_t)k;
    }
    XXH3_128bits_update((XXH3_state_t *)r->h, buf, n);
    r->bytes += n;
    return 0;
}

static int rd_reserve(struct bk_stream_rd *r, size_t n)
{
    if (n <= r->cap)
        return 0;
    unsigned char *b = realloc(r->buf, n);
    if (!b)
        return -1;
    r->buf = b;
    r->cap = n;
    return 0;
}

static const char *type_name(uint32_t t)
{
    switch (t) {
    case BK_REC_META: return "META";
    case BK_REC_SUMS: return "SUMS";
    case BK_REC_DATA: return "DATA";
    case BK_REC_ZERO: return "ZERO";
    case BK_REC_END: return "END";
    default: return "unknown";
    }
}

/* One record: header, payload into r->buf (at most max bytes; the buffer
 * grows with what arrives, never ahead of it), check. 0 with the type (all
 * 32 bits of it) in *typep and the payload's length in *lenp, or -1 (both
 * then 0). */
static int rd_record(struct bk_stream_rd *r, uint64_t max_optional, uint32_t *typep,
                     uint64_t *lenp, char *err, size_t errlen)
{
    *typep = 0;
    *lenp = 0;
    unsigned char hdr[BK_STREAM_RECHDR];
    char what[64];
    snprintf(what, sizeof what, "record %llu header", (unsigned long long)r->records + 1);
    if (rd_exact(r, hdr, sizeof hdr, what, err, errlen) < 0)
        return -1;
    uint32_t type = get32(hdr);
    uint64_t len = get64(hdr + 8);
    uint64_t max;
    switch (type) {
    case BK_REC_META: max = BK_STREAM_META_MAX; break;
    case BK_REC_SUMS:
        /* exactly what the metadata's size and block size call for */
        max = r->meta.block_size
                  ? BK_SUMS_HDR_SIZE + 16 * ((r->meta.size + r->meta.block_size - 1) / r->meta.block_size)
                  : 0;
        break;
    case BK_REC_DATA: max = 8 + (uint64_t)(r->meta.block_size ? r->meta.block_size : 0); break;
    case BK_REC_ZERO: max = 16; break;
    case BK_REC_END: max = 32; break;
    default:
        if (!(type & BK_REC_OPTIONAL))
            return fail(err, errlen, "stream record %llu at byte %llu: unknown type %u",
                        (unsigned long long)r->records + 1,
                        (unsigned long long)(r->bytes - sizeof hdr), type);
        max = max_optional;
    }
    if (len > max)
        return fail(err, errlen, "stream record %llu (%s) at byte %llu: length %llu over the limit %llu",
                    (unsigned long long)r->records + 1, type_name(type),
                    (unsigned long long)(r->bytes - sizeof hdr), (unsigned long long)len,
                    (unsigned long long)max);
    XXH3_state_t *c = XXH3_createState();
    if (!c)
        return fail(err, errlen, "out of memory");
    XXH3_64bits_reset(c);
    XXH3_64bits_update(c, hdr, 16);
    /* read in steps of at most 1 MiB so a lying length costs no memory */
    uint64_t got = 0;
    snprintf(what, sizeof what, "record %llu (%s)", (unsigned long long)r->records + 1,
             type_name(type));
    while (got < len) {
        size_t step = len - got > (1u << 20) ? (1u << 20) : (size_t)(len - got);
        if (rd_reserve(r, (size_t)got + step) < 0) {
            XXH3_freeState(c);
            return fail(err, errlen, "out of memory");
        }
        if (rd_exact(r, r->buf + got, step, what, err, errlen) < 0) {
            XXH3_freeState(c);
            return -1;
        }
        XXH3_64bits_update(c, r->buf + got, step);
        got += step;
    }
    uint64_t check = XXH3_64bits_digest(c);
    XXH3_freeState(c);
    if (check != get64(hdr + 16))
        return fail(err, errlen, "stream record %llu (%s) is corrupt: check mismatch",
                    (unsigned long long)r->records + 1, type_name(type));
    *typep = type;
    *lenp = len;
    r->records++;
    return 0;
}

static int parse_meta(struct bk_stream_rd *r, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb((const char *)r->buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return fail(err, errlen, "stream metadata is not valid JSON: %s", je.text);
    struct bk_stream_meta *m = &r->meta;
    const char *id = NULL, *parent = NULL, *base = NULL;
    double ts = 0, dur = 0;
    json_int_t size = 0, bs = 0, bw = 0;
    json_t *tags = NULL;
    int rc = -1;
    if (json_unpack_ex(o, &je, 0, "{s:s, s:s, s:F, s:o, s:I, s:I, s:s, s:{s:I, s:F}}", "id", &id,
                       "parent", &parent, "timestamp", &ts, "tags", &tags, "size", &size,
                       "block_size", &bs, "base", &base, "stats", "bytes_written", &bw,
                       "duration", &dur) < 0) {
        fail(err, errlen, "stream metadata: %s", je.text);
        goto out;
    }
    if (!stream_id_valid(id)) {
        fail(err, errlen, "stream metadata: invalid revision ID");
        goto out;
    }
    if ((*parent && !stream_id_valid(parent)) || (*base && !stream_id_valid(base))) {
        fail(err, errlen, "stream metadata: invalid parent or base ID");
        goto out;
    }
    if (!isfinite(ts) || ts < 0 || ts > 1e11 || !isfinite(dur) || dur < 0 || dur > 1e9 ||
        size < 0 || bw < 0) {
        fail(err, errlen, "stream metadata: timestamp, duration or size out of range");
        goto out;
    }
    if (bs < 4096 || bs > 64 * 1024 * 1024 || (bs & (bs - 1))) {
        fail(err, errlen, "stream metadata: invalid block size %lld", (long long)bs);
        goto out;
    }
    if ((uint64_t)size / (uint64_t)bs >= BK_STREAM_NBLOCKS_MAX) {
        fail(err, errlen, "stream metadata: image size %lld over the limit", (long long)size);
        goto out;
    }
    if (!json_is_array(tags)) {
        fail(err, errlen, "stream metadata: tags must be a list");
        goto out;
    }
    snprintf(m->rev.id, sizeof m->rev.id, "%s", id);
    snprintf(m->rev.parent, sizeof m->rev.parent, "%s", parent);
    snprintf(m->base, sizeof m->base, "%s", base);
    m->rev.timestamp = ts;
    m->rev.duration = dur;
    m->rev.bytes_written = (uint64_t)bw;
    m->rev.complete = 1;
    m->size = (uint64_t)size;
    m->block_size = (uint32_t)bs;
    if (!strcmp(m->base, m->rev.id)) {
        fail(err, errlen, "stream metadata: revision %s is its own base", id);
        goto out;
    }
    size_t nt = json_array_size(tags);
    if (nt > 1024) {
        fail(err, errlen, "stream metadata: too many tags");
        goto out;
    }
    m->rev.tags = bk_calloc(nt ? nt : 1, sizeof *m->rev.tags);
    for (size_t i = 0; i < nt; i++) {
        const char *t = json_string_value(json_array_get(tags, i));
        if (!t || !bk_tag_valid(t)) {
            fail(err, errlen, "stream metadata: invalid tag");
            goto out;
        }
        /* sorted and unique, as rev_set_tags keeps them */
        if (i && strcmp(m->rev.tags[i - 1], t) >= 0) {
            fail(err, errlen, "stream metadata: tags not sorted and unique");
            goto out;
        }
        m->rev.tags[i] = bk_strdup(t);
        m->rev.ntags = i + 1;
    }
    rc = 0;
out:
    json_decref(o);
    return rc;
}

int stream_rd_begin(struct bk_stream_rd *r, bk_stream_readfn fn, void *arg, char *err,
                    size_t errlen)
{
    memset(r, 0, sizeof *r);
    r->read = fn;
    r->arg = arg;
    r->h = XXH3_createState();
    if (!r->h)
        return fail(err, errlen, "out of memory");
    XXH3_128bits_reset((XXH3_state_t *)r->h);
    unsigned char pre[BK_STREAM_PREAMBLE];
    if (rd_exact(r, pre, sizeof pre, "preamble", err, errlen) < 0)
        return -1;
    if (memcmp(pre, BK_STREAM_MAGIC, 8))
        return fail(err, errlen, "not a backy replication stream (bad magic)");
    uint32_t v = get32(pre + 8);
    if (v != BK_STREAM_VERSION)
        return fail(err, errlen, "unsupported stream version %u (this backy reads version %u)",
                    v, BK_STREAM_VERSION);
    uint64_t len = 0;
    uint32_t t;
    do {
        if (rd_record(r, BK_STREAM_META_MAX, &t, &len, err, errlen) < 0)
            return -1;
    } while (t & BK_REC_OPTIONAL);
    if (t != BK_REC_META)
        return fail(err, errlen, "stream record 1 is %s, not META", type_name(t));
    if (parse_meta(r, (size_t)len, err, errlen) < 0)
        return -1;
    do {
        if (rd_record(r, BK_STREAM_META_MAX, &t, &len, err, errlen) < 0)
            return -1;
    } while (t & BK_REC_OPTIONAL);
    if (t != BK_REC_SUMS)
        return fail(err, errlen, "stream record %llu is %s, not SUMS",
                    (unsigned long long)r->records, type_name(t));
    if (sums_decode(r->buf, (size_t)len, &r->sums) < 0)
        return fail(err, errlen, "stream sums are invalid: %s",
                    errno == EBADMSG ? "check mismatch" : "malformed");
    if (r->sums.size != r->meta.size || r->sums.block_size != r->meta.block_size)
        return fail(err, errlen, "stream sums do not match the metadata (size or block size)");
    void *z = calloc(1, r->meta.block_size);
    if (!z)
        return fail(err, errlen, "out of memory");
    sums_hash(z, r->meta.block_size, &r->zero_full);
    free(z);
    return 0;
}

static int zero_hash_ok(struct bk_stream_rd *r, uint64_t i)
{
    uint64_t l = sums_block_len(&r->sums, i);
    struct bk_hash h;
    if (l == r->meta.block_size) {
        h = r->zero_full;
    } else {
        void *z = calloc(1, (size_t)l ? (size_t)l : 1);
        if (!z)
            return 0;
        sums_hash(z, (size_t)l, &h);
        free(z);
    }
    return bk_hash_eq(&h, &r->sums.h[i]);
}

int stream_rd_next(struct bk_stream_rd *r, struct bk_stream_rec *rec, char *err, size_t errlen)
{
    if (r->done)
        return 0;
    for (;;) {
        /* the trailer covers everything before its own record */
        uint64_t bytes_before = r->bytes, records_before = r->records;
        XXH128_hash_t h_before = XXH3_128bits_digest((XXH3_state_t *)r->h);
        uint64_t len = 0;
        uint32_t t;
        if (rd_record(r, (uint64_t)r->meta.block_size + 64, &t, &len, err, errlen) < 0)
            return -1;
        if (t & BK_REC_OPTIONAL)
            continue;
        const unsigned char *p = r->buf;
        switch (t) {
        case BK_REC_DATA: {
            if (len < 8)
                return fail(err, errlen, "stream DATA record %llu too short",
                            (unsigned long long)r->records);
            uint64_t i = get64(p);
            if (i < r->next || i >= r->sums.nblocks)
                return fail(err, errlen,
                            "stream DATA record %llu: block %llu out of order or out of range",
                            (unsigned long long)r->records, (unsigned long long)i);
            if (len - 8 != sums_block_len(&r->sums, i))
                return fail(err, errlen, "stream DATA record %llu: block %llu has the wrong length",
                            (unsigned long long)r->records, (unsigned long long)i);
            struct bk_hash h;
            sums_hash(p + 8, (size_t)(len - 8), &h);
            if (!bk_hash_eq(&h, &r->sums.h[i]))
                return fail(err, errlen, "stream block %llu does not match its sum (corrupt data)",
                            (unsigned long long)i);
            r->next = i + 1;
            rec->type = BK_REC_DATA;
            rec->index = i;
            rec->count = 1;
            rec->data = p + 8;
            rec->len = (size_t)(len - 8);
            return 1;
        }
        case BK_REC_ZERO: {
            if (len != 16)
                return fail(err, errlen, "stream ZERO record %llu has the wrong length",
                            (unsigned long long)r->records);
            uint64_t f = get64(p), n = get64(p + 8);
            if (f < r->next || n == 0 || n > r->sums.nblocks || f > r->sums.nblocks - n)
                return fail(err, errlen,
                            "stream ZERO record %llu: blocks %llu+%llu out of order or out of range",
                            (unsigned long long)r->records, (unsigned long long)f,
                            (unsigned long long)n);
            for (uint64_t i = f; i < f + n; i++)
                if (!zero_hash_ok(r, i))
                    return fail(err, errlen,
                                "stream block %llu is sent as zeros but its sum is not of zeros",
                                (unsigned long long)i);
            r->next = f + n;
            rec->type = BK_REC_ZERO;
            rec->index = f;
            rec->count = n;
            rec->data = NULL;
            rec->len = 0;
            return 1;
        }
        case BK_REC_END: {
            if (len != 32)
                return fail(err, errlen, "stream END record has the wrong length");
            if (get64(p) != records_before || get64(p + 8) != bytes_before ||
                get64(p + 16) != h_before.low64 || get64(p + 24) != h_before.high64)
                return fail(err, errlen,
                            "stream trailer does not match the stream (records, bytes or hash)");
            if (r->more) {
                r->done = 1;
                return 0;
            }
            unsigned char extra;
            ssize_t k = r->read(r->arg, &extra, 1);
            if (k < 0)
                return fail(err, errlen, "cannot read stream: %s", strerror(errno));
            if (k > 0)
                return fail(err, errlen, "stream has data after its trailer");
            r->done = 1;
            return 0;
        }
        default:
            return fail(err, errlen, "stream record %llu: %s where blocks or END belong",
                        (unsigned long long)r->records, type_name(t));
        }
    }
}

void stream_rd_free(struct bk_stream_rd *r)
{
    if (r->h)
        XXH3_freeState((XXH3_state_t *)r->h);
    free(r->buf);
    stream_meta_free(&r->meta);
    sums_free(&r->sums);
    memset(r, 0, sizeof *r);
}
