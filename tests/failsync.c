/*
 * A fault for tests, preloaded into otp.fcgi (LD_PRELOAD): fsync(2) and
 * fdatasync(2) of a file whose path ends in $FAILSYNC_SUFFIX fail with
 * EIO, as on a failing disk, for as long as the file $FAILSYNC_WHILE
 * exists.
 */
#include <sys/stat.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
failing(int fd)
{
	const char	*when = getenv("FAILSYNC_WHILE");
	const char	*suffix = getenv("FAILSYNC_SUFFIX");
	char		 link[64], path[4096];
	struct stat	 st;
	ssize_t		 n;
	size_t		 sl;

	if (when == NULL || suffix == NULL || stat(when, &st) == -1)
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	if ((n = readlink(link, path, sizeof(path) - 1)) == -1)
		return 0;
	path[n] = '\0';
	sl = strlen(suffix);
	return (size_t)n >= sl && strcmp(path + n - sl, suffix) == 0;
}

/* The sync called name, or EIO while it is to fail. */
static int
sync_or_fail(const char *name, int fd)
{
	int	(*real)(int);

	if (failing(fd)) {
		errno = EIO;
		return -1;
	}
	*(void **)&real = dlsym(RTLD_NEXT, name);
	return real(fd);
}

int
fdatasync(int fd)
{
	return sync_or_fail("fdatasync", fd);
}

int
fsync(int fd)
{
	return sync_or_fail("fsync", fd);
}
