/*
 * Unit tests of sec.c's codes: sec_code() gives code_length digits,
 * never more than its buffer holds, and each digit at each position
 * about as often as any other, without the bias of a byte modulo 10.
 */
#include <stdio.h>
#include <string.h>

#include "otp.h"
#include "t.h"

#define CODES	60000

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
	return t_done("t_sec");
}
