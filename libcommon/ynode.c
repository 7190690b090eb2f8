/* ynode.c - YAML into a small tree, with positions, via libyaml events. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "backy/util.h"
#include "backy/ynode.h"

#define YNODE_MAX_FILE (16u << 20)
#define YNODE_MAX_DEPTH 64

struct pctx {
    yaml_parser_t parser;
    const char *name;
    char *err;
    size_t errlen;
};

static void perr(struct pctx *c, int line, int col, const char *msg)
{
    snprintf(c->err, c->errlen, "%s:%d:%d: %s", c->name, line, col, msg);
}

static struct ynode *newnode(enum ynode_kind k, const yaml_event_t *ev)
{
    struct ynode *n = bk_calloc(1, sizeof *n);
    n->kind = k;
    n->line = (int)ev->start_mark.line + 1;
    n->col = (int)ev->start_mark.column + 1;
    return n;
}

static int next_event(struct pctx *c, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&c->parser, ev)) {
        const yaml_mark_t *m = &c->parser.problem_mark;
        char msg[512];
        snprintf(msg, sizeof msg, "YAML syntax error: %s%s%s",
                 c->parser.problem ? c->parser.problem : "unknown",
                 c->parser.context ? " " : "", c->parser.context ? c->parser.context : "");
        perr(c, (int)m->line + 1, (int)m->column + 1, msg);
        return -1;
    }
    return 0;
}

static struct ynode *parse_node(struct pctx *c, yaml_event_t *ev, int depth);

static void add_child(struct ynode *p, struct ynode *child, char *key, int kl, int kc)
{
    p->items = bk_realloc(p->items, (p->n + 1) * sizeof *p->items);
    p->items[p->n] = child;
    if (p->kind == Y_MAP) {
        p->keys = bk_realloc(p->keys, (p->n + 1) * sizeof *p->keys);
        p->key_line = bk_realloc(p->key_line, (p->n + 1) * sizeof *p->key_line);
        p->key_col = bk_realloc(p->key_col, (p->n + 1) * sizeof *p->key_col);
        p->keys[p->n] = key;
        p->key_line[p->n] = kl;
        p->key_col[p->n] = kc;
    }
    p->n++;
}

/* ev is the event that starts the node; consumed by the caller. */
static struct ynode *parse_node(struct pctx *c, yaml_event_t *ev, int depth)
{
    if (depth > YNODE_MAX_DEPTH) {
        perr(c, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "nested too deeply");
        return NULL;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        perr(c, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
             "YAML aliases are not supported");
        return NULL;
    case YAML_SCALAR_EVENT: {
        struct ynode *n = newnode(Y_SCALAR, ev);
        n->value = bk_malloc(ev->data.scalar.length + 1);
        memcpy(n->value, ev->data.scalar.value, ev->data.scalar.length);
        n->value[ev->data.scalar.length] = '\0';
        n->quoted = ev->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                    ev->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
        /* A plain "~" or "null" is an empty value. */
        if (!n->quoted && (!strcmp(n->value, "~") || !strcmp(n->value, "null")))
            n->value[0] = '\0';
        return n;
    }
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int is_map = ev->type == YAML_MAPPING_START_EVENT;
        struct ynode *n = newnode(is_map ? Y_MAP : Y_SEQ, ev);
        for (;;) {
            yaml_event_t e;
            if (next_event(c, &e) < 0)
                goto fail;
            if (e.type == (is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT)) {
                yaml_event_delete(&e);
                return n;
            }
            char *key = NULL;
            int kl = 0, kc = 0;
            if (is_map) {
                kl = (int)e.start_mark.line + 1;
                kc = (int)e.start_mark.column + 1;
                if (e.type != YAML_SCALAR_EVENT) {
                    perr(c, kl, kc, "mapping keys must be plain scalars");
                    yaml_event_delete(&e);
                    goto fail;
                }
                key = bk_malloc(e.data.scalar.length + 1);
                memcpy(key, e.data.scalar.value, e.data.scalar.length);
                key[e.data.scalar.length] = '\0';
                yaml_event_delete(&e);
                for (size_t i = 0; i < n->n; i++)
                    if (!strcmp(n->keys[i], key)) {
                        char msg[300];
                        snprintf(msg, sizeof msg, "duplicate key '%.200s'", key);
                        perr(c, kl, kc, msg);
                        free(key);
                        goto fail;
                    }
                if (next_event(c, &e) < 0) {
                    free(key);
                    goto fail;
                }
            }
            struct ynode *child = parse_node(c, &e, depth + 1);
            yaml_event_delete(&e);
            if (!child) {
                free(key);
                goto fail;
            }
            add_child(n, child, key, kl, kc);
        }
    fail:
        ynode_free(n);
        return NULL;
    }
    default:
        perr(c, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
             "unexpected YAML event");
        return NULL;
    }
}

struct ynode *ynode_parse(const char *buf, size_t len, const char *name, char *err, size_t errlen)
{
    struct pctx c = {.name = name, .err = err, .errlen = errlen};
    struct ynode *root = NULL;
    yaml_event_t ev;
    if (!yaml_parser_initialize(&c.parser)) {
        snprintf(err, errlen, "%s: cannot initialise YAML parser", name);
        return NULL;
    }
    yaml_parser_set_input_string(&c.parser, (const unsigned char *)buf, len);
    /* stream start, document start */
    if (next_event(&c, &ev) < 0)
        goto out;
    yaml_event_delete(&ev);
    if (next_event(&c, &ev) < 0)
        goto out;
    if (ev.type == YAML_STREAM_END_EVENT) {
        /* empty document: an empty map */
        yaml_event_delete(&ev);
        root = bk_calloc(1, sizeof *root);
        root->kind = Y_MAP;
        root->line = root->col = 1;
        goto out;
    }
    yaml_event_delete(&ev);
    if (next_event(&c, &ev) < 0)
        goto out;
    root = parse_node(&c, &ev, 0);
    yaml_event_delete(&ev);
    if (!root)
        goto out;
    /* document end, then stream end: a second document is an error */
    if (next_event(&c, &ev) < 0) {
        ynode_free(root);
        root = NULL;
        goto out;
    }
    yaml_event_delete(&ev);
    if (next_event(&c, &ev) < 0) {
        ynode_free(root);
        root = NULL;
        goto out;
    }
    if (ev.type != YAML_STREAM_END_EVENT) {
        perr(&c, (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1,
             "more than one YAML document");
        ynode_free(root);
        root = NULL;
    }
    yaml_event_delete(&ev);
out:
    yaml_parser_delete(&c.parser);
    return root;
}

struct ynode *ynode_parse_fd(int fd, const char *name, char *err, size_t errlen)
{
    size_t cap = 8192, len = 0;
    char *buf = bk_malloc(cap);
    for (;;) {
        if (len == cap) {
            if (cap >= YNODE_MAX_FILE) {
                snprintf(err, errlen, "%s: file too large (over %u MiB)", name, YNODE_MAX_FILE >> 20);
                free(buf);
                return NULL;
            }
            cap *= 2;
            buf = bk_realloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(err, errlen, "%s: cannot read: %s", name, strerror(errno));
            free(buf);
            return NULL;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    struct ynode *r = ynode_parse(buf, len, name, err, errlen);
    free(buf);
    return r;
}

struct ynode *ynode_parse_file(const char *path, char *err, size_t errlen)
{
    int fd = bk_open_file(AT_FDCWD, path, O_RDONLY, BK_FT_REG, NULL);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, bk_strerror(errno));
        return NULL;
    }
    struct ynode *r = ynode_parse_fd(fd, path, err, errlen);
    close(fd);
    return r;
}

void ynode_free(struct ynode *n)
{
    if (!n)
        return;
    free(n->value);
    for (size_t i = 0; i < n->n; i++) {
        ynode_free(n->items[i]);
        if (n->keys)
            free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->key_line);
    free(n->key_col);
    free(n);
}

struct ynode *ynode_get(const struct ynode *map, const char *key)
{
    if (!map || map->kind != Y_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (!strcmp(map->keys[i], key))
            return map->items[i];
    return NULL;
}

const char *ynode_str(const struct ynode *map, const char *key)
{
    struct ynode *n = ynode_get(map, key);
    return n && n->kind == Y_SCALAR ? n->value : NULL;
}

/* Plain scalars that would not read back as the same string need quotes. */
static int needs_quotes(const char *s)
{
    if (!*s)
        return 1;
    static const char *special[] = {"~", "null", "Null", "NULL", "true", "True", "TRUE",
                                    "false", "False", "FALSE", "yes", "Yes", "YES", "no",
                                    "No", "NO", "on", "On", "ON", "off", "Off", "OFF", NULL};
    for (int i = 0; special[i]; i++)
        if (!strcmp(s, special[i]))
            return 1;
    if (strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]))
        return 1;
    size_t l = strlen(s);
    if (s[l - 1] == ' ' || s[l - 1] == ':')
        return 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p >= 0x7f || *p == '"' || *p == '\\')
            return 1;
        if (*p == ':' && (p[1] == ' ' || p[1] == '\0'))
            return 1;
        if (*p == ' ' && p[1] == '#')
            return 1;
    }
    /* numbers would stay strings for us, but keep them unambiguous for others */
    char *end;
    strtod(s, &end);
    if (*end == '\0')
        return 1;
    return 0;
}

void yemit_scalar(FILE *f, const char *s)
{
    if (!needs_quotes(s)) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\x%02x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}
