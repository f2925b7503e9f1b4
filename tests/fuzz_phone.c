/*
 * libFuzzer harness of phone_normalise() and phone_mask(): whatever is
 * typed, a number that passes is "+" and 8 to 15 digits, and its mask
 * keeps its length, its country code and its last three digits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*in, e164[PHONE_MAX], masked[MASKED_MAX];
	size_t		 n, cc;
	enum phone_result r;

	if (size > 256)
		return 0;
	memset(&conf, 0, sizeof(conf));
	memcpy(conf.default_country, "964", 4);
	if (size > 0 && data[0] & 1) {
		memcpy(conf.allowed_countries[0], "964", 4);
		conf.allowed_countriesz = 1;
	}
	if ((in = malloc(size + 1)) == NULL)
		abort();
	memcpy(in, data, size);
	in[size] = '\0';
	r = phone_normalise(e164, in);
	if (r != PHONE_INVALID) {
		n = strlen(e164);
		if (e164[0] != '+' || n < 9 || n > 16 || e164[1] == '0' ||
		    strspn(e164 + 1, "0123456789") != n - 1)
			abort();
		if (r == PHONE_COUNTRY && strncmp(e164 + 1, "964", 3) == 0)
			abort();
		phone_mask(masked, e164);
		cc = phone_cc_len(e164 + 1);
		if (strlen(masked) != n || strncmp(masked, e164, cc + 1) != 0 ||
		    strcmp(masked + n - 3, e164 + n - 3) != 0 ||
		    strspn(masked + cc + 1, "*") != n - cc - 4)
			abort();
	}
	free(in);
	return 0;
}
