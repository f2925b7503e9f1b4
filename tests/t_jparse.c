/*
 * Unit tests of jparse(): the strict JSON parser.  Every input is
 * copied into a heap buffer of exactly its length so that the address
 * sanitizer catches any read past the end.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "otp.h"
#include "t.h"

#define L(s)	s, sizeof(s) - 1	/* literal and its length */

/* Accepted documents and their json-c serialisation. */
static const struct {
	const char	*in;
	size_t		 len;
	const char	*out;
} goods[] = {
	{ L("{}"), "{}" },
	{ L("[]"), "[]" },
	{ L(" \t\r\n{ } \r\n\t"), "{}" },
	{ L("[ ]"), "[]" },
	{ L("{\"a\":1}"), "{\"a\":1}" },
	{ L("{ \"a\" : 1 , \"b\" : [ ] }"), "{\"a\":1,\"b\":[]}" },
	{ L("[null,true,false]"), "[null,true,false]" },
	{ L("{\"a\":null}"), "{\"a\":null}" },
	{ L("{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":false}"),
	  "{\"a\":[1,2,{\"b\":null}],\"c\":true,\"d\":false}" },
	{ L("[[[[]]],{},[{}]]"), "[[[[]]],{},[{}]]" },
	{ L("[1.5,-2,0,-0.5,1e2,2E+1,5e-1]"),
	  "[1.5,-2,0,-0.5,100.0,20.0,0.5]" },
	{ L("{\"\":\"\"}"), "{\"\":\"\"}" },
	{ L("[\"\x7f\"]"), "[\"\x7f\"]" },	/* DEL is not a control */
	{ L("{\"a\":{\"a\":{\"a\":1}}}"), "{\"a\":{\"a\":{\"a\":1}}}" },
	{ L("{\"A\":1,\"a\":2}"), "{\"A\":1,\"a\":2}" },
	{ L("{\"a\":1,\"a \":2}"), "{\"a\":1,\"a \":2}" },
	{ L("{\"a\":{\"b\":1},\"b\":{\"a\":1}}"),
	  "{\"a\":{\"b\":1},\"b\":{\"a\":1}}" },
	{ L("[\"phone\",\"phone\"]"), "[\"phone\",\"phone\"]" },
};

/* Accepted one-string arrays and the decoded bytes of the string. */
static const struct {
	const char	*in;
	size_t		 len;
	const char	*out;
	size_t		 outsz;
} strs[] = {
	{ L("[\"\"]"), L("") },
	{ L("[\"abc\"]"), L("abc") },
	{ L("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"), L("\"\\/\b\f\n\r\t") },
	{ L("[\"x\\ny\"]"), L("x\ny") },
	{ L("[\"\\u0041\\u00e9\\u20AC\"]"), L("A\xc3\xa9\xe2\x82\xac") },
	{ L("[\"\\u0001\\u001f\"]"), L("\x01\x1f") },
	{ L("[\"\\u007f\\u0080\\u07FF\\u0800\\uFFFF\"]"),
	  L("\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf") },
	{ L("[\"\\uD83D\\uDE00\"]"), L("\xf0\x9f\x98\x80") },
	{ L("[\"\\ud83d\\ude00\"]"), L("\xf0\x9f\x98\x80") },
	{ L("[\"\\uD800\\uDC00\"]"), L("\xf0\x90\x80\x80") },
	{ L("[\"\\uDBFF\\uDFFF\"]"), L("\xf4\x8f\xbf\xbf") },
	{ L("[\"a\\uD834\\uDD1Eb\"]"), L("a\xf0\x9d\x84\x9e" "b") },
	{ L("[\"\\uE000\\uD7FF\"]"), L("\xee\x80\x80\xed\x9f\xbf") },
	{ L("[\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\"]"),
	  L("\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80") },
	{ L("[\"\xf0\x90\x80\x80\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\"]"),
	  L("\xf0\x90\x80\x80\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf") },
	{ L("[\"\xd8\xa8\xd8\xba\xd8\xaf\xd8\xa7\xd8\xaf\"]"),
	  L("\xd8\xa8\xd8\xba\xd8\xaf\xd8\xa7\xd8\xaf") },
};

/* Accepted one-number arrays and the number's type and value. */
static const struct {
	const char	*in;
	size_t		 len;
	int		 isint;
	int64_t		 i;
	double		 d;
} nums[] = {
	{ L("[0]"), 1, 0, 0 },
	{ L("[-0]"), 1, 0, 0 },
	{ L("[7]"), 1, 7, 0 },
	{ L("[-42]"), 1, -42, 0 },
	{ L("[9223372036854775807]"), 1, INT64_MAX, 0 },
	{ L("[-9223372036854775808]"), 1, INT64_MIN, 0 },
	{ L("[9223372036854775808]"), 0, 0, 9223372036854775808.0 },
	{ L("[-9223372036854775809]"), 0, 0, -9223372036854775809.0 },
	{ L("[123456789012345678901234567890]"), 0, 0,
	  123456789012345678901234567890.0 },
	{ L("[1.0]"), 0, 0, 1.0 },
	{ L("[0.5]"), 0, 0, 0.5 },
	{ L("[-0.25]"), 0, 0, -0.25 },
	{ L("[1e2]"), 0, 0, 100.0 },
	{ L("[1E2]"), 0, 0, 100.0 },
	{ L("[1e+2]"), 0, 0, 100.0 },
	{ L("[1E-2]"), 0, 0, 0.01 },
	{ L("[0e0]"), 0, 0, 0.0 },
	{ L("[1e300]"), 0, 0, 1e300 },
	{ L("[1.7976931348623157e308]"), 0, 0, 1.7976931348623157e308 },
	{ L("[1e-400]"), 0, 0, 0.0 },		/* underflow is finite */
	{ L("[1000000000000000000000000000000000000000000000000000000000000000]"),
	  0, 0, 1e63 },				/* exactly 64 bytes */
};

/* Rejected documents and a substring of the error message. */
static const struct {
	const char	*in;
	size_t		 len;
	const char	*err;
} bads[] = {
	/* Duplicates, compared after decoding. */
	{ L("{\"phone\":1,\"phone\":2}"), "duplicate member \"phone\"" },
	{ L("{\"a\":1,\"\\u0061\":2}"), "duplicate member \"a\"" },
	{ L("{\"\\u0061\":1,\"a\":2}"), "duplicate member \"a\"" },
	{ L("{\"\\/\":1,\"/\":2}"), "duplicate member \"/\"" },
	{ L("{\"\\u00e9\":1,\"\xc3\xa9\":2}"), "duplicate member \"??\"" },
	{ L("{\"a\":null,\"a\":null}"), "duplicate member \"a\"" },
	{ L("{\"a\":1,\"b\":2,\"a\":3}"), "duplicate member \"a\"" },
	{ L("{\"\":1,\"\":2}"), "duplicate member \"\"" },
	{ L("{\"x\":{\"b\":1,\"b\":2}}"), "duplicate member \"b\"" },
	{ L("[{\"code\":1,\"code\":1}]"), "duplicate member \"code\"" },

	/* Escapes. */
	{ L("{\"code\":\"\\x\"}"), "member \"code\": invalid string escape" },
	{ L("[\"\\a\"]"), "invalid string escape at byte 2" },
	{ L("[\"\\'\"]"), "invalid string escape" },
	{ L("[\"\\U0041\"]"), "invalid string escape" },
	{ L("[\"\\u12\"]"), "invalid string escape" },
	{ L("[\"\\u12G4\"]"), "invalid string escape" },
	{ L("[\"\\u\"]"), "invalid string escape" },
	{ L("[\"\\"), "invalid string escape" },
	{ L("[\"\\u00"), "invalid string escape" },
	{ L("{\"\\q\":1}"), "invalid string escape at byte 2" },

	/* Surrogates. */
	{ L("[\"\\uD800\"]"), "unpaired surrogate" },
	{ L("[\"\\uDBFF\"]"), "unpaired surrogate" },
	{ L("[\"\\uDC00\"]"), "unpaired surrogate" },
	{ L("[\"\\uDFFF\\uD800\"]"), "unpaired surrogate" },
	{ L("[\"\\uD800\\u0041\"]"), "unpaired surrogate" },
	{ L("[\"\\uD800\\uD800\"]"), "unpaired surrogate" },
	{ L("[\"\\uD800\\uE000\"]"), "unpaired surrogate" },
	{ L("[\"\\uD800x\"]"), "unpaired surrogate" },
	{ L("[\"\\uD800\\n\"]"), "unpaired surrogate" },
	{ L("[\"\\uD800\\uDC0\"]"), "unpaired surrogate" },
	{ L("[\"\\uD800\\"), "unpaired surrogate" },
	{ L("{\"k\":\"\\uDE00\\uD83D\"}"), "member \"k\": unpaired surrogate" },

	/* NUL, escaped or raw. */
	{ L("[\"\\u0000\"]"), "NUL character in string" },
	{ L("{\"a\\u0000b\":1}"), "NUL character in string" },
	{ L("{\"a\":\"b\0c\"}"), "NUL byte in input at byte 7" },
	{ L("{}\0"), "NUL byte in input at byte 2" },
	{ L("\0{}"), "NUL byte in input at byte 0" },
	{ L("[1,\0]"), "NUL byte in input" },

	/* Invalid UTF-8. */
	{ L("[\"\x80\"]"), "invalid UTF-8 in string at byte 2" },
	{ L("[\"\xbf\"]"), "invalid UTF-8" },
	{ L("[\"\xc0\xaf\"]"), "invalid UTF-8" },	/* overlong '/' */
	{ L("[\"\xc1\xbf\"]"), "invalid UTF-8" },	/* overlong */
	{ L("[\"\xe0\x80\xaf\"]"), "invalid UTF-8" },	/* overlong */
	{ L("[\"\xe0\x9f\xbf\"]"), "invalid UTF-8" },	/* overlong */
	{ L("[\"\xf0\x80\x80\xaf\"]"), "invalid UTF-8" }, /* overlong */
	{ L("[\"\xf0\x8f\xbf\xbf\"]"), "invalid UTF-8" }, /* overlong */
	{ L("[\"\xed\xa0\x80\"]"), "invalid UTF-8" },	/* U+D800 */
	{ L("[\"\xed\xbf\xbf\"]"), "invalid UTF-8" },	/* U+DFFF */
	{ L("[\"\xed\xa0\xbd\xed\xb8\x80\"]"), "invalid UTF-8" }, /* CESU */
	{ L("[\"\xf4\x90\x80\x80\"]"), "invalid UTF-8" }, /* U+110000 */
	{ L("[\"\xf5\x80\x80\x80\"]"), "invalid UTF-8" },
	{ L("[\"\xf8\x88\x80\x80\x80\"]"), "invalid UTF-8" },
	{ L("[\"\xfe\"]"), "invalid UTF-8" },
	{ L("[\"\xff\"]"), "invalid UTF-8" },
	{ L("[\"\xc3\x28\"]"), "invalid UTF-8" },
	{ L("[\"\xe2\x82\"]"), "invalid UTF-8" },	/* truncated */
	{ L("[\"\xe2\x82"), "invalid UTF-8" },	/* truncated at end */
	{ L("[\"\xf0\x9f\x98\"]"), "invalid UTF-8" },
	{ L("[\"\xc3\""), "invalid UTF-8" },
	{ L("{\"\xff\":1}"), "invalid UTF-8 in string at byte 2" },
	{ L("{\"name\":\"\xc0\x80\"}"), "member \"name\": invalid UTF-8" },
	{ L("[\xc3\xa9]"), "malformed JSON at byte 1" },

	/* Control characters. */
	{ L("[\"a\x01\"]"), "control character in string at byte 3" },
	{ L("[\"\t\"]"), "control character" },
	{ L("[\"\n\"]"), "control character" },
	{ L("[\"\r\"]"), "control character" },
	{ L("[\"\x1f\"]"), "control character" },
	{ L("{\"a\x1b\":1}"), "control character" },
	{ L("{\"msg\":\"x\x7f\x1fy\"}"), "member \"msg\": control character" },

	/* Numbers. */
	{ L("[01]"), "invalid number at byte 2" },
	{ L("[-01]"), "invalid number" },
	{ L("[00]"), "invalid number" },
	{ L("[1.]"), "invalid number" },
	{ L("[1.e5]"), "invalid number" },
	{ L("[.5]"), "invalid number" },
	{ L("[-]"), "invalid number" },
	{ L("[-a]"), "invalid number" },
	{ L("[--1]"), "invalid number" },
	{ L("[1e]"), "invalid number" },
	{ L("[1e+]"), "invalid number" },
	{ L("[1E-]"), "invalid number" },
	{ L("[1e+-1]"), "invalid number" },
	{ L("[+1]"), "invalid number" },
	{ L("[1.2.3]"), "invalid number" },
	{ L("[1e5e5]"), "invalid number" },
	{ L("[1-2]"), "invalid number" },
	{ L("[0x10]"), "malformed JSON" },
	{ L("[1"), "malformed JSON" },
	{ L("[1.5"), "malformed JSON" },
	{ L("[-"), "invalid number" },
	{ L("[1e"), "invalid number" },
	{ L("[NaN]"), "malformed JSON" },
	{ L("[Infinity]"), "malformed JSON" },
	{ L("[-Infinity]"), "invalid number" },
	{ L("[1e400]"), "number out of range" },
	{ L("[-1e400]"), "number out of range" },
	{ L("[1.8e308]"), "number out of range" },
	{ L("{\"n\":01}"), "member \"n\": invalid number" },
	{ L("{\"big\":1e999}"), "member \"big\": number out of range" },
	{ L("[10000000000000000000000000000000000000000000000000000000000000000]"),
	  "number too long" },			/* 65 bytes */
	{ L("[0.00000000000000000000000000000000000000000000000000000000000000001]"),
	  "number too long" },

	/* Literals. */
	{ L("[tru]"), "malformed JSON at byte 1" },
	{ L("[True]"), "malformed JSON" },
	{ L("[nul]"), "malformed JSON" },
	{ L("[NULL]"), "malformed JSON" },
	{ L("[falsey]"), "malformed JSON at byte 6" },
	{ L("[nulll]"), "malformed JSON" },
	{ L("[t"), "malformed JSON" },
	{ L("{\"ok\":fals}"), "member \"ok\": malformed JSON" },

	/* Structure. */
	{ L("{\"a\" 1}"), "member \"a\": malformed JSON" },
	{ L("{\"a\":}"), "member \"a\": malformed JSON" },
	{ L("{\"a\":1,}"), "malformed JSON at byte 7" },
	{ L("{\"a\":1 \"b\":2}"), "malformed JSON" },
	{ L("{\"a\":1]"), "malformed JSON" },
	{ L("{,}"), "malformed JSON at byte 1" },
	{ L("{a:1}"), "malformed JSON" },
	{ L("{'a':1}"), "malformed JSON" },
	{ L("{1:1}"), "malformed JSON" },
	{ L("{null:1}"), "malformed JSON" },
	{ L("[1,]"), "malformed JSON at byte 3" },
	{ L("[,1]"), "malformed JSON" },
	{ L("[1 2]"), "malformed JSON" },
	{ L("[1}"), "malformed JSON" },
	{ L("[1,,2]"), "malformed JSON" },
	{ L("["), "malformed JSON at byte 1" },
	{ L("{"), "malformed JSON at byte 1" },
	{ L("{\"a\""), "member \"a\": malformed JSON" },
	{ L("{\"a\":"), "member \"a\": malformed JSON" },
	{ L("{\"a\":1"), "malformed JSON at byte 6" },
	{ L("[[]"), "malformed JSON" },
	{ L("[\"abc"), "unterminated string at byte 5" },
	{ L("[\"abc\\\"]"), "unterminated string" },
	{ L("{\"abc"), "unterminated string" },
	{ L("[\v1]"), "malformed JSON" },
	{ L("[\f1]"), "malformed JSON" },
	{ L("\xc2\xa0[]"), "top-level value must be an object or array" },
	{ L("\xef\xbb\xbf{}"), "top-level value must be an object or array" },
	{ L("/* c */{}"), "top-level value" },
	{ L("{}//"), "trailing data after JSON at byte 2" },

	/* Trailing data. */
	{ L("{} x"), "trailing data after JSON at byte 3" },
	{ L("{}{}"), "trailing data" },
	{ L("[]]"), "trailing data" },
	{ L("[],"), "trailing data" },
	{ L("{\"a\":1}}"), "trailing data" },
	{ L("[1] 2"), "trailing data" },

	/* Empty input and top-level scalars. */
	{ L(""), "empty document at byte 0" },
	{ L(" \t\r\n"), "empty document at byte 4" },
	{ L("null"), "top-level value must be an object or array at byte 0" },
	{ L("  null  "), "top-level value must be an object or array at byte 2" },
	{ L("true"), "top-level value must be an object or array" },
	{ L("false"), "top-level value must be an object or array" },
	{ L("1"), "top-level value must be an object or array" },
	{ L("-1.5"), "top-level value must be an object or array" },
	{ L("\"s\""), "top-level value must be an object or array" },
	{ L("]"), "top-level value must be an object or array" },

	/* The innermost member is named. */
	{ L("{\"outer\":{\"inner\":[1,01]}}"), "member \"inner\": invalid number" },
	{ L("{\"outer\":{\"inner\":1},\"x\":[tru]}"), "member \"x\": malformed" },
	{ L("{\"outer\":[{\"\\z\":1}]}"), "member \"outer\": invalid string escape" },
	{ L("{\"a?\\\"b\\\\\":01}"), "member \"a??b?\": invalid number" },
	{ L("{\"a\\u0001\xc3\xa9\\\"b\":01}"), "member \"a????b\": invalid number" },
};

/*
 * Parse exactly len bytes from a heap copy, so that any read past the
 * end is caught by the address sanitizer.
 */
static struct json_object *
parse(const char *in, size_t len, char *err, size_t errsz)
{
	struct json_object	*o;
	char			*copy;

	if ((copy = malloc(len ? len : 1)) == NULL) {
		perror("malloc");
		exit(2);
	}
	memcpy(copy, in, len);
	o = jparse(copy, len, err, errsz);
	free(copy);
	return o;
}

/*
 * Build n opening brackets (or {"a": prefixes), a 1, and the closers.
 * Return a malloc'd document; its length in *lenp.
 */
static char *
nest(size_t n, int obj, size_t *lenp)
{
	const char	*open = obj ? "{\"a\":" : "[";
	size_t		 osz = strlen(open), i, len;
	char		*s;

	len = n * (osz + 1) + 1;
	if ((s = malloc(len)) == NULL) {
		perror("malloc");
		exit(2);
	}
	for (i = 0; i < n; i++)
		memcpy(s + i * osz, open, osz);
	s[n * osz] = '1';
	for (i = 0; i < n; i++)
		s[n * osz + 1 + i] = obj ? '}' : ']';
	*lenp = len;
	return s;
}

/*
 * Build an object of n distinct members or an array of n elements.
 */
static char *
many(size_t n, int obj, size_t *lenp)
{
	char	*s;
	size_t	 i, len = 0, cap = 16 + n * 16;
	int	 w;

	if ((s = malloc(cap)) == NULL) {
		perror("malloc");
		exit(2);
	}
	s[len++] = obj ? '{' : '[';
	for (i = 0; i < n; i++) {
		if (obj)
			w = snprintf(s + len, cap - len, "%s\"k%zu\":%zu",
			    i ? "," : "", i, i);
		else
			w = snprintf(s + len, cap - len, "%s%zu",
			    i ? "," : "", i);
		if (w < 0 || (size_t)w >= cap - len) {
			fprintf(stderr, "many: overflow\n");
			exit(2);
		}
		len += (size_t)w;
	}
	s[len++] = obj ? '}' : ']';
	*lenp = len;
	return s;
}

static void
test_goods(void)
{
	struct json_object	*o, *o2;
	const char		*s;
	char			 err[128];
	size_t			 i;

	for (i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		memcpy(err, "junk", 5);
		o = parse(goods[i].in, goods[i].len, err, sizeof(err));
		T_OK(o != NULL, "good %zu: %s", i, err);
		T_OK(err[0] == '\0', "good %zu: err not cleared", i);
		if (o == NULL)
			continue;
		s = json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		T_OK(strcmp(s, goods[i].out) == 0,
		    "good %zu: got %s, want %s", i, s, goods[i].out);
		/* Our own output parses back to the same. */
		o2 = parse(s, strlen(s), err, sizeof(err));
		T_OK(o2 != NULL && json_object_equal(o, o2),
		    "good %zu: round trip: %s", i, err);
		json_object_put(o2);
		json_object_put(o);
	}
}

static void
test_strings(void)
{
	struct json_object	*o, *v;
	char			 err[128];
	size_t			 i;

	for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		o = parse(strs[i].in, strs[i].len, err, sizeof(err));
		T_OK(o != NULL, "string %zu: %s", i, err);
		if (o == NULL)
			continue;
		v = json_object_array_get_idx(o, 0);
		T_OK(json_object_is_type(v, json_type_string),
		    "string %zu: not a string", i);
		T_OK((size_t)json_object_get_string_len(v) == strs[i].outsz &&
		    memcmp(json_object_get_string(v), strs[i].out,
		    strs[i].outsz) == 0, "string %zu: wrong bytes", i);
		json_object_put(o);
	}
}

static void
test_numbers(void)
{
	struct json_object	*o, *v;
	char			 err[128];
	size_t			 i;

	for (i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		o = parse(nums[i].in, nums[i].len, err, sizeof(err));
		T_OK(o != NULL, "number %zu: %s", i, err);
		if (o == NULL)
			continue;
		v = json_object_array_get_idx(o, 0);
		if (nums[i].isint) {
			T_OK(json_object_is_type(v, json_type_int) &&
			    json_object_get_int64(v) == nums[i].i,
			    "number %zu: want int %lld", i,
			    (long long)nums[i].i);
		} else {
			T_OK(json_object_is_type(v, json_type_double) &&
			    json_object_get_double(v) == nums[i].d,
			    "number %zu: want double %.17g", i, nums[i].d);
		}
		json_object_put(o);
	}

	/* "-0.0" keeps its sign; "-0" is the integer 0. */
	o = parse(L("[-0.0]"), err, sizeof(err));
	v = json_object_array_get_idx(o, 0);
	T_OK(o != NULL && json_object_is_type(v, json_type_double) &&
	    json_object_get_double(v) == 0.0 &&
	    signbit(json_object_get_double(v)), "-0.0: %s", err);
	json_object_put(o);
}

static void
test_bads(void)
{
	struct json_object	*o;
	char			 err[160];
	size_t			 i;

	for (i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		err[0] = '\0';
		o = parse(bads[i].in, bads[i].len, err, sizeof(err));
		T_OK(o == NULL, "bad %zu: accepted", i);
		T_OK(strstr(err, bads[i].err) != NULL,
		    "bad %zu: err \"%s\", want \"%s\"", i, err, bads[i].err);
		json_object_put(o);
	}
}

static void
test_depth(void)
{
	struct json_object	*o;
	char			 err[128], *s;
	size_t			 len;
	int			 obj;

	for (obj = 0; obj < 2; obj++) {
		s = nest(32, obj, &len);
		o = parse(s, len, err, sizeof(err));
		T_OK(o != NULL, "depth 32 (%s): %s", obj ? "object" : "array",
		    err);
		json_object_put(o);
		free(s);

		s = nest(33, obj, &len);
		o = parse(s, len, err, sizeof(err));
		T_OK(o == NULL, "depth 33 (%s): accepted",
		    obj ? "object" : "array");
		T_OK(strstr(err, "nesting too deep") != NULL,
		    "depth 33: err \"%s\"", err);
		if (obj)
			T_OK(strcmp(err, "member \"a\": nesting too deep") == 0,
			    "depth 33 object: err \"%s\"", err);
		else
			T_OK(strcmp(err, "nesting too deep at byte 32") == 0,
			    "depth 33 array: err \"%s\"", err);
		json_object_put(o);
		free(s);

		/* Far too deep, and unterminated: no stack exhaustion. */
		s = nest(200000, obj, &len);
		o = parse(s, len / 2, err, sizeof(err));
		T_OK(o == NULL && strstr(err, "nesting too deep") != NULL,
		    "depth 200000: err \"%s\"", err);
		json_object_put(o);
		free(s);
	}
}

static void
test_limits(void)
{
	struct json_object	*o;
	char			 err[128], *s;
	size_t			 len;

	s = many(1024, 1, &len);
	o = parse(s, len, err, sizeof(err));
	T_OK(o != NULL && json_object_object_length(o) == 1024,
	    "1024 members: %s", err);
	json_object_put(o);
	free(s);

	s = many(1025, 1, &len);
	o = parse(s, len, err, sizeof(err));
	T_OK(o == NULL && strstr(err, "too many members") != NULL,
	    "1025 members: err \"%s\"", err);
	json_object_put(o);
	free(s);

	s = many(1024, 0, &len);
	o = parse(s, len, err, sizeof(err));
	T_OK(o != NULL && json_object_array_length(o) == 1024,
	    "1024 elements: %s", err);
	json_object_put(o);
	free(s);

	s = many(1025, 0, &len);
	o = parse(s, len, err, sizeof(err));
	T_OK(o == NULL && strstr(err, "too many elements") != NULL,
	    "1025 elements: err \"%s\"", err);
	json_object_put(o);
	free(s);
}

static void
test_errors(void)
{
	struct json_object	*o;
	char			 err[256], small[8], doc[512], want[128];
	size_t			 i, n;

	/* A long member name is cut to 64 bytes, "..." included. */
	n = (size_t)snprintf(doc, sizeof(doc), "{\"%0200d\":01}", 0);
	o = parse(doc, n, err, sizeof(err));
	snprintf(want, sizeof(want), "member \"%061d...\": invalid number", 0);
	T_OK(o == NULL && strcmp(err, want) == 0, "long name: err \"%s\"",
	    err);
	json_object_put(o);

	n = (size_t)snprintf(doc, sizeof(doc),
	    "{\"%0100d\":1,\"%0100d\":2}", 0, 0);
	o = parse(doc, n, err, sizeof(err));
	snprintf(want, sizeof(want), "duplicate member \"%061d...\"", 0);
	T_OK(o == NULL && strcmp(err, want) == 0,
	    "long duplicate: err \"%s\"", err);
	json_object_put(o);

	/* 64 bytes exactly are not cut; 65 are. */
	n = (size_t)snprintf(doc, sizeof(doc), "{\"%064d\":01}", 0);
	o = parse(doc, n, err, sizeof(err));
	snprintf(want, sizeof(want), "member \"%064d\": invalid number", 0);
	T_OK(o == NULL && strcmp(err, want) == 0, "64-byte name: err \"%s\"",
	    err);
	json_object_put(o);

	n = (size_t)snprintf(doc, sizeof(doc), "{\"%065d\":01}", 0);
	o = parse(doc, n, err, sizeof(err));
	snprintf(want, sizeof(want), "member \"%061d...\": invalid number", 0);
	T_OK(o == NULL && strcmp(err, want) == 0, "65-byte name: err \"%s\"",
	    err);
	json_object_put(o);

	/* A long non-ASCII name: '?' for each byte, still cut. */
	n = 0;
	doc[n++] = '{';
	doc[n++] = '"';
	for (i = 0; i < 100; i++) {
		doc[n++] = '\xd8';
		doc[n++] = '\xa8';
	}
	memcpy(doc + n, "\":[1,01]}", 9);
	n += 9;
	o = parse(doc, n, err, sizeof(err));
	T_OK(o == NULL && strncmp(err, "member \"", 8) == 0 &&
	    strspn(err + 8, "?") == 61 &&
	    strcmp(err + 8 + 61, "...\": invalid number") == 0,
	    "non-ASCII name: err \"%s\"", err);
	json_object_put(o);

	/* The message is truncated to errsz and always terminated. */
	memset(small, 'x', sizeof(small));
	o = parse(L("{\"phone\":1,\"phone\":2}"), small, sizeof(small));
	T_OK(o == NULL && strlen(small) == sizeof(small) - 1 &&
	    strncmp(small, "duplica", 7) == 0, "small err: \"%s\"", small);

	memset(small, 'x', sizeof(small));
	o = parse(L("[01]"), small, 1);
	T_OK(o == NULL && small[0] == '\0' && small[1] == 'x',
	    "errsz 1: not empty");

	memset(small, 'x', sizeof(small));
	o = parse(L("[01]"), small, 0);
	T_OK(o == NULL && small[0] == 'x', "errsz 0: written");

	o = parse(L("[01]"), NULL, 0);
	T_OK(o == NULL, "err NULL: accepted");

	o = jparse(NULL, 0, err, sizeof(err));
	T_OK(o == NULL && strstr(err, "empty document") != NULL,
	    "NULL buffer: err \"%s\"", err);

	/* Only len bytes are read: what follows does not matter. */
	o = jparse("[1]]]]", 3, err, sizeof(err));
	T_OK(o != NULL, "prefix: %s", err);
	json_object_put(o);
	o = jparse("{\"a\":1}garbage", 7, err, sizeof(err));
	T_OK(o != NULL, "prefix: %s", err);
	json_object_put(o);
	o = jparse("[\"abc\"]", 6, err, sizeof(err));
	T_OK(o == NULL && strstr(err, "malformed JSON at byte 6") != NULL,
	    "cut: err \"%s\"", err);
	o = jparse("[\"abc\"]", 5, err, sizeof(err));
	T_OK(o == NULL && strstr(err, "unterminated string") != NULL,
	    "cut string: err \"%s\"", err);

	/* No error message ever quotes the input itself. */
	n = (size_t)snprintf(doc, sizeof(doc), "[\"%0300d\\x\"]", 0);
	o = parse(doc, n, err, sizeof(err));
	T_OK(o == NULL && strlen(err) < 64, "long string: err \"%s\"", err);
}

static void
test_tree(void)
{
	struct json_object	*o, *v, *w;
	char			 err[128];

	o = parse(L("{\"phone\":\"+9647\",\"n\":3,\"x\":null,"
	    "\"l\":[true,{\"d\":2.5}]}"), err, sizeof(err));
	T_OK(o != NULL && json_object_is_type(o, json_type_object),
	    "tree: %s", err);
	if (o == NULL)
		return;
	T_OK(json_object_object_length(o) == 4, "tree: length");
	T_OK(json_object_object_get_ex(o, "phone", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    strcmp(json_object_get_string(v), "+9647") == 0, "tree: phone");
	T_OK(json_object_object_get_ex(o, "n", &v) &&
	    json_object_is_type(v, json_type_int) &&
	    json_object_get_int64(v) == 3, "tree: n");
	T_OK(json_object_object_get_ex(o, "x", &v) && v == NULL, "tree: x");
	T_OK(json_object_object_get_ex(o, "l", &v) &&
	    json_object_is_type(v, json_type_array) &&
	    json_object_array_length(v) == 2, "tree: l");
	w = json_object_array_get_idx(v, 0);
	T_OK(json_object_is_type(w, json_type_boolean) &&
	    json_object_get_boolean(w), "tree: l[0]");
	w = json_object_array_get_idx(v, 1);
	T_OK(json_object_object_get_ex(w, "d", &w) &&
	    json_object_is_type(w, json_type_double) &&
	    json_object_get_double(w) == 2.5, "tree: l[1].d");
	json_object_put(o);
}

int
main(void)
{
	test_goods();
	test_strings();
	test_numbers();
	test_bads();
	test_depth();
	test_limits();
	test_errors();
	test_tree();
	return t_done("jparse");
}
