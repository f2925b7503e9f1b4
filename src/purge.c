/*
 * otp-purge: enforces the retention periods of [retention] (API.md §6).
 * Each kind of record goes by its own rule, in batches of BATCH rows, one
 * short write transaction per batch, so the service never waits long for
 * the database.  Deleted content is overwritten (secure_delete) and the
 * write-ahead log is checkpointed and truncated at the end, so it does
 * not linger in the files.  One run at a time: a run holds a flock(2) on
 * <database>.purge.lock.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "otp.h"

#define BATCH		500	/* rows per write transaction */
#define BATCH_PAUSE_MS	20	/* between full batches: let the service in */
#define BUSY_MS		5000	/* SQLite busy timeout, as the service's */
#define LOCK_TRIES	100	/* flock attempts, LOCK_PAUSE_MS apart: 10 s */
#define LOCK_PAUSE_MS	100
#define CKPT_TRIES	10	/* checkpoints, CKPT_PAUSE_MS apart */
#define CKPT_PAUSE_MS	200
#define DAY		86400
#define HOUR		3600

/* What is deleted, in the order of the output lines. */
enum kind {
	KIND_CODE_HASHES,
	KIND_OTPS,
	KIND_DELIVERY_EVENTS,
	KIND_IDEMPOTENCY,
	KIND_RATE_WINDOWS,
	KIND_DELETIONS,
	KIND_DELETION_CHALLENGES,
	KIND_AUDIT,
	KIND__MAX
};

static const char *const kind_names[KIND__MAX] = {
	[KIND_CODE_HASHES] = "code_hashes",
	[KIND_OTPS] = "otps",
	[KIND_DELIVERY_EVENTS] = "delivery_events",
	[KIND_IDEMPOTENCY] = "idempotency",
	[KIND_RATE_WINDOWS] = "rate_windows",
	[KIND_DELETIONS] = "deletions",
	[KIND_DELETION_CHALLENGES] = "deletion_challenges",
	[KIND_AUDIT] = "audit",
};

/*
 * The values every statement below may use, bound by number.  A record
 * "older than N days" is one whose time is before now - N days; a window
 * or challenge has ended when its end is at or before now.
 */
enum param {
	P_NOW = 1,		/* ?1 */
	P_DELIVERY,		/* ?2: now - delivery_days */
	P_IDEMPOTENCY,		/* ?3: now - idempotency_hours */
	P_AUDIT,		/* ?4: now - audit_days */
	P_BATCH,		/* ?5: BATCH */
	P__MAX
};

/*
 * What a dry run counts, one query per kind.  Each counts exactly what
 * the steps below delete, so a dry run and a run agree.
 */
static const char *const counts[KIND__MAX] = {
	[KIND_CODE_HASHES] =
	    "SELECT count(*) FROM otp WHERE "
	    "(status != 'pending' AND code_hash IS NOT NULL) OR "
	    "(status = 'pending' AND expires_at <= ?1)",
	[KIND_OTPS] =
	    "SELECT count(*) FROM otp WHERE created_at < ?2",
	[KIND_DELIVERY_EVENTS] =
	    "SELECT count(*) FROM delivery_event WHERE at < ?2 OR otp_id IN "
	    "(SELECT id FROM otp WHERE created_at < ?2)",
	[KIND_IDEMPOTENCY] =
	    "SELECT count(*) FROM idempotency WHERE created_at < ?3",
	[KIND_RATE_WINDOWS] =
	    "SELECT count(*) FROM rate WHERE window_end <= ?1",
	[KIND_DELETIONS] =
	    "SELECT count(*) FROM deletion WHERE completed_at < ?2",
	[KIND_DELETION_CHALLENGES] =
	    "SELECT count(*) FROM deletion_challenge WHERE expires_at <= ?1",
	[KIND_AUDIT] =
	    "SELECT count(*) FROM audit WHERE at < ?4",
};

/*
 * One step of a run.  sql changes at most ?5 rows and is repeated, one
 * transaction each, until it changes fewer; its changes count as kind.
 * pre, if set, runs first in the same transaction and counts, as
 * prekind, the rows that go with them (delivery events cascade with
 * their OTP, and sqlite3_changes() does not see a cascade): it picks
 * the same rows as sql, in the same order.
 */
struct step {
	enum kind	 kind;
	const char	*sql;
	enum kind	 prekind;
	const char	*pre;
};

static const struct step steps[] = {
	{ KIND_CODE_HASHES,
	  "UPDATE otp SET code_hash = NULL WHERE rowid IN "
	  "(SELECT rowid FROM otp WHERE status != 'pending' "
	  "AND code_hash IS NOT NULL LIMIT ?5)", KIND__MAX, NULL },
	{ KIND_CODE_HASHES,
	  "UPDATE otp SET status = 'expired', code_hash = NULL WHERE rowid IN "
	  "(SELECT rowid FROM otp WHERE status = 'pending' "
	  "AND expires_at <= ?1 LIMIT ?5)", KIND__MAX, NULL },
	{ KIND_OTPS,
	  "DELETE FROM otp WHERE rowid IN (SELECT rowid FROM otp "
	  "WHERE created_at < ?2 ORDER BY created_at, rowid LIMIT ?5)",
	  KIND_DELIVERY_EVENTS,
	  "SELECT count(*) FROM delivery_event WHERE otp_id IN "
	  "(SELECT id FROM otp WHERE created_at < ?2 "
	  "ORDER BY created_at, rowid LIMIT ?5)" },
	{ KIND_DELIVERY_EVENTS,
	  "DELETE FROM delivery_event WHERE id IN (SELECT id FROM "
	  "delivery_event WHERE at < ?2 LIMIT ?5)", KIND__MAX, NULL },
	{ KIND_IDEMPOTENCY,
	  "DELETE FROM idempotency WHERE rowid IN (SELECT rowid FROM "
	  "idempotency WHERE created_at < ?3 LIMIT ?5)", KIND__MAX, NULL },
	{ KIND_RATE_WINDOWS,	/* WITHOUT ROWID: by primary key */
	  "DELETE FROM rate WHERE (bucket, window_end) IN (SELECT bucket, "
	  "window_end FROM rate WHERE window_end <= ?1 LIMIT ?5)",
	  KIND__MAX, NULL },
	{ KIND_DELETIONS,
	  "DELETE FROM deletion WHERE rowid IN (SELECT rowid FROM deletion "
	  "WHERE completed_at < ?2 LIMIT ?5)", KIND__MAX, NULL },
	{ KIND_DELETION_CHALLENGES,
	  "DELETE FROM deletion_challenge WHERE rowid IN (SELECT rowid FROM "
	  "deletion_challenge WHERE expires_at <= ?1 LIMIT ?5)",
	  KIND__MAX, NULL },
	{ KIND_AUDIT,
	  "DELETE FROM audit WHERE id IN (SELECT id FROM audit "
	  "WHERE at < ?4 LIMIT ?5)", KIND__MAX, NULL },
};

#define STEPSZ	(sizeof(steps) / sizeof(steps[0]))

static int	 verbose;

static void	 say(const char *, ...) __attribute__((format(printf, 1, 2)));

static void
usage(void)
{
	fprintf(stderr, "usage: otp-purge [-c file] [--dry-run] [-v]\n");
	exit(1);
}

/* With -v, one line of progress on stderr. */
static void
say(const char *fmt, ...)
{
	va_list	 ap;

	if (!verbose)
		return;
	fputs("otp-purge: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Sleep for ms milliseconds of real time.  Waits are counted in sleeps,
 * never measured with the clock, which may be faked (faketime) or moved.
 */
static void
pause_ms(int ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/*
 * Take the run lock, the file path (created 0600 if missing), waiting up
 * to LOCK_TRIES * LOCK_PAUSE_MS.  Returns the descriptor, which holds the
 * lock until it is closed (at exit); -2 if another run held it all that
 * time; -1 on error (reported).
 */
static int
lock_take(const char *path)
{
	int	 fd, i;

	if ((fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600)) == -1) {
		warn("lock file %s", path);
		return -1;
	}
	for (i = 0; i < LOCK_TRIES; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return fd;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			warn("flock %s", path);
			close(fd);
			return -1;
		}
		if (i == 0)
			say("another run holds %s; waiting up to %d s", path,
			    LOCK_TRIES * LOCK_PAUSE_MS / 1000);
		pause_ms(LOCK_PAUSE_MS);
	}
	close(fd);
	return -2;
}

/*
 * Open the existing database read-write (never creating it) the way the
 * service does, plus secure_delete so deleted content is overwritten.
 * The schema must be there: otp-purge never creates or migrates it.
 * Returns 0, or -1 (reported) with nothing left open.
 */
static int
purge_open(struct db *db, const char *path, int dry)
{
	struct stat	 sb;
	sqlite3_stmt	*st = NULL;
	char		*msg = NULL;

	memset(db, 0, sizeof(*db));
	if (stat(path, &sb) == -1) {
		if (errno == ENOENT)
			warnx("%s: no such database (otpctl init creates it)",
			    path);
		else
			warn("%s", path);
		return -1;
	}
	if (!S_ISREG(sb.st_mode)) {
		warnx("%s: not a regular file", path);
		return -1;
	}
	if (sqlite3_open_v2(path, &db->h, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		warnx("%s: %s", path, db->h != NULL ? sqlite3_errmsg(db->h) :
		    "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(db->h, BUSY_MS);
	if (sqlite3_exec(db->h, "PRAGMA foreign_keys = ON;"
	    "PRAGMA secure_delete = ON;", NULL, NULL, &msg) != SQLITE_OK) {
		warnx("%s: %s", path, msg != NULL ? msg : "pragma failed");
		goto fail;
	}
	if (sqlite3_prepare_v2(db->h, "PRAGMA user_version", -1, &st,
	    NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		warnx("%s: %s", path, sqlite3_errmsg(db->h));
		goto fail;
	}
	if (sqlite3_column_int(st, 0) < 1) {
		warnx("%s: not a Baghdad OTP database (otpctl init sets it "
		    "up)", path);
		goto fail;
	}
	if (!dry && sqlite3_db_readonly(db->h, "main") == 1) {
		warnx("%s: read-only for this user", path);
		goto fail;
	}
	sqlite3_finalize(st);
	return 0;
fail:
	sqlite3_finalize(st);
	sqlite3_free(msg);
	db_close(db);
	return -1;
}

/*
 * Prepare sql and bind the values of p[] it uses.  Returns the statement,
 * or NULL (reported).
 */
static sqlite3_stmt *
prepare(struct db *db, const char *sql, const sqlite3_int64 p[P__MAX])
{
	sqlite3_stmt	*st;
	int		 i, n;

	if (sqlite3_prepare_v2(db->h, sql, -1, &st, NULL) != SQLITE_OK) {
		warnx("prepare: %s", sqlite3_errmsg(db->h));
		return NULL;
	}
	n = sqlite3_bind_parameter_count(st);
	for (i = 1; i <= n && i < P__MAX; i++)
		sqlite3_bind_int64(st, i, p[i]);
	return st;
}

/*
 * Count, in one read transaction (one snapshot), what a run would delete
 * into n[].  Changes nothing.  Returns 0 or -1 (reported).
 */
static int
count_all(struct db *db, const sqlite3_int64 p[P__MAX],
    long long n[KIND__MAX])
{
	sqlite3_stmt	*st = NULL;
	int		 k, rc = -1, intx = 0;

	if (sqlite3_exec(db->h, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	intx = 1;
	for (k = 0; k < KIND__MAX; k++) {
		if ((st = prepare(db, counts[k], p)) == NULL)
			goto out;
		if (sqlite3_step(st) != SQLITE_ROW)
			goto fail;
		n[k] = sqlite3_column_int64(st, 0);
		say("%s: %lld would go", kind_names[k], n[k]);
		sqlite3_finalize(st);
		st = NULL;
	}
	rc = 0;
	goto out;
fail:
	warnx("count: %s", sqlite3_errmsg(db->h));
out:
	sqlite3_finalize(st);
	if (intx)
		sqlite3_exec(db->h, rc == 0 ? "COMMIT" : "ROLLBACK", NULL,
		    NULL, NULL);
	return rc;
}

/*
 * Run step s to its end: a write transaction per batch until a batch
 * changes fewer than BATCH rows, adding what went to n[].  Batches done
 * stay done if a later one fails.  Returns 0 or -1 (reported).
 */
static int
run_step(struct db *db, const struct step *s, const sqlite3_int64 p[P__MAX],
    long long n[KIND__MAX])
{
	sqlite3_stmt	*st = NULL, *pre = NULL;
	long long	 changed, counted, batches = 0;
	int		 rc = -1, intx = 0;

	if ((st = prepare(db, s->sql, p)) == NULL ||
	    (s->pre != NULL && (pre = prepare(db, s->pre, p)) == NULL))
		goto out;
	do {
		if (sqlite3_exec(db->h, "BEGIN IMMEDIATE", NULL, NULL,
		    NULL) != SQLITE_OK)
			goto fail;
		intx = 1;
		counted = 0;
		if (pre != NULL) {
			if (sqlite3_step(pre) != SQLITE_ROW)
				goto fail;
			counted = sqlite3_column_int64(pre, 0);
			sqlite3_reset(pre);
		}
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
		changed = sqlite3_changes64(db->h);
		sqlite3_reset(st);
		if (sqlite3_exec(db->h, "COMMIT", NULL, NULL, NULL) !=
		    SQLITE_OK)
			goto fail;
		intx = 0;
		n[s->kind] += changed;
		if (pre != NULL)
			n[s->prekind] += counted;
		if (changed > 0 || batches == 0)
			say("%s: %lld in batch %lld (%lld so far)",
			    kind_names[s->kind], changed, batches + 1,
			    n[s->kind]);
		batches++;
		if (changed >= BATCH)
			pause_ms(BATCH_PAUSE_MS);
	} while (changed >= BATCH);
	rc = 0;
	goto out;
fail:
	warnx("%s: %s%s", kind_names[s->kind], sqlite3_errmsg(db->h),
	    sqlite3_errcode(db->h) == SQLITE_BUSY ?
	    " (the database stayed busy for too long)" : "");
out:
	sqlite3_finalize(pre);
	sqlite3_finalize(st);
	if (intx)
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/*
 * Write what went back into the database file and truncate the
 * write-ahead log to nothing, so that no copy of deleted content stays
 * in it.  Each try waits for readers with the busy timeout, but not for
 * another checkpoint (otp.fcgi's own, a few milliseconds): for that, it
 * tries again CKPT_PAUSE_MS later, CKPT_TRIES times in all.
 * Returns 0 or -1 (reported).
 */
static int
checkpoint(struct db *db)
{
	int	 i, rc = SQLITE_OK, nlog = 0, nckpt = 0;

	for (i = 0; i < CKPT_TRIES; i++) {
		rc = sqlite3_wal_checkpoint_v2(db->h, NULL,
		    SQLITE_CHECKPOINT_TRUNCATE, &nlog, &nckpt);
		if (rc == SQLITE_OK) {
			say("checkpoint: %d pages written back, write-ahead "
			    "log truncated", nckpt);
			return 0;
		}
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			break;
		say("checkpoint: busy, trying again");
		pause_ms(CKPT_PAUSE_MS);
	}
	warnx("checkpoint: %s: the write-ahead log may still hold deleted "
	    "content until the next run", sqlite3_errmsg(db->h));
	return -1;
}

/*
 * The audit record of a run: the counts only, "name=n" separated by
 * spaces.  Returns 0 or -1 (reported).
 */
static int
audit_run(struct db *db, const long long n[KIND__MAX])
{
	char	 detail[512];
	size_t	 len = 0;
	int	 k, w;

	detail[0] = '\0';
	for (k = 0; k < KIND__MAX; k++) {
		w = snprintf(detail + len, sizeof(detail) - len, "%s%s=%lld",
		    k > 0 ? " " : "", kind_names[k], n[k]);
		if (w < 0 || (size_t)w >= sizeof(detail) - len) {
			warnx("audit: detail too long");
			return -1;
		}
		len += (size_t)w;
	}
	if (db_audit(db, "otp-purge", "purge", NULL, detail) == -1) {
		warnx("audit: %s", db_errmsg(db));
		return -1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	struct db	 db;
	sqlite3_int64	 p[P__MAX] = { 0 };
	long long	 n[KIND__MAX] = { 0 };
	const char	*cfile = NULL;
	char		 msg[1024], lockpath[sizeof(conf.database) + 16];
	time_t		 now;
	size_t		 i;
	int		 ch, dry = 0, lockfd = -1, k, rc = 1;

	memset(&db, 0, sizeof(db));
	while ((ch = getopt_long(argc, argv, "c:v", longopts, NULL)) != -1)
		switch (ch) {
		case 'c':
			cfile = optarg;
			break;
		case 'n':
			dry = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	if (optind != argc)
		usage();

	if (conf_load(conf_path(cfile), msg, sizeof(msg)) == -1)
		errx(1, "%s", msg);
	now = time(NULL);
	p[P_NOW] = (sqlite3_int64)now;
	p[P_DELIVERY] = p[P_NOW] - (sqlite3_int64)conf.delivery_days * DAY;
	p[P_IDEMPOTENCY] = p[P_NOW] -
	    (sqlite3_int64)conf.idempotency_hours * HOUR;
	p[P_AUDIT] = p[P_NOW] - (sqlite3_int64)conf.audit_days * DAY;
	p[P_BATCH] = BATCH;
	say("%s: %s%s, delivery_days %d, idempotency_hours %d, audit_days %d",
	    conf.path, conf.database, dry ? " (dry run)" : "",
	    conf.delivery_days, conf.idempotency_hours, conf.audit_days);

	/*
	 * A dry run only reads, from one snapshot: it needs no lock.  The
	 * database must exist before the lock file is made beside it.
	 */
	if (purge_open(&db, conf.database, dry) == -1)
		goto out;
	if (!dry) {
		if ((size_t)snprintf(lockpath, sizeof(lockpath),
		    "%s.purge.lock", conf.database) >= sizeof(lockpath)) {
			warnx("%s: path too long", conf.database);
			goto out;
		}
		if ((lockfd = lock_take(lockpath)) == -1)
			goto out;
		if (lockfd == -2) {
			warnx("another run is in progress (%s is locked); "
			    "nothing done", lockpath);
			rc = 0;
			goto out;
		}
		say("holding %s", lockpath);
	}

	if (dry) {
		if (count_all(&db, p, n) == -1)
			goto out;
	} else {
		for (i = 0; i < STEPSZ; i++)
			if (run_step(&db, &steps[i], p, n) == -1)
				goto out;
		if (audit_run(&db, n) == -1 || checkpoint(&db) == -1)
			goto out;
	}
	for (k = 0; k < KIND__MAX; k++)
		printf("%s: %lld\n", kind_names[k], n[k]);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		warn("stdout");
		goto out;
	}
	rc = 0;
out:
	db_close(&db);
	if (lockfd >= 0)
		close(lockfd);
	return rc;
}
