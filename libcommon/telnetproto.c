/* telnetproto.c - the telnet shell's input parser (see telnetproto.h). */
#include <ctype.h>
#include <string.h>

#include "backy/telnetproto.h"

enum { S_DATA, S_IAC, S_OPT, S_SB, S_SB_IAC };
enum { IAC = 255, DONT = 254, DO = 253, WONT = 252, WILL = 251, SB = 250, SE = 240 };

static enum tn_event data_byte(struct tn_parser *p, unsigned char b)
{
    if (p->after_cr) {
        p->after_cr = 0;
        if (b == '\n' || b == '\0')
            return TN_NONE;
    }
    if (b == '\r' || b == '\n') {
        p->after_cr = b == '\r';
        if (p->overflow) {
            p->overflow = 0;
            p->len = 0;
            return TN_OVERFLOW;
        }
        p->line[p->len] = '\0';
        p->len = 0;
        return TN_LINE;
    }
    if (p->overflow)
        return TN_NONE;
    if (p->len >= TN_MAX_LINE) {
        p->overflow = 1;
        return TN_NONE;
    }
    p->line[p->len++] = b ? (char)b : '?';
    return TN_NONE;
}

enum tn_event tn_feed(struct tn_parser *p, unsigned char b)
{
    switch (p->state) {
    case S_DATA:
        if (b == IAC) {
            p->state = S_IAC;
            return TN_NONE;
        }
        return data_byte(p, b);
    case S_IAC:
        if (b >= WILL && b <= DONT) {
            p->cmd = b;
            p->state = S_OPT;
            return TN_NONE;
        }
        if (b == SB) {
            p->state = S_SB;
            return TN_NONE;
        }
        p->state = S_DATA;       /* NOP, IP, AYT, ...: ignored */
        if (b == IAC)
            return data_byte(p, b);   /* escaped 255: a data byte */
        return TN_NONE;
    case S_OPT:
        /* refuse everything: DO -> WONT, WILL -> DONT; no reply to
         * WONT/DONT (we are in that state already), so no loops */
        p->state = S_DATA;
        if (p->cmd != DO && p->cmd != WILL)
            return TN_NONE;
        p->reply[0] = IAC;
        p->reply[1] = p->cmd == DO ? WONT : DONT;
        p->reply[2] = b;
        return TN_REPLY;
    case S_SB:
        if (b == IAC)
            p->state = S_SB_IAC;
        return TN_NONE;
    default: /* S_SB_IAC */
        p->state = b == SE ? S_DATA : S_SB;
        return TN_NONE;
    }
}

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

void tn_split(char *line, char **cmd, char **arg)
{
    char *p = line;
    while (blank(*p))
        p++;
    char *end = p + strlen(p);
    while (end > p && blank(end[-1]))
        *--end = '\0';
    *cmd = p;
    while (*p && !blank(*p))
        p++;
    if (*p) {
        *p++ = '\0';
        while (blank(*p))
            p++;
    }
    *arg = p;
}

void tn_sanitize(const char *in, char *out, size_t len)
{
    size_t o = 0;
    for (; *in && o + 4 < len; in++)
        out[o++] = isprint((unsigned char)*in) ? *in : '?';
    if (*in && o + 4 <= len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}
