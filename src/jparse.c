/*
 * Baghdad OTP: a strict RFC 8259 JSON parser building a json-c tree.
 *
 * We do not use json_tokener: it silently keeps the last of duplicate
 * members and accepts more than the RFC grammar.  This parser rejects
 * duplicates (compared after decoding) and names the offending member
 * in its error message.
 *
 * Typing: a number without fraction or exponent that fits int64 is a
 * json_type_int; any other number is a json_type_double (finite only).
 * "-0" is therefore the integer 0, "-0.0" the double -0.0.  JSON null
 * is a NULL json_object pointer, as in json-c; the top-level value must
 * be an object or an array, so a NULL return always means failure.
 *
 * strtod() is used for doubles, so LC_NUMERIC must stay "C" (the
 * default unless the program calls setlocale()); otherwise numbers
 * with a fraction are rejected, never misread.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "otp.h"

#define JP_DEPTH_MAX	32	/* open objects and arrays */
#define JP_ITEMS_MAX	1024	/* members of an object, array elements */
#define JP_NUMBER_MAX	64	/* bytes of a number's text */
#define JP_NAME_MAX	64	/* bytes of a member name quoted in errors */

struct jp {
	const unsigned char	*p;		/* input */
	size_t			 len;		/* bytes of input */
	size_t			 pos;		/* next byte to read */
	const char		*member;	/* innermost member, or NULL */
	char			*err;		/* message, or NULL */
	size_t			 errsz;
};

static int	jp_value(struct jp *, size_t, struct json_object **);

/*
 * Write a printable copy of the member name into out, which holds
 * JP_NAME_MAX + 1 bytes: at most JP_NAME_MAX bytes, ending in "..."
 * when cut, with anything but printable ASCII, the double quote and
 * the backslash replaced by '?'.
 */
static void
jp_name(char *out, const char *name)
{
	size_t		 i, n, max;
	unsigned char	 c;

	n = strnlen(name, JP_NAME_MAX + 1);
	max = n > JP_NAME_MAX ? JP_NAME_MAX - 3 : n;
	for (i = 0; i < max; i++) {
		c = (unsigned char)name[i];
		out[i] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ?
		    (char)c : '?';
	}
	if (n > JP_NAME_MAX) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

/*
 * Record the error msg: prefixed by the innermost member being parsed
 * when there is one, else followed by the byte offset of jp->pos.
 */
static void
jp_fail(struct jp *jp, const char *msg)
{
	char	 name[JP_NAME_MAX + 1];

	if (jp->err == NULL || jp->errsz == 0)
		return;
	if (jp->member != NULL) {
		jp_name(name, jp->member);
		snprintf(jp->err, jp->errsz, "member \"%s\": %s", name, msg);
	} else
		snprintf(jp->err, jp->errsz, "%s at byte %zu", msg, jp->pos);
}

/*
 * Record a duplicate member error naming the member.
 */
static void
jp_fail_dup(struct jp *jp, const char *key)
{
	char	 name[JP_NAME_MAX + 1];

	if (jp->err == NULL || jp->errsz == 0)
		return;
	jp_name(name, key);
	snprintf(jp->err, jp->errsz, "duplicate member \"%s\"", name);
}

/*
 * Skip JSON whitespace: space, tab, CR and LF only.
 */
static void
jp_ws(struct jp *jp)
{
	while (jp->pos < jp->len) {
		switch (jp->p[jp->pos]) {
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			jp->pos++;
			break;
		default:
			return;
		}
	}
}

/*
 * Read the four hex digits at s (n bytes available) into *v.
 * Return 0, or -1 if there are fewer than four or one is not hex.
 */
static int
jp_hex4(const unsigned char *s, size_t n, unsigned int *v)
{
	size_t		 i;
	unsigned int	 c;

	if (n < 4)
		return -1;
	*v = 0;
	for (i = 0; i < 4; i++) {
		c = s[i];
		if (c >= '0' && c <= '9')
			c -= '0';
		else if (c >= 'a' && c <= 'f')
			c = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			c = c - 'A' + 10;
		else
			return -1;
		*v = (*v << 4) | c;
	}
	return 0;
}

/*
 * Return the length (1 to 4) of the well-formed UTF-8 sequence at s,
 * n bytes available, or 0 if there is none (RFC 3629 table 3-7):
 * overlong forms, encoded surrogates and code points above U+10FFFF
 * are all rejected.
 */
static size_t
jp_utf8(const unsigned char *s, size_t n)
{
	unsigned char	 lo = 0x80, hi = 0xbf;
	size_t		 need, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need;
}

/*
 * Encode the scalar value cp (not a surrogate, at most U+10FFFF) as
 * UTF-8 into out, which has room for four bytes.  Return the length.
 */
static size_t
jp_encode(unsigned char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	} else if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	} else if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | (cp >> 18));
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * Parse the string whose opening quote is at jp->pos.  Return its
 * decoded bytes, malloc'd and NUL-terminated (with no NUL inside),
 * the length in *szp and jp->pos past the closing quote; or NULL with
 * the error recorded.
 */
static char *
jp_string(struct jp *jp, size_t *szp)
{
	const unsigned char	*p = jp->p;
	unsigned char		*out = NULL;
	const char		*msg;
	size_t			 end, i, o, n, esc;
	unsigned int		 hi, lo;
	uint32_t		 cp;

	/*
	 * Bound the string: the closing quote, or the end of input.
	 * Decoding never makes it longer than its source.
	 */
	end = jp->pos + 1;
	while (end < jp->len && p[end] != '"')
		end += (p[end] == '\\' && jp->len - end > 1) ? 2 : 1;
	if ((out = malloc(end - jp->pos)) == NULL) {
		msg = "out of memory";
		goto fail;
	}

	i = jp->pos + 1;
	o = 0;
	while (i < end) {
		if (p[i] < 0x20) {
			jp->pos = i;
			msg = "control character in string";
			goto fail;
		} else if (p[i] < 0x80 && p[i] != '\\') {
			out[o++] = p[i++];
			continue;
		} else if (p[i] >= 0x80) {
			if ((n = jp_utf8(p + i, end - i)) == 0) {
				jp->pos = i;
				msg = "invalid UTF-8 in string";
				goto fail;
			}
			memcpy(out + o, p + i, n);
			o += n;
			i += n;
			continue;
		}

		/* An escape: esc bytes of source. */
		jp->pos = i;
		msg = "invalid string escape";
		esc = 2;
		if (end - i < 2)
			goto fail;
		switch (p[i + 1]) {
		case '"':
		case '\\':
		case '/':
			out[o++] = p[i + 1];
			break;
		case 'b':
			out[o++] = '\b';
			break;
		case 'f':
			out[o++] = '\f';
			break;
		case 'n':
			out[o++] = '\n';
			break;
		case 'r':
			out[o++] = '\r';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'u':
			if (jp_hex4(p + i + 2, end - i - 2, &hi) == -1)
				goto fail;
			esc = 6;
			msg = "unpaired surrogate in string";
			if (hi >= 0xdc00 && hi <= 0xdfff)
				goto fail;
			if (hi >= 0xd800 && hi <= 0xdbff) {
				/* A low half, \uDC00 to \uDFFF, must follow. */
				if (end - i < 12 || p[i + 6] != '\\' ||
				    p[i + 7] != 'u' ||
				    jp_hex4(p + i + 8, end - i - 8, &lo) == -1 ||
				    lo < 0xdc00 || lo > 0xdfff)
					goto fail;
				cp = 0x10000 + ((uint32_t)(hi - 0xd800) << 10) +
				    (lo - 0xdc00);
				esc = 12;
			} else
				cp = hi;
			if (cp == 0) {
				msg = "NUL character in string";
				goto fail;
			}
			o += jp_encode(out + o, cp);
			break;
		default:
			goto fail;
		}
		i += esc;
	}
	if (end == jp->len) {
		jp->pos = end;
		msg = "unterminated string";
		goto fail;
	}
	out[o] = '\0';
	jp->pos = end + 1;
	*szp = o;
	return (char *)out;
fail:
	jp_fail(jp, msg);
	free(out);
	return NULL;
}

/*
 * Is c a byte that may appear in a number's text?
 */
static int
jp_numchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || c == '.' || c == 'e' ||
	    c == 'E' || c == '+' || c == '-';
}

/*
 * Is the byte at index i a digit?  False past the end of input.
 */
static int
jp_digit(const struct jp *jp, size_t i)
{
	return i < jp->len && jp->p[i] >= '0' && jp->p[i] <= '9';
}

/*
 * Parse the number at jp->pos, strictly per the RFC 8259 grammar and
 * at most JP_NUMBER_MAX bytes, into *vp: an int if it has no fraction
 * or exponent and fits int64, else a finite double.  Return 0, or -1
 * with the error recorded.
 */
static int
jp_number(struct jp *jp, struct json_object **vp)
{
	char		 text[JP_NUMBER_MAX + 1], *ep;
	const char	*msg = "invalid number";
	size_t		 i = jp->pos, n;
	int		 integral = 1;
	long long	 ll;
	double		 d;

	if (i < jp->len && jp->p[i] == '-')
		i++;
	if (!jp_digit(jp, i))
		goto fail;
	if (jp->p[i] == '0')
		i++;
	else
		while (jp_digit(jp, i))
			i++;
	if (i < jp->len && jp->p[i] == '.') {
		integral = 0;
		if (!jp_digit(jp, ++i))
			goto fail;
		while (jp_digit(jp, i))
			i++;
	}
	if (i < jp->len && (jp->p[i] == 'e' || jp->p[i] == 'E')) {
		integral = 0;
		i++;
		if (i < jp->len && (jp->p[i] == '+' || jp->p[i] == '-'))
			i++;
		if (!jp_digit(jp, i))
			goto fail;
		while (jp_digit(jp, i))
			i++;
	}
	/* "01", "1.2.3", "1e5e5": the grammar stopped mid-token. */
	if (i < jp->len && jp_numchar(jp->p[i]))
		goto fail;

	if ((n = i - jp->pos) > JP_NUMBER_MAX) {
		i = jp->pos;
		msg = "number too long";
		goto fail;
	}
	memcpy(text, jp->p + jp->pos, n);
	text[n] = '\0';

	if (integral) {
		errno = 0;
		ll = strtoll(text, &ep, 10);
		if (*ep == '\0' && errno == 0) {
			if ((*vp = json_object_new_int64(ll)) == NULL) {
				msg = "out of memory";
				goto fail;
			}
			jp->pos = i;
			return 0;
		}
		/* Out of int64 range: a double. */
	}
	d = strtod(text, &ep);
	if (*ep != '\0')
		goto fail;
	if (!isfinite(d)) {
		i = jp->pos;
		msg = "number out of range";
		goto fail;
	}
	if ((*vp = json_object_new_double(d)) == NULL) {
		msg = "out of memory";
		goto fail;
	}
	jp->pos = i;
	return 0;
fail:
	jp->pos = i;
	jp_fail(jp, msg);
	return -1;
}

/*
 * Parse the literal true, false or null at jp->pos into *vp (NULL for
 * null).  Return 0, or -1 with the error recorded.
 */
static int
jp_literal(struct jp *jp, struct json_object **vp)
{
	const char	*msg = "malformed JSON";
	size_t		 left = jp->len - jp->pos;
	const void	*s = jp->p + jp->pos;

	if (left >= 4 && memcmp(s, "true", 4) == 0) {
		if ((*vp = json_object_new_boolean(1)) == NULL)
			goto oom;
		jp->pos += 4;
	} else if (left >= 5 && memcmp(s, "false", 5) == 0) {
		if ((*vp = json_object_new_boolean(0)) == NULL)
			goto oom;
		jp->pos += 5;
	} else if (left >= 4 && memcmp(s, "null", 4) == 0) {
		*vp = NULL;
		jp->pos += 4;
	} else
		goto fail;
	return 0;
oom:
	msg = "out of memory";
fail:
	jp_fail(jp, msg);
	return -1;
}

/*
 * Parse the object whose '{' is at jp->pos, at nesting depth depth,
 * into *vp.  Return 0, or -1 with the error recorded and everything
 * built so far freed.
 */
static int
jp_object(struct jp *jp, size_t depth, struct json_object **vp)
{
	struct json_object	*obj = NULL, *v = NULL;
	const char		*outer = jp->member, *msg = "malformed JSON";
	char			*key = NULL;
	size_t			 count = 0, keysz;

	if (depth > JP_DEPTH_MAX) {
		msg = "nesting too deep";
		goto fail;
	}
	if ((obj = json_object_new_object()) == NULL) {
		msg = "out of memory";
		goto fail;
	}
	jp->pos++;
	jp_ws(jp);
	if (jp->pos < jp->len && jp->p[jp->pos] == '}') {
		jp->pos++;
		*vp = obj;
		return 0;
	}
	for (;;) {
		if (jp->pos >= jp->len || jp->p[jp->pos] != '"')
			goto fail;
		if (++count > JP_ITEMS_MAX) {
			msg = "too many members";
			goto fail;
		}
		if ((key = jp_string(jp, &keysz)) == NULL)
			goto failed;
		if (json_object_object_get_ex(obj, key, NULL)) {
			jp_fail_dup(jp, key);
			goto failed;
		}
		jp->member = key;
		jp_ws(jp);
		if (jp->pos >= jp->len || jp->p[jp->pos] != ':')
			goto fail;
		jp->pos++;
		jp_ws(jp);
		if (jp_value(jp, depth, &v) == -1)
			goto failed;
		if (json_object_object_add_ex(obj, key, v,
		    JSON_C_OBJECT_ADD_KEY_IS_NEW) != 0) {
			msg = "out of memory";
			goto fail;
		}
		v = NULL;
		jp->member = outer;
		free(key);
		key = NULL;

		jp_ws(jp);
		if (jp->pos >= jp->len)
			goto fail;
		if (jp->p[jp->pos] == '}') {
			jp->pos++;
			break;
		}
		if (jp->p[jp->pos] != ',')
			goto fail;
		jp->pos++;
		jp_ws(jp);
	}
	*vp = obj;
	return 0;
fail:
	jp_fail(jp, msg);
failed:
	jp->member = outer;
	free(key);
	json_object_put(v);
	json_object_put(obj);
	return -1;
}

/*
 * Parse the array whose '[' is at jp->pos, at nesting depth depth,
 * into *vp.  Return 0, or -1 with the error recorded and everything
 * built so far freed.
 */
static int
jp_array(struct jp *jp, size_t depth, struct json_object **vp)
{
	struct json_object	*arr = NULL, *v = NULL;
	const char		*msg = "malformed JSON";
	size_t			 count = 0;

	if (depth > JP_DEPTH_MAX) {
		msg = "nesting too deep";
		goto fail;
	}
	if ((arr = json_object_new_array()) == NULL) {
		msg = "out of memory";
		goto fail;
	}
	jp->pos++;
	jp_ws(jp);
	if (jp->pos < jp->len && jp->p[jp->pos] == ']') {
		jp->pos++;
		*vp = arr;
		return 0;
	}
	for (;;) {
		if (++count > JP_ITEMS_MAX) {
			msg = "too many elements";
			goto fail;
		}
		if (jp_value(jp, depth, &v) == -1)
			goto failed;
		if (json_object_array_add(arr, v) != 0) {
			msg = "out of memory";
			goto fail;
		}
		v = NULL;

		jp_ws(jp);
		if (jp->pos >= jp->len)
			goto fail;
		if (jp->p[jp->pos] == ']') {
			jp->pos++;
			break;
		}
		if (jp->p[jp->pos] != ',')
			goto fail;
		jp->pos++;
		jp_ws(jp);
	}
	*vp = arr;
	return 0;
fail:
	jp_fail(jp, msg);
failed:
	json_object_put(v);
	json_object_put(arr);
	return -1;
}

/*
 * Parse the value at jp->pos (whitespace already skipped) inside
 * depth open containers into *vp, NULL for null.  Return 0, or -1
 * with the error recorded.
 */
static int
jp_value(struct jp *jp, size_t depth, struct json_object **vp)
{
	char	*s;
	size_t	 sz;

	*vp = NULL;
	if (jp->pos >= jp->len) {
		jp_fail(jp, "malformed JSON");
		return -1;
	}
	switch (jp->p[jp->pos]) {
	case '{':
		return jp_object(jp, depth + 1, vp);
	case '[':
		return jp_array(jp, depth + 1, vp);
	case '"':
		if ((s = jp_string(jp, &sz)) == NULL)
			return -1;
		if (sz > INT_MAX) {
			free(s);
			jp_fail(jp, "string too long");
			return -1;
		}
		*vp = json_object_new_string_len(s, (int)sz);
		free(s);
		if (*vp == NULL) {
			jp_fail(jp, "out of memory");
			return -1;
		}
		return 0;
	case 't':
	case 'f':
	case 'n':
		return jp_literal(jp, vp);
	case '-':
	case '+':	/* not JSON, but a clearer message */
	case '.':
	case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		return jp_number(jp, vp);
	default:
		jp_fail(jp, "malformed JSON");
		return -1;
	}
}

/*
 * Parse exactly len bytes of buf as one JSON document whose top-level
 * value is an object or an array.  Return a new tree owned by the
 * caller (free with json_object_put), or NULL with a short message in
 * err (NUL-terminated, truncated to errsz; err may be NULL).
 */
struct json_object *
jparse(const char *buf, size_t len, char *err, size_t errsz)
{
	struct jp		 jp;
	struct json_object	*v = NULL;
	const char		*nul;

	memset(&jp, 0, sizeof(jp));
	jp.p = (const unsigned char *)buf;
	jp.len = buf == NULL ? 0 : len;
	jp.err = err;
	jp.errsz = errsz;
	if (err != NULL && errsz > 0)
		err[0] = '\0';

	if (jp.len > 0 && (nul = memchr(buf, '\0', jp.len)) != NULL) {
		jp.pos = (size_t)(nul - buf);
		jp_fail(&jp, "NUL byte in input");
		goto fail;
	}
	jp_ws(&jp);
	if (jp.pos == jp.len) {
		jp_fail(&jp, "empty document");
		goto fail;
	}
	if (jp.p[jp.pos] != '{' && jp.p[jp.pos] != '[') {
		jp_fail(&jp, "top-level value must be an object or array");
		goto fail;
	}
	if (jp_value(&jp, 0, &v) == -1)
		goto fail;
	jp_ws(&jp);
	if (jp.pos != jp.len) {
		jp_fail(&jp, "trailing data after JSON");
		goto fail;
	}
	return v;
fail:
	json_object_put(v);
	return NULL;
}
