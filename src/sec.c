/*
 * Secrets: randomness, keyed hashes, constant-time comparison, and the
 * ids and API keys we hand out.  Everything comes from libsodium.
 */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "otp.h"

int
sec_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

/* BLAKE2b-256 of the bytes, keyed with a KEY_LEN key. */
void
sec_hash(unsigned char out[HASH_LEN], const unsigned char *key,
    const void *p, size_t sz)
{
	crypto_generichash(out, HASH_LEN, p, sz, key, KEY_LEN);
}

/* 1 when the two buffers are equal, in time independent of contents. */
int
sec_equal(const void *a, const void *b, size_t sz)
{
	return sodium_memcmp(a, b, sz) == 0;
}

/* Lower-case hex of sz bytes into out, which holds 2 * sz + 1. */
void
sec_hex(char *out, const unsigned char *p, size_t sz)
{
	sodium_bin2hex(out, sz * 2 + 1, p, sz);
}

/* Exactly 2 * sz hex digits into sz bytes.  Returns 0 or -1. */
int
sec_unhex(unsigned char *out, size_t sz, const char *hex)
{
	size_t	 n;

	if (strlen(hex) != sz * 2)
		return -1;
	if (sodium_hex2bin(out, sz, hex, sz * 2, NULL, &n, NULL) != 0 ||
	    n != sz)
		return -1;
	return 0;
}

/*
 * A fresh unguessable id: prefix and 128 random bits in hex, into out
 * of size sz (ID_MAX is enough for a prefix of up to 7 bytes).
 */
void
sec_random_id(char *out, size_t sz, const char *prefix)
{
	unsigned char	 r[16];
	char		 hex[sizeof(r) * 2 + 1];

	randombytes_buf(r, sizeof(r));
	sec_hex(hex, r, sizeof(r));
	snprintf(out, sz, "%s%s", prefix, hex);
}

/*
 * A fresh id that sorts by creation time: prefix, then 48 bits of
 * milliseconds since the epoch and 80 random bits, in hex (the form of
 * sec_random_id).  OTPs live minutes, and those being verified are the
 * newest: with ids in time order, their index entries share a few
 * pages at the end of each index instead of one page each anywhere in
 * it, which is fewer pages for a checkpoint to copy and for a lookup to
 * read.
 */
void
sec_time_id(char *out, size_t sz, const char *prefix)
{
	struct timespec	 ts;
	unsigned char	 r[16];
	char		 hex[sizeof(r) * 2 + 1];
	uint64_t	 ms;
	int		 i;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		memset(&ts, 0, sizeof(ts));
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	for (i = 5; i >= 0; i--) {
		r[i] = (unsigned char)(ms & 0xff);
		ms >>= 8;
	}
	randombytes_buf(r + 6, sizeof(r) - 6);
	sec_hex(hex, r, sizeof(r));
	snprintf(out, sz, "%s%s", prefix, hex);
}

/*
 * A fresh code of code_length uniformly random digits into out, from
 * one draw of random bytes: bytes under 250 (25 times 10) give a digit
 * each, the rest are skipped.
 */
void
sec_code(char *out, size_t sz)
{
	unsigned char	 r[32];
	size_t		 i = 0, j = sizeof(r);

	while (i < (size_t)conf.code_length && i + 1 < sz) {
		if (j == sizeof(r)) {
			randombytes_buf(r, sizeof(r));
			j = 0;
		}
		if (r[j] < 250)
			out[i++] = (char)('0' + r[j] % 10);
		j++;
	}
	out[i] = '\0';
	sodium_memzero(r, sizeof(r));
}

/* A fresh API key: "botp_" and 192 random bits in hex. */
void
sec_api_key(char *out, size_t sz)
{
	unsigned char	 r[24];
	char		 hex[sizeof(r) * 2 + 1];

	randombytes_buf(r, sizeof(r));
	sec_hex(hex, r, sizeof(r));
	snprintf(out, sz, "botp_%s", hex);
	sodium_memzero(r, sizeof(r));
	sodium_memzero(hex, sizeof(hex));
}
