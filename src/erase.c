/*
 * Erasure: everything held about one phone number, for one application
 * or (app NULL) for all of them.  The one code path behind
 * /v1/deletions, the deletion page and otp-purge's idea of "gone".
 * Rate-limit windows stay until they close, so a deletion cannot lift
 * abuse limits.
 */
#include <sqlite3.h>

#include "otp.h"

/*
 * Delete the OTPs (their delivery events go with them) and idempotency
 * records of phone_ps, counting what went.  Run it inside the caller's
 * transaction.  Returns 0 or -1.
 */
int
erase_phone(struct db *db, const char *app,
    const unsigned char phone_ps[HASH_LEN], struct erased *e)
{
	static const enum stmt	 steps[] = {
		STMT_ERASE_COUNT_EVENTS, STMT_ERASE_OTPS, STMT_ERASE_IDEM
	};
	sqlite3_stmt		*st;
	size_t			 i;
	int			 rc;

	e->otps = e->delivery_events = 0;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if ((st = db_stmt(db, steps[i])) == NULL)
			return -1;
		if (app != NULL)
			sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 2, phone_ps, HASH_LEN, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (steps[i] == STMT_ERASE_COUNT_EVENTS && rc == SQLITE_ROW) {
			e->delivery_events = sqlite3_column_int64(st, 0);
			rc = SQLITE_DONE;
		} else if (steps[i] == STMT_ERASE_OTPS && rc == SQLITE_DONE)
			e->otps = sqlite3_changes64(db->h);
		sqlite3_reset(st);
		if (rc != SQLITE_DONE) {
			log_err("%s", db_errmsg(db));
			return -1;
		}
	}
	return 0;
}
