/*
 * libFuzzer harness of conf_load(): each input is written to one
 * temporary file (created once, rewritten every run) and loaded.  A
 * failure must come with a non-empty, terminated message that starts
 * with the file name; a success must leave a configuration that obeys
 * every rule of API.md §7.
 *
 *	clang -std=c11 -D_GNU_SOURCE -g -O1 \
 *	    -fsanitize=fuzzer,address,undefined -Isrc \
 *	    $(pkg-config --cflags fcgi libcurl sqlite3 libsodium json-c) \
 *	    -o fuzz_conf tests/fuzz_conf.c src/{auth,buf,conf,db,jparse,log,\
 *	    phone,req,resp,route,sec}.c \
 *	    $(pkg-config --libs fcgi libcurl sqlite3 libsodium json-c) \
 *	    -pthread
 *	./fuzz_conf -max_total_time=60 -max_len=20000
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otp.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	 path[64];

static void
cleanup(void)
{
	if (path[0] != '\0')
		unlink(path);
}

/* The temporary file, created on the first run. */
static const char *
setup(void)
{
	int	 fd;

	if (path[0] != '\0')
		return path;
	snprintf(path, sizeof(path), "/tmp/fuzz_conf.XXXXXX");
	if ((fd = mkstemp(path)) == -1) {
		perror("mkstemp");
		abort();
	}
	close(fd);
	atexit(cleanup);
	return path;
}

/* Is the string field f of size sz terminated? */
#define TERM(f)	(memchr((f), '\0', sizeof(f)) != NULL)

static int
in(int v, int lo, int hi)
{
	return v >= lo && v <= hi;
}

/*
 * An http api_base must name a loopback host: the authority (up to the
 * first '/', '?' or '#') carries no user information and is one of them,
 * alone or followed by ":" (a port; curl refuses one that is not a
 * number, so that is not a way out of loopback).
 */
static int
api_base_ok(const char *u)
{
	static const char *const hosts[] = {
		"127.0.0.1", "localhost", "[::1]"
	};
	const char	*a;
	size_t		 n, i, h;

	if (strncmp(u, "https://", 8) == 0)
		return 1;
	if (strncmp(u, "http://", 7) != 0)
		return 0;
	a = u + 7;
	n = strcspn(a, "/?#");
	if (memchr(a, '@', n) != NULL)
		return 0;
	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		h = strlen(hosts[i]);
		if (n >= h && strncmp(a, hosts[i], h) == 0 &&
		    (n == h || a[h] == ':'))
			return 1;
	}
	return 0;
}

/* Every rule a loaded configuration obeys; abort when one is broken. */
static void
check(void)
{
	size_t	 i;

	if (!TERM(conf.path) || !TERM(conf.name) || !TERM(conf.base_url) ||
	    !TERM(conf.contact_email) || !TERM(conf.policy_updated) ||
	    !TERM(conf.database) || !TERM(conf.secrets) ||
	    !TERM(conf.default_country) || !TERM(conf.console_file) ||
	    !TERM(conf.api_base) || !TERM(conf.api_version) ||
	    !TERM(conf.phone_number_id) || !TERM(conf.template))
		abort();
	if (conf.name[0] == '\0' || conf.database[0] == '\0' ||
	    conf.secrets[0] == '\0' || conf.template[0] == '\0' ||
	    strchr(conf.contact_email, '@') == NULL ||
	    strlen(conf.policy_updated) != 10)
		abort();
	if (conf.trusted_proxiesz > LIST_MAX ||
	    conf.allowed_countriesz > LIST_MAX)
		abort();
	for (i = 0; i < conf.trusted_proxiesz; i++)
		if (!TERM(conf.trusted_proxies[i]) ||
		    conf.trusted_proxies[i][0] == '\0')
			abort();
	for (i = 0; i < conf.allowed_countriesz; i++)
		if (!TERM(conf.allowed_countries[i]) ||
		    conf.allowed_countries[i][0] < '1' ||
		    conf.allowed_countries[i][0] > '9')
			abort();
	for (i = 0; i < LOCALE__MAX; i++)
		if (!TERM(conf.template_languages[i]) ||
		    conf.template_languages[i][0] == '\0')
			abort();
	if ((conf.require_https != 0 && conf.require_https != 1) ||
	    (conf.default_locale != LOCALE_EN &&
	    conf.default_locale != LOCALE_AR) ||
	    (conf.channel != CHANNEL_WHATSAPP &&
	    conf.channel != CHANNEL_CONSOLE))
		abort();
	if (!in(conf.code_length, 4, 10) || !in(conf.ttl, 5, 600) ||
	    !in(conf.max_attempts, 1, 10) ||
	    !in(conf.resend_cooldown, 0, 3600) ||
	    !in(conf.sends_per_phone_hour, 0, 1000000) ||
	    !in(conf.sends_per_phone_day, 0, 1000000) ||
	    !in(conf.sends_per_app_minute, 0, 1000000) ||
	    !in(conf.sends_per_ip_minute, 0, 1000000) ||
	    !in(conf.failed_checks_per_phone_day, 0, 1000000) ||
	    !in(conf.delivery_days, 1, 3650) || !in(conf.audit_days, 1, 3650) ||
	    !in(conf.idempotency_hours, 1, 168) ||
	    !in(conf.timeout_ms, 100, 60000) || !in(conf.retries, 0, 10))
		abort();
	if (conf.channel == CHANNEL_CONSOLE &&
	    (conf.require_https || conf.console_file[0] == '\0'))
		abort();
	if (conf.channel == CHANNEL_WHATSAPP && conf.phone_number_id[0] == '\0')
		abort();
	if (!api_base_ok(conf.api_base)) {
		fprintf(stderr, "api_base accepted: %s\n", conf.api_base);
		abort();
	}
	if (conf.have_secrets)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = setup();
	char		 err[256];
	FILE		*f;

	if ((f = fopen(p, "w")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, f) != size)
		abort();
	if (fclose(f) != 0)
		abort();

	memset(err, 'x', sizeof(err));
	if (conf_load(p, err, sizeof(err)) == -1) {
		if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
			abort();
		if (strncmp(err, p, strlen(p)) != 0) {
			fprintf(stderr, "message without the file: %s\n", err);
			abort();
		}
		return 0;
	}
	check();
	return 0;
}
