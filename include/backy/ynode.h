/* ynode.h - YAML documents as a small tree (libyaml underneath), with the
 * line and column of every node so errors can say where.
 * Anchors/aliases and multi-document streams are rejected; sizes are bounded. */
#ifndef BACKY_YNODE_H
#define BACKY_YNODE_H

#include <stdio.h>
#include <stddef.h>

enum ynode_kind { Y_SCALAR, Y_MAP, Y_SEQ };

struct ynode {
    enum ynode_kind kind;
    char *value;            /* Y_SCALAR: the text ("" for empty/null) */
    int quoted;             /* Y_SCALAR: was written quoted ('' or "") */
    size_t n;               /* Y_MAP/Y_SEQ: number of children */
    char **keys;            /* Y_MAP: keys[i] names items[i] */
    int *key_line, *key_col;/* Y_MAP: where keys[i] stands (1-based) */
    struct ynode **items;
    int line, col;          /* 1-based position of the node */
};

/* Parse a file / buffer. On error returns NULL and writes
 * "NAME:LINE:COL: message" into err. A file larger than 16 MiB is refused. */
struct ynode *ynode_parse_file(const char *path, char *err, size_t errlen);
struct ynode *ynode_parse_fd(int fd, const char *name, char *err, size_t errlen);
struct ynode *ynode_parse(const char *buf, size_t len, const char *name, char *err, size_t errlen);
void ynode_free(struct ynode *n);

/* Map lookups; NULL when absent or when map is not a Y_MAP. */
struct ynode *ynode_get(const struct ynode *map, const char *key);
/* Scalar value of map[key], NULL when absent or not a scalar. */
const char *ynode_str(const struct ynode *map, const char *key);

/* Emitting: write a scalar so that it reads back as the same string
 * (plain when safe, double-quoted with escapes otherwise). */
void yemit_scalar(FILE *f, const char *s);

#endif
