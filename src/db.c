/*
 * Storage: one SQLite database in WAL mode, a small pool of connections
 * that the worker threads take in turn (one thread at a time on each),
 * group commit on the writer, statements prepared once per connection
 * from the table below, and numbered migrations kept in PRAGMA
 * user_version.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "otp.h"

#define CHECKPOINT_PAGES	1000	/* SQLite's own default */

/*
 * The schema, one migration per entry; entry i brings user_version from
 * i to i + 1.  No column holds a plaintext code, key or phone number:
 * phones are keyed pseudonyms (phone_ps) beside their masked form, codes
 * and keys are keyed hashes.
 */
static const char *const migrations[] = {
	/* 1: the whole contract. */
	"CREATE TABLE app ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  enabled INTEGER NOT NULL DEFAULT 1,"
	"  created_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE api_key ("
	"  hash BLOB PRIMARY KEY,"
	"  app_id TEXT NOT NULL REFERENCES app(id),"
	"  created_at INTEGER NOT NULL,"
	"  revoked_at INTEGER"
	") STRICT;"
	"CREATE INDEX api_key_app ON api_key(app_id);"
	"CREATE TABLE otp ("
	"  id TEXT PRIMARY KEY,"
	"  app_id TEXT NOT NULL REFERENCES app(id),"
	"  phone_ps BLOB NOT NULL,"
	"  phone_masked TEXT NOT NULL,"
	"  purpose TEXT,"
	"  locale TEXT NOT NULL,"
	"  code_hash BLOB,"
	"  status TEXT NOT NULL,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL,"
	"  channel TEXT NOT NULL,"
	"  wamid TEXT,"
	"  delivery_status TEXT NOT NULL,"
	"  delivery_error_code INTEGER,"
	"  delivery_error_title TEXT,"
	"  delivery_updated_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE INDEX otp_phone ON otp(app_id, phone_ps, created_at);"
	"CREATE INDEX otp_phone_all ON otp(phone_ps);"
	"CREATE INDEX otp_created ON otp(created_at);"
	"CREATE UNIQUE INDEX otp_wamid ON otp(wamid) WHERE wamid IS NOT NULL;"
	"CREATE TABLE delivery_event ("
	"  id INTEGER PRIMARY KEY,"
	"  otp_id TEXT NOT NULL REFERENCES otp(id) ON DELETE CASCADE,"
	"  status TEXT NOT NULL,"
	"  error_code INTEGER,"
	"  error_title TEXT,"
	"  at INTEGER NOT NULL"
	") STRICT;"
	"CREATE INDEX delivery_event_otp ON delivery_event(otp_id);"
	"CREATE TABLE idempotency ("
	"  app_id TEXT NOT NULL REFERENCES app(id),"
	"  key_hash BLOB NOT NULL,"
	"  body_hash BLOB NOT NULL,"
	"  phone_ps BLOB,"
	"  done INTEGER NOT NULL DEFAULT 0,"
	"  status INTEGER,"
	"  headers TEXT,"
	"  body TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  PRIMARY KEY (app_id, key_hash)"
	") STRICT;"
	"CREATE INDEX idempotency_created ON idempotency(created_at);"
	"CREATE INDEX idempotency_phone ON idempotency(phone_ps);"
	"CREATE TABLE rate ("
	"  bucket BLOB NOT NULL,"
	"  window_end INTEGER NOT NULL,"
	"  count INTEGER NOT NULL,"
	"  PRIMARY KEY (bucket, window_end)"
	") STRICT, WITHOUT ROWID;"
	"CREATE INDEX rate_end ON rate(window_end);"
	"CREATE TABLE deletion ("
	"  id TEXT PRIMARY KEY,"
	"  app_id TEXT REFERENCES app(id),"
	"  confirmation_hash BLOB UNIQUE,"
	"  status TEXT NOT NULL,"
	"  otps INTEGER NOT NULL DEFAULT 0,"
	"  delivery_events INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  completed_at INTEGER"
	") STRICT;"
	"CREATE TABLE deletion_challenge ("
	"  id TEXT PRIMARY KEY,"
	"  phone_ps BLOB NOT NULL,"
	"  code_hash BLOB,"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  expires_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  actor TEXT NOT NULL,"
	"  action TEXT NOT NULL,"
	"  subject TEXT,"
	"  detail TEXT"
	") STRICT;"
	"CREATE INDEX audit_at ON audit(at);",
	/*
	 * 2: message ids are WhatsApp's to give; one repeated by mistake
	 * must not fail the recording of a message that went out.
	 */
	"DROP INDEX otp_wamid;"
	"CREATE INDEX otp_wamid ON otp(wamid) WHERE wamid IS NOT NULL;",
	/*
	 * 3: one index serves both the per-application lookups and the
	 * erasure of a number across applications: one less to write for
	 * each OTP.
	 */
	"DROP INDEX otp_phone;"
	"DROP INDEX otp_phone_all;"
	"CREATE INDEX otp_phone ON otp(phone_ps, app_id, created_at);",
};

#define MIGRATIONSZ	(int)(sizeof(migrations) / sizeof(migrations[0]))

static const char *const stmts[STMT__MAX] = {
	[STMT_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_SAVEPOINT] = "SAVEPOINT job",
	[STMT_RELEASE] = "RELEASE job",
	[STMT_ROLLBACK_TO] = "ROLLBACK TO job",
	[STMT_PING] = "SELECT count(*) FROM app",
	[STMT_APP_INSERT] =
	    "INSERT INTO app (id, name, created_at) VALUES (?1, ?2, ?3)",
	[STMT_APP_LIST] =
	    "SELECT id, name, enabled, created_at, (SELECT count(*) FROM "
	    "api_key WHERE app_id = app.id AND revoked_at IS NULL) "
	    "FROM app ORDER BY created_at, id",
	[STMT_APP_SET_ENABLED] = "UPDATE app SET enabled = ?2 WHERE id = ?1",
	[STMT_APP_EXISTS] = "SELECT 1 FROM app WHERE id = ?1",
	[STMT_KEY_INSERT] =
	    "INSERT INTO api_key (hash, app_id, created_at) VALUES (?1, ?2, ?3)",
	[STMT_KEY_REVOKE_ALL] =
	    "UPDATE api_key SET revoked_at = ?2 "
	    "WHERE app_id = ?1 AND revoked_at IS NULL",
	[STMT_KEY_LOOKUP] =
	    "SELECT app.id FROM api_key JOIN app ON app.id = api_key.app_id "
	    "WHERE api_key.hash = ?1 AND api_key.revoked_at IS NULL "
	    "AND app.enabled = 1",
	[STMT_AUDIT_INSERT] =
	    "INSERT INTO audit (at, actor, action, subject, detail) "
	    "VALUES (?1, ?2, ?3, ?4, ?5)",
	[STMT_AUDIT_LIST] =
	    "SELECT at, actor, action, subject, detail FROM audit ORDER BY id",
	[STMT_OTP_INSERT] =
	    "INSERT INTO otp (id, app_id, phone_ps, phone_masked, purpose, "
	    "locale, code_hash, status, created_at, expires_at, channel, "
	    "delivery_status, delivery_updated_at) VALUES (?1, ?2, ?3, ?4, "
	    "?5, ?6, ?7, 'pending', ?8, ?9, ?10, 'queued', ?8)",
	[STMT_OTP_SENT] =
	    "UPDATE otp SET delivery_status = 'sent', wamid = ?2, "
	    "delivery_updated_at = ?3 WHERE id = ?1",
	[STMT_OTP_SUPERSEDE] =
	    "UPDATE otp SET status = 'canceled', code_hash = NULL "
	    "WHERE app_id = ?1 AND phone_ps = ?2 AND status = 'pending' "
	    "AND rowid < (SELECT rowid FROM otp WHERE id = ?3)",
	[STMT_OTP_FAILED] =
	    "UPDATE otp SET status = 'failed', code_hash = NULL, "
	    "delivery_status = 'failed', delivery_error_code = ?2, "
	    "delivery_error_title = ?3, delivery_updated_at = ?4 WHERE id = ?1",
	[STMT_OTP_GET] =
	    "SELECT id, status, phone_masked, purpose, locale, created_at, "
	    "expires_at, attempts, channel, delivery_status, "
	    "delivery_error_code, delivery_error_title, delivery_updated_at, "
	    "code_hash, phone_ps FROM otp WHERE id = ?1 AND app_id = ?2",
	[STMT_OTP_CURRENT] =
	    "SELECT id FROM otp WHERE app_id = ?1 AND phone_ps = ?2 "
	    "AND status = 'pending' AND delivery_status != 'queued' "
	    "ORDER BY created_at DESC, rowid DESC LIMIT 1",
	[STMT_OTP_LAST_SEND] =
	    "SELECT max(created_at) FROM otp WHERE app_id = ?1 "
	    "AND phone_ps = ?2 AND status != 'failed'",
	[STMT_OTP_APPROVE] =
	    "UPDATE otp SET status = 'approved', code_hash = NULL "
	    "WHERE id = ?1 AND status = 'pending' AND expires_at > ?2",
	[STMT_OTP_WRONG] =
	    "UPDATE otp SET attempts = attempts + 1, "
	    "status = CASE WHEN attempts + 1 >= ?2 "
	    "THEN 'max_attempts_reached' ELSE status END, "
	    "code_hash = CASE WHEN attempts + 1 >= ?2 "
	    "THEN NULL ELSE code_hash END "
	    "WHERE id = ?1 AND status = 'pending'",
	[STMT_OTP_EXPIRE] =
	    "UPDATE otp SET status = 'expired', code_hash = NULL "
	    "WHERE id = ?1 AND status = 'pending' AND expires_at <= ?2",
	[STMT_OTP_CANCEL] =
	    "UPDATE otp SET status = 'canceled', code_hash = NULL "
	    "WHERE id = ?1 AND app_id = ?2 AND status = 'pending' "
	    "AND expires_at > ?3",
	[STMT_EVENT_INSERT] =
	    "INSERT INTO delivery_event (otp_id, status, error_code, "
	    "error_title, at) VALUES (?1, ?2, ?3, ?4, ?5)",
	[STMT_WEBHOOK_STATUS] =
	    "UPDATE otp SET delivery_status = ?2, delivery_updated_at = ?3, "
	    "delivery_error_code = CASE WHEN ?2 = 'failed' THEN ?4 "
	    "ELSE delivery_error_code END, "
	    "delivery_error_title = CASE WHEN ?2 = 'failed' THEN ?5 "
	    "ELSE delivery_error_title END, "
	    "status = CASE WHEN ?2 = 'failed' AND status = 'pending' "
	    "THEN 'failed' ELSE status END, "
	    "code_hash = CASE WHEN ?2 = 'failed' AND status = 'pending' "
	    "THEN NULL ELSE code_hash END "
	    "WHERE wamid = ?1 AND CASE ?2 "
	    "WHEN 'sent' THEN delivery_status = 'queued' "
	    "WHEN 'delivered' THEN delivery_status IN ('queued', 'sent') "
	    "WHEN 'read' THEN delivery_status IN ('queued', 'sent', "
	    "'delivered') "
	    "WHEN 'failed' THEN delivery_status != 'failed' ELSE 0 END "
	    "RETURNING id",
	[STMT_RATE_GET] =
	    "SELECT count FROM rate WHERE bucket = ?1 AND window_end = ?2",
	[STMT_RATE_HIT] =
	    "INSERT INTO rate (bucket, window_end, count) VALUES (?1, ?2, 1) "
	    "ON CONFLICT (bucket, window_end) DO UPDATE SET count = count + 1",
	[STMT_IDEM_GET] =
	    "SELECT body_hash, done, status, headers, body, created_at "
	    "FROM idempotency WHERE app_id = ?1 AND key_hash = ?2",
	[STMT_IDEM_INSERT] =
	    "INSERT INTO idempotency (app_id, key_hash, body_hash, phone_ps, "
	    "created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
	[STMT_IDEM_FINISH] =
	    "UPDATE idempotency SET done = 1, status = ?3, headers = ?4, "
	    "body = ?5 WHERE app_id = ?1 AND key_hash = ?2 "
	    "AND created_at = ?6",
	[STMT_IDEM_DELETE] =
	    "DELETE FROM idempotency WHERE app_id = ?1 AND key_hash = ?2 "
	    "AND (?6 IS NULL OR created_at = ?6)",
	[STMT_ERASE_COUNT_EVENTS] =
	    "SELECT count(*) FROM delivery_event WHERE otp_id IN "
	    "(SELECT id FROM otp WHERE phone_ps = ?2 "
	    "AND (?1 IS NULL OR app_id = ?1))",
	[STMT_ERASE_OTPS] =
	    "DELETE FROM otp WHERE phone_ps = ?2 AND (?1 IS NULL OR app_id = ?1)",
	[STMT_ERASE_IDEM] =
	    "DELETE FROM idempotency WHERE phone_ps = ?2 "
	    "AND (?1 IS NULL OR app_id = ?1)",
	[STMT_DELETION_INSERT] =
	    "INSERT INTO deletion (id, app_id, confirmation_hash, status, otps, "
	    "delivery_events, created_at, completed_at) "
	    "VALUES (?1, ?2, ?3, 'completed', ?4, ?5, ?6, ?6)",
	[STMT_DELETION_GET] =
	    "SELECT id, status, otps, delivery_events, completed_at "
	    "FROM deletion WHERE id = ?1 AND app_id = ?2",
	[STMT_DELETION_BY_CONFIRMATION] =
	    "SELECT status, completed_at FROM deletion "
	    "WHERE confirmation_hash = ?1",
	[STMT_PHONE_HELD] =
	    "SELECT 1 FROM otp WHERE phone_ps = ?1 UNION ALL "
	    "SELECT 1 FROM idempotency WHERE phone_ps = ?1 LIMIT 1",
	[STMT_CHALLENGE_INSERT] =
	    "INSERT INTO deletion_challenge (id, phone_ps, code_hash, "
	    "created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
	[STMT_CHALLENGE_GET] =
	    "SELECT phone_ps, code_hash, attempts FROM deletion_challenge "
	    "WHERE id = ?1 AND expires_at > ?2",
	[STMT_CHALLENGE_FAIL] =
	    "UPDATE deletion_challenge SET attempts = attempts + 1 "
	    "WHERE id = ?1",
	[STMT_CHALLENGE_ERASE] =
	    "DELETE FROM deletion_challenge WHERE phone_ps = ?1",
};

/*
 * Open a connection (creating the file if needed) and set it up: WAL,
 * a busy timeout, foreign keys, synchronous = NORMAL.  Returns 0, or -1
 * with the connection closed.
 */
int
db_open(struct db *db, const char *path)
{
	char	*msg = NULL;

	memset(db, 0, sizeof(*db));
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_err("%s: %s", path, db->h ? sqlite3_errmsg(db->h) :
		    "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(db->h, 5000);
	if (sqlite3_exec(db->h, "PRAGMA journal_mode = WAL;"
	    "PRAGMA synchronous = NORMAL;"
	    "PRAGMA foreign_keys = ON;"
	    "PRAGMA secure_delete = ON;", NULL, NULL, &msg) != SQLITE_OK) {
		log_err("%s: %s", path, msg ? msg : "pragma failed");
		goto fail;
	}
	return 0;
fail:
	sqlite3_free(msg);
	db_close(db);
	return -1;
}

void
db_close(struct db *db)
{
	int	 i;

	if (db->writing) {
		db->writing = 0;
		pthread_mutex_unlock(db->wlock);
	}
	for (i = 0; i < STMT__MAX; i++)
		sqlite3_finalize(db->st[i]);
	sqlite3_close(db->h);
	memset(db, 0, sizeof(*db));
}

const char *
db_errmsg(struct db *db)
{
	return sqlite3_errmsg(db->h);
}

/*
 * Bring the schema up to date inside one immediate transaction, so two
 * processes starting at once cannot both migrate.  Returns 0 or -1.
 */
int
db_migrate(struct db *db)
{
	sqlite3_stmt	*st = NULL;
	char		*msg = NULL, pragma[64];
	int		 v, rc = -1;

	if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL, &msg) !=
	    SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st,
	    NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
		goto rollback;
	v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (v > MIGRATIONSZ) {
		log_err("database schema %d is newer than this program (%d)",
		    v, MIGRATIONSZ);
		goto rollback;
	}
	for (; v < MIGRATIONSZ; v++) {
		if (sqlite3_exec(db->h, migrations[v], NULL, NULL, &msg) !=
		    SQLITE_OK)
			goto rollback;
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d",
		    v + 1);
		if (sqlite3_exec(db->h, pragma, NULL, NULL, &msg) != SQLITE_OK)
			goto rollback;
	}
	if (sqlite3_exec(db->h, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
		goto rollback;
	rc = 0;
	goto out;
rollback:
	sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
out:
	if (rc == -1)
		log_err("migration failed: %s", msg ? msg : db_errmsg(db));
	sqlite3_finalize(st);
	sqlite3_free(msg);
	return rc;
}

/*
 * The prepared statement s, reset and with its bindings cleared, ready
 * to bind and step.  Prepared on first use and kept for the life of the
 * connection.  NULL on error (logged).
 */
sqlite3_stmt *
db_stmt(struct db *db, enum stmt s)
{
	/* A batch's lost transaction: nothing may run in its place. */
	if (db->batched && sqlite3_get_autocommit(db->h)) {
		log_err("statement %d: the batch's transaction is lost", s);
		return NULL;
	}
	if (db->st[s] == NULL) {
		if (sqlite3_prepare_v3(db->h, stmts[s], -1,
		    SQLITE_PREPARE_PERSISTENT, &db->st[s], NULL) != SQLITE_OK) {
			log_err("prepare %d: %s", s, db_errmsg(db));
			return NULL;
		}
	} else {
		sqlite3_reset(db->st[s]);
		sqlite3_clear_bindings(db->st[s]);
	}
	return db->st[s];
}

/* Step statement s, which takes no values, once: 0 or -1 (logged). */
static int
step_once(struct db *db, enum stmt s)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_stmt(db, s)) == NULL)
		return -1;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		log_err("step %d: %s", s, db_errmsg(db));
		return -1;
	}
	return 0;
}

/*
 * db_exec() for a request in a batch (db_pool_batch()): its transaction
 * is a savepoint inside the batch's.
 */
static int
batch_exec(struct db *db, enum stmt s)
{
	switch (s) {
	case STMT_BEGIN_IMMEDIATE:
		return step_once(db, STMT_SAVEPOINT);
	case STMT_COMMIT:
		return step_once(db, STMT_RELEASE);
	case STMT_ROLLBACK:
		/* Undo the job's work, or the whole batch's if need be. */
		if (step_once(db, STMT_ROLLBACK_TO) == -1 ||
		    step_once(db, STMT_RELEASE) == -1) {
			step_once(db, STMT_ROLLBACK);
			return -1;
		}
		return 0;
	default:
		return step_once(db, s);
	}
}

/*
 * Run a statement that takes no values and returns no rows: 0 or -1.
 * The worker threads of one process take turns at BEGIN IMMEDIATE on
 * the process's write lock, so that they queue instead of sleeping in
 * SQLite's busy handler; the lock is let go at a COMMIT that succeeds
 * or at ROLLBACK.  Other processes (otp-purge) still meet busy_timeout.
 */
int
db_exec(struct db *db, enum stmt s)
{
	int	 rc;

	if (db->batched)
		return batch_exec(db, s);
	if (s == STMT_BEGIN_IMMEDIATE && db->wlock != NULL) {
		pthread_mutex_lock(db->wlock);
		db->writing = 1;
	}
	rc = step_once(db, s);
	if (db->writing && (s == STMT_ROLLBACK ||
	    (rc == 0 && s == STMT_COMMIT) ||
	    (rc == -1 && s == STMT_BEGIN_IMMEDIATE))) {
		db->writing = 0;
		pthread_mutex_unlock(db->wlock);
	}
	return rc;
}

/*
 * Append an audit record.  Callers pass ids and counts, never a phone
 * number, code or key.  Returns 0 or -1.
 */
int
db_audit(struct db *db, const char *actor, const char *action,
    const char *subject, const char *detail)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_stmt(db, STMT_AUDIT_INSERT)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)time(NULL));
	sqlite3_bind_text(st, 2, actor, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, subject, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, detail, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		log_err("audit: %s", db_errmsg(db));
		return -1;
	}
	return 0;
}

/*
 * Called by SQLite after each commit of a server's connection, in place
 * of its automatic checkpoint: past CHECKPOINT_PAGES, the checkpointer
 * is woken instead of making this request copy the WAL into the
 * database and sync both files while every other writer waits.
 */
static int
wal_hook(void *arg, sqlite3 *h, const char *name, int pages)
{
	struct dbpool	*p = arg;

	(void)h;
	(void)name;
	if (pages >= CHECKPOINT_PAGES) {
		pthread_mutex_lock(&p->lock);
		p->wal_pages = pages;
		pthread_cond_signal(&p->wal_full);
		pthread_mutex_unlock(&p->lock);
	}
	return SQLITE_OK;
}

/*
 * The disk failed to write what a checkpoint copied.  Linux reports a
 * failed write-back once: a later sync of the same file could succeed
 * with the pages lost, and the WAL that still holds them would then be
 * started over.  So the process ends at once, without closing the
 * database (a close checkpoints too).  Its next start, if no other
 * process has the database open, rebuilds the WAL's index and copies the
 * whole WAL again; lighttpd starts it again at the next request, systemd
 * at once (Restart=on-failure).
 */
static void
disk_failed(const char *what)
{
	log_err("%s: the disk failed; exiting, so that the next start "
	    "copies the whole WAL again", what);
	_exit(EXIT_FAILURE);
}

/*
 * Sync a file of the checkpointer's connection: the database (op
 * SQLITE_FCNTL_FILE_POINTER) or its WAL (SQLITE_FCNTL_JOURNAL_POINTER).
 */
static void
ckpt_sync(struct db *db, int op)
{
	sqlite3_file	*f = NULL;

	if (sqlite3_file_control(db->h, "main", op, &f) == SQLITE_OK &&
	    f != NULL && f->pMethods != NULL &&
	    f->pMethods->xSync(f, SQLITE_SYNC_NORMAL) != SQLITE_OK)
		disk_failed(op == SQLITE_FCNTL_FILE_POINTER ?
		    "syncing the database" : "syncing the WAL");
}

/* One PASSIVE pass of a checkpoint: 0, or -1 (logged unless busy). */
static int
ckpt_pass(struct db *db)
{
	int	 rc;

	rc = sqlite3_wal_checkpoint_v2(db->h, NULL, SQLITE_CHECKPOINT_PASSIVE,
	    NULL, NULL);
	if (rc == SQLITE_OK)
		return 0;
	if ((rc & 0xff) == SQLITE_IOERR)
		disk_failed(db_errmsg(db));
	if (rc != SQLITE_BUSY)
		log_warn("%s", db_errmsg(db));
	return -1;
}

/*
 * One checkpoint, in PASSIVE passes on the checkpointer's connection.
 * The first copies most of the WAL while requests go on writing, the
 * second what they wrote meanwhile; the last, in the writers' turn,
 * copies the few pages written since, so that the next writer can start
 * the WAL over instead of growing it.  SQLite syncs the database only in
 * a pass that catches up, normally this last one (not while a reader
 * holds an older snapshot), which would make the writers wait for every
 * page the earlier passes wrote: both files are synced before it, while
 * they go on (its stall 1.0-1.2 ms against 2.4 ms on average, the two
 * builds alternating at 7,900 verifies a second).  Returns 0, or -1 if
 * busy (otp-purge is checkpointing) or failed.
 */
static int
checkpoint(struct dbpool *p)
{
	int	 rc;

	if (ckpt_pass(&p->ckpt) == -1 || ckpt_pass(&p->ckpt) == -1)
		return -1;
	ckpt_sync(&p->ckpt, SQLITE_FCNTL_FILE_POINTER);
	ckpt_sync(&p->ckpt, SQLITE_FCNTL_JOURNAL_POINTER);
	pthread_mutex_lock(&p->wlock);
	rc = ckpt_pass(&p->ckpt);
	pthread_mutex_unlock(&p->wlock);
	return rc;
}

/*
 * A server's checkpointer: a checkpoint each time the WAL has grown past
 * CHECKPOINT_PAGES.  Runs until the process ends.
 */
static void *
checkpointer(void *arg)
{
	struct dbpool	*p = arg;
	int		 rc;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->wal_pages < CHECKPOINT_PAGES)
			pthread_cond_wait(&p->wal_full, &p->lock);
		pthread_mutex_unlock(&p->lock);
		rc = checkpoint(p);
		/*
		 * The commits made meanwhile saw the WAL before it was
		 * copied: a second round would only make the writers wait
		 * for two more syncs, for the few pages written since.
		 */
		pthread_mutex_lock(&p->lock);
		p->wal_pages = 0;
		pthread_mutex_unlock(&p->lock);
		/* Busy or failed: not again before a second. */
		if (rc == -1)
			sleep(1);
	}
	return NULL;
}

/*
 * A pool of n connections to the configured database, opened when first
 * taken.  A server's pool (server set) makes its writers take turns on
 * the write lock and checkpoints in a thread of its own.  Returns 0 or
 * -1.
 */
int
db_pool_init(struct dbpool *p, size_t n, int server)
{
	pthread_t	 th;

	memset(p, 0, sizeof(*p));
	if ((p->dbs = calloc(n, sizeof(*p->dbs))) == NULL ||
	    (p->taken = calloc(n, sizeof(*p->taken))) == NULL)
		return -1;
	p->n = n;
	p->server = server;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->freed[0], NULL);
	pthread_cond_init(&p->freed[1], NULL);
	pthread_mutex_init(&p->wlock, NULL);
	pthread_cond_init(&p->wal_full, NULL);
	p->jobs_tail = &p->jobs;
	if (server && (db_open(&p->ckpt, conf.database) == -1 ||
	    pthread_create(&th, NULL, checkpointer, p) != 0 ||
	    pthread_detach(th) != 0))
		return -1;
	return 0;
}

/*
 * Take the writer (write set) or a reader, waiting for one to be given
 * back if all are taken, and open it if it is not open yet.  NULL if it
 * cannot be opened (it is tried again next time).
 */
struct db *
db_pool_get(struct dbpool *p, int write)
{
	struct db	*db;
	size_t		 i, end;

	write = write || p->n == 1;
	end = write ? 1 : p->n;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		for (i = write ? 0 : 1; i < end && p->taken[i]; i++)
			continue;
		if (i < end)
			break;
		pthread_cond_wait(&p->freed[write], &p->lock);
	}
	p->taken[i] = 1;
	pthread_mutex_unlock(&p->lock);
	db = &p->dbs[i];
	if (db->h == NULL) {
		if (db_open(db, conf.database) == -1) {
			db_pool_put(p, db);
			return NULL;
		}
		db->writer = i == 0;
		/*
		 * The writer's commits make a reader's cache stale at its
		 * next read: 256 KiB is plenty for a reader, where the
		 * writer keeps SQLite's 2 MiB.
		 */
		if (!db->writer)
			sqlite3_exec(db->h, "PRAGMA cache_size = -256", NULL,
			    NULL, NULL);
		if (p->server) {
			db->wlock = &p->wlock;
			sqlite3_wal_hook(db->h, wal_hook, p);
		}
	}
	return db;
}

/* Give back a connection taken with db_pool_get(). */
void
db_pool_put(struct dbpool *p, struct db *db)
{
	size_t	 i = (size_t)(db - p->dbs);

	pthread_mutex_lock(&p->lock);
	p->taken[i] = 0;
	pthread_cond_signal(&p->freed[i == 0]);
	pthread_mutex_unlock(&p->lock);
}

/*
 * Run the jobs of list on the writer db in one transaction, each job's
 * own BEGIN and COMMIT a savepoint in it (batch_exec()), and commit.
 * Returns 0 if they were committed, or -1: the transaction could not
 * begin (another process held the write lock past busy_timeout: the
 * jobs do not run) or was lost, and the jobs after the one that lost it
 * do not run either.
 */
static int
batch_run(struct db *db, struct dbjob *list)
{
	struct dbjob	*j;
	int		 rc;

	if (db_exec(db, STMT_BEGIN_IMMEDIATE) == -1)
		return -1;
	db->batched = 1;
	for (j = list; j != NULL && !sqlite3_get_autocommit(db->h);
	    j = j->next)
		j->fn(j->arg, db);
	db->batched = 0;
	if ((rc = db_exec(db, STMT_COMMIT)) == -1)
		db_exec(db, STMT_ROLLBACK);
	return rc;
}

/*
 * Run fn(arg, writer) in a transaction shared with the writes of other
 * threads: group commit, so that the pages every write changes (the
 * last of each index in time order) are written once for them all.  A
 * thread queues its job; the first in the queue when no batch runs
 * takes the writer, then the whole queue, and runs it as one batch
 * (batch_run()).  The others sleep until their batch has ended, or
 * until they are first in the queue.  They are woken once the pool's
 * lock is free, so that none wakes only to wait for it, and the next
 * batch's first before the others.  A job may return as soon as it is
 * posted: its next is read before, and sem_post(3) changes nothing its
 * waiter could see after the post.  Returns 0, or -1 when fn's work was
 * lost or never done.
 */
int
db_pool_batch(struct dbpool *p, void (*fn)(void *, struct db *), void *arg)
{
	struct dbjob	 self, *j, *next, *first;
	struct db	*db;
	int		 rc = -1;

	memset(&self, 0, sizeof(self));
	self.fn = fn;
	self.arg = arg;
	sem_init(&self.wake, 0, 0);
	pthread_mutex_lock(&p->lock);
	*p->jobs_tail = &self;
	p->jobs_tail = &self.next;
	if (p->batching || p->jobs != &self) {
		pthread_mutex_unlock(&p->lock);
		while (sem_wait(&self.wake) == -1)
			continue;		/* EINTR */
		if (self.done)
			goto out;
		pthread_mutex_lock(&p->lock);	/* first in the queue */
	}
	p->batching = 1;
	pthread_mutex_unlock(&p->lock);

	db = db_pool_get(p, 1);
	pthread_mutex_lock(&p->lock);
	p->jobs = NULL;			/* all of them, from self on */
	p->jobs_tail = &p->jobs;
	pthread_mutex_unlock(&p->lock);
	if (db != NULL) {
		rc = batch_run(db, &self);
		db_pool_put(p, db);
	}
	pthread_mutex_lock(&p->lock);
	for (j = &self; j != NULL; j = j->next) {
		j->rc = rc;
		j->done = 1;
	}
	p->batching = 0;
	first = p->jobs;
	pthread_mutex_unlock(&p->lock);
	if (first != NULL)
		sem_post(&first->wake);
	for (j = self.next; j != NULL; j = next) {
		next = j->next;		/* j may be gone once posted */
		sem_post(&j->wake);
	}
out:
	sem_destroy(&self.wake);
	return self.rc;
}

/* Close every connection of the pool and free it. */
void
db_pool_close(struct dbpool *p)
{
	size_t	 i;

	for (i = 0; i < p->n; i++)
		if (p->dbs[i].h != NULL)
			db_close(&p->dbs[i]);
	free(p->dbs);
	free(p->taken);
	p->dbs = NULL;
	p->taken = NULL;
	p->n = 0;
}
