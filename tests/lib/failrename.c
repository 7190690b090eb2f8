/* failrename.c - an LD_PRELOAD shim for tests: a rename onto a name that
 * ends in $FAILRENAME_SUFFIX fails with ENOSPC from the $FAILRENAME_AT-th
 * such rename on (1: the first), standing in for a full or failing disk at
 * exactly that step. Other renames pass. Every interposed rename is
 * counted on stderr when FAILRENAME_TRACE is set.
 *
 *     cc -shared -fPIC -o failrename.so tests/lib/failrename.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned int);
static int (*real_rename)(const char *, const char *);
static const char *suffix;
static long fail_at = -1, seen;

/* resolved before the tool loads its sandbox */
__attribute__((constructor)) static void init(void)
{
    real_renameat = dlsym(RTLD_NEXT, "renameat");
    real_renameat2 = dlsym(RTLD_NEXT, "renameat2");
    real_rename = dlsym(RTLD_NEXT, "rename");
    suffix = getenv("FAILRENAME_SUFFIX");
    const char *at = getenv("FAILRENAME_AT");
    if (at)
        fail_at = strtol(at, NULL, 10);
}

static int fails(const char *newpath)
{
    if (!suffix || !newpath)
        return 0;
    size_t n = strlen(newpath), k = strlen(suffix);
    if (n < k || strcmp(newpath + n - k, suffix))
        return 0;
    seen++;
    if (getenv("FAILRENAME_TRACE"))
        fprintf(stderr, "failrename: rename %ld onto %s\n", seen, newpath);
    if (fail_at > 0 && seen >= fail_at) {
        errno = ENOSPC;
        return 1;
    }
    return 0;
}

int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
    if (fails(newpath))
        return -1;
    return real_renameat(olddirfd, oldpath, newdirfd, newpath);
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
              unsigned int flags)
{
    if (fails(newpath))
        return -1;
    return real_renameat2(olddirfd, oldpath, newdirfd, newpath, flags);
}

int rename(const char *oldpath, const char *newpath)
{
    if (fails(newpath))
        return -1;
    return real_rename(oldpath, newpath);
}
