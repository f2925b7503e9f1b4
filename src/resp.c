/*
 * Responses: status, headers and a bounded body, built by handlers and
 * written out by the front in one piece.  Errors are RFC 9457 problem
 * documents from one table of codes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "otp.h"

#define RESP_BODY_MAX	(1024 * 1024)
#define ERR_TYPE_BASE	"https://baghdad-otp.dev/errors/"

static const struct {
	int		 status;
	const char	*code;
	const char	*title;
} errs[ERR__MAX] = {
	[ERR_INVALID_REQUEST] = { 400, "invalid_request",
	    "The request is not valid" },
	[ERR_UNAUTHORIZED] = { 401, "unauthorized",
	    "A valid API key is required" },
	[ERR_FORBIDDEN] = { 403, "forbidden", "Forbidden" },
	[ERR_HTTPS_REQUIRED] = { 403, "https_required",
	    "This service is only available over HTTPS" },
	[ERR_NOT_FOUND] = { 404, "not_found", "Not found" },
	[ERR_METHOD_NOT_ALLOWED] = { 405, "method_not_allowed",
	    "Method not allowed" },
	[ERR_BODY_TOO_LARGE] = { 413, "body_too_large",
	    "The request body is too large" },
	[ERR_UNSUPPORTED_MEDIA_TYPE] = { 415, "unsupported_media_type",
	    "The request body must be JSON" },
	[ERR_INVALID_PHONE] = { 422, "invalid_phone",
	    "The phone number is not valid" },
	[ERR_COUNTRY_NOT_ALLOWED] = { 422, "country_not_allowed",
	    "The phone number's country is not allowed" },
	[ERR_UNDELIVERABLE] = { 422, "undeliverable",
	    "The code cannot be delivered to this recipient" },
	[ERR_IDEMPOTENCY_KEY_REUSED] = { 409, "idempotency_key_reused",
	    "The idempotency key was used with another request" },
	[ERR_REQUEST_IN_PROGRESS] = { 409, "request_in_progress",
	    "A request with this idempotency key is in progress" },
	[ERR_OTP_NOT_PENDING] = { 409, "otp_not_pending",
	    "The OTP is not pending" },
	[ERR_RATE_LIMITED] = { 429, "rate_limited", "Too many requests" },
	[ERR_INTERNAL] = { 500, "internal_error", "Internal error" },
	[ERR_DELIVERY_FAILED] = { 502, "delivery_failed",
	    "The delivery channel refused the message" },
	[ERR_DELIVERY_UNAVAILABLE] = { 503, "delivery_unavailable",
	    "The delivery channel is unavailable" },
	[ERR_UNAVAILABLE] = { 503, "service_unavailable",
	    "The service is unavailable" },
};

static const struct {
	int		 status;
	const char	*reason;
} reasons[] = {
	{ 200, "OK" }, { 201, "Created" }, { 204, "No Content" },
	{ 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
	{ 404, "Not Found" }, { 405, "Method Not Allowed" },
	{ 409, "Conflict" }, { 413, "Content Too Large" },
	{ 415, "Unsupported Media Type" }, { 422, "Unprocessable Content" },
	{ 429, "Too Many Requests" }, { 500, "Internal Server Error" },
	{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
};

void
resp_init(struct resp *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, RESP_BODY_MAX);
}

void
resp_free(struct resp *r)
{
	buf_free(&r->body);
}

/*
 * Add a header line.  Values come from us, never from the client, but
 * a CR or LF is dropped all the same; a header that does not fit is
 * dropped and logged.
 */
void
resp_header(struct resp *r, const char *name, const char *fmt, ...)
{
	char	 val[512];
	va_list	 ap;
	int	 n;
	size_t	 i;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	for (i = 0; val[i] != '\0'; i++)
		if (val[i] == '\r' || val[i] == '\n')
			val[i] = ' ';
	n = snprintf(r->headers + r->headersz,
	    sizeof(r->headers) - r->headersz, "%s: %s\r\n", name, val);
	if (n < 0 || (size_t)n >= sizeof(r->headers) - r->headersz) {
		r->headers[r->headersz] = '\0';
		log_err("header %s dropped", name);
		return;
	}
	r->headersz += n;
}

/* Set a whole body of bytes with its status and content type. */
void
resp_text(struct resp *r, int status, const char *ctype, const char *p,
    size_t sz)
{
	r->status = status;
	r->ctype = ctype;
	buf_reset(&r->body);
	if (buf_add(&r->body, p, sz) == -1) {
		log_err("response body too large");
		r->status = 500;
		r->ctype = "text/plain; charset=utf-8";
		buf_reset(&r->body);
	}
}

/* Serialise obj (which is released) as the JSON body. */
void
resp_json(struct resp *r, int status, struct json_object *obj)
{
	const char	*s;
	size_t		 n;

	s = json_object_to_json_string_length(obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	resp_text(r, status, "application/json; charset=utf-8", s, n);
	json_object_put(obj);
}

/*
 * A problem document for e with a detail (NULL: the title) and the
 * code member.  The caller may add members before resp_problem_send().
 */
struct json_object *
resp_problem_new(enum err e, const char *fmt, ...)
{
	struct json_object	*o;
	char			 detail[512], type[128];
	va_list			 ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	} else
		snprintf(detail, sizeof(detail), "%s.", errs[e].title);
	snprintf(type, sizeof(type), "%s%s", ERR_TYPE_BASE, errs[e].code);
	o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "title",
	    json_object_new_string(errs[e].title));
	json_object_object_add(o, "status",
	    json_object_new_int(errs[e].status));
	json_object_object_add(o, "detail", json_object_new_string(detail));
	json_object_object_add(o, "code",
	    json_object_new_string(errs[e].code));
	return o;
}

/* Send a problem document made by resp_problem_new() (released). */
void
resp_problem_send(struct resp *r, enum err e, struct json_object *o)
{
	const char	*s;
	size_t		 n;

	s = json_object_to_json_string_length(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	resp_text(r, errs[e].status, "application/problem+json", s, n);
	json_object_put(o);
}

void
resp_problem(struct resp *r, enum err e, const char *fmt, ...)
{
	char	 detail[512];
	va_list	 ap;

	if (fmt == NULL) {
		resp_problem_send(r, e, resp_problem_new(e, NULL));
		return;
	}
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	resp_problem_send(r, e, resp_problem_new(e, "%s", detail));
}

static const char *
reason(int status)
{
	size_t	 i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Unknown";
}

/*
 * Write the whole CGI response (status line, headers, blank line,
 * body) into out.  Every response gets nosniff, JSON gets no-store, and
 * HTTPS gets HSTS.  With head set the body is left out.  Returns 0 or -1.
 */
int
resp_emit(const struct resp *r, int https, int head, struct buf *out)
{
	char	 h[256];
	int	 n;

	n = snprintf(h, sizeof(h), "Status: %d %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n"
	    "X-Content-Type-Options: nosniff\r\n",
	    r->status, reason(r->status),
	    r->ctype ? r->ctype : "text/plain; charset=utf-8", r->body.len);
	if (n < 0 || (size_t)n >= sizeof(h))
		return -1;
	if (buf_add(out, h, n) == -1 ||
	    buf_add(out, r->headers, r->headersz) == -1)
		return -1;
	if (r->ctype != NULL && strstr(r->ctype, "json") != NULL &&
	    buf_adds(out, "Cache-Control: no-store\r\n") == -1)
		return -1;
	if (https && buf_adds(out, "Strict-Transport-Security: "
	    "max-age=31536000; includeSubDomains\r\n") == -1)
		return -1;
	if (buf_adds(out, "\r\n") == -1)
		return -1;
	if (!head && r->body.len > 0 &&
	    buf_add(out, r->body.p, r->body.len) == -1)
		return -1;
	return 0;
}
