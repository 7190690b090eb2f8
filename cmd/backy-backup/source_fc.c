/* source_fc.c - the Consul side of the flyingcircus source: a snapshot
 * request is a KV entry snapshot/UUID = {"vm": VM, "snapshot": SNAP} that the
 * VM's host watches; it freezes the VM's filesystems, creates the snapshot
 * and thaws. The address comes from CONSUL_HTTP_ADDR (default
 * 127.0.0.1:8500, "http://" assumed when no scheme is given); the ACL token
 * is sent in the X-Consul-Token header. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <curl/curl.h>
#include <jansson.h>

#include "backy/util.h"
#include "source_ceph.h"

#define CONSUL_HTTP_TIMEOUT 10L   /* seconds per request */

static char *consul_url(const char *key)
{
    const char *addr = getenv("CONSUL_HTTP_ADDR");
    if (!addr || !*addr)
        addr = "127.0.0.1:8500";
    size_t n = strlen(addr);
    while (n > 0 && addr[n - 1] == '/')
        n--;
    return bk_asprintf("%s%.*s/v1/kv/%s", strstr(addr, "://") ? "" : "http://",
                       (int)n, addr, key);
}

static size_t discard_body(char *p, size_t size, size_t n, void *arg)
{
    (void)p; (void)arg;
    return size * n;
}

/* One request; body may be NULL. 0 on HTTP 2xx, -1 with err otherwise. */
static int consul_request(const char *method, const char *key, const char *body,
                          const char *token, char *err, size_t errlen)
{
    static int initialised;
    if (!initialised) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            snprintf(err, errlen, "cannot initialise libcurl");
            return -1;
        }
        initialised = 1;
    }
    char *url = consul_url(key);
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "cannot initialise libcurl");
        free(url);
        return -1;
    }
    struct curl_slist *hdrs = NULL;
    char *tokhdr = NULL;
    if (token && *token) {
        tokhdr = bk_asprintf("X-Consul-Token: %s", token);
        hdrs = curl_slist_append(hdrs, tokhdr);
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    char curlerr[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, CONSUL_HTTP_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONSUL_HTTP_TIMEOUT);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curlerr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    int rc = -1;
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(err, errlen, "consul %s: %s: %s", method, url,
                 curlerr[0] ? curlerr : curl_easy_strerror(cc));
    } else {
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300)
            rc = 0;
        else if (status == 403)
            snprintf(err, errlen, "consul %s: %s: permission denied (HTTP 403, check consul_acl_token)",
                     method, url);
        else
            snprintf(err, errlen, "consul %s: %s: HTTP status %ld", method, url, status);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    free(tokhdr);
    free(url);
    return rc;
}

static int random_uuid(char *buf, size_t len)
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
        return -1;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    snprintf(buf, len,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
             b[12], b[13], b[14], b[15]);
    return 0;
}

int consul_put_snapshot_request(const char *vm, const char *snap, const char *token,
                                char **key, char *err, size_t errlen)
{
    char uuid[40];
    if (random_uuid(uuid, sizeof uuid) < 0) {
        snprintf(err, errlen, "getrandom: %s", strerror(errno));
        return -1;
    }
    json_t *o = json_pack("{s:s, s:s}", "vm", vm, "snapshot", snap);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!body) {
        snprintf(err, errlen, "cannot encode the snapshot request");
        return -1;
    }
    char *k = bk_asprintf("snapshot/%s", uuid);
    int rc = consul_request("PUT", k, body, token, err, errlen);
    free(body);
    if (rc < 0) {
        free(k);
        return -1;
    }
    *key = k;
    return 0;
}

int consul_delete_key(const char *key, const char *token, char *err, size_t errlen)
{
    return consul_request("DELETE", key, NULL, token, err, errlen);
}
