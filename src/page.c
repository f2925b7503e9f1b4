/*
 * The public pages (API.md §5): the privacy policy and the verified
 * data-deletion flow, in English and Arabic.  Forms carry a CSRF token
 * that must match a SameSite=Strict cookie; the flow's state is signed
 * and names a challenge, never the phone number.  The answer to a
 * deletion request is the same whether or not we hold data.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>
#include <sqlite3.h>

#include "otp.h"

#define CSRF_LEN	64	/* hex of 16 random bytes and 16 of MAC */
#define STATE_MAX	256
#define CONFIRM_LEN	11	/* XXXXX-XXXXX */
#define VARS_MAX	48

#define CSP	"default-src 'none'; style-src 'self'; img-src 'self'; " \
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

/* A page's values: NULL-terminated name, value pairs. */
struct vars {
	const char	*v[VARS_MAX * 2 + 1];
	size_t		 n;
	char		 num[6][16];
};

static void
vars_add(struct vars *pv, const char *name, const char *val)
{
	if (pv->n + 2 >= VARS_MAX * 2)
		return;
	pv->v[pv->n++] = name;
	pv->v[pv->n++] = val;
	pv->v[pv->n] = NULL;
}

/* The value of "code" among a page's values, or NULL. */
static const char *
pv_code(const struct vars *pv)
{
	size_t	 i;

	for (i = 0; i + 1 < pv->n; i += 2)
		if (strcmp(pv->v[i], "code") == 0)
			return pv->v[i + 1];
	return NULL;
}

/* The values every page may use, from the running configuration. */
static void
vars_init(struct vars *pv, enum locale l)
{
	memset(pv, 0, sizeof(*pv));
	snprintf(pv->num[0], sizeof(pv->num[0]), "%d", conf.ttl);
	snprintf(pv->num[1], sizeof(pv->num[1]), "%d", conf.delivery_days);
	snprintf(pv->num[2], sizeof(pv->num[2]), "%d", conf.idempotency_hours);
	snprintf(pv->num[3], sizeof(pv->num[3]), "%d", conf.audit_days);
	snprintf(pv->num[4], sizeof(pv->num[4]), "%d", conf.max_attempts);
	vars_add(pv, "service", conf.name);
	vars_add(pv, "email", conf.contact_email);
	vars_add(pv, "policy_date", conf.policy_updated);
	vars_add(pv, "ttl", pv->num[0]);
	vars_add(pv, "delivery_days", pv->num[1]);
	vars_add(pv, "idempotency_hours", pv->num[2]);
	vars_add(pv, "audit_days", pv->num[3]);
	vars_add(pv, "max_attempts", pv->num[4]);
	vars_add(pv, "lang", locale_names[l]);
	vars_add(pv, "other_lang", locale_names[!l]);
	vars_add(pv, "dir", l == LOCALE_AR ? "rtl" : "ltr");
}

/*
 * The language: ?lang= (or the form's lang), else the first supported
 * language of Accept-Language by quality, else default_locale.
 */
static enum locale
page_locale(const struct req *r, const char *form)
{
	char		 v[8], tag[16];
	const char	*p, *e, *q;
	double		 best = 0, w;
	enum locale	 l, found = conf.default_locale;
	size_t		 n;

	if ((form != NULL && req_query(form, "lang", v, sizeof(v)) == 0) ||
	    req_query(r->query, "lang", v, sizeof(v)) == 0)
		for (l = 0; l < LOCALE__MAX; l++)
			if (strcmp(v, locale_names[l]) == 0)
				return l;
	if (r->accept_language == NULL || strlen(r->accept_language) > 512)
		return conf.default_locale;
	for (p = r->accept_language; *p != '\0'; p = *e ? e + 1 : e) {
		if ((e = strchr(p, ',')) == NULL)
			e = p + strlen(p);
		while (*p == ' ')
			p++;
		n = strcspn(p, ";,- ");
		if (n >= sizeof(tag) || p + n > e)
			continue;
		memcpy(tag, p, n);
		tag[n] = '\0';
		w = 1;
		if ((q = strstr(p, ";q=")) != NULL && q < e) {
			w = q[3] == '1' ? 1 : q[3] == '0' && q[4] == '.' &&
			    q[5] >= '0' && q[5] <= '9' ? (q[5] - '0') / 10.0 : 0;
		}
		for (l = 0; l < LOCALE__MAX; l++)
			if (strcasecmp(tag, locale_names[l]) == 0 && w > best) {
				best = w;
				found = l;
			}
	}
	return found;
}

/*
 * Answer a whole page: template t inside the layout, with the headers
 * every page carries.
 */
static void
page_send(struct ctx *c, int status, enum www t, enum locale l,
    const char *title_key, struct vars *pv)
{
	struct buf	 body, title, html;
	char		 path[300];

	buf_init(&body, 512 * 1024);
	buf_init(&title, 1024);
	buf_init(&html, 1024 * 1024);
	snprintf(path, sizeof(path), "%s?lang=%s%s%s",
	    c->req->method == METHOD_GET ? c->req->path : "/data-deletion",
	    locale_names[!l], pv_code(pv) ? "&code=" : "",
	    pv_code(pv) ? pv_code(pv) : "");
	if (www_render(&body, t, l, pv->v) == -1 ||
	    www_text(&title, l, title_key, strlen(title_key), pv->v) == -1)
		goto fail;
	vars_add(pv, "title", title.p ? title.p : "");
	vars_add(pv, "body", body.p ? body.p : "");
	vars_add(pv, "other_url", path);
	if (www_render(&html, WWW_LAYOUT, l, pv->v) == -1)
		goto fail;
	resp_header(c->resp, "Content-Security-Policy", "%s", CSP);
	resp_header(c->resp, "Referrer-Policy", "no-referrer");
	resp_header(c->resp, "X-Frame-Options", "DENY");
	resp_header(c->resp, "Cache-Control", "no-store");
	resp_header(c->resp, "Content-Language", "%s", locale_names[l]);
	resp_text(c->resp, status, "text/html; charset=utf-8", html.p,
	    html.len);
	goto out;
fail:
	resp_problem(c->resp, ERR_INTERNAL, "The page cannot be made.");
out:
	buf_free(&body);
	buf_free(&title);
	buf_free(&html);
}

/* A page with a title and one message, e.g. for errors. */
static void
page_message(struct ctx *c, int status, enum locale l, const char *title,
    const char *msg)
{
	struct vars	 pv;
	struct buf	 m;

	buf_init(&m, 4096);
	vars_init(&pv, l);
	if (www_text(&m, l, msg, strlen(msg), pv.v) == -1) {
		buf_free(&m);
		resp_problem(c->resp, ERR_INTERNAL, "The page cannot be made.");
		return;
	}
	vars_add(&pv, "message", m.p ? m.p : "");
	page_send(c, status, WWW_MESSAGE, l, title, &pv);
	buf_free(&m);
}

/* A fresh CSRF token: 16 random bytes and their keyed MAC, in hex. */
static void
csrf_new(char out[CSRF_LEN + 1])
{
	unsigned char	 r[16], mac[16];

	randombytes_buf(r, sizeof(r));
	crypto_generichash(mac, sizeof(mac), r, sizeof(r), conf.csrf_key,
	    KEY_LEN);
	sec_hex(out, r, sizeof(r));
	sec_hex(out + 32, mac, sizeof(mac));
}

static int
csrf_valid(const char *t)
{
	unsigned char	 r[16], mac[16], want[16];
	char		 half[33];

	if (strlen(t) != CSRF_LEN)
		return 0;
	memcpy(half, t, 32);
	half[32] = '\0';
	if (sec_unhex(r, sizeof(r), half) == -1 ||
	    sec_unhex(mac, sizeof(mac), t + 32) == -1)
		return 0;
	crypto_generichash(want, sizeof(want), r, sizeof(r), conf.csrf_key,
	    KEY_LEN);
	return sec_equal(mac, want, sizeof(mac));
}

/* The otp_csrf cookie's value into out, if there is a well-formed one. */
static int
csrf_cookie(const struct req *r, char out[CSRF_LEN + 1])
{
	const char	*p;

	for (p = r->cookie; p != NULL && (p = strstr(p, "otp_csrf=")) != NULL;
	    p++)
		if (p == r->cookie || p[-1] == ' ' || p[-1] == ';') {
			p += 9;
			if (strspn(p, "0123456789abcdef") != CSRF_LEN)
				return -1;
			memcpy(out, p, CSRF_LEN);
			out[CSRF_LEN] = '\0';
			return csrf_valid(out) ? 0 : -1;
		}
	return -1;
}

/* Give the form a token, reusing a valid cookie's or setting a new one. */
static void
csrf_issue(struct ctx *c, char tok[CSRF_LEN + 1])
{
	if (csrf_cookie(c->req, tok) == 0)
		return;
	csrf_new(tok);
	resp_header(c->resp, "Set-Cookie", "otp_csrf=%s; Path=/data-deletion; "
	    "HttpOnly; SameSite=Strict%s", tok, c->req->https ? "; Secure" : "");
}

/*
 * Check a POSTed form: form-encoded, with a csrf field equal to a valid
 * cookie.  Returns 0, or -1 with a 403 page.
 */
static int
form_check(struct ctx *c, enum locale l)
{
	char	 cookie[CSRF_LEN + 1], field[CSRF_LEN + 2];
	const char *ct = c->req->content_type;

	if (ct == NULL || strncasecmp(ct,
	    "application/x-www-form-urlencoded", 33) != 0 ||
	    csrf_cookie(c->req, cookie) == -1 ||
	    req_query(c->req->body, "csrf", field, sizeof(field)) == -1 ||
	    strlen(field) != CSRF_LEN ||
	    !sec_equal(field, cookie, CSRF_LEN)) {
		page_message(c, 403, l, "forbidden_title", "forbidden_text");
		return -1;
	}
	return 0;
}

/*
 * The signed state of a deletion flow: "id.expiry.pseudonym.mac".  The
 * pseudonym (a keyed hash, never the number) lets the confirmation
 * count failed checks per number whether or not we hold data for it.
 */
static void
state_sign(char out[STATE_MAX], const char *id, time_t expires,
    const unsigned char ps[HASH_LEN])
{
	unsigned char	 mac[HASH_LEN];
	char		 hex[HASH_LEN * 2 + 1], pshex[HASH_LEN * 2 + 1];
	int		 n;

	sec_hex(pshex, ps, HASH_LEN);
	n = snprintf(out, STATE_MAX, "%s.%lld.%s", id, (long long)expires,
	    pshex);
	sec_hash(mac, conf.state_key, out, (size_t)n);
	sec_hex(hex, mac, sizeof(mac));
	snprintf(out + n, STATE_MAX - n, ".%s", hex);
}

/*
 * Check a state: 0 with the challenge id and the pseudonym, or -1
 * (forged, malformed or expired).
 */
static int
state_check(const char *s, time_t now, char id[ID_MAX],
    unsigned char ps[HASH_LEN])
{
	char		 again[STATE_MAX], num[24], pshex[HASH_LEN * 2 + 1];
	const char	*d1, *d2, *d3;
	long long	 exp;
	size_t		 n;

	if (strlen(s) >= STATE_MAX || (d1 = strchr(s, '.')) == NULL ||
	    (d2 = strchr(d1 + 1, '.')) == NULL ||
	    (d3 = strchr(d2 + 1, '.')) == NULL)
		return -1;
	n = (size_t)(d1 - s);
	if (n == 0 || n >= ID_MAX || (size_t)(d2 - d1 - 1) >= sizeof(num) ||
	    (size_t)(d3 - d2 - 1) != HASH_LEN * 2)
		return -1;
	memcpy(id, s, n);
	id[n] = '\0';
	memcpy(num, d1 + 1, (size_t)(d2 - d1 - 1));
	num[d2 - d1 - 1] = '\0';
	memcpy(pshex, d2 + 1, HASH_LEN * 2);
	pshex[HASH_LEN * 2] = '\0';
	if (strspn(id, "abcdefghijklmnopqrstuvwxyz0123456789_") != n ||
	    num_parse(num, 0, 1LL << 40, &exp) == -1 ||
	    sec_unhex(ps, HASH_LEN, pshex) == -1)
		return -1;
	state_sign(again, id, (time_t)exp, ps);
	if (strlen(again) != strlen(s) || !sec_equal(again, s, strlen(s)))
		return -1;
	return exp > now ? 0 : -1;
}

/* GET /style.css */
void
page_style(struct ctx *c)
{
	const char	*p;
	size_t		 n;

	p = www_file(WWW_STYLE, &n);
	resp_header(c->resp, "Cache-Control", "public, max-age=3600");
	resp_text(c->resp, 200, "text/css; charset=utf-8", p, n);
}

/* GET /privacy */
void
page_privacy(struct ctx *c)
{
	struct vars	 pv;
	enum locale	 l = page_locale(c->req, NULL);

	vars_init(&pv, l);
	page_send(c, 200, WWW_PRIVACY, l, "privacy_title", &pv);
}

/*
 * A form of the deletion flow (t: the number form, or the code form with
 * its state), with a fresh or reused CSRF token and an error message key
 * or NULL.
 */
static void
form_page(struct ctx *c, int status, enum locale l, enum www t,
    const char *state, const char *error)
{
	struct vars	 pv;
	struct buf	 e;
	char		 tok[CSRF_LEN + 1];

	buf_init(&e, 1024);
	vars_init(&pv, l);
	csrf_issue(c, tok);
	if (error != NULL &&
	    www_text(&e, l, error, strlen(error), pv.v) == -1) {
		resp_problem(c->resp, ERR_INTERNAL, "The page cannot be made.");
		goto out;
	}
	vars_add(&pv, "csrf", tok);
	vars_add(&pv, "state", state != NULL ? state : "");
	vars_add(&pv, "error", e.p ? e.p : "");
	page_send(c, status, t, l, t == WWW_DELETION ? "deletion_title" :
	    "code_title", &pv);
out:
	buf_free(&e);
}

/* GET /data-deletion */
void
page_deletion(struct ctx *c)
{
	form_page(c, 200, page_locale(c->req, NULL), WWW_DELETION, NULL, NULL);
}

/* 429 page for a limit. */
static void
limited(struct ctx *c, enum locale l, int retry)
{
	resp_header(c->resp, "Retry-After", "%d", retry < 1 ? 1 : retry);
	page_message(c, 429, l, "limited_title", "limited_text");
}

/*
 * Inside a transaction: the per-address limit, and with ps the
 * per-number ones (hour and day, as for sends through the API).  0, or
 * -1 with a 429 page (or 503 on error).
 */
static int
page_limits(struct ctx *c, enum locale l, const unsigned char *ps)
{
	const struct limit	 lim[] = {
		{ "deletion_ip_minute", "ip", 60, conf.sends_per_ip_minute },
		{ "deletion_phone_hour", "phone", 3600,
		    conf.sends_per_phone_hour },
		{ "deletion_phone_day", "phone", 86400,
		    conf.sends_per_phone_day },
	};
	size_t			 i, n = ps != NULL ? 3 : 1;
	int			 retry, hit;
	enum limit_result	 r;

	for (hit = 0; hit < 2; hit++)
		for (i = 0; i < n; i++) {
			r = i == 0 ? limit_check(c->w->db, &lim[i], c->req->ip,
			    strlen(c->req->ip), c->now, hit, &retry) :
			    limit_check(c->w->db, &lim[i], ps, HASH_LEN, c->now,
			    hit, &retry);
			if (r == LIMIT_REACHED) {
				limited(c, l, retry);
				return -1;
			}
			if (r == LIMIT_ERROR) {
				resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
				return -1;
			}
		}
	return 0;
}

/* The keyed hash of a deletion code, bound to its challenge. */
static void
challenge_hash(unsigned char out[HASH_LEN], const char *id, const char *code)
{
	char	 in[ID_MAX + 16];
	int	 n;

	n = snprintf(in, sizeof(in), "%s:%s", id, code);
	sec_hash(out, conf.code_key, in, (size_t)n);
	sodium_memzero(in, sizeof(in));
}

/*
 * POST /data-deletion: if we hold data for the number, send it a
 * deletion code.  The page that follows is the same either way.
 */
void
page_deletion_post(struct ctx *c)
{
	struct db	*db = c->w->db;
	sqlite3_stmt	*st;
	enum locale	 l = page_locale(c->req, c->req->body);
	char		 in[80], e164[PHONE_MAX];
	char		 id[ID_MAX], code[16], state[STATE_MAX];
	unsigned char	 ps[HASH_LEN], h[HASH_LEN];
	time_t		 expires = c->now + conf.ttl;
	int		 held = 0, rc;

	if (form_check(c, l) == -1)
		return;
	if (req_query(c->req->body, "phone", in, sizeof(in)) == -1 ||
	    phone_normalise(e164, in) == PHONE_INVALID) {
		form_page(c, 422, l, WWW_DELETION, NULL, "phone_invalid");
		return;
	}
	sec_hash(ps, conf.pseudonym_key, e164, strlen(e164));
	sec_random_id(id, sizeof(id), "dch_");
	sec_code(code, sizeof(code));
	challenge_hash(h, id, code);

	if (db_exec(db, STMT_BEGIN_IMMEDIATE) == -1)
		goto unavailable;
	if (page_limits(c, l, ps) == -1) {
		db_exec(db, STMT_ROLLBACK);
		goto out;
	}
	if ((st = db_stmt(db, STMT_PHONE_HELD)) == NULL)
		goto rollback;
	sqlite3_bind_blob(st, 1, ps, HASH_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	held = rc == SQLITE_ROW;
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto rollback;
	if (held) {
		if ((st = db_stmt(db, STMT_CHALLENGE_INSERT)) == NULL)
			goto rollback;
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, ps, HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_blob(st, 3, h, HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)c->now);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)expires);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			goto rollback;
	}
	if (db_exec(db, STMT_COMMIT) == -1)
		goto rollback;
	if (held) {
		/*
		 * Sent once the page is out, so that the answer takes as
		 * long whether or not we hold data for the number.
		 */
		c->w->later.pending = 1;
		memcpy(c->w->later.e164, e164, sizeof(e164));
		memcpy(c->w->later.code, code, sizeof(code));
		memcpy(c->w->later.id, id, sizeof(id));
		c->w->later.locale = l;
	}
	state_sign(state, id, expires, ps);
	form_page(c, 200, l, WWW_DELETION_CODE, state, NULL);
	goto out;
rollback:
	db_exec(db, STMT_ROLLBACK);
unavailable:
	log_err("%s", db_errmsg(db));
	resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
out:
	sodium_memzero(code, sizeof(code));
	sodium_memzero(e164, sizeof(e164));
	sodium_memzero(in, sizeof(in));
}

/* A confirmation code people can read out: XXXXX-XXXXX. */
static void
confirmation_new(char out[CONFIRM_LEN + 1])
{
	static const char	 alpha[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	int			 i;

	for (i = 0; i < CONFIRM_LEN; i++)
		out[i] = i == 5 ? '-' : alpha[randombytes_uniform(32)];
	out[CONFIRM_LEN] = '\0';
}

/* The keyed hash of a confirmation code, upper-cased, blanks dropped. */
static int
confirmation_hash(unsigned char out[HASH_LEN], const char *code,
    char normal[CONFIRM_LEN + 1])
{
	char	 norm[8 + CONFIRM_LEN + 1];
	size_t	 n = 0;

	for (; *code != '\0'; code++) {
		if (*code == ' ')
			continue;
		if (n == CONFIRM_LEN)
			return -1;
		norm[n++] = (*code >= 'a' && *code <= 'z') ?
		    (char)(*code - 32) : *code;
	}
	norm[n] = '\0';
	if (n != CONFIRM_LEN)
		return -1;
	if (normal != NULL)
		memcpy(normal, norm, n + 1);
	/* The state key, kept apart from the states' MACs by a prefix. */
	memmove(norm + 8, norm, n + 1);
	memcpy(norm, "confirm:", 8);
	sec_hash(out, conf.state_key, norm, n + 8);
	return 0;
}

/*
 * Inside a transaction: erase everything held for ps across all
 * applications and record the deletion under a confirmation code.
 */
static int
erase_all(struct db *db, const unsigned char ps[HASH_LEN],
    const char *confirm, time_t now, char id[ID_MAX])
{
	struct erased	 e;
	sqlite3_stmt	*st;
	unsigned char	 h[HASH_LEN];
	char		 detail[64];
	int		 rc;

	sec_random_id(id, ID_MAX, "del_");
	if (confirmation_hash(h, confirm, NULL) == -1 ||
	    erase_phone(db, NULL, ps, &e) == -1 ||
	    (st = db_stmt(db, STMT_CHALLENGE_ERASE)) == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, ps, HASH_LEN, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || (st = db_stmt(db, STMT_DELETION_INSERT)) ==
	    NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, h, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, e.otps);
	sqlite3_bind_int64(st, 5, e.delivery_events);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)now);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	snprintf(detail, sizeof(detail), "otps=%lld delivery_events=%lld",
	    e.otps, e.delivery_events);
	if (rc != SQLITE_DONE ||
	    db_audit(db, "data-deletion-page", "deletion", id, detail) == -1)
		return -1;
	log_info("%s: %s", id, detail);
	return 0;
}

/* POST /data-deletion/confirm: check the code, then delete everything. */
void
page_deletion_confirm(struct ctx *c)
{
	struct db	*db = c->w->db;
	struct vars	 pv;
	sqlite3_stmt	*st;
	enum locale	 l = page_locale(c->req, c->req->body);
	char		 state[STATE_MAX], code[16], id[ID_MAX], del[ID_MAX];
	char		 confirm[CONFIRM_LEN + 1], url[64];
	unsigned char	 ps[HASH_LEN], sps[HASH_LEN], h[HASH_LEN];
	unsigned char	 stored[HASH_LEN];
	const struct limit failed = { "deletion_failed_checks_day", "phone",
	    86400, conf.failed_checks_per_phone_day };
	size_t		 n;
	int		 rc, attempts = 0, right, retry;

	if (form_check(c, l) == -1)
		return;
	if (req_query(c->req->body, "state", state, sizeof(state)) == -1 ||
	    state_check(state, c->now, id, sps) == -1) {
		page_message(c, 400, l, "expired_title", "expired_text");
		return;
	}
	if (req_query(c->req->body, "code", code, sizeof(code)) == -1 ||
	    (n = strlen(code)) != (size_t)conf.code_length ||
	    strspn(code, "0123456789") != n) {
		form_page(c, 422, l, WWW_DELETION_CODE, state, "code_invalid");
		return;
	}
	if (db_exec(db, STMT_BEGIN_IMMEDIATE) == -1)
		goto unavailable;
	if (page_limits(c, l, NULL) == -1) {
		db_exec(db, STMT_ROLLBACK);
		goto out;
	}
	switch (limit_check(db, &failed, sps, HASH_LEN, c->now, 0, &retry)) {
	case LIMIT_OK:
		break;
	case LIMIT_REACHED:
		db_exec(db, STMT_ROLLBACK);
		limited(c, l, retry);
		goto out;
	case LIMIT_ERROR:
		goto rollback;
	}
	if ((st = db_stmt(db, STMT_CHALLENGE_GET)) == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)c->now);
	right = 0;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW &&
	    sqlite3_column_bytes(st, 0) == HASH_LEN &&
	    sqlite3_column_bytes(st, 1) == HASH_LEN) {
		memcpy(ps, sqlite3_column_blob(st, 0), HASH_LEN);
		memcpy(stored, sqlite3_column_blob(st, 1), HASH_LEN);
		attempts = sqlite3_column_int(st, 2);
		challenge_hash(h, id, code);
		right = attempts < conf.max_attempts &&
		    sec_equal(h, stored, HASH_LEN);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto rollback;
	if (!right) {
		/* Unknown challenge, used up, or wrong: all look alike. */
		if (rc == SQLITE_ROW) {
			if ((st = db_stmt(db, STMT_CHALLENGE_FAIL)) == NULL)
				goto rollback;
			sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc != SQLITE_DONE)
				goto rollback;
		}
		/* Counted per number whether or not we hold data for it. */
		if (limit_check(db, &failed, sps, HASH_LEN, c->now, 1,
		    &retry) == LIMIT_ERROR || db_exec(db, STMT_COMMIT) == -1)
			goto rollback;
		form_page(c, 422, l, WWW_DELETION_CODE, state, "code_wrong");
		goto out;
	}
	confirmation_new(confirm);
	if (erase_all(db, ps, confirm, c->now, del) == -1 ||
	    db_exec(db, STMT_COMMIT) == -1)
		goto rollback;
	vars_init(&pv, l);
	snprintf(url, sizeof(url), "/data-deletion/status?code=%s", confirm);
	vars_add(&pv, "confirmation", confirm);
	vars_add(&pv, "status_url", url);
	page_send(c, 200, WWW_DELETION_DONE, l, "done_title", &pv);
	goto out;
rollback:
	db_exec(db, STMT_ROLLBACK);
unavailable:
	log_err("%s", db_errmsg(db));
	resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
out:
	sodium_memzero(code, sizeof(code));
}

/* GET /data-deletion/status?code=... */
void
page_deletion_status(struct ctx *c)
{
	struct vars	 pv;
	struct buf	 text;
	sqlite3_stmt	*st;
	enum locale	 l = page_locale(c->req, NULL);
	char		 code[32], date[32], status[32];
	char		 normal[CONFIRM_LEN + 1];
	unsigned char	 h[HASH_LEN];
	int		 rc;

	if (req_query(c->req->query, "code", code, sizeof(code)) == -1 ||
	    confirmation_hash(h, code, normal) == -1) {
		page_message(c, 404, l, "unknown_title", "unknown_text");
		return;
	}
	if ((st = db_stmt(c->w->db, STMT_DELETION_BY_CONFIRMATION)) == NULL) {
		resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
		return;
	}
	sqlite3_bind_blob(st, 1, h, HASH_LEN, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		snprintf(status, sizeof(status), "status_%s",
		    sqlite3_column_text(st, 0));
		api_time(date, (time_t)sqlite3_column_int64(st, 1));
	}
	sqlite3_reset(st);
	if (rc == SQLITE_DONE) {
		page_message(c, 404, l, "unknown_title", "unknown_text");
		return;
	}
	if (rc != SQLITE_ROW) {
		resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
		return;
	}
	vars_init(&pv, l);
	buf_init(&text, 1024);
	if (www_text(&text, l, status, strlen(status), pv.v) == -1) {
		buf_free(&text);
		resp_problem(c->resp, ERR_INTERNAL, NULL);
		return;
	}
	vars_add(&pv, "completed_at", date);
	vars_add(&pv, "status", text.p ? text.p : "");
	vars_add(&pv, "code", normal);	/* it matched: [0-9A-Z-] only */
	page_send(c, 200, WWW_DELETION_STATUS, l, "status_title", &pv);
	buf_free(&text);
}
