/* telnetproto.h - the telnet shell's input side, byte by byte: telnet
 * negotiation (IAC ...) is parsed and every option refused, CR LF / CR NUL /
 * LF end a line, lines are bounded. No I/O: the caller feeds received bytes
 * and acts on the events, so the parser can be tested and fuzzed alone. */
#ifndef BACKY_TELNETPROTO_H
#define BACKY_TELNETPROTO_H

#include <stddef.h>

#define TN_MAX_LINE 1024   /* longest command line, bytes */

enum tn_event {
    TN_NONE = 0,   /* nothing to do yet */
    TN_LINE,       /* a complete line is in p->line (NUL-terminated) */
    TN_OVERFLOW,   /* a line longer than TN_MAX_LINE ended; it was dropped */
    TN_REPLY,      /* send the 3 bytes of p->reply (a refused option) */
};

struct tn_parser {
    int state;                  /* private */
    unsigned char cmd;          /* private: WILL/WONT/DO/DONT being read */
    int overflow;               /* discarding the rest of an overlong line */
    int after_cr;               /* swallow the LF or NUL after a CR */
    size_t len;
    char line[TN_MAX_LINE + 1];
    unsigned char reply[3];
};

/* A fresh parser is all zeros. */
enum tn_event tn_feed(struct tn_parser *p, unsigned char b);

/* Split a line in place into a command word and the rest, both trimmed of
 * blanks: "  jobs  a.*  " -> "jobs", "a.*". */
void tn_split(char *line, char **cmd, char **arg);

/* Printable form of client input for messages: other bytes become '?',
 * a cut is marked "...". Always NUL-terminated (len >= 1). */
void tn_sanitize(const char *in, char *out, size_t len);

#endif
