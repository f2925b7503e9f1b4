/*
 * Logging to stderr, which is the web server's error log: one line per
 * event with a UTC timestamp, the level and the function.  Callers never
 * pass a code, a key or an unmasked phone number.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "otp.h"

static const int	 log_level = LOG_INFO;

static const char *const levels[] = { "error", "warning", "info", "debug" };

/*
 * Write one line.  The whole line is formatted first and written with a
 * single call so that lines from worker threads do not interleave.
 * Control characters from the message are replaced with '?'.
 */
void
log_msg(int level, const char *func, const char *fmt, ...)
{
	char		 line[1024], ts[32];
	struct tm	 tm;
	time_t		 now;
	va_list		 ap;
	int		 n, m;
	size_t		 i;

	if (level > log_level)
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s otp.fcgi %s: %s: ", ts,
	    levels[level], func);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	for (i = n; line[i] != '\0'; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = '?';
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
}
