/*
 * libFuzzer harness of req_parse(), req_body_length() and the form
 * decoder req_query(): the input is
 * up to ENV_MAX NUL-terminated "NAME=value" strings forming a CGI
 * environment; an empty string (two NULs in a row) ends it, and what
 * follows is the request body.  Each environment string and the body
 * get their own heap copy of exactly their size, so any read past one
 * is caught by the address sanitizer.
 *
 *	clang -std=c11 -D_GNU_SOURCE -g -O1 \
 *	    -fsanitize=fuzzer,address,undefined -Isrc \
 *	    $(pkg-config --cflags fcgi libcurl sqlite3 libsodium json-c) \
 *	    -o fuzz_req tests/fuzz_req.c src/{auth,buf,conf,db,jparse,log,\
 *	    phone,req,resp,route,sec}.c \
 *	    $(pkg-config --libs fcgi libcurl sqlite3 libsodium json-c) \
 *	    -pthread
 *	./fuzz_req -max_total_time=60 -max_len=20000
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otp.h"

#define ENV_MAX	64

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const proxies[] = { "10.0.0.1", "10.0.0.2", "::1" };

/* Trust a few proxies so that the X-Forwarded-For walk is reached. */
static void
setup(void)
{
	static int	 done;
	size_t		 i;

	if (done)
		return;
	done = 1;
	memset(&conf, 0, sizeof(conf));
	for (i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++)
		snprintf(conf.trusted_proxies[i],
		    sizeof(conf.trusted_proxies[0]), "%s", proxies[i]);
	conf.trusted_proxiesz = i;
}

static int
is_addr(const char *s)
{
	unsigned char	 b[16];

	return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* Check what req_parse() filled in; abort on a broken invariant. */
static void
check(const struct req *r, char *const *env, const char *body, size_t bodysz)
{
	const char	*ra;

	if (memchr(r->path, '\0', sizeof(r->path)) == NULL ||
	    memchr(r->ip, '\0', sizeof(r->ip)) == NULL)
		abort();
	if (r->query == NULL || r->method_name == NULL)
		abort();
	if (r->method > METHOD__MAX || (r->head && r->method != METHOD_GET))
		abort();
	if (r->https != 0 && r->https != 1)
		abort();
	if (r->body != body || r->bodysz != bodysz)
		abort();
	if (strchr(r->path, '?') != NULL && req_env(env, "REQUEST_URI") !=
	    NULL && req_env(env, "REQUEST_URI")[0] == '/')
		abort();		/* the query is not part of the path */
	/*
	 * The client address is REMOTE_ADDR (as given, maybe trimmed) or,
	 * behind a trusted proxy, an address parsed out of XFF.
	 */
	ra = req_env(env, "REMOTE_ADDR");
	if (r->ip[0] != '\0' && !is_addr(r->ip) &&
	    (ra == NULL || strstr(ra, r->ip) == NULL))
		abort();
	if (ra == NULL && r->ip[0] != '\0')
		abort();
}

/*
 * The body as a form and the query string, read the way the pages read
 * them: a decoded value fits its buffer and holds no NUL.
 */
static void
fuzz_forms(const char *body, size_t bodysz, const char *query)
{
	static const char *const names[] = {
		"phone", "csrf", "state", "code", "lang", "hub.challenge"
	};
	char	*form, out[40];
	size_t	 i;

	if ((form = malloc(bodysz + 1)) == NULL)
		abort();
	memcpy(form, body, bodysz);
	form[bodysz] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (req_query(form, names[i], out, sizeof(out)) == 0 &&
		    strlen(out) >= sizeof(out))
			abort();
		if (query != NULL &&
		    req_query(query, names[i], out, sizeof(out)) == 0 &&
		    strlen(out) >= sizeof(out))
			abort();
	}
	free(form);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		*env[ENV_MAX + 1], *body;
	const uint8_t	*p = data, *end = data + size, *nul;
	struct req	 r;
	size_t		 n = 0, len, bodysz, cl;
	int		 rc;

	setup();
	while (p < end && n < ENV_MAX) {
		nul = memchr(p, '\0', (size_t)(end - p));
		len = nul != NULL ? (size_t)(nul - p) : (size_t)(end - p);
		if (len == 0) {		/* "" ends the environment */
			p++;
			break;
		}
		if ((env[n] = malloc(len + 1)) == NULL)
			abort();
		memcpy(env[n], p, len);
		env[n][len] = '\0';
		n++;
		p += len + (nul != NULL ? 1 : 0);
	}
	env[n] = NULL;

	bodysz = (size_t)(end - p);
	if ((body = malloc(bodysz ? bodysz : 1)) == NULL)
		abort();
	if (bodysz > 0)
		memcpy(body, p, bodysz);

	rc = req_parse(&r, env, body, bodysz);
	if (rc == 0)
		check(&r, env, body, bodysz);
	else if (rc != -1 || req_env(env, "REQUEST_METHOD") != NULL)
		abort();

	cl = 12345;
	rc = req_body_length(env, &cl);
	if (rc == -1 && cl != 0)
		abort();
	if (rc == 0 && cl > (1ULL << 40))
		abort();
	if (rc != 0 && rc != -1)
		abort();

	fuzz_forms(body, bodysz, rc == 0 ? r.query : NULL);
	free(body);
	while (n > 0)
		free(env[--n]);
	return 0;
}
