/* jsonout.c - the --json output of the tools (jsonout.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backy/jsonout.h"
#include "backy/util.h"

json_t *bk_json_doc(void)
{
    static int seeded;
    if (!seeded) {
        /* A fixed hash seed: jansson would otherwise read /dev/urandom
         * after the sandbox is entered; the keys are all our own. */
        json_object_seed(0x6261636bu);
        seeded = 1;
    }
    json_t *o = json_object();
    json_object_set_new(o, "format", json_integer(BK_JSON_FORMAT));
    return o;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if none. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80)
        return 1;
    size_t len;
    unsigned cp;
    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        cp = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        cp = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        cp = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

json_t *bk_json_str(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    json_t *v = json_stringn(s, n);
    if (v)
        return v;
    /* not valid UTF-8: each bad byte becomes U+FFFD (3 bytes) */
    char *out = bk_calloc(1, 3 * n + 1);
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_seq(p + i, n - i);
        if (l) {
            memcpy(out + o, p + i, l);
            o += l;
            i += l;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    v = json_stringn(out, o);
    free(out);
    return v ? v : json_string("");
}

json_t *bk_json_str_or_null(const char *s)
{
    return s && *s ? bk_json_str(s) : json_null();
}

json_t *bk_json_u64(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

void bk_json_set_time(json_t *obj, const char *key, double t)
{
    char iso[64], k[64];
    bk_fmt_time_iso(t, iso, sizeof iso);
    char *sp = strchr(iso, ' ');
    if (sp)
        *sp = 'T';
    json_object_set_new(obj, key, json_real(t));
    snprintf(k, sizeof k, "%s_iso", key);
    json_object_set_new(obj, k, json_string(iso));
}

json_t *bk_json_tags(const struct bk_rev *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->ntags; i++)
        json_array_append_new(a, bk_json_str(r->tags[i]));
    return a;
}

json_t *bk_json_verify(const struct bk_rev *r)
{
    if (r->verify_result == BK_VERIFY_NONE)
        return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "result", json_string(bk_verify_result_name(r->verify_result)));
    bk_json_set_time(o, "time", r->verify_time);
    json_object_set_new(o, "damaged_blocks", bk_json_u64(r->verify_damaged));
    return o;
}

json_t *bk_json_rev(const struct bk_rev *r, int dirfd)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", bk_json_str(r->id));
    bk_json_set_time(o, "timestamp", r->timestamp);
    struct stat sb;
    if (dirfd >= 0 && fstatat(dirfd, r->id, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
        json_object_set_new(o, "size", bk_json_u64((uint64_t)sb.st_size));
    else
        json_object_set_new(o, "size", json_null());
    json_object_set_new(o, "bytes_written", bk_json_u64(r->bytes_written));
    json_object_set_new(o, "duration", r->complete ? json_real(r->duration) : json_null());
    json_object_set_new(o, "tags", bk_json_tags(r));
    json_object_set_new(o, "parent", bk_json_str_or_null(r->parent));
    json_object_set_new(o, "complete", json_boolean(r->complete));
    json_object_set_new(o, "quarantined", json_boolean(rev_quarantined(r)));
    json_object_set_new(o, "verify", bk_json_verify(r));
    return o;
}

int bk_json_print(json_t *doc)
{
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(16));
    json_decref(doc);
    if (rc < 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
        if (!errno)
            errno = EIO;
        return -1;
    }
    return 0;
}

json_t *bk_json_revisions(const struct bk_store *st, const char *dir, int exists)
{
    json_t *o = bk_json_doc();
    json_t *list = json_array();
    for (size_t i = 0; st && i < st->n; i++) {
        const struct bk_rev *r = &st->revs[i];
        char ts[64];
        bk_fmt_time_iso(r->timestamp, ts, sizeof ts);
        json_t *e = json_object();
        json_object_set_new(e, "id", bk_json_str(r->id));
        json_object_set_new(e, "timestamp", json_string(ts));
        json_object_set_new(e, "tags", bk_json_tags(r));
        json_object_set_new(e, "complete", json_boolean(r->complete));
        json_object_set_new(e, "parent", bk_json_str(r->parent));
        json_array_append_new(list, e);
    }
    json_object_set_new(o, "job", bk_json_str(dir));
    json_object_set_new(o, "exists", json_boolean(exists));
    json_object_set_new(o, "revisions", list);
    return o;
}
