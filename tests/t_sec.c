/*
 * Unit tests of sec.c's codes and ids.  sec_code() gives code_length
 * digits, never more than its buffer holds, and each digit at each
 * position about as often as any other, without the bias of a byte
 * modulo 10.  sec_time_id() gives the form of sec_random_id(), begins
 * with the time, sorts in the order the ids were made, and is not the
 * same twice within a millisecond.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "otp.h"
#include "t.h"

#define CODES	60000
#define IDS	1000

/* Does id have the form "otp_" and 32 lowercase hex digits? */
static int
is_otp_id(const char *id)
{
	return strlen(id) == 36 && strncmp(id, "otp_", 4) == 0 &&
	    strspn(id + 4, "0123456789abcdef") == 32;
}

static void
test_time_id(void)
{
	static char	 ids[IDS][ID_MAX];
	struct timespec	 pause = { 0, 2000000 };
	char		 ms[13], a[ID_MAX], b[ID_MAX];
	long long	 t, now = (long long)time(NULL) * 1000;
	unsigned char	 r[10];
	int		 i, j, bit, ones[80], form = 1, sorted = 1, distinct = 1;
	int		 fair = 1;

	sec_time_id(a, sizeof(a), "otp_");
	T_OK(is_otp_id(a), "form: %s", a);
	memcpy(ms, a + 4, 12);
	ms[12] = '\0';
	t = strtoll(ms, NULL, 16);
	T_OK(t > now - 2000 && t < now + 2000, "begins with the time in ms: "
	    "%lld, now %lld", t, now);
	nanosleep(&pause, NULL);
	sec_time_id(b, sizeof(b), "otp_");
	T_OK(strncmp(a, b, 16) < 0, "2 ms later, a later time: %s %s", a, b);

	for (i = 0; i < IDS; i++) {
		sec_time_id(ids[i], sizeof(ids[i]), "otp_");
		form &= is_otp_id(ids[i]);
	}
	for (i = 1; i < IDS; i++) {
		sorted &= strncmp(ids[i - 1], ids[i], 16) <= 0;
		distinct &= strcmp(ids[i - 1], ids[i]) != 0 &&
		    strcmp(ids[i - 1] + 16, ids[i] + 16) != 0;
	}
	T_OK(form, "%d ids of the same form", IDS);
	T_OK(sorted, "%d ids made one after another: times in order", IDS);
	T_OK(distinct, "%d ids: no two neighbours share their random part",
	    IDS);
	/* Each of the 80 random bits is set in about half the ids (6 sigma). */
	memset(ones, 0, sizeof(ones));
	for (i = 0; i < IDS; i++) {
		if (sec_unhex(r, sizeof(r), ids[i] + 16) == -1)
			form = 0;
		for (j = 0; j < 10; j++)
			for (bit = 0; bit < 8; bit++)
				ones[j * 8 + bit] += (r[j] >> bit) & 1;
	}
	for (j = 0; j < 80; j++)
		if (ones[j] < 400 || ones[j] > 600) {
			fair = 0;
			printf("# random bit %d set in %d of %d ids\n", j,
			    ones[j], IDS);
		}
	T_OK(form && fair, "every random bit set in 400 to 600 of %d ids",
	    IDS);
	sec_time_id(a, 10, "otp_");
	T_OK(strlen(a) == 9, "a 10-byte buffer holds 9 characters: %s", a);
}

int
main(void)
{
	char	 code[16], small[4];
	long	 n[10][10];
	int	 len, i, d, only_digits = 1, lo, hi;

	if (sec_init() == -1)
		return 1;
	memset(&conf, 0, sizeof(conf));
	for (len = 4; len <= 10; len++) {
		conf.code_length = len;
		sec_code(code, sizeof(code));
		T_OK((int)strlen(code) == len, "length %d: %s", len, code);
	}
	conf.code_length = 10;
	sec_code(small, sizeof(small));
	T_OK(strlen(small) == 3, "a 4-byte buffer holds 3 digits: %s", small);

	memset(n, 0, sizeof(n));
	for (i = 0; i < CODES; i++) {
		sec_code(code, sizeof(code));
		for (d = 0; d < 10; d++) {
			if (code[d] < '0' || code[d] > '9')
				only_digits = 0;
			else
				n[d][code[d] - '0']++;
		}
	}
	T_OK(only_digits, "only digits");
	/* 6,000 expected in each cell; 5 sigma is about 370. */
	for (d = 0; d < 10; d++) {
		lo = hi = (int)n[d][0];
		for (i = 1; i < 10; i++) {
			lo = n[d][i] < lo ? (int)n[d][i] : lo;
			hi = n[d][i] > hi ? (int)n[d][i] : hi;
		}
		T_OK(lo > 5630 && hi < 6370, "position %d: digits seen %d to "
		    "%d times of 6000", d, lo, hi);
	}
	/*
	 * 60,000 expected of each digit over all positions (sigma 232);
	 * a byte modulo 10 would give 60,937 of 0 to 5 and 58,594 of 6 to
	 * 9, so allow 4.5 sigma.
	 */
	for (i = 0; i < 10; i++) {
		for (lo = 0, d = 0; d < 10; d++)
			lo += (int)n[d][i];
		T_OK(lo > 58950 && lo < 61050, "digit %d seen %d times of "
		    "60000", i, lo);
	}
	test_time_id();
	return t_done("t_sec");
}
