/*
 * Request parsing: a pure function of the CGI environment and the body
 * bytes, so that tests and fuzzers call it without libfcgi.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "otp.h"

static const char *const methods[METHOD__MAX] = { "GET", "POST", "DELETE" };

/*
 * The value of name in a NULL-terminated "NAME=value" array, or NULL.
 * A request looks up 15 names among some 30 variables: the first byte
 * spares most of them a strncmp().
 */
const char *
req_env(char *const *env, const char *name)
{
	size_t	 n = strlen(name);

	for (; env != NULL && *env != NULL; env++)
		if ((*env)[0] == name[0] && strncmp(*env, name, n) == 0 &&
		    (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/*
 * CONTENT_LENGTH as a number: 0 when absent or empty.  Returns 0, or -1
 * when it is not a number (a length over BODY_MAX is the caller's 413).
 */
int
req_body_length(char *const *env, size_t *out)
{
	const char	*s = req_env(env, "CONTENT_LENGTH");
	long long	 n;

	*out = 0;
	if (s == NULL || *s == '\0')
		return 0;
	if (num_parse(s, 0, 1LL << 40, &n) == -1)
		return -1;
	*out = (size_t)n;
	return 0;
}

/* Is the textual address a in trusted_proxies? */
static int
is_trusted(const char *a)
{
	unsigned char	 x[16], y[16];
	int		 af;
	size_t		 i;

	af = strchr(a, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(af, a, x) != 1)
		return 0;
	for (i = 0; i < conf.trusted_proxiesz; i++) {
		memset(y, 0, sizeof(y));
		if (inet_pton(af, conf.trusted_proxies[i], y) == 1 &&
		    memcmp(x, y, af == AF_INET6 ? 16 : 4) == 0)
			return 1;
	}
	return 0;
}

/* Copy the item of s between p and e, trimmed, into out (size sz). */
static void
copy_item(char *out, size_t sz, const char *p, const char *e)
{
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if ((size_t)(e - p) >= sz)
		e = p;		/* too long to be an address */
	memcpy(out, p, e - p);
	out[e - p] = '\0';
}

/*
 * The client address: REMOTE_ADDR, unless that is a trusted proxy, in
 * which case the right-most address of X-Forwarded-For that is not a
 * trusted proxy.  An unparseable hop stops the walk at the last
 * trusted address seen.
 */
static void
client_ip(char *out, size_t sz, char *const *env)
{
	const char	*ra = req_env(env, "REMOTE_ADDR");
	const char	*xff = req_env(env, "HTTP_X_FORWARDED_FOR");
	const char	*e, *p;
	char		 item[64];
	unsigned char	 bin[16];

	if (ra == NULL)
		ra = "";
	copy_item(out, sz, ra, ra + strlen(ra));
	if (xff == NULL || strlen(xff) > 4096 || !is_trusted(out))
		return;
	for (e = xff + strlen(xff); e > xff; e = p) {
		for (p = e; p > xff && p[-1] != ','; p--)
			continue;
		copy_item(item, sizeof(item), p, e);
		if (inet_pton(AF_INET, item, bin) != 1 &&
		    inet_pton(AF_INET6, item, bin) != 1)
			return;
		memcpy(out, item, strlen(item) + 1);
		if (!is_trusted(item))
			return;
		if (p > xff)
			p--;	/* over the comma */
	}
}

/*
 * Fill r from the environment and body.  The path is REQUEST_URI
 * without its query, else SCRIPT_NAME and PATH_INFO.  Returns 0, or -1
 * when the environment is not a CGI request at all.
 */
int
req_parse(struct req *r, char *const *env, const char *body, size_t bodysz)
{
	const char	*m, *uri, *q, *sn, *pi, *https;
	size_t		 n, i;

	memset(r, 0, sizeof(*r));
	r->body = body;
	r->bodysz = bodysz;
	r->query = "";
	if ((m = req_env(env, "REQUEST_METHOD")) == NULL)
		return -1;
	r->method_name = m;
	r->method = METHOD__MAX;
	for (i = 0; i < METHOD__MAX; i++)
		if (strcmp(m, methods[i]) == 0)
			r->method = i;
	if (r->method == METHOD__MAX && strcmp(m, "HEAD") == 0) {
		r->method = METHOD_GET;
		r->head = 1;
	}

	if ((uri = req_env(env, "REQUEST_URI")) != NULL && *uri == '/') {
		q = strchr(uri, '?');
		n = q ? (size_t)(q - uri) : strlen(uri);
		if (n < sizeof(r->path))
			memcpy(r->path, uri, n);
		if (q != NULL)
			r->query = q + 1;
	} else {
		sn = req_env(env, "SCRIPT_NAME");
		pi = req_env(env, "PATH_INFO");
		snprintf(r->path, sizeof(r->path), "%s%s", sn ? sn : "",
		    pi ? pi : "");
		if ((q = req_env(env, "QUERY_STRING")) != NULL)
			r->query = q;
	}
	if (strlen(r->path) >= sizeof(r->path) - 1)
		r->path[0] = '\0';	/* too long to be a route */

	https = req_env(env, "HTTPS");
	r->https = https != NULL && strcasecmp(https, "on") == 0;
	client_ip(r->ip, sizeof(r->ip), env);
	r->content_type = req_env(env, "CONTENT_TYPE");
	r->authorization = req_env(env, "HTTP_AUTHORIZATION");
	r->idempotency_key = req_env(env, "HTTP_IDEMPOTENCY_KEY");
	r->accept_language = req_env(env, "HTTP_ACCEPT_LANGUAGE");
	r->cookie = req_env(env, "HTTP_COOKIE");
	r->signature = req_env(env, "HTTP_X_HUB_SIGNATURE_256");
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode a form-encoded value of sz bytes ("+" is a space, %XX a byte)
 * into out of size outsz.  Returns 0, or -1 when it is malformed, too
 * long, or decodes to a NUL.
 */
static int
req_decode(const char *in, size_t sz, char *out, size_t outsz)
{
	size_t	 i, n = 0;
	int	 hi, lo;

	for (i = 0; i < sz; i++) {
		if (n + 1 >= outsz)
			return -1;
		if (in[i] == '+')
			out[n++] = ' ';
		else if (in[i] == '%') {
			if (sz - i < 3)
				return -1;
			if ((hi = hexval(in[i + 1])) < 0 ||
			    (lo = hexval(in[i + 2])) < 0 || (hi == 0 && lo == 0))
				return -1;
			out[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else
			out[n++] = in[i];
	}
	out[n] = '\0';
	return 0;
}

/*
 * The decoded value of name in a form-encoded string (a query or a
 * form body) into out.  Returns 0, or -1 when it is absent, given more
 * than once, or malformed.
 */
int
req_query(const char *query, const char *name, char *out, size_t outsz)
{
	const char	*p = query, *e, *eq;
	size_t		 n = strlen(name);
	int		 found = 0;

	while (*p != '\0') {
		e = strchr(p, '&');
		if (e == NULL)
			e = p + strlen(p);
		eq = memchr(p, '=', (size_t)(e - p));
		if (eq != NULL && (size_t)(eq - p) == n &&
		    strncmp(p, name, n) == 0) {
			if (found++ ||
			    req_decode(eq + 1, (size_t)(e - eq - 1), out,
			    outsz) == -1)
				return -1;
		}
		p = *e == '&' ? e + 1 : e;
	}
	return found ? 0 : -1;
}
