/* jsonout.h - the --json output of the tools: one JSON document on stdout
 * with a top-level "format": 1. Formats are contracts: fields are only
 * ever added, never renamed, retyped or removed (the man page of each
 * tool lists them under JSON OUTPUT).
 *
 * Strings are always valid UTF-8: a byte that is not part of a valid
 * UTF-8 sequence (a path or a backy 2.0 tag in another encoding) becomes
 * U+FFFD. Times are given twice: seconds since the epoch (a number with
 * fraction, 16 significant digits: microseconds) and RFC 3339 text in UTC
 * ("2026-12-02T01:00:00.000000+00:00"). */
#ifndef BACKY_JSONOUT_H
#define BACKY_JSONOUT_H

#include <jansson.h>
#include <stdint.h>

#include "revision.h"

#define BK_JSON_FORMAT 1

/* A new document: an object holding "format": BK_JSON_FORMAT. */
json_t *bk_json_doc(void);
/* A string value (never NULL; invalid UTF-8 bytes replaced). */
json_t *bk_json_str(const char *s);
/* A string, or null for NULL or "". */
json_t *bk_json_str_or_null(const char *s);
/* An unsigned count (clamped to the JSON integer range). */
json_t *bk_json_u64(uint64_t v);
/* Set KEY (number, seconds) and KEY_iso (text) in obj from t. */
void bk_json_set_time(json_t *obj, const char *key, double t);
/* The array of a revision's tags. */
json_t *bk_json_tags(const struct bk_rev *r);
/* The verify record of a revision: {result, time, time_iso,
 * damaged_blocks}, or null when it was never checked. */
json_t *bk_json_verify(const struct bk_rev *r);
/* A revision as status lists it: id, timestamp, timestamp_iso, size (of
 * the image in dirfd, null when it is missing), bytes_written, duration
 * (null while incomplete), tags, parent (null when none), complete,
 * quarantined, verify. */
json_t *bk_json_rev(const struct bk_rev *r, int dirfd);
/* The answer to the revisions query (backy revisions --json, and the
 * first line of a receive session): {"format": 1, "job": dir, "exists",
 * "revisions": [{"id", "timestamp" (text), "tags", "complete",
 * "parent"}, ...]} for the revisions of st (NULL: none), oldest first. */
json_t *bk_json_revisions(const struct bk_store *st, const char *dir, int exists);
/* Write doc to stdout (indented, keys in insertion order, one final
 * newline) and release it. 0, or -1 with errno when stdout fails. */
int bk_json_print(json_t *doc);

#endif
