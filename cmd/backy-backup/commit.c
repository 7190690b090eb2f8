/* commit.c - the new revision begun, committed or abandoned; the signal
 * thread (see commit.h). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backy/log.h"
#include "backy/revision.h"
#include "backy/util.h"
#include "commit.h"

/* What the signal thread may remove, and whether it still may. */
static pthread_mutex_t commit_lock = PTHREAD_MUTEX_INITIALIZER;
static int job_dirfd = -1;
static char new_id[BK_ID_MAX];
static int rev_started, rev_committed;
static sigset_t sigs;

/* Under the commit lock. */
static void remove_started(void)
{
    rev_remove(job_dirfd, new_id);
    rev_started = 0;
}

static void *signal_thread(void *arg)
{
    sigset_t *set = arg;
    int sig;
    if (sigwait(set, &sig) != 0)
        return NULL;
    pthread_mutex_lock(&commit_lock);
    if (rev_committed) {
        /* too late to stop: the revision is complete; main exits soon */
        pthread_mutex_unlock(&commit_lock);
        return NULL;
    }
    if (rev_started) {
        log_warn("interrupted by signal %d (%s): removing incomplete revision %s", sig,
                 strsignal(sig), new_id);
        remove_started();
    } else {
        log_warn("interrupted by signal %d (%s)", sig, strsignal(sig));
    }
    _exit(1);
}

/* Signals end the backup through one thread, so that an interrupted
 * backup removes its own incomplete revision. They are blocked from here
 * on; the thread starts once privileges are dropped (and takes what
 * arrived meanwhile). */
void rev_signals_block(void)
{
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
}

int rev_signals_start(void)
{
    pthread_t th;
    return pthread_create(&th, NULL, signal_thread, &sigs) == 0 ? 0 : -1;
}

int rev_begin(int dirfd, const struct bk_rev *rev)
{
    pthread_mutex_lock(&commit_lock);
    if (rev_save(dirfd, rev) < 0) {
        int e = errno;
        pthread_mutex_unlock(&commit_lock);
        errno = e;
        return -1;
    }
    job_dirfd = dirfd;
    snprintf(new_id, sizeof new_id, "%s", rev->id);
    rev_started = 1;
    pthread_mutex_unlock(&commit_lock);
    return 0;
}

int rev_commit(int dirfd, const char *dir, struct bk_rev *rev)
{
    pthread_mutex_lock(&commit_lock);
    rev_committed = 1;
    rev->complete = 1;
    if (rev_save(dirfd, rev) < 0) {
        int e = errno;
        remove_started();
        pthread_mutex_unlock(&commit_lock);
        errno = e;
        return -1;
    }
    /* After the .rev: a read-only image always has a complete .rev (cleanup
     * relies on it). */
    if (bk_fchmodat(dirfd, rev->id, 0440) < 0)
        log_warn("cannot make the image read-only: %s/%s: %s", dir, rev->id, strerror(errno));
    if (store_update_last(dirfd, rev->id) < 0)
        log_warn("cannot update %s/last: %s", dir, strerror(errno));
    pthread_mutex_unlock(&commit_lock);
    return 0;
}

void rev_abandon(void)
{
    pthread_mutex_lock(&commit_lock);
    remove_started();
    pthread_mutex_unlock(&commit_lock);
}
