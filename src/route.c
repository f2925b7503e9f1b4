/*
 * Routing: one table of paths and the handler for each method, and the
 * checks every request passes before a handler sees it (HTTPS, body
 * size, method, API key, content type, strict JSON).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>
#include <sqlite3.h>

#include "otp.h"

#define R_ID	0x01	/* path is a prefix followed by an {id} */
#define R_AUTH	0x02	/* needs an application's API key */
#define R_JSON	0x04	/* POST bodies are JSON objects */
#define R_HOOK	0x08	/* takes bodies up to HOOK_BODY_MAX */
#define R_BATCH	0x10	/* writes share transactions (db_pool_batch()) */

struct route {
	const char	*path;
	int		 flags;
	handler		 h[METHOD__MAX];
};

static void	 healthz(struct ctx *);
static void	 run_batched(struct ctx *, const struct route *);
static void	 serve(struct ctx *, const struct route *);
static void	 unauthorized(struct ctx *);

enum route_id {
	ROUTE_HEALTHZ,
	ROUTE_OTP,
	ROUTE_OTP_VERIFY,
	ROUTE_OTP_ONE,
	ROUTE_DELETIONS,
	ROUTE_DELETION_ONE,
	ROUTE_WEBHOOK,
	ROUTE_PRIVACY,
	ROUTE_DATA_DELETION,
	ROUTE_DATA_DELETION_CONFIRM,
	ROUTE_DATA_DELETION_STATUS,
	ROUTE_STYLE,
	ROUTE__MAX
};

static const struct route routes[ROUTE__MAX] = {
	[ROUTE_HEALTHZ] = { "/healthz", 0, { [METHOD_GET] = healthz } },
	[ROUTE_OTP] = { "/v1/otp", R_AUTH | R_JSON | R_BATCH,
	    { [METHOD_POST] = api_otp_create } },
	[ROUTE_OTP_VERIFY] = { "/v1/otp/verify", R_AUTH | R_JSON | R_BATCH,
	    { [METHOD_POST] = api_otp_verify } },
	[ROUTE_OTP_ONE] = { "/v1/otp/", R_ID | R_AUTH | R_BATCH,
	    { [METHOD_GET] = api_otp_get, [METHOD_DELETE] = api_otp_cancel } },
	[ROUTE_DELETIONS] = { "/v1/deletions", R_AUTH | R_JSON,
	    { [METHOD_POST] = api_deletion_create } },
	[ROUTE_DELETION_ONE] = { "/v1/deletions/", R_ID | R_AUTH,
	    { [METHOD_GET] = api_deletion_get } },
	[ROUTE_WEBHOOK] = { "/webhooks/whatsapp", R_HOOK,
	    { [METHOD_GET] = wa_webhook_get, [METHOD_POST] = wa_webhook_post } },
	[ROUTE_PRIVACY] = { "/privacy", 0, { [METHOD_GET] = page_privacy } },
	[ROUTE_DATA_DELETION] = { "/data-deletion", 0,
	    { [METHOD_GET] = page_deletion, [METHOD_POST] = page_deletion_post } },
	[ROUTE_DATA_DELETION_CONFIRM] = { "/data-deletion/confirm", 0,
	    { [METHOD_POST] = page_deletion_confirm } },
	[ROUTE_DATA_DELETION_STATUS] = { "/data-deletion/status", 0,
	    { [METHOD_GET] = page_deletion_status } },
	[ROUTE_STYLE] = { "/style.css", 0, { [METHOD_GET] = page_style } },
};

static const char *const method_names[METHOD__MAX] = {
	"GET", "POST", "DELETE"
};

/* GET /healthz: 200 when the database answers, else 503. */
static void
healthz(struct ctx *c)
{
	struct json_object	*o;

	if (db_exec(c->w->db, STMT_PING) == -1) {
		resp_problem(c->resp, ERR_UNAVAILABLE,
		    "The database does not answer.");
		return;
	}
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("ok"));
	resp_json(c->resp, 200, o);
}

/*
 * Find the route for path; for an R_ID route the segment after the
 * prefix goes into id.  Exact paths win over {id} routes.  NULL: 404.
 */
static const struct route *
route_match(const char *path, char id[ID_MAX])
{
	size_t	 i, n, idn;

	for (i = 0; i < ROUTE__MAX; i++)
		if (!(routes[i].flags & R_ID) &&
		    strcmp(path, routes[i].path) == 0)
			return &routes[i];
	for (i = 0; i < ROUTE__MAX; i++) {
		if (!(routes[i].flags & R_ID))
			continue;
		n = strlen(routes[i].path);
		if (strncmp(path, routes[i].path, n) != 0)
			continue;
		idn = strlen(path + n);
		if (idn == 0 || idn >= ID_MAX || strspn(path + n,
		    "abcdefghijklmnopqrstuvwxyz0123456789_") != idn)
			return NULL;
		memcpy(id, path + n, idn + 1);
		return &routes[i];
	}
	return NULL;
}

/* Is the content type application/json, with parameters or not? */
static int
is_json_type(const char *ct)
{
	static const char	 want[] = "application/json";
	size_t			 n = sizeof(want) - 1;

	return ct != NULL && strncasecmp(ct, want, n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/*
 * Check the request and call its handler; every failure becomes a
 * problem document in c->resp.
 */
static void
dispatch(struct ctx *c, int bodyerr)
{
	const struct route	*rt;
	char			 allow[64];
	size_t			 i, n;

	if (conf.require_https && !c->req->https) {
		resp_problem(c->resp, ERR_HTTPS_REQUIRED, NULL);
		return;
	}
	if (bodyerr == 413) {
		resp_problem(c->resp, ERR_BODY_TOO_LARGE,
		    "The request body is larger than %d bytes.", HOOK_BODY_MAX);
		return;
	} else if (bodyerr != 0) {
		resp_problem(c->resp, ERR_INVALID_REQUEST,
		    "CONTENT_LENGTH is not a number.");
		return;
	}
	if ((rt = route_match(c->req->path, c->id)) == NULL) {
		resp_problem(c->resp, ERR_NOT_FOUND,
		    "There is nothing at this path.");
		return;
	}
	if (!(rt->flags & R_HOOK) && c->req->bodysz > BODY_MAX) {
		resp_problem(c->resp, ERR_BODY_TOO_LARGE,
		    "The request body is larger than %d bytes.", BODY_MAX);
		return;
	}
	if (c->req->method == METHOD__MAX || rt->h[c->req->method] == NULL) {
		allow[0] = '\0';
		for (i = n = 0; i < METHOD__MAX; i++)
			if (rt->h[i] != NULL)
				n += snprintf(allow + n, sizeof(allow) - n,
				    "%s%s%s", n ? ", " : "", method_names[i],
				    i == METHOD_GET ? ", HEAD" : "");
		resp_header(c->resp, "Allow", "%s", allow);
		resp_problem(c->resp, ERR_METHOD_NOT_ALLOWED,
		    "This path takes %s.", allow);
		return;
	}
	if ((rt->flags & R_AUTH) && auth_key(c->req->authorization) == NULL) {
		unauthorized(c);
		return;
	}
	/*
	 * A JSON body is parsed here, not under the write lock; what is
	 * wrong with it is answered in serve(), after the key's check.
	 */
	if ((rt->flags & R_JSON) && c->req->method == METHOD_POST &&
	    is_json_type(c->req->content_type))
		c->json = jparse(c->req->body, c->req->bodysz, c->jerr,
		    sizeof(c->jerr));
	/*
	 * The API's writes run on the writer in batches, but for a send
	 * that waits on the network, which no batch should wait for.  The
	 * webhook takes the writer itself once its signature is right.
	 * Every other request takes the writer if it may write, else a
	 * reader.
	 */
	if (c->req->method != METHOD_GET && (rt->flags & R_BATCH) &&
	    (rt != &routes[ROUTE_OTP] || !chan_waits())) {
		run_batched(c, rt);
		return;
	}
	if (!(rt->flags & R_HOOK) && (c->w->db = db_pool_get(c->w->pool,
	    c->req->method != METHOD_GET)) == NULL) {
		resp_problem(c->resp, ERR_UNAVAILABLE,
		    "The database cannot be opened.");
		return;
	}
	serve(c, rt);
}

static void
unauthorized(struct ctx *c)
{
	resp_header(c->resp, "WWW-Authenticate", "Bearer");
	resp_problem(c->resp, ERR_UNAUTHORIZED, NULL);
}

/*
 * The checks that need the database or come after those that do (API
 * key, content type, strict JSON), then the route's handler.
 */
static void
serve(struct ctx *c, const struct route *rt)
{
	if (rt->flags & R_AUTH) {
		switch (auth_app(c->w->db, c->req->authorization, c->app)) {
		case AUTH_OK:
			break;
		case AUTH_DENIED:
			unauthorized(c);
			return;
		case AUTH_ERROR:
			resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
			return;
		}
	}
	if ((rt->flags & R_JSON) && c->req->method == METHOD_POST) {
		if (!is_json_type(c->req->content_type)) {
			resp_problem(c->resp, ERR_UNSUPPORTED_MEDIA_TYPE,
			    "Send Content-Type: application/json.");
			return;
		}
		if (c->json == NULL) {
			resp_problem(c->resp, ERR_INVALID_REQUEST, "%s.",
			    c->jerr);
			return;
		}
		if (!json_object_is_type(c->json, json_type_object)) {
			resp_problem(c->resp, ERR_INVALID_REQUEST,
			    "The body must be a JSON object.");
			return;
		}
	}
	rt->h[c->req->method](c);
}

struct batched {
	struct ctx		*c;
	const struct route	*rt;
};

/* In the thread running the batch: the request's serve(), on the writer. */
static void
run_job(void *arg, struct db *db)
{
	struct batched	*b = arg;

	b->c->w->db = db;
	serve(b->c, b->rt);
	b->c->w->db = NULL;
}

/*
 * Serve the request on the writer in a transaction it may share with
 * other requests' (db_pool_batch()).  If that transaction was lost, or
 * the request was never served, it answers 503 whatever it answered
 * before: even an error may rest on what an earlier request of the
 * batch wrote, and the loss undid.
 */
static void
run_batched(struct ctx *c, const struct route *rt)
{
	struct batched	 b = { c, rt };

	if (db_pool_batch(c->w->pool, run_job, &b) == -1) {
		resp_free(c->resp);
		resp_init(c->resp);
		resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
	}
}

/*
 * Take the pool's writer for a request that holds no connection yet (the
 * webhook, once its signature is right): 0, or -1 with a 503 in the
 * response.  route_request() gives it back.
 */
int
route_writer(struct ctx *c)
{
	if ((c->w->db = db_pool_get(c->w->pool, 1)) == NULL) {
		resp_problem(c->resp, ERR_UNAVAILABLE,
		    "The database cannot be opened.");
		return -1;
	}
	return 0;
}

/*
 * Set up what a worker owns: its buffers, and the pool it takes a
 * database connection from for each request.
 */
void
route_worker_open(struct worker *w, struct dbpool *pool)
{
	memset(w, 0, sizeof(*w));
	w->pool = pool;
	buf_init(&w->body, HOOK_BODY_MAX);
	buf_init(&w->upstream, 64 * 1024);
	buf_init(&w->out, 2 * 1024 * 1024);
}

void
route_worker_close(struct worker *w)
{
	wa_close(w);
	buf_free(&w->upstream);
	buf_free(&w->body);
	buf_free(&w->out);
}

/*
 * Answer one request whose body is in w->body (bodyerr: 0, or 413 when
 * it was too large, or 400 when its length was unreadable) and leave
 * the whole CGI response in w->out.
 */
void
route_request(struct worker *w, char *const *env, int bodyerr)
{
	struct req	 req;
	struct resp	 resp;
	struct ctx	 c;

	resp_init(&resp);
	memset(&c, 0, sizeof(c));
	c.w = w;
	c.req = &req;
	c.resp = &resp;
	c.now = time(NULL);
	buf_reset(&w->out);
	if (req_parse(&req, env, w->body.p ? w->body.p : "", w->body.len))
		resp_problem(&resp, ERR_INVALID_REQUEST,
		    "Not a CGI request.");
	else
		dispatch(&c, bodyerr);
	if (w->db != NULL) {
		db_pool_put(w->pool, w->db);
		w->db = NULL;
	}
	if (resp.status >= 500)
		log_err("%s %s: %d", req.method_name ? req.method_name : "-",
		    req.path, resp.status);
	if (resp_emit(&resp, req.https, req.head, &w->out) == -1) {
		buf_reset(&w->out);
		buf_adds(&w->out, "Status: 500 Internal Server Error\r\n"
		    "Content-Type: text/plain\r\n\r\n");
	}
	json_object_put(c.json);
	resp_free(&resp);
}

/*
 * Work left for after the answer has gone out: the deletion page's
 * code, whose sending must not show in the page's timing.  The code and
 * number are wiped afterwards.
 */
void
route_after(struct worker *w)
{
	struct send_out	 out;
	char		 masked[MASKED_MAX];

	if (!w->later.pending)
		return;
	if (chan_send(w, w->later.e164, w->later.code, w->later.id,
	    w->later.locale, &out) != SEND_OK) {
		phone_mask(masked, w->later.e164);
		log_warn("%s to %s: not sent: %s", w->later.id, masked,
		    out.error_title);
	}
	sodium_memzero(&w->later, sizeof(w->later));
}
