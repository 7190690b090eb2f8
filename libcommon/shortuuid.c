/* shortuuid.c - 22-character base57 revision IDs. */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "backy/shortuuid.h"

static const char alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

void shortuuid_encode(const uint8_t bytes[16], char out[SHORTUUID_LEN + 1])
{
    /* 128-bit big-endian number, repeatedly divided by 57; python's
     * shortuuid writes the least significant digit last and pads to 22. */
    uint8_t num[16];
    memcpy(num, bytes, 16);
    char rev[SHORTUUID_LEN];
    for (int d = 0; d < SHORTUUID_LEN; d++) {
        unsigned rem = 0;
        for (int i = 0; i < 16; i++) {
            unsigned cur = rem * 256 + num[i];
            num[i] = (uint8_t)(cur / 57);
            rem = cur % 57;
        }
        rev[d] = alphabet[rem];
    }
    for (int d = 0; d < SHORTUUID_LEN; d++)
        out[d] = rev[SHORTUUID_LEN - 1 - d];
    out[SHORTUUID_LEN] = '\0';
}

int shortuuid_new(char out[SHORTUUID_LEN + 1])
{
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)n;
    }
    /* a version-4 UUID, like uuid.uuid4() in backy 2.0 */
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    shortuuid_encode(b, out);
    return 0;
}

int shortuuid_valid(const char *s)
{
    size_t l = strlen(s);
    if (l == 0 || l >= 65)
        return 0;
    for (size_t i = 0; i < l; i++)
        if (!strchr(alphabet, s[i]) || s[i] == '\0')
            return 0;
    return 1;
}
