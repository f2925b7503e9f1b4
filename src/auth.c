/*
 * Authentication of applications by API key.  Keys are stored only as
 * keyed hashes, so a lookup by hash leaks nothing through its timing
 * about the keys we hold.
 */
#include <string.h>
#include <strings.h>

#include <sodium.h>
#include <sqlite3.h>

#include "otp.h"

#define APIKEY_MAX	128

/*
 * The key of an Authorization header "Bearer <key>", or NULL when it is
 * missing or could not be one of ours: such a request is refused
 * before it takes a database connection.
 */
const char *
auth_key(const char *authorization)
{
	const char	*key;
	size_t		 n;

	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7))
		return NULL;
	key = authorization + 7;
	n = strlen(key);
	if (n == 0 || n > APIKEY_MAX || strspn(key, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != n)
		return NULL;
	return key;
}

/*
 * The application of "Bearer <key>": AUTH_OK with its id in app,
 * AUTH_DENIED for a missing, malformed, unknown, revoked or disabled
 * key, AUTH_ERROR when the database fails.
 */
enum auth_result
auth_app(struct db *db, const char *authorization, char app[ID_MAX])
{
	unsigned char	 h[HASH_LEN];
	sqlite3_stmt	*st;
	const char	*key;
	size_t		 n;
	int		 rc;

	if ((key = auth_key(authorization)) == NULL)
		return AUTH_DENIED;
	n = strlen(key);
	sec_hash(h, conf.apikey_key, key, n);
	if ((st = db_stmt(db, STMT_KEY_LOOKUP)) == NULL)
		return AUTH_ERROR;
	sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		n = (size_t)sqlite3_column_bytes(st, 0);
		if (n == 0 || n >= ID_MAX) {
			sqlite3_reset(st);
			return AUTH_ERROR;
		}
		memcpy(app, sqlite3_column_text(st, 0), n + 1);
	}
	sqlite3_reset(st);
	sodium_memzero(h, sizeof(h));
	if (rc == SQLITE_ROW)
		return AUTH_OK;
	if (rc == SQLITE_DONE)
		return AUTH_DENIED;
	log_err("%s", db_errmsg(db));
	return AUTH_ERROR;
}
