/* source_ceph.c - the ceph-rbd and flyingcircus sources: read an RBD image
 * through librados/librbd at a snapshot "backy-REVID" made for this backup.
 *
 * Deltas: when the snapshot of the parent revision still exists,
 * rbd_diff_iterate2 since it gives the changed extents (and the discarded
 * ones, exists = 0). Otherwise everything that exists (diff from nothing) is
 * reported with *full = 1 and the engine compares against the parent image.
 *
 * Reads: the changed extents are cut into object-aligned units; pread()
 * keeps up to WINDOW of them in flight with rbd_aio_read ahead of the
 * reader, so the cluster sees several requests at once while memory stays at
 * WINDOW * unit size whatever the image size. Large reads (the engine's
 * 4 MiB chunks of a full pass) are instead split into 1 MiB rbd_aio_reads
 * into the caller's buffer, all in flight at once (no copy). Small reads
 * outside the plan (the verification sample) go straight to rbd_read.
 *
 * Snapshots: after a successful backup only backy-NEWID stays; other backy-*
 * snapshots go. After a failure backy-NEWID goes and the others stay, so the
 * next run is still a delta. Snapshots with other names are never touched.
 *
 * Connection: cluster name from CEPH_CLUSTER (default "ceph"), client name
 * from --id/--user/--name in CEPH_ARGS (default client.admin), config file
 * from --conf in CEPH_ARGS, else CEPH_CONF / the default search path, then
 * the rest of CEPH_ARGS; unless configured lower, connecting gives up after
 * 20 s and monitor / OSD operations after 30 / 120 s.
 *
 * Test hook: BACKY_CEPH_FAULT=flip-once:OFFSET corrupts one byte of the
 * first read that covers OFFSET (later reads are right), standing in for a
 * fault on the way from the cluster; "verify: full" must then catch the
 * revision. It is announced with a warning. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "backy/duration.h"
#include "backy/log.h"
#include "backy/sandbox.h"
#include "backy/source.h"
#include "backy/util.h"
#include "source_ceph.h"

#define SNAP_PREFIX "backy-"
#ifndef WINDOW
#define WINDOW 8                       /* aio reads in flight */
#endif
#define UNIT_MAX ((uint64_t)4 << 20)   /* largest read unit */
#define PLAN_ALIGN ((uint64_t)64 << 10)/* units are widened to this alignment */
#define BIG_READ ((size_t)1 << 20)     /* reads this large are split, not read ahead */
#define PIECE ((size_t)1 << 20)        /* piece size of a split read */
#define CONNECT_TIMEOUT "20"
#define MON_OP_TIMEOUT "30"
#define OSD_OP_TIMEOUT "120"
#define DEFAULT_CONSUL_TIMEOUT 30

struct extent { uint64_t off, len; int exists; };

struct slot {
    int state;                 /* 0 free, 1 in flight or done */
    size_t unit;               /* index into plan */
    uint64_t off, len;
    char *buf;
    rbd_completion_t comp;
    int done;                  /* completion waited for */
    ssize_t ret;
    int pins;                  /* threads waiting on / copying from it */
    uint64_t consumed;
};

#define MAX_READERS 16         /* preads tracked for eviction (bits of active_used) */

struct ceph_src {
    int flyingcircus;
    char *pool, *image, *newsnap, *parentsnap;
    char *vm, *token;
    int64_t consul_timeout;
    rados_t cluster;
    rados_ioctx_t io;
    rbd_image_t snapimg;       /* read-only at newsnap */
    rbd_image_t rwimg;         /* the image, kept open from open() for finish() */
    int connected, have_io, snap_created;
    int parent_usable;

    /* read plan: object-aligned units of what changed() reported */
    struct extent *plan;
    size_t nplan, capplan;
    uint64_t size, unit_size;
    uint64_t fault_off;        /* test hook, see ceph_pread */
    int fault_armed;
    pthread_mutex_t mu;
    struct slot slots[WINDOW];
    size_t next_issue;         /* next plan unit to issue */
    uint64_t active[MAX_READERS]; /* offsets of preads in progress */
    unsigned active_used;      /* bit i: active[i] belongs to a reader; a reader
                                  keeps its index until it leaves */
};

static int errset(char *err, size_t errlen, const char *fmt, ...) BK_PRINTF(3, 4);
static int errset(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *cfgval(const struct bk_srccfg *cfg, const char *key)
{
    const char *v = srccfg_get(cfg, key);
    return v && *v ? v : NULL;
}

/* ---- connecting ---------------------------------------------------------- */

/* Find "--opt VALUE" / "--opt=VALUE" / "-o VALUE" in CEPH_ARGS (last wins). */
static char *ceph_args_value(const char *longopt, const char *alt, const char *shortopt)
{
    const char *env = getenv("CEPH_ARGS");
    if (!env)
        return NULL;
    char *copy = bk_strdup(env), *save = NULL, *found = NULL;
    const char *opts[] = { longopt, alt, shortopt };
    for (char *tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
        for (size_t i = 0; i < 3; i++) {
            const char *o = opts[i];
            if (!o)
                continue;
            size_t n = strlen(o);
            if (!strcmp(tok, o)) {
                char *v = strtok_r(NULL, " \t\n", &save);
                if (v) {
                    free(found);
                    found = bk_strdup(v);
                }
                break;
            }
            if (o[1] == '-' && !strncmp(tok, o, n) && tok[n] == '=') {
                free(found);
                found = bk_strdup(tok + n + 1);
                break;
            }
        }
    }
    free(copy);
    return found;
}

/* Lower a timeout option to our value unless it is configured lower already
 * (0 means "none" for the op timeouts). */
static void cap_timeout(rados_t c, const char *opt, const char *ours)
{
    char cur[64];
    if (rados_conf_get(c, opt, cur, sizeof cur) < 0)
        return;
    double have = strtod(cur, NULL), want = strtod(ours, NULL);
    if (have <= 0 || have > want)
        rados_conf_set(c, opt, ours);
}

static int ceph_connect(struct ceph_src *cs, char *err, size_t errlen)
{
    const char *clus = getenv("CEPH_CLUSTER");
    char *clusarg = ceph_args_value("--cluster", NULL, NULL);
    if (clusarg)
        clus = clusarg;
    if (!clus || !*clus)
        clus = "ceph";
    char *name = ceph_args_value("--name", NULL, "-n");
    if (!name) {
        char *id = ceph_args_value("--id", "--user", "-i");
        name = bk_asprintf("client.%s", id ? id : "admin");
        free(id);
    }
    int r = rados_create2(&cs->cluster, clus, name, 0);
    if (r < 0) {
        errset(err, errlen, "cannot create a cluster handle: %s: %s", name, strerror(-r));
        free(name);
        free(clusarg);
        return -1;
    }
    free(name);
    free(clusarg);
    cs->connected = 1;   /* a handle to shut down, connected or not */

    char *conf = ceph_args_value("--conf", NULL, "-c");
    r = rados_conf_read_file(cs->cluster, conf);
    if (r < 0) {
        const char *path = conf ? conf : getenv("CEPH_CONF");
        errset(err, errlen, "cannot read the Ceph configuration: %s: %s",
               path ? path : "/etc/ceph/ceph.conf", strerror(-r));
        free(conf);
        return -1;
    }
    free(conf);
    r = rados_conf_parse_env(cs->cluster, NULL);
    if (r < 0)
        return errset(err, errlen, "cannot parse CEPH_ARGS: %s: %s",
                      getenv("CEPH_ARGS") ? getenv("CEPH_ARGS") : "", strerror(-r));
    cap_timeout(cs->cluster, "client_mount_timeout", CONNECT_TIMEOUT);
    cap_timeout(cs->cluster, "rados_mon_op_timeout", MON_OP_TIMEOUT);
    cap_timeout(cs->cluster, "rados_osd_op_timeout", OSD_OP_TIMEOUT);

    r = rados_connect(cs->cluster);
    if (r < 0) {
        char mon[256] = "";
        rados_conf_get(cs->cluster, "mon_host", mon, sizeof mon);
        const char *why = strerror(-r);
        if (r == -ETIMEDOUT)
            why = "timed out (monitor unreachable?)";
        else if (r == -EACCES || r == -EPERM)
            why = "permission denied (check the client name and keyring)";
        else if (r == -ENOENT)
            why = "no monitor address or keyring configured";
        return errset(err, errlen, "cannot connect to the Ceph cluster: %s: %s",
                      mon[0] ? mon : "(no mon_host)", why);
    }
    r = rados_ioctx_create(cs->cluster, cs->pool, &cs->io);
    if (r < 0)
        return errset(err, errlen, "cannot open pool: %s: %s", cs->pool,
                      r == -ENOENT ? "no such pool" : strerror(-r));
    cs->have_io = 1;
    return 0;
}

/* ---- snapshots ----------------------------------------------------------- */

static int snap_exists(rbd_image_t img, const char *snap, int *exists)
{
    bool ex = false;
    int r = rbd_snap_exists(img, snap, &ex);
    *exists = ex;
    return r;
}

static int image_open_rw(struct ceph_src *cs, rbd_image_t *img, char *err, size_t errlen)
{
    int r = rbd_open(cs->io, cs->image, img, NULL);
    if (r < 0)
        return errset(err, errlen, "cannot open image: %s/%s: %s", cs->pool, cs->image,
                      r == -ENOENT ? "no such image" : strerror(-r));
    return 0;
}

/* flyingcircus: ask the VM's host for a frozen snapshot and wait for it.
 * Returns 1 when it appeared, 0 when not (after a warning), -1 on error. */
static int fc_wait_for_snapshot(struct ceph_src *cs, rbd_image_t img, char *err, size_t errlen)
{
    char *key = NULL, cerr[512];
    if (consul_put_snapshot_request(cs->vm, cs->newsnap, cs->token, &key, cerr, sizeof cerr) < 0) {
        log_warn("cannot ask the host of VM %s for a snapshot: %s", cs->vm, cerr);
        return 0;
    }
    log_info("asked the host of VM %s for snapshot %s (consul key %s), waiting up to %" PRId64 " s",
             cs->vm, cs->newsnap, key, cs->consul_timeout);
    double deadline = bk_mono() + (double)cs->consul_timeout;
    int exists = 0, r = 0;
    for (;;) {
        r = snap_exists(img, cs->newsnap, &exists);
        if (r < 0 || exists || bk_mono() >= deadline)
            break;
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    if (consul_delete_key(key, cs->token, cerr, sizeof cerr) < 0)
        log_warn("cannot remove the snapshot request: %s", cerr);
    free(key);
    if (r < 0)
        return errset(err, errlen, "cannot list snapshots: %s/%s: %s", cs->pool, cs->image,
                      strerror(-r));
    if (!exists)
        log_warn("snapshot %s did not appear within %" PRId64 " s", cs->newsnap, cs->consul_timeout);
    return exists;
}

static int create_snapshot(struct ceph_src *cs, rbd_image_t img, char *err, size_t errlen)
{
    if (cs->flyingcircus) {
        int got = fc_wait_for_snapshot(cs, img, err, errlen);
        if (got < 0)
            return -1;
        if (got) {
            cs->snap_created = 1;
            log_info("snapshot %s@%s created by the host of VM %s", cs->image, cs->newsnap, cs->vm);
            return 0;
        }
        log_warn("taking snapshot %s without freezing VM %s: the revision may not be consistent",
                 cs->newsnap, cs->vm);
    }
    int r = rbd_snap_create(img, cs->newsnap);
    if (r < 0)
        return errset(err, errlen, "cannot create snapshot: %s/%s@%s: %s", cs->pool, cs->image,
                      cs->newsnap, strerror(-r));
    cs->snap_created = 1;
    return 0;
}

/* success: remove backy-* except newsnap; failure: remove newsnap only. */
static int housekeeping(struct ceph_src *cs, int success, char *err, size_t errlen)
{
    rbd_image_t img = cs->rwimg;
    cs->rwimg = NULL;
    if (!img && image_open_rw(cs, &img, err, errlen) < 0)
        return -1;
    int rc = 0;
    if (!success) {
        if (cs->snap_created) {
            int r = rbd_snap_remove(img, cs->newsnap);
            if (r < 0 && r != -ENOENT)
                rc = errset(err, errlen, "cannot remove snapshot: %s/%s@%s: %s", cs->pool,
                            cs->image, cs->newsnap, strerror(-r));
            else
                cs->snap_created = 0;
        }
        rbd_close(img);
        return rc;
    }
    int max = 64, n;
    rbd_snap_info_t *snaps = NULL;
    for (;;) {
        snaps = bk_realloc(snaps, (size_t)max * sizeof *snaps);
        n = rbd_snap_list(img, snaps, &max);
        if (n != -ERANGE)
            break;
    }
    if (n < 0) {
        free(snaps);
        rbd_close(img);
        return errset(err, errlen, "cannot list snapshots: %s/%s: %s", cs->pool, cs->image,
                      strerror(-n));
    }
    for (int i = 0; i < n; i++) {
        const char *nm = snaps[i].name;
        if (strncmp(nm, SNAP_PREFIX, strlen(SNAP_PREFIX)) || !strcmp(nm, cs->newsnap))
            continue;
        int r = rbd_snap_remove(img, nm);
        if (r < 0 && r != -ENOENT)
            log_warn("cannot remove old snapshot %s/%s@%s: %s", cs->pool, cs->image, nm,
                     strerror(-r));
        else
            log_debug("removed old snapshot %s/%s@%s", cs->pool, cs->image, nm);
    }
    rbd_snap_list_end(snaps);
    free(snaps);
    rbd_close(img);
    return rc;
}

/* ---- open / close -------------------------------------------------------- */

static void ceph_release(struct ceph_src *cs)
{
    for (int i = 0; i < WINDOW; i++) {
        struct slot *sl = &cs->slots[i];
        if (sl->state) {
            if (!sl->done)
                rbd_aio_wait_for_complete(sl->comp);
            rbd_aio_release(sl->comp);
            sl->state = 0;
        }
        free(sl->buf);
        sl->buf = NULL;
    }
    if (cs->snapimg) {
        rbd_close(cs->snapimg);
        cs->snapimg = NULL;
    }
    if (cs->rwimg) {
        rbd_close(cs->rwimg);
        cs->rwimg = NULL;
    }
    if (cs->have_io) {
        rados_ioctx_destroy(cs->io);
        cs->have_io = 0;
    }
    if (cs->connected) {
        rados_shutdown(cs->cluster);
        cs->connected = 0;
    }
}

static void ceph_free(struct ceph_src *cs)
{
    ceph_release(cs);
    pthread_mutex_destroy(&cs->mu);
    free(cs->plan);
    free(cs->pool);
    free(cs->image);
    free(cs->newsnap);
    free(cs->parentsnap);
    free(cs->vm);
    free(cs->token);
    free(cs);
}

static int ceph_open_common(struct bk_source *s, const struct bk_srccfg *cfg, const char *new_id,
                            const char *parent_id, int fc, char *err, size_t errlen)
{
    struct ceph_src *cs = bk_calloc(1, sizeof *cs);
    pthread_mutex_init(&cs->mu, NULL);
    cs->flyingcircus = fc;
    const char *pool = cfgval(cfg, "pool"), *image = cfgval(cfg, "image");
    if (!pool || !image) {
        ceph_free(cs);
        return errset(err, errlen, "the source needs pool and image");
    }
    cs->pool = bk_strdup(pool);
    cs->image = bk_strdup(image);
    cs->newsnap = bk_asprintf(SNAP_PREFIX "%s", new_id);
    if (parent_id && *parent_id)
        cs->parentsnap = bk_asprintf(SNAP_PREFIX "%s", parent_id);
    if (fc) {
        const char *vm = cfgval(cfg, "vm");
        if (!vm) {
            ceph_free(cs);
            return errset(err, errlen, "the flyingcircus source needs vm");
        }
        cs->vm = bk_strdup(vm);
        if (cfgval(cfg, "consul_acl_token"))
            cs->token = bk_strdup(cfgval(cfg, "consul_acl_token"));
        cs->consul_timeout = DEFAULT_CONSUL_TIMEOUT;
        const char *t = cfgval(cfg, "consul_timeout");
        if (t && duration_parse(t, &cs->consul_timeout) < 0) {
            ceph_free(cs);
            return errset(err, errlen, "consul_timeout: not a duration: %s", t);
        }
    }

    rbd_image_t img = NULL;
    double t0 = bk_mono();
    if (ceph_connect(cs, err, errlen) < 0 || image_open_rw(cs, &img, err, errlen) < 0) {
        ceph_free(cs);
        return -1;
    }
    double t1 = bk_mono();
    if (cs->parentsnap) {
        int r = snap_exists(img, cs->parentsnap, &cs->parent_usable);
        if (r < 0) {
            errset(err, errlen, "cannot list snapshots: %s/%s: %s", cs->pool, cs->image, strerror(-r));
            goto fail;
        }
        if (!cs->parent_usable)
            log_info("snapshot %s of the parent revision is gone: reading all data and"
                     " comparing with the parent revision", cs->parentsnap);
    }
    if (create_snapshot(cs, img, err, errlen) < 0)
        goto fail;
    /* kept for finish(): opening the image again costs round trips */
    cs->rwimg = img;
    img = NULL;
    log_debug("ceph: connected in %.3f s, snapshot %s in %.3f s", t1 - t0, cs->newsnap,
              bk_mono() - t1);

    int r = rbd_open_read_only(cs->io, cs->image, &cs->snapimg, cs->newsnap);
    if (r < 0) {
        errset(err, errlen, "cannot open snapshot: %s/%s@%s: %s", cs->pool, cs->image,
               cs->newsnap, strerror(-r));
        goto fail;
    }
    uint64_t size;
    rbd_image_info_t info;
    if ((r = rbd_get_size(cs->snapimg, &size)) < 0 ||
        (r = rbd_stat(cs->snapimg, &info, sizeof info)) < 0) {
        errset(err, errlen, "cannot stat snapshot: %s/%s@%s: %s", cs->pool, cs->image,
               cs->newsnap, strerror(-r));
        goto fail;
    }
    cs->unit_size = info.obj_size ? info.obj_size : UNIT_MAX;
    while (cs->unit_size > UNIT_MAX)
        cs->unit_size /= 2;
    if (cs->unit_size < PLAN_ALIGN)
        cs->unit_size = PLAN_ALIGN;
    s->size = size;
    cs->size = size;
    const char *fault = getenv("BACKY_CEPH_FAULT");
    if (fault && !strncmp(fault, "flip-once:", 10) && bk_parse_u64(fault + 10, &cs->fault_off) == 0) {
        cs->fault_armed = 1;
        log_warn("BACKY_CEPH_FAULT: the first read covering offset %" PRIu64 " will be corrupted",
                 cs->fault_off);
    }
    s->desc = bk_asprintf("%s/%s@%s", cs->pool, cs->image, cs->newsnap);
    s->fd = -1;
    s->priv = cs;
    log_info("reading %s (%" PRIu64 " bytes)%s%s", s->desc, size,
             cs->parent_usable ? ", changes since " : "",
             cs->parent_usable ? cs->parentsnap : "");
    return 0;

fail:
    if (img)
        rbd_close(img);
    if (cs->snapimg) {
        rbd_close(cs->snapimg);
        cs->snapimg = NULL;
    }
    if (cs->snap_created) {
        char e2[256];
        if (housekeeping(cs, 0, e2, sizeof e2) < 0)
            log_warn("%s", e2);
    }
    ceph_free(cs);
    return -1;
}

static int rbd_src_open(struct bk_source *s, const struct bk_srccfg *cfg, const char *new_id,
                        const char *parent_id, char *err, size_t errlen)
{
    return ceph_open_common(s, cfg, new_id, parent_id, 0, err, errlen);
}

static int fc_src_open(struct bk_source *s, const struct bk_srccfg *cfg, const char *new_id,
                       const char *parent_id, char *err, size_t errlen)
{
    return ceph_open_common(s, cfg, new_id, parent_id, 1, err, errlen);
}

static void ceph_close(struct bk_source *s)
{
    struct ceph_src *cs = s->priv;
    if (!cs)
        return;
    ceph_free(cs);
    free((char *)s->desc);
    s->desc = NULL;
    s->priv = NULL;
}

/* ---- changed ------------------------------------------------------------- */

struct collect {
    struct extent *v;
    size_t n, cap;
    int sorted;
};

static int collect_cb(uint64_t off, size_t len, int exists, void *arg)
{
    struct collect *c = arg;
    if (!len)
        return 0;
    if (c->n && off < c->v[c->n - 1].off)
        c->sorted = 0;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->v = bk_realloc(c->v, c->cap * sizeof *c->v);
    }
    c->v[c->n++] = (struct extent){ off, len, exists != 0 };
    return 0;
}

static int extent_cmp(const void *a, const void *b)
{
    const struct extent *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Sort, clip to size and merge overlapping / adjacent extents. Where a
 * "data" and a "zero" extent overlap, data wins: reading it is always right. */
static void normalise(struct collect *c, uint64_t size)
{
    if (!c->sorted)
        qsort(c->v, c->n, sizeof *c->v, extent_cmp);
    size_t w = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct extent e = c->v[i];
        if (e.off >= size)
            continue;
        if (e.len > size - e.off)
            e.len = size - e.off;
        if (w) {
            struct extent *p = &c->v[w - 1];
            uint64_t pend = p->off + p->len;
            if (e.off < pend) {               /* overlap */
                if (e.exists == p->exists || p->exists) {
                    if (e.off + e.len > pend)
                        e.len = e.off + e.len - pend, e.off = pend;
                    else
                        continue;
                    if (e.exists == p->exists) {
                        p->len += e.len;
                        continue;
                    }
                } else {                       /* p zero, e data: cut p */
                    p->len = e.off - p->off;
                    if (!p->len)
                        w--;
                }
            } else if (e.off == pend && e.exists == p->exists) {
                p->len += e.len;
                continue;
            }
        }
        c->v[w++] = e;
    }
    c->n = w;
}

static void plan_add(struct ceph_src *cs, uint64_t off, uint64_t len)
{
    if (cs->nplan == cs->capplan) {
        cs->capplan = cs->capplan ? cs->capplan * 2 : 256;
        cs->plan = bk_realloc(cs->plan, cs->capplan * sizeof *cs->plan);
    }
    cs->plan[cs->nplan++] = (struct extent){ off, len, 1 };
}

/* Read units: data extents widened to PLAN_ALIGN, merged, cut at object
 * boundaries. The engine may read whole blocks around a small extent. */
static void build_plan(struct ceph_src *cs, const struct collect *c, uint64_t size)
{
    uint64_t cur_off = 0, cur_end = 0;
    int have = 0;
    for (size_t i = 0; i <= c->n; i++) {
        uint64_t a = 0, b = 0;
        if (i < c->n) {
            if (!c->v[i].exists)
                continue;
            a = c->v[i].off / PLAN_ALIGN * PLAN_ALIGN;
            b = c->v[i].off + c->v[i].len;
            b = (b + PLAN_ALIGN - 1) / PLAN_ALIGN * PLAN_ALIGN;
            if (b > size)
                b = size;
            if (have && a <= cur_end) {
                if (b > cur_end)
                    cur_end = b;
                continue;
            }
        }
        if (have) {
            for (uint64_t o = cur_off; o < cur_end;) {
                uint64_t lim = (o / cs->unit_size + 1) * cs->unit_size;
                if (lim > cur_end)
                    lim = cur_end;
                plan_add(cs, o, lim - o);
                o = lim;
            }
        }
        if (i < c->n) {
            cur_off = a;
            cur_end = b;
            have = 1;
        }
    }
}

static size_t plan_count(const struct ceph_src *cs);

static int ceph_changed(struct bk_source *s, int *full, bk_extent_cb cb, void *arg,
                        char *err, size_t errlen)
{
    struct ceph_src *cs = s->priv;
    struct collect c = { NULL, 0, 0, 1 };
    const char *from = cs->parent_usable ? cs->parentsnap : NULL;
    double t0 = bk_mono();
    int r = rbd_diff_iterate2(cs->snapimg, from, 0, s->size, 1, 0, collect_cb, &c);
    if (r < 0) {
        free(c.v);
        return errset(err, errlen, "cannot list changes: %s since %s: %s", s->desc,
                      from ? from : "creation", strerror(-r));
    }
    normalise(&c, s->size);
    *full = from == NULL;

    pthread_mutex_lock(&cs->mu);
    cs->nplan = 0;
    cs->next_issue = 0;
    build_plan(cs, &c, s->size);
    pthread_mutex_unlock(&cs->mu);

    uint64_t data = 0, zero = 0;
    for (size_t i = 0; i < c.n; i++)
        *(c.v[i].exists ? &data : &zero) += c.v[i].len;
    log_info("%s: %" PRIu64 " bytes changed, %" PRIu64 " bytes discarded, %zu extents%s",
             s->desc, data, zero, c.n, *full ? " (full: no usable parent snapshot)" : "");
    log_debug("ceph: changes listed in %.3f s, %zu read units", bk_mono() - t0, plan_count(cs));

    /* Without a usable parent snapshot, everything not reported reads as
     * zeros: say so, so that data of the parent image there does not stay. */
    uint64_t pos = 0;
    int rc = 0;
    for (size_t i = 0; i <= c.n && rc == 0; i++) {
        uint64_t eoff = i < c.n ? c.v[i].off : s->size;
        if (*full && eoff > pos)
            rc = cb(pos, eoff - pos, 0, arg);
        if (rc == 0 && i < c.n) {
            rc = cb(c.v[i].off, c.v[i].len, c.v[i].exists, arg);
            pos = c.v[i].off + c.v[i].len;
        }
    }
    free(c.v);
    if (rc != 0)
        return errset(err, errlen, "processing changes of %s failed", s->desc);
    return 0;
}

/* ---- pread with read-ahead ----------------------------------------------- */

static size_t plan_count(const struct ceph_src *cs)
{
    return cs->nplan;
}

static struct extent plan_unit(const struct ceph_src *cs, size_t i)
{
    return cs->plan[i];
}

/* Index of the first unit whose end is beyond off (plan_count if none). */
static size_t plan_find(const struct ceph_src *cs, uint64_t off)
{
    size_t lo = 0, hi = cs->nplan;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cs->plan[mid].off + cs->plan[mid].len <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static uint64_t min_active(const struct ceph_src *cs)
{
    uint64_t m = UINT64_MAX;
    for (int i = 0; i < MAX_READERS; i++)
        if ((cs->active_used & (1u << i)) && cs->active[i] < m)
            m = cs->active[i];
    return m;
}

static void slot_free(struct slot *sl)
{
    if (!sl->done)
        rbd_aio_wait_for_complete(sl->comp);
    rbd_aio_release(sl->comp);
    sl->state = 0;
}

/* Free slots nobody will need: fully consumed ones, and ones wholly before
 * every read in progress (readers move forward). Caller holds mu. */
static void evict(struct ceph_src *cs)
{
    uint64_t lowest = min_active(cs);
    for (int i = 0; i < WINDOW; i++) {
        struct slot *sl = &cs->slots[i];
        if (!sl->state || sl->pins)
            continue;
        if (!sl->done) {
            if (!rbd_aio_is_complete(sl->comp))
                continue;
            sl->ret = rbd_aio_get_return_value(sl->comp);
            sl->done = 1;
        }
        if (sl->consumed >= sl->len || sl->off + sl->len <= lowest || sl->ret < 0)
            slot_free(sl);
    }
}

/* Issue plan units from 'from' on while slots are free. Caller holds mu. */
static void issue_ahead(struct ceph_src *cs, size_t from)
{
    if (cs->next_issue < from)
        cs->next_issue = from;
    size_t count = plan_count(cs);
    for (int i = 0; i < WINDOW && cs->next_issue < count; i++) {
        struct slot *sl = &cs->slots[i];
        if (sl->state)
            continue;
        struct extent u = plan_unit(cs, cs->next_issue);
        if (!sl->buf)
            sl->buf = bk_malloc(cs->unit_size);
        if (rbd_aio_create_completion(NULL, NULL, &sl->comp) < 0)
            return;
        if (rbd_aio_read(cs->snapimg, u.off, u.len, sl->buf, sl->comp) < 0) {
            rbd_aio_release(sl->comp);
            return;
        }
        sl->state = 1;
        sl->unit = cs->next_issue++;
        sl->off = u.off;
        sl->len = u.len;
        sl->done = 0;
        sl->ret = 0;
        sl->pins = 0;
        sl->consumed = 0;
    }
}

static struct slot *slot_covering(struct ceph_src *cs, uint64_t off)
{
    for (int i = 0; i < WINDOW; i++) {
        struct slot *sl = &cs->slots[i];
        if (sl->state && off >= sl->off && off < sl->off + sl->len)
            return sl;
    }
    return NULL;
}

static ssize_t direct_read(struct ceph_src *cs, char *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = rbd_read(cs->snapimg, off + got, len - got, buf + got);
        if (r < 0) {
            errno = -(int)r;
            return -1;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Read len bytes at off as pieces of PIECE bytes, all in flight at once. */
static ssize_t parallel_read(struct ceph_src *cs, char *buf, size_t len, uint64_t off)
{
    enum { MAXP = 16 };
    rbd_completion_t comp[MAXP];
    size_t plen[MAXP];
    size_t done = 0;
    while (done < len) {
        int n = 0, err = 0;
        size_t issued = done;
        while (n < MAXP && issued < len) {
            size_t l = len - issued < PIECE ? len - issued : PIECE;
            if (rbd_aio_create_completion(NULL, NULL, &comp[n]) < 0) {
                err = ENOMEM;
                break;
            }
            int r = rbd_aio_read(cs->snapimg, off + issued, l, buf + issued, comp[n]);
            if (r < 0) {
                rbd_aio_release(comp[n]);
                err = -r;
                break;
            }
            plen[n++] = l;
            issued += l;
        }
        int short_read = 0;
        for (int i = 0; i < n; i++) {
            rbd_aio_wait_for_complete(comp[i]);
            ssize_t r = rbd_aio_get_return_value(comp[i]);
            rbd_aio_release(comp[i]);
            if (r < 0 && !err)
                err = -(int)r;
            else if (!err && !short_read) {
                done += (size_t)r;
                if ((size_t)r < plen[i])
                    short_read = 1;
            }
        }
        if (err) {
            errno = err;
            return -1;
        }
        if (short_read || n == 0)
            break;
    }
    return (ssize_t)done;
}

/* The end of a direct read at pos: lim, or the start of the next planned
 * read-ahead slot before it (that data is on its way already). */
static uint64_t before_next_slot(const struct ceph_src *cs, uint64_t pos, uint64_t lim)
{
    for (int i = 0; i < WINDOW; i++)
        if (cs->slots[i].state && cs->slots[i].off > pos && cs->slots[i].off < lim)
            lim = cs->slots[i].off;
    return lim;
}

/* Leave ceph_pread with an error: forget this reader, unlock, errno = e. */
static ssize_t read_failed(struct ceph_src *cs, int me, int e)
{
    if (me >= 0)
        cs->active_used &= ~(1u << me);
    pthread_mutex_unlock(&cs->mu);
    errno = e;
    return -1;
}

static ssize_t ceph_pread(struct bk_source *s, void *vbuf, size_t len, uint64_t off)
{
    struct ceph_src *cs = s->priv;
    char *buf = vbuf;
    if (off >= s->size)
        return 0;
    if (len > s->size - off)
        len = (size_t)(s->size - off);
    size_t done = 0;
    int me;

    pthread_mutex_lock(&cs->mu);
    me = -1;
    for (int i = 0; i < MAX_READERS && me < 0; i++)
        if (!(cs->active_used & (1u << i))) {
            me = i;
            cs->active_used |= 1u << i;
            cs->active[i] = off;
        }
    while (done < len) {
        uint64_t pos = off + done;
        if (me >= 0)
            cs->active[me] = pos;
        evict(cs);
        size_t u = plan_find(cs, pos);
        size_t count = plan_count(cs);
        struct extent pu = u < count ? plan_unit(cs, u) : (struct extent){ UINT64_MAX, 0, 0 };
        struct slot *sl = slot_covering(cs, pos);
        /* Large reads (a full pass, verify: full) go straight into the
         * caller's buffer as several aio requests at once: no copy, and
         * the engine's two threads keep the cluster busy. */
        if (!sl && len - done >= BIG_READ) {
            uint64_t lim = before_next_slot(cs, pos, off + len);
            pthread_mutex_unlock(&cs->mu);
            ssize_t r = parallel_read(cs, buf + done, (size_t)(lim - pos), pos);
            pthread_mutex_lock(&cs->mu);
            if (r < 0)
                return read_failed(cs, me, errno);
            done += (size_t)r;
            if ((uint64_t)r < lim - pos)
                break;
            continue;
        }
        if (u < count && pu.off <= pos) {
            issue_ahead(cs, u);
            sl = slot_covering(cs, pos);
        }
        if (sl) {
            sl->pins++;
            if (!sl->done) {
                pthread_mutex_unlock(&cs->mu);
                rbd_aio_wait_for_complete(sl->comp);
                pthread_mutex_lock(&cs->mu);
                if (!sl->done) {
                    sl->ret = rbd_aio_get_return_value(sl->comp);
                    sl->done = 1;
                }
            }
            if (sl->ret < 0) {
                sl->pins--;
                return read_failed(cs, me, -(int)sl->ret);
            }
            uint64_t have = (uint64_t)sl->ret > pos - sl->off ? (uint64_t)sl->ret - (pos - sl->off) : 0;
            size_t n = len - done < have ? len - done : (size_t)have;
            pthread_mutex_unlock(&cs->mu);
            memcpy(buf + done, sl->buf + (pos - sl->off), n);
            pthread_mutex_lock(&cs->mu);
            sl->consumed += n;
            sl->pins--;
            done += n;
            if (n == 0)
                break;         /* short read from the cluster: end of data */
            continue;
        }
        /* not planned (or no free slot): read directly up to the next slot or unit */
        uint64_t lim = off + len;
        if (u < count && pu.off > pos && pu.off < lim)
            lim = pu.off;
        lim = before_next_slot(cs, pos, lim);
        pthread_mutex_unlock(&cs->mu);
        ssize_t r = direct_read(cs, buf + done, (size_t)(lim - pos), pos);
        pthread_mutex_lock(&cs->mu);
        if (r < 0)
            return read_failed(cs, me, errno);
        done += (size_t)r;
        if ((uint64_t)r < lim - pos)
            break;
    }
    if (me >= 0)
        cs->active_used &= ~(1u << me);
    evict(cs);
    if (cs->fault_armed && cs->fault_off >= off && cs->fault_off < off + done) {
        buf[cs->fault_off - off] ^= 0x5a;
        cs->fault_armed = 0;
    }
    pthread_mutex_unlock(&cs->mu);
    return (ssize_t)done;
}

/* ---- finish -------------------------------------------------------------- */

static int ceph_finish(struct bk_source *s, int success, char *err, size_t errlen)
{
    struct ceph_src *cs = s->priv;
    pthread_mutex_lock(&cs->mu);
    for (int i = 0; i < WINDOW; i++)
        if (cs->slots[i].state)
            slot_free(&cs->slots[i]);
    pthread_mutex_unlock(&cs->mu);
    if (cs->snapimg) {
        rbd_close(cs->snapimg);
        cs->snapimg = NULL;
    }
    double t0 = bk_mono();
    int r = housekeeping(cs, success, err, errlen);
    log_debug("ceph: snapshot housekeeping in %.3f s", bk_mono() - t0);
    return r;
}

const struct bk_source_ops source_ceph_rbd_ops = {
    .type = "ceph-rbd",
    .open = rbd_src_open,
    .changed = ceph_changed,
    .pread = ceph_pread,
    .finish = ceph_finish,
    .close = ceph_close,
};

const struct bk_source_ops source_flyingcircus_ops = {
    .type = "flyingcircus",
    .open = fc_src_open,
    .changed = ceph_changed,
    .pread = ceph_pread,
    .finish = ceph_finish,
    .close = ceph_close,
};

/* ---- sandbox --------------------------------------------------------------- */

/* What librados (and libcurl for the Consul part) read while the backup is
 * confined: Landlock is applied before the cluster connection starts its
 * threads, so the configuration and keyrings are read under it. The
 * configuration's directory (unless it is /etc itself: then only the
 * file), /etc/ceph, a --keyring of CEPH_ARGS, the resolver's files, CA
 * certificates and the libraries (plugins, NSS modules). */
size_t ceph_sandbox_rules(struct sb_fs_rule *r, size_t max)
{
    static const char *const files[] = {
        "/etc/hosts", "/etc/resolv.conf", "/etc/nsswitch.conf", "/etc/host.conf",
        "/etc/gai.conf", "/etc/services", "/etc/protocols", "/etc/ld.so.cache",
        "/etc/localtime", NULL,
    };
    static const char *const dirs[] = {
        "/etc/ceph", "/etc/ssl/certs", "/usr/lib", "/usr/share/ca-certificates",
        "/sys/devices/system/cpu", NULL,
    };
    size_t n = 0;
#define ADD(p, a) do { if (n < max) r[n++] = (struct sb_fs_rule){ (p), -1, (a) }; } while (0)
    for (const char *const *f = files; *f; f++)
        ADD(*f, SB_FS_READ_FILE | SB_FS_OPTIONAL);
    for (const char *const *d = dirs; *d; d++)
        ADD(*d, SB_FS_READ | SB_FS_OPTIONAL);
    char *conf = ceph_args_value("--conf", NULL, "-c");
    if (!conf && getenv("CEPH_CONF") && *getenv("CEPH_CONF"))
        conf = bk_strdup(getenv("CEPH_CONF"));
    if (conf) {
        char *d = bk_strdup(conf), *slash = strrchr(d, '/');
        if (slash)
            *slash = '\0';
        const char *dir = !slash ? "." : slash == d ? "/" : d;
        if (!strcmp(dir, "/") || !strcmp(dir, "/etc"))
            ADD(conf, SB_FS_READ_FILE | SB_FS_OPTIONAL);
        else
            ADD(dir, SB_FS_READ | SB_FS_OPTIONAL);
    }
    char *kr = ceph_args_value("--keyring", NULL, "-k");
    if (kr)
        ADD(kr, SB_FS_READ_FILE | SB_FS_OPTIONAL);
#undef ADD
    return n;
}
