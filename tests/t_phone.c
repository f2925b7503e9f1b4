/*
 * Unit tests of phone.c: phone_normalise() (E.164 and national input,
 * API.md §3) and phone_mask() (country code and last 3 digits, API.md
 * §2).  Inputs are copied to the heap at their exact size so that the
 * address sanitizer catches a read past the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otp.h"
#include "t.h"

/* Set the two configuration keys phone.c reads. */
static void
set_conf(const char *dc, const char *allowed)
{
	const char	*p, *e;

	memset(&conf, 0, sizeof(conf));
	snprintf(conf.default_country, sizeof(conf.default_country), "%s",
	    dc);
	for (p = allowed; p != NULL && *p != '\0'; p = e) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		for (e = p; *e != '\0' && *e != ' '; e++)
			continue;
		snprintf(conf.allowed_countries[conf.allowed_countriesz],
		    sizeof(conf.allowed_countries[0]), "%.*s", (int)(e - p), p);
		conf.allowed_countriesz++;
	}
}

static const char *const rnames[] = { "OK", "INVALID", "COUNTRY" };

/* phone_normalise() of a heap copy of in. */
static enum phone_result
norm(char out[PHONE_MAX + 8], const char *in)
{
	enum phone_result	 r;
	char			*p;
	size_t			 n = strlen(in);

	if ((p = malloc(n + 1)) == NULL)
		exit(2);
	memcpy(p, in, n + 1);
	memset(out, 'x', PHONE_MAX + 8);
	r = phone_normalise(out, p);
	free(p);
	/* out is char[PHONE_MAX]: nothing may be written past it. */
	T_OK(memcmp(out + PHONE_MAX, "xxxxxxxx", 8) == 0,
	    "normalise(\"%s\") wrote past out[PHONE_MAX] (%zu bytes)", in,
	    strnlen(out, PHONE_MAX + 8) + 1);
	return r;
}

static void
test_normalise(void)
{
	static const struct {
		const char		*dc;	/* default_country */
		const char		*in;
		enum phone_result	 r;
		const char		*out;
	} t[] = {
		/* E.164. */
		{ "964", "+9647701234567", PHONE_OK, "+9647701234567" },
		{ "", "+9647701234567", PHONE_OK, "+9647701234567" },
		{ "964", "+14155552671", PHONE_OK, "+14155552671" },
		{ "964", "+447700900123", PHONE_OK, "+447700900123" },
		{ "964", "+12345678", PHONE_OK, "+12345678" },	/* 8 */
		{ "964", "+123456789012345", PHONE_OK,		/* 15 */
		    "+123456789012345" },
		/* National, with the trunk 0. */
		{ "964", "07701234567", PHONE_OK, "+9647701234567" },
		{ "964", "0770 123 4567", PHONE_OK, "+9647701234567" },
		{ "964", "0770-123-4567", PHONE_OK, "+9647701234567" },
		{ "964", "0770.123.4567", PHONE_OK, "+9647701234567" },
		{ "964", "(0770) 123-4567", PHONE_OK, "+9647701234567" },
		{ "964", " 0770 123 4567 ", PHONE_OK, "+9647701234567" },
		{ "44", "07700 900123", PHONE_OK, "+447700900123" },
		{ "1", "04155552671", PHONE_OK, "+14155552671" },
		/* 15 digits. */
		{ "964", "0123456789012", PHONE_OK, "+964123456789012" },
		/* Separators around E.164. */
		{ "964", "+964 770 123 4567", PHONE_OK, "+9647701234567" },
		{ "964", "+964-770-123-4567", PHONE_OK, "+9647701234567" },
		{ "964", "+964.770.123.4567", PHONE_OK, "+9647701234567" },
		{ "964", "+964 (770) 123-4567", PHONE_OK, "+9647701234567" },
		{ "964", "+1 (415) 555-2671", PHONE_OK, "+14155552671" },
		{ "964", "  +9647701234567  ", PHONE_OK, "+9647701234567" },
		{ "964", "+(964)7701234567", PHONE_OK, "+9647701234567" },
		{ "964", "+9-6-4-7-7-0-1-2-3-4-5-6-7", PHONE_OK,
		    "+9647701234567" },

		/* Rejected: empty, letters, other characters. */
		{ "964", "", PHONE_INVALID, NULL },
		{ "964", "+", PHONE_INVALID, NULL },
		{ "964", " ", PHONE_INVALID, NULL },
		{ "964", "-().", PHONE_INVALID, NULL },
		{ "964", "abc", PHONE_INVALID, NULL },
		{ "964", "+96477O1234567", PHONE_INVALID, NULL },	/* O */
		{ "964", "+9647701234567x", PHONE_INVALID, NULL },
		{ "964", "x+9647701234567", PHONE_INVALID, NULL },
		{ "964", "+964\t7701234567", PHONE_INVALID, NULL },
		{ "964", "+9647701234567\n", PHONE_INVALID, NULL },
		{ "964", "+964_7701234567", PHONE_INVALID, NULL },
		{ "964", "+964/7701234567", PHONE_INVALID, NULL },
		{ "964", "+964,7701234567", PHONE_INVALID, NULL },
		{ "964", "+964\xd9\xa7" "7701234567", PHONE_INVALID, NULL },
		{ "964", "\xd9\xa0\xd9\xa7\xd9\xa7\xd9\xa0", PHONE_INVALID,
		    NULL },			/* Arabic-Indic digits */
		/* Fewer than 8 or more than 15 digits. */
		{ "964", "+1234567", PHONE_INVALID, NULL },
		{ "964", "+1", PHONE_INVALID, NULL },
		{ "964", "+1234567890123456", PHONE_INVALID, NULL },
		{ "964", "+12345678901234567890", PHONE_INVALID, NULL },
		/* A '+' that is not first, or two. */
		{ "964", "9+647701234567", PHONE_INVALID, NULL },
		{ "964", "964+7701234567", PHONE_INVALID, NULL },
		{ "964", "+964+7701234567", PHONE_INVALID, NULL },
		{ "964", "++9647701234567", PHONE_INVALID, NULL },
		{ "964", "+ +9647701234567", PHONE_INVALID, NULL },
		{ "964", "+9647701234567+", PHONE_INVALID, NULL },
		/* International prefix 00, a country code with 0. */
		{ "964", "00964770123456", PHONE_INVALID, NULL },
		{ "964", "009647701234567", PHONE_INVALID, NULL },
		{ "964", "+09647701234567", PHONE_INVALID, NULL },
		{ "964", "+0", PHONE_INVALID, NULL },
		/* National: needs default_country and the trunk 0. */
		{ "", "07701234567", PHONE_INVALID, NULL },
		{ "964", "7701234567", PHONE_INVALID, NULL },
		{ "964", "9647701234567", PHONE_INVALID, NULL },
		{ "964", "0", PHONE_INVALID, NULL },
		{ "964", "00", PHONE_INVALID, NULL },
		{ "964", "0770", PHONE_INVALID, NULL },
		{ "964", "01234", PHONE_INVALID, NULL },
		/* 964 and 13 digits are 16. */
		{ "964", "01234567890123", PHONE_INVALID, NULL },
		{ "964", "0123456789012345678901234567890", PHONE_INVALID,
		    NULL },
		{ "964", "-", PHONE_INVALID, NULL },
	};
	char			 out[PHONE_MAX + 8];
	enum phone_result	 r;
	size_t			 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		set_conf(t[i].dc, NULL);
		r = norm(out, t[i].in);
		T_OK(r == t[i].r, "normalise(\"%s\", dc %s) = %s, want %s",
		    t[i].in, t[i].dc, rnames[r], rnames[t[i].r]);
		if (r != PHONE_OK || t[i].out == NULL)
			continue;
		T_OK(memchr(out, '\0', PHONE_MAX) != NULL &&
		    strcmp(out, t[i].out) == 0,
		    "normalise(\"%s\") = \"%.*s\", want \"%s\"", t[i].in,
		    PHONE_MAX, out, t[i].out);
		/* Normalising a normalised number changes nothing. */
		{
			char	 again[PHONE_MAX + 8];

			T_OK(norm(again, out) == PHONE_OK &&
			    strcmp(again, out) == 0, "idempotent: %s", out);
		}
	}
}

static void
test_lengths(void)
{
	char	 in[256], out[PHONE_MAX + 8];
	size_t	 n;

	set_conf("964", NULL);

	/* Separators count towards the 64 bytes looked at. */
	n = (size_t)snprintf(in, sizeof(in), "+9647701234567");
	memset(in + n, ' ', 64 - n);
	in[64] = '\0';
	T_OK(norm(out, in) == PHONE_OK && strcmp(out, "+9647701234567") == 0,
	    "64-byte input");
	memset(in + n, ' ', 65 - n);
	in[65] = '\0';
	T_OK(norm(out, in) == PHONE_INVALID, "65-byte input");
	memset(in + n, '-', 200 - n);
	in[200] = '\0';
	T_OK(norm(out, in) == PHONE_INVALID, "200-byte input");

	/* 64 digits, and 100. */
	memset(in, '1', 64);
	in[0] = '+';
	in[64] = '\0';
	T_OK(norm(out, in) == PHONE_INVALID, "+ and 63 digits");
	memset(in, '1', 100);
	in[100] = '\0';
	T_OK(norm(out, in) == PHONE_INVALID, "100 digits");
	in[0] = '0';
	T_OK(norm(out, in) == PHONE_INVALID, "national 100 digits");
	memset(in, '0', 100);
	T_OK(norm(out, in) == PHONE_INVALID, "100 zeros");
}

static void
test_countries(void)
{
	static const struct {
		const char		*allowed;
		const char		*in;
		enum phone_result	 r;
	} t[] = {
		{ "964 1", "+9647701234567", PHONE_OK },
		{ "964 1", "07701234567", PHONE_OK },
		{ "964 1", "+14155552671", PHONE_OK },
		{ "964 1", "+447700900123", PHONE_COUNTRY },
		{ "964 1", "+96512345678", PHONE_COUNTRY },	/* Kuwait */
		{ "964 1", "+9661234567890", PHONE_COUNTRY },
		{ "964 1", "+71234567890", PHONE_COUNTRY },
		{ "964 1", "+44abc", PHONE_INVALID },
		{ "964 1", "+1234", PHONE_INVALID },
		{ "964 1", "", PHONE_INVALID },
		{ "44", "+447700900123", PHONE_OK },
		{ "44", "+9647701234567", PHONE_COUNTRY },
		{ "44", "07701234567", PHONE_COUNTRY },	/* dc 964 */
		{ "7", "+79161234567", PHONE_OK },
		{ "7", "+77011234567", PHONE_OK },	/* Kazakhstan */
		{ "964", "+9647701234567", PHONE_OK },
		{ "20 27 964", "+201001234567", PHONE_OK },
		{ "20 27 964", "+27821234567", PHONE_OK },
		{ "20 27 964", "+21612345678", PHONE_COUNTRY },
	};
	char			 out[PHONE_MAX + 8];
	enum phone_result	 r;
	size_t			 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		set_conf("964", t[i].allowed);
		r = norm(out, t[i].in);
		T_OK(r == t[i].r, "allowed \"%s\": \"%s\" = %s, want %s",
		    t[i].allowed, t[i].in, rnames[r], rnames[t[i].r]);
	}
	set_conf("964", "964");
	T_OK(conf.allowed_countriesz == 1, "set_conf");
}

static void
test_mask(void)
{
	static const struct {
		const char	*in, *out;
	} t[] = {
		{ "+9647701234567", "+964*******567" },
		{ "+14155552671", "+1*******671" },
		{ "+447700900123", "+44*******123" },
		{ "+79161234567", "+7*******567" },
		{ "+201001234567", "+20*******567" },
		{ "+33612345678", "+33******678" },
		{ "+971501234567", "+971******567" },
		{ "+12345678", "+1****678" },
		{ "+96412345", "+964**345" },
		{ "+123456789012345", "+1***********345" },
		{ "+964123456789012", "+964*********012" },
	};
	char	 in[PHONE_MAX + 8], out[MASKED_MAX + 8];
	size_t	 i, j, n, stars;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = strlen(t[i].in);
		memcpy(in, t[i].in, n + 1);
		memset(out, 'x', sizeof(out));
		phone_mask(out, in);
		T_OK(memcmp(out + MASKED_MAX, "xxxxxxxx", 8) == 0,
		    "mask(%s) wrote past out[MASKED_MAX]", t[i].in);
		T_OK(memchr(out, '\0', MASKED_MAX) != NULL &&
		    strcmp(out, t[i].out) == 0, "mask(%s) = \"%.*s\", want %s",
		    t[i].in, MASKED_MAX, out, t[i].out);
		/* Same length, the last 3 digits, the rest hidden. */
		for (stars = 0, j = 0; out[j] != '\0' && j < MASKED_MAX; j++)
			if (out[j] == '*')
				stars++;
		T_OK(strlen(out) == n && strcmp(out + n - 3, in + n - 3) == 0 &&
		    stars > 0, "mask(%s) shape", t[i].in);
	}

	/* Every number normalise accepts masks to a short string. */
	set_conf("964", NULL);
	{
		char	 e164[PHONE_MAX + 8];

		T_OK(norm(e164, "0770 123 4567") == PHONE_OK, "mask: norm");
		phone_mask(out, e164);
		T_OK(strcmp(out, "+964*******567") == 0, "mask national: %s",
		    out);
	}
}

int
main(void)
{
	test_normalise();
	test_lengths();
	test_countries();
	test_mask();
	return t_done("phone");
}
