/* test_jsonout.c - the --json helpers: strings are always valid UTF-8
 * (bad bytes become U+FFFD, good sequences are kept), times come as a
 * number and RFC 3339 text, a revision's fields and their JSON types. */
#include <stdlib.h>
#include <string.h>

#include "backy/jsonout.h"
#include "tap.h"

/* The string bk_json_str makes of s, as UTF-8 (malloc'd). */
static char *str_of(const char *s)
{
    json_t *v = bk_json_str(s);
    char *r = strdup(v && json_is_string(v) ? json_string_value(v) : "<none>");
    json_decref(v);
    return r;
}

static void same(const char *in, const char *want, const char *desc)
{
    char *got = str_of(in);
    tap_ok(strcmp(got, want) == 0, desc);
    if (strcmp(got, want) != 0)
        printf("# got '%s', want '%s'\n", got, want);
    free(got);
}

#define FFFD "\xef\xbf\xbd"

int main(void)
{
    json_t *doc = bk_json_doc();
    tap_ok(json_integer_value(json_object_get(doc, "format")) == 1, "a document has format 1");
    json_decref(doc);

    same("plain ascii", "plain ascii", "ASCII unchanged");
    same("gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac \xf0\x9f\x98\x80", "gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac \xf0\x9f\x98\x80",
         "2-, 3- and 4-byte sequences kept");
    same("a\xff" "b", "a" FFFD "b", "a byte that starts nothing becomes U+FFFD");
    same("a\xc3", "a" FFFD, "a sequence cut at the end");
    same("\xc3(x", FFFD "(x", "a lead byte without its continuation");
    same("\xc0\xaf", FFFD FFFD, "overlong encoding of '/' refused");
    same("\xe0\x80\xaf", FFFD FFFD FFFD, "3-byte overlong refused");
    same("\xed\xa0\x80", FFFD FFFD FFFD, "UTF-16 surrogate refused");
    same("\xf4\x90\x80\x80", FFFD FFFD FFFD FFFD, "above U+10FFFF refused");
    same("quote \" backslash \\ tab\t", "quote \" backslash \\ tab\t", "quotes and escapes are jansson's job");
    same(NULL, "", "NULL is the empty string");
    json_t *n = bk_json_str_or_null("");
    tap_ok(json_is_null(n), "empty string or NULL: null");
    json_decref(n);

    json_t *o = json_object();
    bk_json_set_time(o, "t", 1446667772.5);
    tap_ok(json_real_value(json_object_get(o, "t")) == 1446667772.5, "time as a number");
    tap_ok(strcmp(json_string_value(json_object_get(o, "t_iso")), "2015-11-04T20:09:32.500000+00:00") == 0,
           "time as RFC 3339 text in UTC");
    json_decref(o);

    char *tags[] = {"daily", "pre \"upgrade\""};
    struct bk_rev r = {.id = "Q5N5Ng5kFzNFVv6FDDDCHi", .timestamp = 1446667772.0, .tags = tags,
                       .ntags = 2, .complete = 0, .bytes_written = 5000000000ull,
                       .verify_result = BK_VERIFY_DAMAGED, .verify_time = 1446667800.0, .verify_damaged = 3};
    json_t *j = bk_json_rev(&r, -1);
    tap_ok(json_is_null(json_object_get(j, "size")), "no directory: size null");
    tap_ok(json_is_null(json_object_get(j, "duration")), "incomplete: duration null");
    tap_ok(json_is_null(json_object_get(j, "parent")), "no parent: null");
    tap_ok(json_integer_value(json_object_get(j, "bytes_written")) == 5000000000ll, "64-bit sizes");
    tap_ok(json_is_false(json_object_get(j, "complete")) && json_is_true(json_object_get(j, "quarantined")),
           "complete and quarantined are booleans");
    json_t *v = json_object_get(j, "verify");
    tap_ok(v && strcmp(json_string_value(json_object_get(v, "result")), "damaged") == 0 &&
               json_integer_value(json_object_get(v, "damaged_blocks")) == 3,
           "the verify record");
    tap_ok(json_array_size(json_object_get(j, "tags")) == 2 &&
               strcmp(json_string_value(json_array_get(json_object_get(j, "tags"), 1)), "pre \"upgrade\"") == 0,
           "tags as an array");
    char *text = json_dumps(j, 0);
    json_error_t e;
    json_t *back = json_loads(text, 0, &e);
    tap_ok(back && json_equal(back, j), "the dump parses back to the same value");
    json_decref(back);
    free(text);
    json_decref(j);
    r.verify_result = BK_VERIFY_NONE;
    j = bk_json_rev(&r, -1);
    tap_ok(json_is_null(json_object_get(j, "verify")), "never verified: verify null");
    json_decref(j);
    return tap_done();
}
