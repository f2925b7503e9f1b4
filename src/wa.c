/*
 * WhatsApp (API.md §4): the Cloud API client that delivers codes with an
 * authentication template, and the webhook that tells us what became
 * of them.  Each worker keeps one curl handle with its options set; the
 * sender (sender.c) performs it on connections the workers share.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <sodium.h>
#include <sqlite3.h>

#include "otp.h"

#define WA_BACKOFF_MS	250	/* first retry's base delay */
#define WA_BACKOFF_MAX	2000	/* no retry waits longer (and jitter) */
#define WA_RETRY_AFTER	30	/* seconds we tell clients after giving up */
#define WA_STATUSES_MAX	5000	/* statuses taken from one webhook call */

/* How an upstream answer is handled. */
enum wa_class {
	WA_OK,
	WA_RETRY,		/* throughput, transient, 5xx, transport */
	WA_RECIPIENT,		/* this recipient cannot get it */
	WA_OPERATOR		/* token, template, account, policy ... */
};

/* Error codes retried with backoff (API.md §4). */
_Static_assert(sizeof(((struct worker *)0)->upstream_err) >= CURL_ERROR_SIZE,
    "upstream_err is libcurl's error buffer");

static const long long retryable[] = {
	130429, 131000, 131016, 133004, 131057, 1, 2, 4, 80007
};

/* Error codes that are about the recipient, not about us. */
static const long long recipient[] = {
	131026,		/* message undeliverable */
	131021,		/* recipient cannot be sender */
	131030,		/* recipient not in allowed list */
	131049,		/* not delivered to keep the ecosystem healthy */
	131050,		/* user stopped marketing messages */
	130472,		/* user's number is part of an experiment */
};

static int
in_list(long long code, const long long *list, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (list[i] == code)
			return 1;
	return 0;
}

/*
 * Make an upstream text safe to keep: mask every run of four or more
 * digits, so that a number or a code it might quote never reaches a
 * log, a row or a client (the numeric error code is kept apart), and
 * drop a UTF-8 sequence that truncation cut in two.
 */
static void
clean_text(char *s)
{
	size_t		 i, run, k, n = strlen(s), need;
	unsigned char	 lead;

	for (k = n; k > 0 && ((unsigned char)s[k - 1] & 0xc0) == 0x80; k--)
		continue;
	if (k > 0 && (lead = (unsigned char)s[k - 1]) >= 0xc0) {
		need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
		if (n - (k - 1) < need)
			s[k - 1] = '\0';
	}

	for (i = 0; s[i] != '\0'; i++) {
		for (run = 0; s[i + run] >= '0' && s[i + run] <= '9'; run++)
			continue;
		if (run >= 4)
			memset(s + i, '*', run);
		i += run ? run - 1 : 0;
	}
}

static size_t
collect(char *p, size_t size, size_t n, void *arg)
{
	struct buf	*b = arg;

	/* Over the cap: stop the transfer, the answer is garbage. */
	return buf_add(b, p, size * n) == -1 ? 0 : size * n;
}

/*
 * The worker's curl handle, made on first use with every option that
 * does not change between sends.  NULL on error.
 */
static CURL *
handle(struct worker *w)
{
	char	 auth[sizeof(conf.whatsapp_access_token) + 32];
	CURL	*c;

	if (w->curl != NULL)
		return w->curl;
	if ((c = curl_easy_init()) == NULL)
		return NULL;
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
	    conf.whatsapp_access_token);
	w->headers = curl_slist_append(NULL, auth);
	sodium_memzero(auth, sizeof(auth));
	w->headers = curl_slist_append(w->headers,
	    "Content-Type: application/json");
	w->headers = curl_slist_append(w->headers, "Expect:");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, w->headers);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR,
	    strncmp(conf.api_base, "https://", 8) == 0 ? "https" : "http");
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (conf.ca_file[0] != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, conf.ca_file);
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Over HTTPS, wait for a connection that can take one more stream. */
	curl_easy_setopt(c, CURLOPT_PIPEWAIT,
	    strncmp(conf.api_base, "https://", 8) == 0 ? 1L : 0L);
	/*
	 * Graph answers in a few hundred bytes and is sent a thousand, and
	 * many threads each keep a handle: curl's smallest buffers (the
	 * upload one, 64 KB by default, is taken for every send over
	 * HTTP/2).
	 */
	curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 1024L);
	curl_easy_setopt(c, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &w->upstream);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, w->upstream_err);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "baghdad-otp");
	w->curl = c;
	return c;
}

void
wa_close(struct worker *w)
{
	struct curl_slist	*h;

	if (w->curl != NULL)
		curl_easy_cleanup(w->curl);
	for (h = w->headers; h != NULL; h = h->next)
		sodium_memzero(h->data, strlen(h->data));
	curl_slist_free_all(w->headers);
	w->curl = NULL;
	w->headers = NULL;
}

/*
 * Read an answer of the Graph API: the message id on success, else the
 * error's code and title.  Returns how to handle it.
 */
static enum wa_class
classify(long http, const struct buf *body, struct send_out *out)
{
	struct json_object	*root, *o, *v;
	enum wa_class		 cls = WA_RETRY;
	const char		*s;
	char			 err[128];

	root = body->len > 0 ? jparse(body->p, body->len, err, sizeof(err)) :
	    NULL;
	if (http >= 200 && http < 300) {
		/* messages[0].id */
		if (root != NULL &&
		    json_object_object_get_ex(root, "messages", &o) &&
		    json_object_is_type(o, json_type_array) &&
		    (o = json_object_array_get_idx(o, 0)) != NULL &&
		    json_object_object_get_ex(o, "id", &v) &&
		    json_object_is_type(v, json_type_string) &&
		    (s = json_object_get_string(v)) != NULL &&
		    strlen(s) > 0 && strlen(s) < sizeof(out->message_id) &&
		    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789._-=+/") == strlen(s)) {
			snprintf(out->message_id, sizeof(out->message_id),
			    "%s", s);
			cls = WA_OK;
		} else {
			/*
			 * It may have been sent: never send the same code
			 * again.  Final, and logged as the anomaly it is.
			 */
			snprintf(out->error_title, sizeof(out->error_title),
			    "answer without a message id");
			cls = WA_OPERATOR;
		}
		goto out;
	}
	out->error_code = http;
	snprintf(out->error_title, sizeof(out->error_title), "HTTP %ld", http);
	if (root != NULL && json_object_object_get_ex(root, "error", &o) &&
	    json_object_is_type(o, json_type_object)) {
		if (json_object_object_get_ex(o, "code", &v) &&
		    json_object_is_type(v, json_type_int))
			out->error_code = json_object_get_int64(v);
		if ((json_object_object_get_ex(o, "error_user_title", &v) ||
		    json_object_object_get_ex(o, "message", &v)) &&
		    json_object_is_type(v, json_type_string)) {
			snprintf(out->error_title, sizeof(out->error_title),
			    "%s", json_object_get_string(v));
			clean_text(out->error_title);
		}
		if (in_list(out->error_code, retryable,
		    sizeof(retryable) / sizeof(retryable[0])))
			cls = WA_RETRY;
		else if (in_list(out->error_code, recipient,
		    sizeof(recipient) / sizeof(recipient[0])))
			cls = WA_RECIPIENT;
		else
			cls = http >= 500 ? WA_RETRY : WA_OPERATOR;
	} else
		cls = http >= 500 || http == 429 ? WA_RETRY : WA_OPERATOR;
out:
	json_object_put(root);
	return cls;
}

/*
 * Send the authentication template with code to e164.  Retryable
 * failures are tried again up to `retries` times with exponential
 * backoff (capped) and jitter; each attempt has timeout_ms, and the
 * whole is bounded by the attempts' time and the retries' waits.  The
 * payload holding the code is wiped before returning.
 */
enum send_result
wa_send(struct worker *w, const char *e164, const char *code,
    enum locale locale, struct send_out *out)
{
	char		 url[512], payload[1024];
	CURL		*c;
	CURLcode	 cc;
	enum wa_class	 cls = WA_RETRY;
	long long	 deadline, left, delay;
	long		 http;
	int		 attempt, n;

	memset(out, 0, sizeof(*out));
	if ((c = handle(w)) == NULL) {
		snprintf(out->error_title, sizeof(out->error_title),
		    "curl_easy_init failed");
		return SEND_UNAVAILABLE;
	}
	snprintf(url, sizeof(url), "%s/%s/%s/messages", conf.api_base,
	    conf.api_version, conf.phone_number_id);
	/* Every value here is from a checked character set: no escaping. */
	n = snprintf(payload, sizeof(payload),
	    "{\"messaging_product\":\"whatsapp\",\"recipient_type\":"
	    "\"individual\",\"to\":\"%s\",\"type\":\"template\","
	    "\"template\":{\"name\":\"%s\",\"language\":{\"code\":\"%s\"},"
	    "\"components\":[{\"type\":\"body\",\"parameters\":"
	    "[{\"type\":\"text\",\"text\":\"%s\"}]},"
	    "{\"type\":\"button\",\"sub_type\":\"url\",\"index\":\"0\","
	    "\"parameters\":[{\"type\":\"text\",\"text\":\"%s\"}]}]}}",
	    e164, conf.template, conf.template_languages[locale], code, code);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)n);

	deadline = sender_clock_ms() +
	    (long long)conf.timeout_ms * (conf.retries + 1) +
	    (long long)(WA_BACKOFF_MAX + WA_BACKOFF_MS) * conf.retries;
	for (attempt = 0; attempt <= conf.retries; attempt++) {
		if (attempt > 0) {
			delay = (long long)WA_BACKOFF_MS << (attempt - 1);
			if (delay > WA_BACKOFF_MAX)
				delay = WA_BACKOFF_MAX;
			delay += randombytes_uniform(WA_BACKOFF_MS);
			if (sender_clock_ms() + delay >= deadline)
				break;
			usleep((useconds_t)(delay * 1000));
		}
		if ((left = deadline - sender_clock_ms()) <= 0)
			break;
		if (left > conf.timeout_ms)
			left = conf.timeout_ms;
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)left);
		buf_reset(&w->upstream);
		memset(out, 0, sizeof(*out));
		w->upstream_err[0] = '\0';
		http = 0;
		cc = (CURLcode)sender_perform(c, (long)left);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
		if (cc == CURLE_OK)
			cls = classify(http, &w->upstream, out);
		else if (cc == CURLE_WRITE_ERROR && http >= 200 && http < 300) {
			/* An oversized answer to a send: do not send again. */
			cls = WA_OPERATOR;
			snprintf(out->error_title, sizeof(out->error_title),
			    "oversized answer");
		} else {
			/* Our own CA file: no retry will read it better. */
			cls = cc == CURLE_SSL_CACERT_BADFILE ? WA_OPERATOR :
			    WA_RETRY;
			snprintf(out->error_title, sizeof(out->error_title),
			    "%.*s", (int)sizeof(out->error_title) - 1,
			    w->upstream_err[0] != '\0' ? w->upstream_err :
			    curl_easy_strerror(cc));
			clean_text(out->error_title);
		}
		if (cls != WA_RETRY)
			break;
		log_warn("attempt %d: %s (%lld)", attempt + 1,
		    out->error_title, out->error_code);
	}
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
	sodium_memzero(payload, sizeof(payload));
	buf_reset(&w->upstream);

	switch (cls) {
	case WA_OK:
		return SEND_OK;
	case WA_RECIPIENT:
		return SEND_UNDELIVERABLE;
	case WA_OPERATOR:
		log_err("WhatsApp refused the message: %lld %s",
		    out->error_code, out->error_title);
		return SEND_FAILED;
	case WA_RETRY:
		break;
	}
	out->retry_after = WA_RETRY_AFTER;
	return SEND_UNAVAILABLE;
}

/*
 * GET /webhooks/whatsapp: Meta's subscription handshake.  The verify
 * token is compared through hashes so that the comparison's time says
 * nothing, not even the length.
 */
void
wa_webhook_get(struct ctx *c)
{
	char		 mode[32], token[256], challenge[256];
	unsigned char	 a[HASH_LEN], b[HASH_LEN];
	int		 ok;

	if (req_query(c->req->query, "hub.mode", mode, sizeof(mode)) == -1 ||
	    req_query(c->req->query, "hub.verify_token", token,
	    sizeof(token)) == -1 ||
	    req_query(c->req->query, "hub.challenge", challenge,
	    sizeof(challenge)) == -1 ||
	    strcmp(mode, "subscribe") != 0 ||
	    conf.whatsapp_verify_token[0] == '\0') {
		resp_problem(c->resp, ERR_FORBIDDEN,
		    "The verification request is not valid.");
		return;
	}
	sec_hash(a, conf.state_key, token, strlen(token));
	sec_hash(b, conf.state_key, conf.whatsapp_verify_token,
	    strlen(conf.whatsapp_verify_token));
	ok = sec_equal(a, b, HASH_LEN);
	sodium_memzero(token, sizeof(token));
	if (!ok) {
		resp_problem(c->resp, ERR_FORBIDDEN,
		    "The verification request is not valid.");
		return;
	}
	resp_text(c->resp, 200, "text/plain; charset=utf-8", challenge,
	    strlen(challenge));
}

/* Is the X-Hub-Signature-256 header the HMAC of the raw body? */
static int
signature_ok(const struct req *r)
{
	crypto_auth_hmacsha256_state	 st;
	unsigned char			 mac[crypto_auth_hmacsha256_BYTES];
	unsigned char			 want[crypto_auth_hmacsha256_BYTES];
	int				 ok;

	if (r->signature == NULL || conf.whatsapp_app_secret[0] == '\0' ||
	    strncmp(r->signature, "sha256=", 7) != 0 ||
	    sec_unhex(want, sizeof(want), r->signature + 7) == -1)
		return 0;
	crypto_auth_hmacsha256_init(&st,
	    (const unsigned char *)conf.whatsapp_app_secret,
	    strlen(conf.whatsapp_app_secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)r->body,
	    r->bodysz);
	crypto_auth_hmacsha256_final(&st, mac);
	ok = sec_equal(mac, want, sizeof(mac));
	sodium_memzero(&st, sizeof(st));
	return ok;
}

/* The member k of o if it has type t, else NULL. */
static struct json_object *
member(struct json_object *o, const char *k, enum json_type t)
{
	struct json_object	*v;

	if (o == NULL || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, t))
		return NULL;
	return v;
}

/*
 * Apply one status item: the OTP whose wamid it names moves forward
 * (sent < delivered < read; failed from anywhere) and an event is kept.
 * Unknown ids, repeats and late arrivals change nothing.  0 or -1.
 */
static int
apply_status(struct db *db, struct json_object *item, time_t now)
{
	struct json_object	*v, *errs, *e;
	sqlite3_stmt		*st;
	const char		*wamid, *status;
	char			 id[ID_MAX], title[128] = "";
	long long		 code = 0, ts;
	int			 rc, has_error = 0;

	if ((v = member(item, "id", json_type_string)) == NULL)
		return 0;
	wamid = json_object_get_string(v);
	if ((v = member(item, "status", json_type_string)) == NULL)
		return 0;
	status = json_object_get_string(v);
	if (strcmp(status, "sent") && strcmp(status, "delivered") &&
	    strcmp(status, "read") && strcmp(status, "failed"))
		return 0;
	/* Meta's time, unless it is far from ours. */
	ts = now;
	if ((v = member(item, "timestamp", json_type_string)) == NULL ||
	    num_parse(json_object_get_string(v), now - 30 * 86400,
	    now + 3600, &ts) == -1)
		ts = now;
	if ((errs = member(item, "errors", json_type_array)) != NULL &&
	    (e = json_object_array_get_idx(errs, 0)) != NULL) {
		if ((v = member(e, "code", json_type_int)) != NULL) {
			code = json_object_get_int64(v);
			has_error = 1;
		}
		if ((v = member(e, "title", json_type_string)) != NULL) {
			snprintf(title, sizeof(title), "%s",
			    json_object_get_string(v));
			clean_text(title);
			has_error = 1;
		}
	}
	if ((st = db_stmt(db, STMT_WEBHOOK_STATUS)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, wamid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, ts);
	if (has_error) {
		sqlite3_bind_int64(st, 4, code);
		sqlite3_bind_text(st, 5, title, -1, SQLITE_STATIC);
	}
	id[0] = '\0';
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(id, sizeof(id), "%s", sqlite3_column_text(st, 0));
		rc = sqlite3_step(st);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	if (id[0] == '\0')
		return 0;
	if ((st = db_stmt(db, STMT_EVENT_INSERT)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	if (has_error) {
		sqlite3_bind_int64(st, 3, code);
		sqlite3_bind_text(st, 4, title, -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 5, ts);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * POST /webhooks/whatsapp: the signature is checked over the raw body
 * before anything is parsed; then every entry[].changes[].value
 * .statuses[] item is applied in one transaction.
 */
void
wa_webhook_post(struct ctx *c)
{
	struct json_object	*root, *entries, *changes, *statuses, *o;
	struct db		*db;
	char			 err[256];
	size_t			 i, j, k, seen = 0;

	if (!signature_ok(c->req)) {
		resp_problem(c->resp, ERR_UNAUTHORIZED,
		    "The X-Hub-Signature-256 header is missing or wrong.");
		return;
	}
	if ((root = jparse(c->req->body, c->req->bodysz, err,
	    sizeof(err))) == NULL) {
		resp_problem(c->resp, ERR_INVALID_REQUEST, "%s.", err);
		return;
	}
	if (route_writer(c) == -1) {
		json_object_put(root);
		return;
	}
	db = c->w->db;
	if (db_exec(db, STMT_BEGIN_IMMEDIATE) == -1)
		goto fail;
	entries = member(root, "entry", json_type_array);
	for (i = 0; entries && i < json_object_array_length(entries); i++) {
		o = json_object_array_get_idx(entries, i);
		changes = member(o, "changes", json_type_array);
		for (j = 0; changes && j < json_object_array_length(changes);
		    j++) {
			o = json_object_array_get_idx(changes, j);
			statuses = member(member(o, "value", json_type_object),
			    "statuses", json_type_array);
			for (k = 0; statuses &&
			    k < json_object_array_length(statuses) &&
			    seen < WA_STATUSES_MAX; k++, seen++)
				if (apply_status(db, json_object_array_get_idx(
				    statuses, k), c->now) == -1)
					goto rollback;
		}
	}
	if (db_exec(db, STMT_COMMIT) == -1)
		goto rollback;
	json_object_put(root);
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_string("ok"));
	resp_json(c->resp, 200, o);
	return;
rollback:
	db_exec(db, STMT_ROLLBACK);
fail:
	log_err("%s", db_errmsg(db));
	json_object_put(root);
	resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
}
