/*
 * Phone numbers: normalising what people type to E.164, the country
 * check, and the masked form that is the only one ever shown or logged.
 */
#include <string.h>

#include "otp.h"

#define PHONE_INPUT_MAX	64	/* longest input we look at */

/*
 * Two-digit ITU country codes; 1 and 7 are the one-digit ones and every
 * other code has three digits.  Codes are prefix-free, so this is
 * enough to find where a number's country code ends.
 */
static const char *const cc2[] = {
	"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41",
	"43", "44", "45", "46", "47", "48", "49", "51", "52", "53", "54",
	"55", "56", "57", "58", "60", "61", "62", "63", "64", "65", "66",
	"81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
};

/* Length of the country code at the start of the digits d. */
size_t
phone_cc_len(const char *d)
{
	size_t	 i;

	if (d[0] == '1' || d[0] == '7')
		return 1;
	for (i = 0; i < sizeof(cc2) / sizeof(cc2[0]); i++)
		if (strncmp(d, cc2[i], 2) == 0)
			return 2;
	return 3;
}

/*
 * Normalise in to E.164 ("+" and 8 to 15 digits) in out.  Accepted:
 * "+" and digits, or with default_country set, a national number with
 * its trunk "0".  Spaces, dashes, dots and brackets are ignored.
 * Returns PHONE_OK, PHONE_INVALID, or PHONE_COUNTRY when the country is
 * not in allowed_countries.
 */
enum phone_result
phone_normalise(char out[PHONE_MAX], const char *in)
{
	char		 d[PHONE_INPUT_MAX + 1];
	size_t		 n = 0, i, cc;
	int		 plus = 0;
	const char	*p;

	if (strlen(in) > PHONE_INPUT_MAX)
		return PHONE_INVALID;
	for (p = in; *p != '\0'; p++) {
		if (strchr(" -.()", *p) != NULL)
			continue;
		if (*p == '+' && n == 0 && !plus) {
			plus = 1;
			continue;
		}
		if (*p < '0' || *p > '9')
			return PHONE_INVALID;
		d[n++] = *p;
	}
	d[n] = '\0';
	if (!plus) {
		/* National: trunk 0, then not another 0. */
		cc = strlen(conf.default_country);
		if (cc == 0 || n < 2 || d[0] != '0' || d[1] == '0' ||
		    n - 1 + cc > 15)
			return PHONE_INVALID;
		memmove(d + cc, d + 1, n);	/* with the NUL */
		memcpy(d, conf.default_country, cc);
		n = n - 1 + cc;
	}
	if (n < 8 || n > 15 || d[0] == '0')
		return PHONE_INVALID;
	out[0] = '+';
	memcpy(out + 1, d, n + 1);

	if (conf.allowed_countriesz == 0)
		return PHONE_OK;
	cc = phone_cc_len(d);
	for (i = 0; i < conf.allowed_countriesz; i++)
		if (strlen(conf.allowed_countries[i]) == cc &&
		    strncmp(d, conf.allowed_countries[i], cc) == 0)
			return PHONE_OK;
	return PHONE_COUNTRY;
}

/*
 * The masked form of an E.164 number: country code and last 3 digits,
 * every other digit a star ("+964*******567").
 */
void
phone_mask(char out[MASKED_MAX], const char *e164)
{
	const char	*d = e164 + 1;
	size_t		 n = strlen(d), cc = phone_cc_len(d), i;

	out[0] = '+';
	for (i = 0; i < n && i + 1 < MASKED_MAX - 1; i++)
		out[i + 1] = (i < cc || i + 3 >= n) ? d[i] : '*';
	out[i + 1] = '\0';
}
