/*
 * Idempotency keys for POST /v1/otp, per application: the first request
 * with a key is recorded in flight, its answer is stored when done, and
 * a repeat within idempotency_hours replays that answer and sends
 * nothing.  Keys and fingerprints are stored as keyed hashes.
 */
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "otp.h"

#define IDEM_KEY_MAX	255

/*
 * Seconds after which an in-flight record is taken as abandoned (its
 * worker died): longer than the longest delivery can take.
 */
static time_t
stale_after(void)
{
	return (time_t)conf.timeout_ms * (conf.retries + 1) / 1000 +
	    (conf.retries + 1) * 2 + 60;
}

/* Put a stored answer back into the response. */
static void
replay(struct resp *resp, sqlite3_stmt *st)
{
	const char	*h = (const char *)sqlite3_column_text(st, 3);
	size_t		 hn = (size_t)sqlite3_column_bytes(st, 3);
	int		 status = sqlite3_column_int(st, 2);

	resp_text(resp, status, status < 400 ?
	    "application/json; charset=utf-8" : "application/problem+json",
	    (const char *)sqlite3_column_text(st, 4),
	    (size_t)sqlite3_column_bytes(st, 4));
	if (h != NULL && hn < sizeof(resp->headers)) {
		memcpy(resp->headers, h, hn + 1);
		resp->headersz = hn;
	}
}

/*
 * Start a request that may carry an Idempotency-Key.  fingerprint is a
 * keyed hash of what the request means; phone_ps lets a deletion find
 * the record.  IDEM_NEW leaves the key's hash in keyhash for
 * idem_finish(); IDEM_DONE means the response is already set (a
 * replay, a conflict, or an error).
 */
enum idem_result
idem_begin(struct ctx *c, const unsigned char *fingerprint,
    const unsigned char *phone_ps, unsigned char keyhash[HASH_LEN])
{
	struct db	*db = c->w->db;
	sqlite3_stmt	*st;
	const char	*key = c->req->idempotency_key;
	size_t		 i, n;
	int		 rc, done;
	time_t		 created;

	if (key == NULL)
		return IDEM_NONE;
	n = strlen(key);
	for (i = 0; i < n; i++)
		if (key[i] < 0x20 || key[i] > 0x7e)
			break;
	if (n == 0 || n > IDEM_KEY_MAX || i < n) {
		resp_problem(c->resp, ERR_INVALID_REQUEST, "Idempotency-Key "
		    "must be 1 to %d printable ASCII characters.",
		    IDEM_KEY_MAX);
		return IDEM_DONE;
	}
	sec_hash(keyhash, conf.pseudonym_key, key, n);
	if (db_exec(db, STMT_BEGIN_IMMEDIATE) == -1)
		goto fail;
	if ((st = db_stmt(db, STMT_IDEM_GET)) == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, c->app, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, keyhash, HASH_LEN, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		created = (time_t)sqlite3_column_int64(st, 5);
		done = sqlite3_column_int(st, 1);
		if (created + conf.idempotency_hours * 3600 > c->now &&
		    (done || created + stale_after() > c->now)) {
			if (sqlite3_column_bytes(st, 0) != HASH_LEN ||
			    !sec_equal(sqlite3_column_blob(st, 0),
			    fingerprint, HASH_LEN))
				resp_problem(c->resp,
				    ERR_IDEMPOTENCY_KEY_REUSED, NULL);
			else if (!done)
				resp_problem(c->resp,
				    ERR_REQUEST_IN_PROGRESS, NULL);
			else
				replay(c->resp, st);
			sqlite3_reset(st);
			db_exec(db, STMT_ROLLBACK);
			return IDEM_DONE;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto rollback;
	if (rc == SQLITE_ROW) {
		/* Expired or abandoned: start afresh. */
		if ((st = db_stmt(db, STMT_IDEM_DELETE)) == NULL)
			goto rollback;
		sqlite3_bind_text(st, 1, c->app, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, keyhash, HASH_LEN, SQLITE_STATIC);
		rc = sqlite3_step(st);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE)
			goto rollback;
	}
	if ((st = db_stmt(db, STMT_IDEM_INSERT)) == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, c->app, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, keyhash, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, fingerprint, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, phone_ps, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)c->now);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE || db_exec(db, STMT_COMMIT) == -1)
		goto rollback;
	return IDEM_NEW;
rollback:
	db_exec(db, STMT_ROLLBACK);
fail:
	log_err("%s", db_errmsg(db));
	resp_problem(c->resp, ERR_UNAVAILABLE, NULL);
	return IDEM_DONE;
}

/*
 * Store the answer now in the response for replays.  A 5xx answer is
 * not stored: the record is dropped so the client may try again.  Only
 * the record this request made (its created_at) is touched.
 */
void
idem_finish(struct ctx *c, const unsigned char keyhash[HASH_LEN])
{
	struct db	*db = c->w->db;
	sqlite3_stmt	*st;
	int		 rc;

	if (db == NULL)
		return;		/* lost during a send: it expires as abandoned */
	if (c->resp->status >= 500) {
		if ((st = db_stmt(db, STMT_IDEM_DELETE)) == NULL)
			return;
	} else {
		if ((st = db_stmt(db, STMT_IDEM_FINISH)) == NULL)
			return;
		sqlite3_bind_int(st, 3, c->resp->status);
		sqlite3_bind_text(st, 4, c->resp->headers,
		    (int)c->resp->headersz, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, c->resp->body.p ? c->resp->body.p : "",
		    (int)c->resp->body.len, SQLITE_STATIC);
	}
	sqlite3_bind_text(st, 1, c->app, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, keyhash, HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)c->now);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		log_err("%s", db_errmsg(db));
}
