/* fuzz_telnet.c - libFuzzer harness: the telnet shell's input parser
 * (bytes from any local client) and its line splitting and sanitising. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backy/telnetproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tn_parser p;
    memset(&p, 0, sizeof p);
    for (size_t i = 0; i < size; i++) {
        enum tn_event ev = tn_feed(&p, data[i]);
        if (p.len > TN_MAX_LINE)
            abort();
        if (ev == TN_LINE) {
            size_t l = strlen(p.line);
            if (l > TN_MAX_LINE || memchr(p.line, '\r', l) || memchr(p.line, '\n', l))
                abort();
            char line[TN_MAX_LINE + 1], *cmd, *arg, shown[64];
            memcpy(line, p.line, l + 1);
            tn_split(line, &cmd, &arg);
            if (strchr(cmd, ' ') || strchr(cmd, '\t') || (*arg && (*arg == ' ' || *arg == '\t')))
                abort();
            tn_sanitize(cmd, shown, sizeof shown);
            if (strlen(shown) >= sizeof shown)
                abort();
        } else if (ev == TN_REPLY) {
            if (p.reply[0] != 255 || (p.reply[1] != 252 && p.reply[1] != 254))
                abort();
        }
    }
    return 0;
}
