/* log.h - timestamped log lines: "YYYY-MM-DDTHH:MM:SSZ [PID] LEVEL message" (UTC;
 * on the systemd journal "<N>[PID] LEVEL message", see log.c).
 *
 * log_open(path): append to path. Before each line the path is checked with
 * stat(); if the file was renamed or removed (log rotation), a new file of
 * the same name is opened. Without a path, lines go to stdout, or to stderr
 * when stdout carries data (log_open(NULL, ..., 1)).
 * Read-only sandboxed tools call log_no_reopen() before entering the
 * sandbox: they keep writing to the descriptor they have. */
#ifndef BACKY_LOG_H
#define BACKY_LOG_H

#include "util.h"

enum log_level { BK_LOG_DEBUG, BK_LOG_INFO, BK_LOG_WARN, BK_LOG_ERROR };

/* path NULL: stdout (or stderr if use_stderr). Returns 0 or -1/errno. */
int log_open(const char *path, int verbose, int use_stderr);
void log_no_reopen(void);
/* 1 when FD is systemd's journal stream (JOURNAL_STREAM=DEV:INODE matches
 * its fstat): lines then start with a syslog priority "<3>".."<7>". */
int log_is_journal_fd(int fd);
/* Append BUF (complete lines formatted by another process, e.g. the
 * telnet shell's, relayed by the scheduler's launcher) to the log,
 * following a rename like log_msg does. */
void log_write_raw(const char *buf, size_t len);
int log_fd(void);          /* current descriptor (for sandbox bookkeeping) */
int log_is_stdio(void);    /* 1 when logging goes to stdout/stderr */

BK_PRINTF(2, 3) void log_msg(enum log_level lvl, const char *fmt, ...);
void log_vmsg(enum log_level lvl, const char *fmt, va_list ap);
#define log_debug(...) log_msg(BK_LOG_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(BK_LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(BK_LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(BK_LOG_ERROR, __VA_ARGS__)

#endif
