/*
 * Rate limits in fixed windows.  A window's counter is keyed by a keyed
 * hash of the limit's name and the subject (an application, a phone pseudonym,
 * an address), so the table holds nothing readable, and it lives apart
 * from the OTPs: deleting a person's data does not lift their limits.
 */
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "otp.h"

/*
 * Is the subject within l at time now?  With hit set, an attempt that is
 * allowed is also counted.  On LIMIT_REACHED *retry_after holds the
 * seconds to the window's end.  Run it inside the caller's transaction.
 */
enum limit_result
limit_check(struct db *db, const struct limit *l, const void *subject,
    size_t sz, time_t now, int hit, int *retry_after)
{
	unsigned char		 bucket[HASH_LEN], in[256];
	sqlite3_stmt		*st;
	sqlite3_int64		 end;
	size_t			 n = strlen(l->name);
	int			 count = 0, rc;

	if (l->max == 0)
		return LIMIT_OK;
	if (n + 1 + sz > sizeof(in))
		return LIMIT_ERROR;
	memcpy(in, l->name, n + 1);
	memcpy(in + n + 1, subject, sz);
	sec_hash(bucket, conf.pseudonym_key, in, n + 1 + sz);
	end = ((sqlite3_int64)now / l->window + 1) * l->window;

	if ((st = db_stmt(db, STMT_RATE_GET)) == NULL)
		return LIMIT_ERROR;
	sqlite3_bind_blob(st, 1, bucket, sizeof(bucket), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, end);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW)
		count = sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return LIMIT_ERROR;
	if (count >= l->max) {
		*retry_after = (int)(end - now);
		return LIMIT_REACHED;
	}
	if (!hit)
		return LIMIT_OK;
	if ((st = db_stmt(db, STMT_RATE_HIT)) == NULL)
		return LIMIT_ERROR;
	sqlite3_bind_blob(st, 1, bucket, sizeof(bucket), SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, end);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? LIMIT_OK : LIMIT_ERROR;
}

/* The 429 problem for l: retry_after, scope and Retry-After. */
void
limit_problem(struct resp *resp, const struct limit *l, int retry_after)
{
	struct json_object	*o;

	if (retry_after < 1)
		retry_after = 1;
	o = resp_problem_new(ERR_RATE_LIMITED,
	    "Too many requests (%s); retry in %d seconds.", l->scope,
	    retry_after);
	json_object_object_add(o, "retry_after",
	    json_object_new_int(retry_after));
	json_object_object_add(o, "scope", json_object_new_string(l->scope));
	resp_header(resp, "Retry-After", "%d", retry_after);
	resp_problem_send(resp, ERR_RATE_LIMITED, o);
}
