/*
 * The client API (API.md §3): create, verify, read and cancel OTPs, and
 * delete a person's data on their behalf.  Every read-check-write runs
 * in one immediate transaction; delivery runs between two, so no lock
 * is held while a channel answers.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sodium.h>
#include <sqlite3.h>

#include "otp.h"

#define CODE_MAX	10
#define PURPOSE_MAX	32
#define ID_CHARS	"abcdefghijklmnopqrstuvwxyz0123456789_"

/* One OTP as stored. */
struct otp {
	char		 id[ID_MAX];
	char		 status[24];
	char		 masked[MASKED_MAX];
	char		 purpose[PURPOSE_MAX + 1];
	char		 locale[4];
	time_t		 created_at;
	time_t		 expires_at;
	int		 attempts;
	char		 channel[16];
	char		 delivery[16];
	int		 has_error;
	long long	 error_code;
	char		 error_title[128];
	time_t		 delivery_at;
	int		 has_hash;
	unsigned char	 code_hash[HASH_LEN];
	unsigned char	 phone_ps[HASH_LEN];
};

enum { CREATE_PHONE, CREATE_LOCALE, CREATE_PURPOSE, CREATE__MAX };

static const struct field create_fields[CREATE__MAX] = {
	[CREATE_PHONE] = { "phone", 1, BODY_MAX, NULL },
	[CREATE_LOCALE] = { "locale", 0, 2, NULL },
	[CREATE_PURPOSE] = { "purpose", 0, PURPOSE_MAX,
	    "abcdefghijklmnopqrstuvwxyz0123456789_-" },
};

enum { VERIFY_ID, VERIFY_PHONE, VERIFY_CODE, VERIFY__MAX };

static const struct field verify_fields[VERIFY__MAX] = {
	[VERIFY_ID] = { "id", 0, ID_MAX - 1, ID_CHARS },
	[VERIFY_PHONE] = { "phone", 0, BODY_MAX, NULL },
	[VERIFY_CODE] = { "code", 1, 64, NULL },
};

enum { DELETION_PHONE, DELETION__MAX };

static const struct field deletion_fields[DELETION__MAX] = {
	[DELETION_PHONE] = { "phone", 1, BODY_MAX, NULL },
};

/* RFC 3339 UTC: "2026-11-21T10:00:00Z". */
const char *
api_time(char out[32], time_t t)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return out;
}

static void
add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void
add_time(struct json_object *o, const char *k, time_t t)
{
	char	 buf[32];

	add_str(o, k, api_time(buf, t));
}

/*
 * Copy a text column into a fixed field of sz > 0 bytes, truncating.
 * Not with snprintf(): a verify copies seven columns, and a format
 * costs ten times more.
 */
static void
col_text(char *out, size_t sz, sqlite3_stmt *st, int i)
{
	const char	*s = (const char *)sqlite3_column_text(st, i);
	size_t		 n = s != NULL ? strnlen(s, sz - 1) : 0;

	if (n > 0)
		memcpy(out, s, n);
	out[n] = '\0';
}

/*
 * Load OTP id of application app into o.  Returns 1, 0 when there is no
 * such OTP for this application, or -1 on error.
 */
static int
otp_load(struct db *db, const char *id, const char *app, struct otp *o)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_stmt(db, STMT_OTP_GET)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, app, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	memset(o, 0, sizeof(*o));
	col_text(o->id, sizeof(o->id), st, 0);
	col_text(o->status, sizeof(o->status), st, 1);
	col_text(o->masked, sizeof(o->masked), st, 2);
	col_text(o->purpose, sizeof(o->purpose), st, 3);
	col_text(o->locale, sizeof(o->locale), st, 4);
	o->created_at = (time_t)sqlite3_column_int64(st, 5);
	o->expires_at = (time_t)sqlite3_column_int64(st, 6);
	o->attempts = sqlite3_column_int(st, 7);
	col_text(o->channel, sizeof(o->channel), st, 8);
	col_text(o->delivery, sizeof(o->delivery), st, 9);
	if ((o->has_error = sqlite3_column_type(st, 10) != SQLITE_NULL)) {
		o->error_code = sqlite3_column_int64(st, 10);
		col_text(o->error_title, sizeof(o->error_title), st, 11);
	}
	o->delivery_at = (time_t)sqlite3_column_int64(st, 12);
	if (sqlite3_column_bytes(st, 13) == HASH_LEN) {
		o->has_hash = 1;
		memcpy(o->code_hash, sqlite3_column_blob(st, 13), HASH_LEN);
	}
	if (sqlite3_column_bytes(st, 14) == HASH_LEN)
		memcpy(o->phone_ps, sqlite3_column_blob(st, 14), HASH_LEN);
	sqlite3_reset(st);
	return 1;
}

/* The status a client sees: a pending OTP past its time is expired. */
static const char *
otp_status(const struct otp *o, time_t now)
{
	if (strcmp(o->status, "pending") == 0 && o->expires_at <= now)
		return "expired";
	return o->status;
}

/* The OTP object of API.md §3. */
static struct json_object *
otp_json(const struct otp *o, time_t now)
{
	struct json_object	*j, *d, *e;
	int			 left;

	j = json_object_new_object();
	add_str(j, "id", o->id);
	add_str(j, "status", otp_status(o, now));
	add_str(j, "phone", o->masked);
	if (o->purpose[0] != '\0')
		add_str(j, "purpose", o->purpose);
	add_str(j, "locale", o->locale);
	add_time(j, "created_at", o->created_at);
	add_time(j, "expires_at", o->expires_at);
	left = conf.max_attempts - o->attempts;
	json_object_object_add(j, "attempts_remaining",
	    json_object_new_int(left > 0 ? left : 0));
	add_time(j, "resend_available_at", o->created_at + conf.resend_cooldown);
	d = json_object_new_object();
	add_str(d, "channel", o->channel);
	add_str(d, "status", o->delivery);
	add_time(d, "updated_at", o->delivery_at);
	if (o->has_error) {
		e = json_object_new_object();
		json_object_object_add(e, "code",
		    json_object_new_int64(o->error_code));
		add_str(e, "title", o->error_title);
		json_object_object_add(d, "error", e);
	}
	json_object_object_add(j, "delivery", d);
	return j;
}

/* 409 otp_not_pending with the status the OTP is in. */
static void
not_pending(struct resp *resp, const char *status)
{
	struct json_object	*o;

	o = resp_problem_new(ERR_OTP_NOT_PENDING, "The OTP is %s.", status);
	add_str(o, "otp_status", status);
	resp_problem_send(resp, ERR_OTP_NOT_PENDING, o);
}

/*
 * Normalise a phone member: 0 with the E.164 form, its pseudonym and
 * its mask, or -1 with a 422 in the response.  With any_country, a
 * number of a country not allowed is accepted (deletions).
 */
static int
phone_member(struct resp *resp, const char *in, int any_country,
    char e164[PHONE_MAX], unsigned char ps[HASH_LEN], char masked[MASKED_MAX])
{
	switch (phone_normalise(e164, in)) {
	case PHONE_OK:
		break;
	case PHONE_COUNTRY:
		if (any_country)
			break;
		resp_problem(resp, ERR_COUNTRY_NOT_ALLOWED, NULL);
		return -1;
	case PHONE_INVALID:
		resp_problem(resp, ERR_INVALID_PHONE, "Send the number in "
		    "E.164 (+9647701234567)%s.", conf.default_country[0] ?
		    " or national format (07701234567)" : "");
		return -1;
	}
	sec_hash(ps, conf.pseudonym_key, e164, strlen(e164));
	phone_mask(masked, e164);
	return 0;
}

/* The keyed hash of a code, bound to its OTP's id. */
static void
code_hash(unsigned char out[HASH_LEN], const char *id, const char *code)
{
	char	 in[ID_MAX + 1 + CODE_MAX + 1];
	int	 n;

	n = snprintf(in, sizeof(in), "%s:%s", id, code);
	sec_hash(out, conf.code_key, in, (size_t)n);
	sodium_memzero(in, sizeof(in));
}

/* The (application, phone pseudonym) subject of per-phone limits. */
static size_t
phone_subject(unsigned char out[ID_MAX + HASH_LEN], const char *app,
    const unsigned char ps[HASH_LEN])
{
	size_t	 n = strlen(app);

	memcpy(out, app, n);
	memcpy(out + n, ps, HASH_LEN);
	return n + HASH_LEN;
}

/*
 * Inside a transaction: may app send to this phone now?  Counts the
 * send when it may.  Returns 0, or -1 with a 429 or 503 in resp.
 */
static int
send_allowed(struct ctx *c, const unsigned char ps[HASH_LEN])
{
	const struct limit	 limits[] = {
		{ "sends_per_phone_hour", "phone", 3600,
		    conf.sends_per_phone_hour },
		{ "sends_per_phone_day", "phone", 86400,
		    conf.sends_per_phone_day },
		{ "sends_per_app_minute", "app", 60,
		    conf.sends_per_app_minute },
	};
	const struct limit	 cooldown = { "resend_cooldown",
	    "resend_cooldown", 0, 0 };
	unsigned char		 subj[ID_MAX + HASH_LEN];
	const void		*s;
	sqlite3_stmt		*st;
	size_t			 i, n, sn;
	time_t			 last;
	int			 rc, retry, hit;

	if (conf.resend_cooldown > 0) {
		if ((st = db_stmt(c->w->db, STMT_OTP_LAST_SEND)) == NULL)
			goto fail;
		sqlite3_bind_text(st, 1, c->app, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, ps, HASH_LEN, SQLITE_STATIC);
		rc = sqlite3_step(st);
		last = rc == SQLITE_ROW && sqlite3_column_type(st, 0) !=
		    SQLITE_NULL ? (time_t)sqlite3_column_int64(st, 0) : 0;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW)
			goto fail;
		if (last > 0 && last + conf.resend_cooldown > c->now) {
			limit_problem(c->resp, &cooldown,
			    (int)(last + conf.resend_cooldown - c->now));
			return -1;
		}
	}
	n = phone_subject(subj, c->app, ps);
	/* Check every limit first, then count the send in each. */
	for (hit = 0; hit < 2; hit++)
		for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
			s = i < 2 ? (const void *)subj : (const void *)c->app;
			sn = i < 2 ? n : strlen(c->app);
			switch (limit_check(c->w->db, &limits[i], s, sn,
			    c->now, hit, &retry)) {
			case LIMIT_OK:
				break;
			case LIMIT_REACHED:
				limit_problem(c->resp, &limits[i], retry);
				return -1;
			case LIMIT_ERROR:
				goto fail;
			}
		}
	return 0;
fail:
	log_err("%s", db_errmsg(c->w->db));
	resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
	return -1;
}

/* Record a delivery event for otp id.  Returns 0 or -1. */
static int
add_event(struct db *db, const char *id, const char *status,
    const struct send_out *out, time_t now)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_stmt(db, STMT_EVENT_INSERT)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
	if (out != NULL) {
		sqlite3_bind_int64(st, 3, out->error_code);
		sqlite3_bind_text(st, 4, out->error_title, -1, SQLITE_STATIC);
	}
	sqlite3_bind_int64(st, 5, (sqlite3_int64)now);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/*
 * Inside a transaction: record what the channel answered for OTP id.  A
 * sent OTP supersedes the phone's other pending ones; a failed one is
 * never verifiable.  Returns 0 or -1.
 */
static int
record_send(struct ctx *c, const char *id, const unsigned char ps[HASH_LEN],
    enum send_result sr, const struct send_out *out)
{
	struct db	*db = c->w->db;
	sqlite3_stmt	*st;
	int		 rc;

	if (sr == SEND_OK) {
		if ((st = db_stmt(db, STMT_OTP_SENT)) == NULL)
			return -1;
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (out->message_id[0] != '\0')
			sqlite3_bind_text(st, 2, out->message_id, -1,
			    SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)c->now);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE ||
		    (st = db_stmt(db, STMT_OTP_SUPERSEDE)) == NULL)
			return -1;
		sqlite3_bind_text(st, 1, c->app, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, ps, HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
	} else {
		if ((st = db_stmt(db, STMT_OTP_FAILED)) == NULL)
			return -1;
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, out->error_code);
		sqlite3_bind_text(st, 3, out->error_title, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, (sqlite3_int64)c->now);
	}
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return -1;
	return add_event(db, id, sr == SEND_OK ? "sent" : "failed",
	    sr == SEND_OK ? NULL : out, c->now);
}

/* record_send() in a transaction of its own.  Returns 0 or -1. */
static int
record_send_tx(struct ctx *c, const char *id,
    const unsigned char ps[HASH_LEN], enum send_result sr,
    const struct send_out *out)
{
	struct db	*db = c->w->db;

	if (db_exec(db, STMT_BEGIN_IMMEDIATE) == -1)
		return -1;
	if (record_send(c, id, ps, sr, out) == 0 &&
	    db_exec(db, STMT_COMMIT) == 0)
		return 0;
	log_err("%s: %s", id, db_errmsg(db));
	db_exec(db, STMT_ROLLBACK);
	return -1;
}

/* The problem document for a failed send. */
static void
send_problem(struct resp *resp, enum send_result sr,
    const struct send_out *out)
{
	struct json_object	*o;

	switch (sr) {
	case SEND_UNDELIVERABLE:
		o = resp_problem_new(ERR_UNDELIVERABLE, "%s",
		    out->error_title[0] ? out->error_title :
		    "The channel cannot deliver to this recipient.");
		json_object_object_add(o, "channel_error",
		    json_object_new_int64(out->error_code));
		resp_problem_send(resp, ERR_UNDELIVERABLE, o);
		break;
	case SEND_UNAVAILABLE:
		resp_header(resp, "Retry-After", "%d",
		    out->retry_after > 0 ? out->retry_after : 30);
		resp_problem(resp, ERR_DELIVERY_UNAVAILABLE, NULL);
		break;
	default:
		resp_problem(resp, ERR_DELIVERY_FAILED, NULL);
		break;
	}
}

/*
 * Create an OTP for a checked phone and deliver it.  The limits, the new
 * row and, with a channel that answers at once, the delivery and its
 * outcome are one transaction.  A channel that waits on the network is
 * called outside any, and its outcome recorded in a second.  The
 * response is set either way.
 */
static void
create(struct ctx *c, const char *e164, const unsigned char ps[HASH_LEN],
    const char *masked, enum locale locale, const char *purpose)
{
	struct db		*db = c->w->db;
	struct send_out		 out;
	struct otp		 o;
	sqlite3_stmt		*st;
	unsigned char		 h[HASH_LEN];
	char			 id[ID_MAX], code[CODE_MAX + 1];
	enum send_result	 sr;
	int			 rc;

	sec_time_id(id, sizeof(id), "otp_");
	sec_code(code, sizeof(code));
	code_hash(h, id, code);

	if (db_exec(db, STMT_BEGIN_IMMEDIATE) == -1)
		goto unavailable;
	if (send_allowed(c, ps) == -1) {
		db_exec(db, STMT_ROLLBACK);
		goto out;
	}
	if ((st = db_stmt(db, STMT_OTP_INSERT)) == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->app, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, ps, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, masked, -1, SQLITE_STATIC);
	if (purpose != NULL)
		sqlite3_bind_text(st, 5, purpose, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, locale_names[locale], -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, h, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)c->now);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)(c->now + conf.ttl));
	sqlite3_bind_text(st, 10, chan_name(), -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto rollback;

	if (!chan_waits()) {
		sr = chan_send(c->w, e164, code, id, locale, &out);
		if (record_send(c, id, ps, sr, &out) == -1 ||
		    (sr == SEND_OK && otp_load(db, id, c->app, &o) != 1) ||
		    db_exec(db, STMT_COMMIT) == -1)
			goto rollback;
	} else {
		if (db_exec(db, STMT_COMMIT) == -1)
			goto rollback;
		sr = chan_send(c->w, e164, code, id, locale, &out);
		sodium_memzero(code, sizeof(code));
		if ((db = c->w->db) == NULL) {
			resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
			goto out;
		}
		/* Once more before giving up: the message may have gone. */
		if (record_send_tx(c, id, ps, sr, &out) == -1 &&
		    record_send_tx(c, id, ps, sr, &out) == -1) {
			resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
			goto out;
		}
		if (sr == SEND_OK && otp_load(db, id, c->app, &o) != 1)
			goto unavailable;
	}
	if (sr != SEND_OK) {
		log_warn("%s to %s: %s (%lld)", id, masked,
		    sr == SEND_UNDELIVERABLE ? "undeliverable" :
		    sr == SEND_UNAVAILABLE ? "channel unavailable" :
		    "channel refused", out.error_code);
		send_problem(c->resp, sr, &out);
		goto out;
	}
	resp_header(c->resp, "Location", "/v1/otp/%s", id);
	resp_json(c->resp, 201, otp_json(&o, c->now));
	goto out;
rollback:
	db_exec(db, STMT_ROLLBACK);
unavailable:
	log_err("%s", db_errmsg(db));
	resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
out:
	sodium_memzero(code, sizeof(code));
	sodium_memzero(h, sizeof(h));
}

/* POST /v1/otp */
void
api_otp_create(struct ctx *c)
{
	const char		*v[CREATE__MAX];
	char			 e164[PHONE_MAX], masked[MASKED_MAX], fp_in[128];
	unsigned char		 ps[HASH_LEN], fp[HASH_LEN], key[HASH_LEN];
	enum locale		 locale = conf.default_locale;
	enum idem_result	 idem;
	int			 n;

	if (valid_body(c->resp, c->json, create_fields, CREATE__MAX, v) == -1)
		return;
	if (v[CREATE_LOCALE] != NULL) {
		for (locale = 0; locale < LOCALE__MAX; locale++)
			if (strcmp(v[CREATE_LOCALE], locale_names[locale]) == 0)
				break;
		if (locale == LOCALE__MAX) {
			resp_problem(c->resp, ERR_INVALID_REQUEST,
			    "Member \"locale\" must be \"en\" or \"ar\".");
			return;
		}
	}
	if (phone_member(c->resp, v[CREATE_PHONE], 0, e164, ps, masked) == -1)
		return;
	/* What the request means, for idempotency: not its bytes. */
	n = snprintf(fp_in, sizeof(fp_in), "%s\n%s\n%s", e164,
	    locale_names[locale], v[CREATE_PURPOSE] ? v[CREATE_PURPOSE] : "");
	sec_hash(fp, conf.pseudonym_key, fp_in, (size_t)n);
	sodium_memzero(fp_in, sizeof(fp_in));

	if ((idem = idem_begin(c, fp, ps, key)) == IDEM_DONE)
		goto out;
	create(c, e164, ps, masked, locale, v[CREATE_PURPOSE]);
	if (idem == IDEM_NEW)
		idem_finish(c, key);
out:
	sodium_memzero(e164, sizeof(e164));
}

/* The verification outcome, set after the transaction ends. */
struct verdict {
	int		 approved;
	int		 left;
	char		 status[24];
};

/*
 * Inside a transaction: check code against OTP o.  Returns 0 with the
 * verdict, or -1 with the response set (429, 409) or db error (-2).
 */
static int
check_code(struct ctx *c, struct otp *o, const char *code, struct verdict *v)
{
	const struct limit	 failed = { "failed_checks_per_phone_day",
	    "phone", 86400, conf.failed_checks_per_phone_day };
	struct db		*db = c->w->db;
	unsigned char		 subj[ID_MAX + HASH_LEN], h[HASH_LEN];
	sqlite3_stmt		*st;
	size_t			 n;
	int			 retry, rc, right;

	n = phone_subject(subj, c->app, o->phone_ps);
	switch (limit_check(db, &failed, subj, n, c->now, 0, &retry)) {
	case LIMIT_OK:
		break;
	case LIMIT_REACHED:
		limit_problem(c->resp, &failed, retry);
		return -1;
	case LIMIT_ERROR:
		return -2;
	}
	if (strcmp(otp_status(o, c->now), "pending") != 0) {
		if (strcmp(o->status, "pending") == 0) {
			/* Past its time: say so in the row too. */
			if ((st = db_stmt(db, STMT_OTP_EXPIRE)) == NULL)
				return -2;
			sqlite3_bind_text(st, 1, o->id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, (sqlite3_int64)c->now);
			rc = sqlite3_step(st);
			sqlite3_reset(st);
			if (rc != SQLITE_DONE)
				return -2;
		}
		not_pending(c->resp, otp_status(o, c->now));
		return -1;
	}
	code_hash(h, o->id, code);
	right = o->has_hash && sec_equal(h, o->code_hash, HASH_LEN);
	sodium_memzero(h, sizeof(h));
	if (right) {
		if ((st = db_stmt(db, STMT_OTP_APPROVE)) == NULL)
			return -2;
		sqlite3_bind_text(st, 1, o->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)c->now);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			return -2;
		if (sqlite3_changes(db->h) != 1) {
			not_pending(c->resp, "approved");
			return -1;
		}
		v->approved = 1;
		snprintf(v->status, sizeof(v->status), "approved");
		return 0;
	}
	if ((st = db_stmt(db, STMT_OTP_WRONG)) == NULL)
		return -2;
	sqlite3_bind_text(st, 1, o->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, conf.max_attempts);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || sqlite3_changes(db->h) != 1)
		return -2;
	/*
	 * What the row now holds follows from o, read in this transaction:
	 * RETURNING would cost a temporary table for every wrong code.
	 */
	v->left = conf.max_attempts - (o->attempts + 1);
	if (v->left <= 0)
		v->left = 0;
	snprintf(v->status, sizeof(v->status), "%s",
	    v->left == 0 ? "max_attempts_reached" : "pending");
	if (limit_check(db, &failed, subj, n, c->now, 1, &retry) ==
	    LIMIT_ERROR)
		return -2;
	return 0;
}

/* POST /v1/otp/verify */
void
api_otp_verify(struct ctx *c)
{
	const char		*v[VERIFY__MAX];
	struct db		*db = c->w->db;
	struct json_object	*j;
	struct verdict		 verdict;
	struct otp		 o;
	sqlite3_stmt		*st;
	char			 e164[PHONE_MAX], masked[MASKED_MAX];
	char			 id[ID_MAX];
	unsigned char		 ps[HASH_LEN];
	const char		*code;
	size_t			 n;
	int			 rc, found;

	if (valid_body(c->resp, c->json, verify_fields, VERIFY__MAX, v) == -1)
		return;
	if ((v[VERIFY_ID] == NULL) == (v[VERIFY_PHONE] == NULL)) {
		resp_problem(c->resp, ERR_INVALID_REQUEST,
		    "Give exactly one of \"id\" and \"phone\".");
		return;
	}
	code = v[VERIFY_CODE];
	n = strlen(code);
	if (n != (size_t)conf.code_length || strspn(code, "0123456789") != n) {
		resp_problem(c->resp, ERR_INVALID_REQUEST,
		    "Member \"code\" must be exactly %d digits.",
		    conf.code_length);
		return;
	}
	if (v[VERIFY_PHONE] != NULL &&
	    phone_member(c->resp, v[VERIFY_PHONE], 1, e164, ps, masked) == -1)
		return;

	memset(&verdict, 0, sizeof(verdict));
	if (db_exec(db, STMT_BEGIN_IMMEDIATE) == -1)
		goto unavailable;
	if (v[VERIFY_ID] != NULL)
		snprintf(id, sizeof(id), "%s", v[VERIFY_ID]);
	else {
		if ((st = db_stmt(db, STMT_OTP_CURRENT)) == NULL)
			goto rollback;
		sqlite3_bind_text(st, 1, c->app, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, ps, HASH_LEN, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			col_text(id, sizeof(id), st, 0);
		sqlite3_reset(st);
		if (rc == SQLITE_DONE) {
			db_exec(db, STMT_ROLLBACK);
			resp_problem(c->resp, ERR_NOT_FOUND,
			    "No pending OTP for this phone.");
			return;
		}
		if (rc != SQLITE_ROW)
			goto rollback;
	}
	if ((found = otp_load(db, id, c->app, &o)) == -1)
		goto rollback;
	if (found == 0 || strcmp(o.delivery, "queued") == 0) {
		/* Still being delivered: nobody can hold its code yet. */
		db_exec(db, STMT_ROLLBACK);
		resp_problem(c->resp, ERR_NOT_FOUND, "No such OTP.");
		return;
	}
	switch (check_code(c, &o, code, &verdict)) {
	case 0:
		break;
	case -1:
		/* A lazy expiry is worth keeping; nothing else was written. */
		if (db_exec(db, STMT_COMMIT) == -1)
			db_exec(db, STMT_ROLLBACK);
		return;
	default:
		goto rollback;
	}
	if (db_exec(db, STMT_COMMIT) == -1)
		goto rollback;
	j = json_object_new_object();
	add_str(j, "id", o.id);
	add_str(j, "status", verdict.status);
	json_object_object_add(j, "verified",
	    json_object_new_boolean(verdict.approved));
	if (!verdict.approved)
		json_object_object_add(j, "attempts_remaining",
		    json_object_new_int(verdict.left));
	resp_json(c->resp, 200, j);
	return;
rollback:
	db_exec(db, STMT_ROLLBACK);
unavailable:
	log_err("%s", db_errmsg(db));
	resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
}

/* GET /v1/otp/{id} */
void
api_otp_get(struct ctx *c)
{
	struct otp	 o;

	switch (otp_load(c->w->db, c->id, c->app, &o)) {
	case 1:
		resp_json(c->resp, 200, otp_json(&o, c->now));
		break;
	case 0:
		resp_problem(c->resp, ERR_NOT_FOUND, "No such OTP.");
		break;
	default:
		resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
		break;
	}
}

/* DELETE /v1/otp/{id} */
void
api_otp_cancel(struct ctx *c)
{
	struct db	*db = c->w->db;
	struct otp	 o;
	sqlite3_stmt	*st;
	int		 rc;

	if (db_exec(db, STMT_BEGIN_IMMEDIATE) == -1)
		goto unavailable;
	if ((rc = otp_load(db, c->id, c->app, &o)) != 1) {
		db_exec(db, STMT_ROLLBACK);
		if (rc == 0)
			resp_problem(c->resp, ERR_NOT_FOUND, "No such OTP.");
		else
			goto unavailable;
		return;
	}
	if (strcmp(otp_status(&o, c->now), "pending") != 0) {
		db_exec(db, STMT_ROLLBACK);
		not_pending(c->resp, otp_status(&o, c->now));
		return;
	}
	if ((st = db_stmt(db, STMT_OTP_CANCEL)) == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->app, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)c->now);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || otp_load(db, c->id, c->app, &o) != 1 ||
	    db_exec(db, STMT_COMMIT) == -1)
		goto rollback;
	resp_json(c->resp, 200, otp_json(&o, c->now));
	return;
rollback:
	db_exec(db, STMT_ROLLBACK);
unavailable:
	log_err("%s", db_errmsg(db));
	resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
}

/* The deletion object of API.md §3. */
static struct json_object *
deletion_json(const char *id, long long otps, long long events, time_t at)
{
	struct json_object	*j, *d;

	j = json_object_new_object();
	add_str(j, "id", id);
	add_str(j, "status", "completed");
	d = json_object_new_object();
	json_object_object_add(d, "otps", json_object_new_int64(otps));
	json_object_object_add(d, "delivery_events",
	    json_object_new_int64(events));
	json_object_object_add(j, "deleted", d);
	add_time(j, "completed_at", at);
	return j;
}

/* POST /v1/deletions */
void
api_deletion_create(struct ctx *c)
{
	const char	*v[DELETION__MAX];
	struct db	*db = c->w->db;
	struct erased	 e;
	sqlite3_stmt	*st;
	char		 e164[PHONE_MAX], masked[MASKED_MAX], id[ID_MAX];
	char		 detail[64];
	unsigned char	 ps[HASH_LEN];
	int		 rc;

	if (valid_body(c->resp, c->json, deletion_fields, DELETION__MAX,
	    v) == -1)
		return;
	if (phone_member(c->resp, v[DELETION_PHONE], 1, e164, ps,
	    masked) == -1)
		return;
	sodium_memzero(e164, sizeof(e164));
	sec_random_id(id, sizeof(id), "del_");
	if (db_exec(db, STMT_BEGIN_IMMEDIATE) == -1)
		goto unavailable;
	if (erase_phone(db, c->app, ps, &e) == -1 ||
	    (st = db_stmt(db, STMT_DELETION_INSERT)) == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->app, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, e.otps);
	sqlite3_bind_int64(st, 5, e.delivery_events);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)c->now);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	snprintf(detail, sizeof(detail), "otps=%lld delivery_events=%lld",
	    e.otps, e.delivery_events);
	if (rc != SQLITE_DONE ||
	    db_audit(db, c->app, "deletion", id, detail) == -1 ||
	    db_exec(db, STMT_COMMIT) == -1)
		goto rollback;
	log_info("%s by %s: %s", id, c->app, detail);
	resp_json(c->resp, 200, deletion_json(id, e.otps, e.delivery_events,
	    c->now));
	return;
rollback:
	db_exec(db, STMT_ROLLBACK);
unavailable:
	log_err("%s", db_errmsg(db));
	resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
}

/* GET /v1/deletions/{id} */
void
api_deletion_get(struct ctx *c)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_stmt(c->w->db, STMT_DELETION_GET)) == NULL) {
		resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
		return;
	}
	sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->app, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		resp_json(c->resp, 200, deletion_json(c->id,
		    sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
		    (time_t)sqlite3_column_int64(st, 4)));
	else if (rc == SQLITE_DONE)
		resp_problem(c->resp, ERR_NOT_FOUND, "No such deletion.");
	else
		resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
	sqlite3_reset(st);
}
