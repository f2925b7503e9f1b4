/*
 * libFuzzer harness of jparse(): any input must either fail cleanly or
 * give a tree whose json-c serialisation parses again, to an equal
 * tree.
 *
 *	clang -fsanitize=fuzzer,address,undefined -g -Isrc \
 *	    tests/fuzz_jparse.c src/jparse.c \
 *	    $(pkg-config --cflags --libs json-c) -o fuzz_jparse
 *	./fuzz_jparse -max_total_time=60 -max_len=4096
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "otp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/*
 * Parse data; on success serialise, parse back and compare.  Abort on
 * a message that is not terminated, or a round trip that fails.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object	*o, *o2;
	const char		*s;
	size_t			 len;
	char			 err[128];

	memset(err, 'x', sizeof(err));
	o = jparse((const char *)data, size, err, sizeof(err));
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (o == NULL) {
		if (err[0] == '\0')
			abort();		/* failure without a message */
		return 0;
	}
	if (err[0] != '\0')
		abort();

	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (s == NULL)
		abort();
	len = strlen(s);
	o2 = jparse(s, len, err, sizeof(err));
	if (o2 == NULL) {
		fprintf(stderr, "round trip failed: %s\n%s\n", err, s);
		abort();
	}
	if (!json_object_equal(o, o2)) {
		fprintf(stderr, "round trip differs:\n%s\n", s);
		abort();
	}
	json_object_put(o2);
	json_object_put(o);
	return 0;
}
