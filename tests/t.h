/*
 * A tiny table-driven test harness shared by the unit test programs.
 * Each check prints "ok" or "not ok" with a name; t_done() prints the
 * closing "N passed, N failed" line and returns the exit status.
 */
#ifndef T_H
#define T_H

#include <stdio.h>

static int t_pass, t_fail;

#define T_OK(cond, ...) do {						\
	if (cond) {							\
		t_pass++;						\
	} else {							\
		t_fail++;						\
		printf("not ok %s:%d: ", __FILE__, __LINE__);		\
		printf(__VA_ARGS__);					\
		printf("\n");						\
	}								\
} while (0)

static inline int
t_done(const char *name)
{
	printf("%s: %d passed, %d failed\n", name, t_pass, t_fail);
	return t_fail ? 1 : 0;
}

#endif
