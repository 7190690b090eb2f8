/* sourcetype.c - registry of source types and job source configurations. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backy/sourcetype.h"
#include "backy/util.h"

extern const struct bk_sourcetype bk_sourcetype_file;
extern const struct bk_sourcetype bk_sourcetype_ceph_rbd, bk_sourcetype_flyingcircus;
extern const struct bk_sourcetype bk_sourcetype_replica;

/* One line per source type. */
static const struct bk_sourcetype *const types[] = {
    &bk_sourcetype_file,
    &bk_sourcetype_ceph_rbd,
    &bk_sourcetype_flyingcircus,
    &bk_sourcetype_replica,
    NULL,
};

/* Keys every source type accepts: how backy-backup checks its work. */
static const char *const generic_keys[] = {"verify", "full-backup", NULL};

static const struct { const char *alias, *name; } aliases[] = {
    {"ceph", "ceph-rbd"},
};

const struct bk_sourcetype *const *sourcetype_all(void)
{
    return types;
}

const struct bk_sourcetype *sourcetype_find(const char *name)
{
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (!strcmp(name, aliases[i].alias))
            name = aliases[i].name;
    for (size_t i = 0; types[i]; i++)
        if (!strcmp(types[i]->name, name))
            return types[i];
    return NULL;
}

const char *srccfg_get(const struct bk_srccfg *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (!strcmp(cfg->kv[i].key, key))
            return cfg->kv[i].value;
    return NULL;
}

void srccfg_set(struct bk_srccfg *cfg, const char *key, const char *value)
{
    for (size_t i = 0; i < cfg->n; i++)
        if (!strcmp(cfg->kv[i].key, key)) {
            free(cfg->kv[i].value);
            cfg->kv[i].value = bk_strdup(value);
            return;
        }
    cfg->kv = bk_realloc(cfg->kv, (cfg->n + 1) * sizeof *cfg->kv);
    cfg->kv[cfg->n].key = bk_strdup(key);
    cfg->kv[cfg->n].value = bk_strdup(value);
    cfg->n++;
}

void srccfg_free(struct bk_srccfg *cfg)
{
    for (size_t i = 0; i < cfg->n; i++) {
        free(cfg->kv[i].key);
        free(cfg->kv[i].value);
    }
    free(cfg->kv);
    cfg->kv = NULL;
    cfg->n = 0;
}

static int in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list && list[i]; i++)
        if (!strcmp(list[i], s))
            return 1;
    return 0;
}

static void list_keys(const struct bk_sourcetype *t, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = '\0';
    const char *const *lists[] = {t->keys, generic_keys};
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; lists[l] && lists[l][i]; i++) {
            int n = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", lists[l][i]);
            if (n < 0 || (size_t)n >= len - o)
                return;
            o += (size_t)n;
        }
}

static int check_generic(const struct bk_srccfg *cfg, char *err, size_t errlen)
{
    const char *v = srccfg_get(cfg, "verify");
    if (v && strcmp(v, "default") && strcmp(v, "sample") && strcmp(v, "full") && strcmp(v, "off")) {
        snprintf(err, errlen, "verify must be one of default, full, off (not '%s')", v);
        return -1;
    }
    v = srccfg_get(cfg, "full-backup");
    if (v && strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "yes") && strcmp(v, "no")) {
        snprintf(err, errlen, "full-backup must be true or false (not '%s')", v);
        return -1;
    }
    return 0;
}

int srccfg_from_ynode(const struct ynode *map, const char *name, struct bk_srccfg *cfg,
                      char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    if (!map || map->kind != Y_MAP) {
        snprintf(err, errlen, "%s:%d:%d: source must be a mapping with a 'type' key", name,
                 map ? map->line : 1, map ? map->col : 1);
        return -1;
    }
    struct ynode *tn = ynode_get(map, "type");
    if (!tn || tn->kind != Y_SCALAR || !*tn->value) {
        snprintf(err, errlen, "%s:%d:%d: source has no 'type'", name, map->line, map->col);
        return -1;
    }
    const struct bk_sourcetype *t = sourcetype_find(tn->value);
    if (!t) {
        char known[256] = "";
        size_t o = 0;
        for (size_t i = 0; types[i]; i++)
            o += (size_t)snprintf(known + o, sizeof known - o, "%s%s", i ? ", " : "", types[i]->name);
        snprintf(err, errlen, "%s:%d:%d: unknown source type '%s' (known: %s)", name, tn->line,
                 tn->col, tn->value, known);
        return -1;
    }
    srccfg_set(cfg, "type", t->name);
    for (size_t i = 0; i < map->n; i++) {
        const char *k = map->keys[i];
        if (!strcmp(k, "type"))
            continue;
        if (!in_list(t->keys, k) && !in_list(generic_keys, k)) {
            char known[512];
            list_keys(t, known, sizeof known);
            snprintf(err, errlen, "%s:%d:%d: unknown key '%s' for source type %s (known: %s)",
                     name, map->key_line[i], map->key_col[i], k, t->name, known);
            srccfg_free(cfg);
            return -1;
        }
        if (map->items[i]->kind != Y_SCALAR) {
            snprintf(err, errlen, "%s:%d:%d: '%s' must be a single value", name,
                     map->items[i]->line, map->items[i]->col, k);
            srccfg_free(cfg);
            return -1;
        }
        srccfg_set(cfg, k, map->items[i]->value);
    }
    for (size_t i = 0; t->required && t->required[i]; i++) {
        const char *v = srccfg_get(cfg, t->required[i]);
        if (!v || !*v) {
            snprintf(err, errlen, "%s:%d:%d: source type %s needs '%s'", name, map->line, map->col,
                     t->name, t->required[i]);
            srccfg_free(cfg);
            return -1;
        }
    }
    char e2[512];
    if (check_generic(cfg, e2, sizeof e2) < 0 || (t->validate && t->validate(cfg, e2, sizeof e2) < 0)) {
        snprintf(err, errlen, "%s:%d:%d: %s", name, map->line, map->col, e2);
        srccfg_free(cfg);
        return -1;
    }
    return 0;
}

int srccfg_load(int dirfd, const char *dirname, struct bk_srccfg *cfg, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config", dirname);
    size_t len;
    char *buf = bk_read_file(dirfd, "config", 1 << 20, &len);
    if (!buf) {
        if (errno == ENOENT)
            snprintf(err, errlen, "not a job directory: %s: %s does not exist (create it with 'backy init')",
                     dirname, path);
        else
            snprintf(err, errlen, "cannot read job configuration: %s: %s", path, bk_strerror(errno));
        return -1;
    }
    struct ynode *root = ynode_parse(buf, len, path, err, errlen);
    free(buf);
    if (!root)
        return -1;
    /* backy 2.0 nests the source under "source:" next to other job keys */
    const struct ynode *src = root;
    struct ynode *nested = ynode_get(root, "source");
    if (nested && nested->kind == Y_MAP)
        src = nested;
    int r = srccfg_from_ynode(src, path, cfg, err, errlen);
    ynode_free(root);
    return r;
}

char *srccfg_format(const struct bk_srccfg *cfg)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        bk_die("out of memory");
    /* "type" first, the rest in the order given */
    const char *type = srccfg_get(cfg, "type");
    if (type) {
        fputs("type: ", f);
        yemit_scalar(f, type);
        fputc('\n', f);
    }
    for (size_t i = 0; i < cfg->n; i++) {
        if (!strcmp(cfg->kv[i].key, "type"))
            continue;
        fprintf(f, "%s: ", cfg->kv[i].key);
        yemit_scalar(f, cfg->kv[i].value);
        fputc('\n', f);
    }
    fclose(f);
    return buf;
}

int srccfg_equal(const struct bk_srccfg *a, const struct bk_srccfg *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const char *v = srccfg_get(b, a->kv[i].key);
        if (!v || strcmp(v, a->kv[i].value))
            return 0;
    }
    return 1;
}
