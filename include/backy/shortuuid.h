/* shortuuid.h - revision IDs: 128 random bits written in base57
 * (alphabet 23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz),
 * 22 characters, as backy 2.0 (python shortuuid) makes them. */
#ifndef BACKY_SHORTUUID_H
#define BACKY_SHORTUUID_H

#include <stdint.h>

#define SHORTUUID_LEN 22

/* Encode 16 bytes (big-endian integer) into out[SHORTUUID_LEN+1]. */
void shortuuid_encode(const uint8_t bytes[16], char out[SHORTUUID_LEN + 1]);
/* New random ID from getrandom(2). 0 or -1/errno. */
int shortuuid_new(char out[SHORTUUID_LEN + 1]);
/* 1 when s is a plausible revision ID (base57 alphabet, 1..64 chars). */
int shortuuid_valid(const char *s);

#endif
