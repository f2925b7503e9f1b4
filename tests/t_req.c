/*
 * Unit tests of req.c: req_parse() over hand-made CGI environments
 * (API.md §2 client IP, §6 routing path), req_env() and
 * req_body_length().  Every environment string is a heap copy of its
 * exact size so that the address sanitizer catches a read past one.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otp.h"
#include "t.h"

#define ENV_MAX	32

static char	*envv[ENV_MAX + 1];

static void
env_free(void)
{
	size_t	 i;

	for (i = 0; envv[i] != NULL; i++) {
		free(envv[i]);
		envv[i] = NULL;
	}
}

/* A NULL-terminated environment of copies of the strings given. */
static char *const *
env(const char *first, ...)
{
	va_list		 ap;
	const char	*s;
	size_t		 n = 0;

	env_free();
	va_start(ap, first);
	for (s = first; s != NULL && n < ENV_MAX; s = va_arg(ap, const char *))
		if ((envv[n++] = strdup(s)) == NULL)
			exit(2);
	va_end(ap);
	envv[n] = NULL;
	return envv;
}

/* Trust these proxies (space-separated), nothing else. */
static void
trust(const char *list)
{
	const char	*p, *e;

	memset(&conf, 0, sizeof(conf));
	for (p = list; p != NULL && *p != '\0'; p = e) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		for (e = p; *e != '\0' && *e != ' '; e++)
			continue;
		snprintf(conf.trusted_proxies[conf.trusted_proxiesz],
		    sizeof(conf.trusted_proxies[0]), "%.*s", (int)(e - p), p);
		conf.trusted_proxiesz++;
	}
}

static int
streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
test_req_env(void)
{
	char *const	*e;

	e = env("HTTP_X=1", "HTTP=2", "HTTPS_FOO=3", "HTTPS=on", "NOEQ",
	    "Q=a=b", "EMPTY=", "DUP=first", "DUP=second", "=anon",
	    "lower=x", NULL);
	T_OK(streq(req_env(e, "HTTP"), "2"), "req_env HTTP");
	T_OK(streq(req_env(e, "HTTPS"), "on"), "req_env HTTPS");
	T_OK(streq(req_env(e, "HTTP_X"), "1"), "req_env HTTP_X");
	T_OK(req_env(e, "HTTP_") == NULL, "req_env HTTP_ is a prefix only");
	T_OK(req_env(e, "HTTPS_F") == NULL, "req_env HTTPS_F");
	T_OK(req_env(e, "HTTPS_FOO_BAR") == NULL, "req_env longer name");
	T_OK(req_env(e, "HTT") == NULL, "req_env HTT");
	T_OK(req_env(e, "NOEQ") == NULL, "req_env entry without '='");
	T_OK(req_env(e, "NOE") == NULL, "req_env prefix of entry without '='");
	T_OK(streq(req_env(e, "Q"), "a=b"), "req_env value with '='");
	T_OK(streq(req_env(e, "EMPTY"), ""), "req_env empty value");
	T_OK(streq(req_env(e, "DUP"), "first"), "req_env first wins");
	T_OK(req_env(e, "LOWER") == NULL, "req_env is case-sensitive");
	T_OK(streq(req_env(e, "lower"), "x"), "req_env lower");
	T_OK(req_env(e, "MISSING") == NULL, "req_env missing");
	T_OK(req_env(NULL, "HTTP") == NULL, "req_env NULL env");
	e = env(NULL);
	T_OK(req_env(e, "HTTP") == NULL, "req_env empty env");
	env_free();
}

static void
test_body_length(void)
{
	static const struct {
		const char	*cl;	/* NULL: no CONTENT_LENGTH */
		int		 rc;
		size_t		 n;
	} t[] = {
		{ NULL, 0, 0 },
		{ "", 0, 0 },
		{ "0", 0, 0 },
		{ "1", 0, 1 },
		{ "123", 0, 123 },
		{ "16384", 0, 16384 },
		{ "16385", 0, 16385 },		/* the caller's 413 */
		{ "1099511627776", 0, 1099511627776ULL },
		{ "1099511627777", -1, 0 },
		{ "99999999999999999999999", -1, 0 },
		{ "-1", -1, 0 },
		{ "-0", 0, 0 },
		{ "abc", -1, 0 },
		{ "12abc", -1, 0 },
		{ " 5", -1, 0 },
		{ "5 ", -1, 0 },
		{ "+5", -1, 0 },
		{ "0x10", -1, 0 },
		{ "1e3", -1, 0 },
		{ "5.0", -1, 0 },
	};
	char		 var[64];
	char *const	*e;
	size_t		 i, n;
	int		 rc;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (t[i].cl == NULL)
			e = env("REQUEST_METHOD=POST", NULL);
		else {
			snprintf(var, sizeof(var), "CONTENT_LENGTH=%s",
			    t[i].cl);
			e = env("REQUEST_METHOD=POST", var, NULL);
		}
		n = 777;
		rc = req_body_length(e, &n);
		T_OK(rc == t[i].rc && n == t[i].n,
		    "CONTENT_LENGTH \"%s\": rc %d n %zu", t[i].cl ? t[i].cl :
		    "(none)", rc, n);
	}
	e = env("HTTP_CONTENT_LENGTH=5", "CONTENT_LENGTH_X=6", NULL);
	T_OK(req_body_length(e, &n) == 0 && n == 0,
	    "CONTENT_LENGTH prefixes ignored (%zu)", n);
	env_free();
}

static void
test_method(void)
{
	static const struct {
		const char	*m;
		enum method	 method;
		int		 head;
	} t[] = {
		{ "GET", METHOD_GET, 0 },
		{ "POST", METHOD_POST, 0 },
		{ "DELETE", METHOD_DELETE, 0 },
		{ "HEAD", METHOD_GET, 1 },
		{ "PUT", METHOD__MAX, 0 },
		{ "PATCH", METHOD__MAX, 0 },
		{ "OPTIONS", METHOD__MAX, 0 },
		{ "get", METHOD__MAX, 0 },
		{ "head", METHOD__MAX, 0 },
		{ "GETX", METHOD__MAX, 0 },
		{ "GE", METHOD__MAX, 0 },
		{ "HEADX", METHOD__MAX, 0 },
		{ "", METHOD__MAX, 0 },
		{ " GET", METHOD__MAX, 0 },
	};
	struct req	 r;
	char		 var[64];
	char *const	*e;
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(var, sizeof(var), "REQUEST_METHOD=%s", t[i].m);
		e = env(var, "REQUEST_URI=/healthz", NULL);
		T_OK(req_parse(&r, e, NULL, 0) == 0, "method %s: parse",
		    t[i].m);
		T_OK(r.method == t[i].method && r.head == t[i].head,
		    "method \"%s\": %d head %d", t[i].m, (int)r.method, r.head);
		T_OK(streq(r.method_name, t[i].m), "method_name \"%s\"",
		    t[i].m);
	}
	e = env("REQUEST_URI=/healthz", "REQUEST_METHOD_X=GET", NULL);
	T_OK(req_parse(&r, e, NULL, 0) == -1, "no REQUEST_METHOD: -1");
	e = env(NULL);
	T_OK(req_parse(&r, e, NULL, 0) == -1, "empty environment: -1");
	env_free();
}

static void
test_path(void)
{
	static const struct {
		const char	*uri, *sn, *pi, *qs;	/* NULL: unset */
		const char	*path, *query;
	} t[] = {
		{ "/v1/otp", NULL, NULL, NULL, "/v1/otp", "" },
		{ "/v1/otp/otp_abc?x=1&y=2", NULL, NULL, NULL,
		    "/v1/otp/otp_abc", "x=1&y=2" },
		{ "/a?", NULL, NULL, NULL, "/a", "" },
		{ "/a??b", NULL, NULL, NULL, "/a", "?b" },
		{ "/", NULL, NULL, NULL, "/", "" },
		{ "/?lang=ar", NULL, NULL, NULL, "/", "lang=ar" },
		{ "/data-deletion/status?code=ABC", NULL, NULL, NULL,
		    "/data-deletion/status", "code=ABC" },
		{ "/v1/otp%2Fx", NULL, NULL, NULL, "/v1/otp%2Fx", "" },
		/* REQUEST_URI wins over the CGI variables. */
		{ "/privacy?lang=en", "/cgi-bin/otp.fcgi", "/other",
		    "lang=ar", "/privacy", "lang=en" },
		{ "/privacy", "", "/other", "lang=ar", "/privacy", "" },
		/* No REQUEST_URI: SCRIPT_NAME and PATH_INFO. */
		{ NULL, "", "/v1/otp", "a=b", "/v1/otp", "a=b" },
		{ NULL, "/v1", "/otp", NULL, "/v1/otp", "" },
		{ NULL, "/privacy", NULL, NULL, "/privacy", "" },
		{ NULL, NULL, "/healthz", NULL, "/healthz", "" },
		{ NULL, "/cgi-bin/otp.fcgi", "/healthz", "",
		    "/cgi-bin/otp.fcgi/healthz", "" },
		{ NULL, NULL, NULL, NULL, "", "" },
		{ NULL, NULL, NULL, "x=1", "", "x=1" },
		/* A REQUEST_URI that is not a path: the CGI variables. */
		{ "", "", "/healthz", NULL, "/healthz", "" },
		{ "*", "", "/healthz", NULL, "/healthz", "" },
		{ "http://h/x?y", "", "/healthz", "q", "/healthz", "q" },
	};
	struct req	 r;
	char		 v[4][64];
	char *const	*e;
	const char	*p[5];
	size_t		 i, n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		n = 0;
		if (t[i].uri != NULL) {
			snprintf(v[0], sizeof(v[0]), "REQUEST_URI=%s",
			    t[i].uri);
			p[n++] = v[0];
		}
		if (t[i].sn != NULL) {
			snprintf(v[1], sizeof(v[1]), "SCRIPT_NAME=%s", t[i].sn);
			p[n++] = v[1];
		}
		if (t[i].pi != NULL) {
			snprintf(v[2], sizeof(v[2]), "PATH_INFO=%s", t[i].pi);
			p[n++] = v[2];
		}
		if (t[i].qs != NULL) {
			snprintf(v[3], sizeof(v[3]), "QUERY_STRING=%s",
			    t[i].qs);
			p[n++] = v[3];
		}
		while (n < 5)
			p[n++] = NULL;
		e = env("REQUEST_METHOD=GET", p[0], p[1], p[2], p[3], p[4]);
		T_OK(req_parse(&r, e, NULL, 0) == 0, "path %zu: parse", i);
		T_OK(strcmp(r.path, t[i].path) == 0,
		    "path %zu (uri %s): \"%s\", want \"%s\"", i,
		    t[i].uri ? t[i].uri : "(unset)", r.path, t[i].path);
		T_OK(streq(r.query, t[i].query), "query %zu: \"%s\", want "
		    "\"%s\"", i, r.query ? r.query : "(null)", t[i].query);
	}
	env_free();
}

static void
test_long_path(void)
{
	struct req	 r;
	char		 uri[1024], sn[512], pi[512];
	char *const	*e;

	/* 254 bytes fit. */
	snprintf(uri, sizeof(uri), "REQUEST_URI=/");
	memset(uri + 13, 'a', 253);
	uri[13 + 253] = '\0';
	e = env("REQUEST_METHOD=GET", uri, NULL);
	T_OK(req_parse(&r, e, NULL, 0) == 0 && strlen(r.path) == 254,
	    "254-byte path: %zu", strlen(r.path));

	/* Over-long: no path at all rather than a cut one. */
	snprintf(uri, sizeof(uri), "REQUEST_URI=/");
	memset(uri + 13, 'a', 299);
	uri[13 + 299] = '\0';
	e = env("REQUEST_METHOD=GET", uri, NULL);
	T_OK(req_parse(&r, e, NULL, 0) == 0 && r.path[0] == '\0',
	    "300-byte path: \"%.20s...\"", r.path);

	snprintf(uri, sizeof(uri), "REQUEST_URI=/");
	memset(uri + 13, 'b', 256);
	snprintf(uri + 13 + 256, sizeof(uri) - 13 - 256, "?q=1");
	e = env("REQUEST_METHOD=GET", uri, NULL);
	T_OK(req_parse(&r, e, NULL, 0) == 0 && r.path[0] == '\0' &&
	    streq(r.query, "q=1"), "257-byte path with query");

	snprintf(uri, sizeof(uri), "REQUEST_URI=/");
	memset(uri + 13, 'c', 800);
	uri[13 + 800] = '\0';
	e = env("REQUEST_METHOD=GET", uri, NULL);
	T_OK(req_parse(&r, e, NULL, 0) == 0 && r.path[0] == '\0',
	    "801-byte path");

	/* The same through SCRIPT_NAME and PATH_INFO. */
	snprintf(sn, sizeof(sn), "SCRIPT_NAME=/");
	memset(sn + 13, 's', 200);
	sn[13 + 200] = '\0';
	snprintf(pi, sizeof(pi), "PATH_INFO=/");
	memset(pi + 11, 'p', 200);
	pi[11 + 200] = '\0';
	e = env("REQUEST_METHOD=GET", sn, pi, NULL);
	T_OK(req_parse(&r, e, NULL, 0) == 0 && r.path[0] == '\0',
	    "402-byte SCRIPT_NAME + PATH_INFO: %zu", strlen(r.path));
	pi[11 + 40] = '\0';
	e = env("REQUEST_METHOD=GET", sn, pi, NULL);
	T_OK(req_parse(&r, e, NULL, 0) == 0 && strlen(r.path) == 242,
	    "242-byte SCRIPT_NAME + PATH_INFO: %zu", strlen(r.path));
	env_free();
}

static void
test_https_headers(void)
{
	static const struct {
		const char	*v;	/* NULL: unset */
		int		 https;
	} t[] = {
		{ "on", 1 }, { "ON", 1 }, { "On", 1 }, { "off", 0 },
		{ "", 0 }, { "1", 0 }, { "yes", 0 }, { "onn", 0 },
		{ " on", 0 }, { NULL, 0 },
	};
	struct req	 r;
	char		 var[64];
	char *const	*e;
	size_t		 i;
	const char	 body[] = "{\"phone\":\"+9647701234567\"}";

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(var, sizeof(var), "HTTPS=%s", t[i].v ? t[i].v : "");
		e = env("REQUEST_METHOD=GET", "REQUEST_URI=/", t[i].v ? var :
		    NULL, NULL);
		T_OK(req_parse(&r, e, NULL, 0) == 0 && r.https == t[i].https,
		    "HTTPS=%s: %d", t[i].v ? t[i].v : "(unset)", r.https);
	}
	e = env("REQUEST_METHOD=GET", "REQUEST_URI=/", "HTTPS_X=on",
	    "HTTP_HTTPS=on", NULL);
	T_OK(req_parse(&r, e, NULL, 0) == 0 && r.https == 0,
	    "HTTPS prefixes ignored");

	/* Headers, and the body as given. */
	e = env("REQUEST_METHOD=POST", "REQUEST_URI=/v1/otp",
	    "CONTENT_TYPE=application/json",
	    "HTTP_AUTHORIZATION=Bearer botp_abc",
	    "HTTP_IDEMPOTENCY_KEY=key-1",
	    "HTTP_ACCEPT_LANGUAGE=ar,en;q=0.5",
	    "HTTP_COOKIE=a=b",
	    "HTTP_X_HUB_SIGNATURE_256=sha256=00ff", NULL);
	T_OK(req_parse(&r, e, body, sizeof(body) - 1) == 0, "headers: parse");
	T_OK(streq(r.content_type, "application/json"), "content_type");
	T_OK(streq(r.authorization, "Bearer botp_abc"), "authorization");
	T_OK(streq(r.idempotency_key, "key-1"), "idempotency_key");
	T_OK(streq(r.accept_language, "ar,en;q=0.5"), "accept_language");
	T_OK(streq(r.cookie, "a=b"), "cookie");
	T_OK(streq(r.signature, "sha256=00ff"), "signature");
	T_OK(r.body == body && r.bodysz == sizeof(body) - 1, "body");

	e = env("REQUEST_METHOD=GET", "REQUEST_URI=/",
	    "HTTP_AUTHORIZATION_X=Bearer x", "CONTENT_TYPE_=x", NULL);
	T_OK(req_parse(&r, e, NULL, 0) == 0 && r.content_type == NULL &&
	    r.authorization == NULL && r.idempotency_key == NULL &&
	    r.accept_language == NULL && r.cookie == NULL &&
	    r.signature == NULL && r.body == NULL && r.bodysz == 0,
	    "absent headers are NULL");
	env_free();
}

static void
test_client_ip(void)
{
	static const struct {
		const char	*trusted;
		const char	*ra, *xff;	/* NULL: unset */
		const char	*ip;
	} t[] = {
		/* REMOTE_ADDR alone. */
		{ "", "192.0.2.7", NULL, "192.0.2.7" },
		{ "", "192.0.2.7", "1.2.3.4", "192.0.2.7" },
		{ "10.0.0.1", "192.0.2.7", NULL, "192.0.2.7" },
		{ "", NULL, NULL, "" },
		{ "", NULL, "1.2.3.4", "" },
		{ "", "", NULL, "" },
		/* Untrusted REMOTE_ADDR: X-Forwarded-For is ignored. */
		{ "10.0.0.1 10.0.0.2", "192.0.2.1", "1.2.3.4", "192.0.2.1" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.3", "1.2.3.4, 10.0.0.2",
		    "10.0.0.3" },
		/* Trusted: the right-most untrusted hop. */
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "1.2.3.4", "1.2.3.4" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "1.2.3.4, 10.0.0.2",
		    "1.2.3.4" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "1.2.3.4,10.0.0.2",
		    "1.2.3.4" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1",
		    "6.6.6.6, 1.2.3.4, 10.0.0.2", "1.2.3.4" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1",
		    "10.0.0.2, 1.2.3.4, 10.0.0.2", "1.2.3.4" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "  1.2.3.4  ", "1.2.3.4" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "\t1.2.3.4\t", "1.2.3.4" },
		/* Every hop trusted: the left-most. */
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "10.0.0.2", "10.0.0.2" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "10.0.0.1, 10.0.0.2",
		    "10.0.0.1" },
		/* Garbage stops the walk at the last trusted address. */
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "", "10.0.0.1" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "garbage", "10.0.0.1" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "1.2.3.4,", "10.0.0.1" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", ",", "10.0.0.1" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", ",,,", "10.0.0.1" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "1.2.3.4:5678", "10.0.0.1" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "1.2.3.4 5.6.7.8",
		    "10.0.0.1" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "1.2.3.4, garbage",
		    "10.0.0.1" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "1.2.3.4, garbage, 10.0.0.2",
		    "10.0.0.2" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "1.2.3.4;5.6.7.8",
		    "10.0.0.1" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "unknown", "10.0.0.1" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1", "[2001:db8::1]",
		    "10.0.0.1" },
		{ "10.0.0.1 10.0.0.2", "10.0.0.1",
		    "1.2.3.4, 123456789012345678901234567890123456789012345678"
		    "901234567890123456789", "10.0.0.1" },
		/* IPv6. */
		{ "", "2001:db8::1", NULL, "2001:db8::1" },
		{ "::1", "2001:db8::1", "1.2.3.4", "2001:db8::1" },
		{ "::1", "::1", "2001:db8::5", "2001:db8::5" },
		{ "::1", "0:0:0:0:0:0:0:1", "2001:db8::5", "2001:db8::5" },
		{ "::1 10.0.0.1", "10.0.0.1", "2001:db8::7, ::1",
		    "2001:db8::7" },
		{ "2001:db8::1", "2001:DB8:0::1", "1.2.3.4", "1.2.3.4" },
		{ "::1", "::1", "fe80::1%eth0", "::1" },
		{ "::1", "::2", "1.2.3.4", "::2" },
	};
	struct req	 r;
	char		 ra[128], xff[256];
	char *const	*e;
	const char	*p[3];
	size_t		 i, n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		trust(t[i].trusted);
		n = 0;
		p[0] = p[1] = p[2] = NULL;
		if (t[i].ra != NULL) {
			snprintf(ra, sizeof(ra), "REMOTE_ADDR=%s", t[i].ra);
			p[n++] = ra;
		}
		if (t[i].xff != NULL) {
			snprintf(xff, sizeof(xff), "HTTP_X_FORWARDED_FOR=%s",
			    t[i].xff);
			p[n++] = xff;
		}
		e = env("REQUEST_METHOD=GET", "REQUEST_URI=/", p[0], p[1],
		    NULL);
		T_OK(req_parse(&r, e, NULL, 0) == 0, "ip %zu: parse", i);
		T_OK(strcmp(r.ip, t[i].ip) == 0,
		    "ip %zu: trusted \"%s\" REMOTE_ADDR %s XFF \"%s\": \"%s\", "
		    "want \"%s\"", i, t[i].trusted, t[i].ra ? t[i].ra : "-",
		    t[i].xff ? t[i].xff : "-", r.ip, t[i].ip);
	}
	env_free();
}

static void
test_client_ip_limits(void)
{
	struct req	 r;
	char		 ra[128], *xff;
	char *const	*e;
	size_t		 n;

	trust("10.0.0.1");

	/* A REMOTE_ADDR too long to be an address gives none. */
	n = (size_t)snprintf(ra, sizeof(ra), "REMOTE_ADDR=");
	memset(ra + n, '1', 100);
	ra[n + 100] = '\0';
	e = env("REQUEST_METHOD=GET", ra, NULL);
	T_OK(req_parse(&r, e, NULL, 0) == 0 && r.ip[0] == '\0',
	    "long REMOTE_ADDR: \"%s\"", r.ip);

	/* An over-long X-Forwarded-For is ignored entirely. */
	if ((xff = malloc(8192)) == NULL)
		exit(2);
	n = (size_t)snprintf(xff, 8192, "HTTP_X_FORWARDED_FOR=1.2.3.4");
	while (n < 5000)
		n += (size_t)snprintf(xff + n, 8192 - n, ", 10.0.0.1");
	e = env("REQUEST_METHOD=GET", "REMOTE_ADDR=10.0.0.1", xff, NULL);
	T_OK(req_parse(&r, e, NULL, 0) == 0 && strcmp(r.ip, "10.0.0.1") == 0,
	    "XFF over 4096 bytes: \"%s\"", r.ip);

	/* A long chain of trusted hops under the limit is walked. */
	n = (size_t)snprintf(xff, 8192, "HTTP_X_FORWARDED_FOR=1.2.3.4");
	while (n < 3000)
		n += (size_t)snprintf(xff + n, 8192 - n, ",10.0.0.1");
	e = env("REQUEST_METHOD=GET", "REMOTE_ADDR=10.0.0.1", xff, NULL);
	T_OK(req_parse(&r, e, NULL, 0) == 0 && strcmp(r.ip, "1.2.3.4") == 0,
	    "long trusted chain: \"%s\"", r.ip);
	free(xff);

	/* The XFF name must match exactly. */
	e = env("REQUEST_METHOD=GET", "REMOTE_ADDR=10.0.0.1",
	    "HTTP_X_FORWARDED_FOR_X=1.2.3.4", "HTTP_X_FORWARDED=5.6.7.8",
	    "REMOTE_ADDR_X=9.9.9.9", NULL);
	T_OK(req_parse(&r, e, NULL, 0) == 0 && strcmp(r.ip, "10.0.0.1") == 0,
	    "XFF prefixes: \"%s\"", r.ip);
	env_free();
}

int
main(void)
{
	test_req_env();
	test_body_length();
	test_method();
	test_path();
	test_long_path();
	test_https_headers();
	test_client_ip();
	test_client_ip_limits();
	return t_done("req");
}
