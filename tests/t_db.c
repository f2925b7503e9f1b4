/*
 * Unit tests of db.c's group commit (db_pool_batch()).  The jobs queued
 * by the time a batch has the writer run in it and are committed with
 * it, once; a job queued while a batch runs goes into the next; a job
 * that rolls back loses only its own work; a batch whose commit fails
 * fails every job in it and keeps none of their work; a job that ends
 * the whole transaction ends the batch, and the jobs after it do not
 * run; when the database stays locked or cannot be opened, the jobs
 * fail without running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "otp.h"
#include "t.h"

enum how {
	JOB_COMMIT,	/* insert its row and commit */
	JOB_ROLLBACK,	/* insert its row and roll back */
	JOB_BAD_COMMIT,	/* leave a foreign key that fails the commit */
	JOB_LOSE_TX,	/* end the whole transaction, as an I/O error does */
};

struct tjob {
	const char	*app;	/* the app row it inserts */
	enum how	 how;
	int		 wait;	/* jobs to see queued before it returns */
	int		 rc;	/* what db_pool_batch() returned */
	int		 ran;	/* did its job run? */
	pthread_t	 th;
};

static struct dbpool	 pool;
static int		 commits;	/* on the writer */

static int
count_commit(void *arg)
{
	(void)arg;
	commits++;
	return 0;
}

/* Jobs waiting for a batch; *batching: is one running? */
static int
queued(int *batching)
{
	struct dbjob	*j;
	int		 n = 0;

	pthread_mutex_lock(&pool.lock);
	for (j = pool.jobs; j != NULL; j = j->next)
		n++;
	if (batching != NULL)
		*batching = pool.batching;
	pthread_mutex_unlock(&pool.lock);
	return n;
}

/* Wait up to 5 s for n jobs queued (and a batch running if run). */
static int
wait_queued(int n, int run)
{
	struct timespec	 ms = { 0, 1000000 };
	int		 i, b;

	for (i = 0; i < 5000; i++) {
		if (queued(&b) == n && (!run || b))
			return 0;
		nanosleep(&ms, NULL);
	}
	return -1;
}

/* Insert the app row id, as a handler writes: 0 or -1. */
static int
insert_app(struct db *db, const char *id)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_stmt(db, STMT_APP_INSERT)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, 1);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static void
job(void *arg, struct db *db)
{
	struct tjob	*t = arg;

	t->ran = 1;
	if (db_exec(db, STMT_BEGIN_IMMEDIATE) == -1)
		return;
	insert_app(db, t->app);
	if (t->wait > 0)
		wait_queued(t->wait, 1);
	switch (t->how) {
	case JOB_COMMIT:
		db_exec(db, STMT_COMMIT);
		break;
	case JOB_ROLLBACK:
		db_exec(db, STMT_ROLLBACK);
		break;
	case JOB_BAD_COMMIT:
		sqlite3_exec(db->h, "PRAGMA defer_foreign_keys = ON;"
		    "INSERT INTO api_key (hash, app_id, created_at) "
		    "VALUES (x'00', 'no_such_app', 1)", NULL, NULL, NULL);
		db_exec(db, STMT_COMMIT);
		break;
	case JOB_LOSE_TX:
		/* ... and go on as a handler would: nothing may be kept. */
		sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
		if (db_exec(db, STMT_BEGIN_IMMEDIATE) == 0 &&
		    insert_app(db, "after_loss") == 0)
			db_exec(db, STMT_COMMIT);
		break;
	}
}

static void *
job_thread(void *arg)
{
	struct tjob	*t = arg;

	t->rc = db_pool_batch(&pool, job, t);
	return NULL;
}

/* Is app's row in the database, as another connection sees it? */
static int
has_app(const char *app)
{
	struct db	*db;
	sqlite3_stmt	*st;
	int		 found = -1;

	if ((db = db_pool_get(&pool, 0)) == NULL ||
	    (st = db_stmt(db, STMT_APP_EXISTS)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, app, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_reset(st);
	db_pool_put(&pool, db);
	return found;
}

/*
 * Run jobs t[0..n-1], queued in that order while the test holds the
 * writer, so that they make one batch.  Returns the writer's commits
 * meanwhile.
 */
static int
run(struct tjob *t, int n)
{
	struct db	*w;
	int		 i, c0 = commits;

	if ((w = db_pool_get(&pool, 1)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		t[i].ran = 0;
		pthread_create(&t[i].th, NULL, job_thread, &t[i]);
		if (wait_queued(i + 1, 1) == -1)
			T_OK(0, "job %d queued", i);
	}
	db_pool_put(&pool, w);
	for (i = 0; i < n; i++)
		pthread_join(t[i].th, NULL);
	return commits - c0;
}

static void
test_batch(void)
{
	struct tjob	 one[1] = { { "a_alone", JOB_COMMIT, 0, 9, 0, 0 } };
	struct tjob	 t[4] = {
		{ "a_first", JOB_COMMIT, 0, 9, 0, 0 },
		{ "a_second", JOB_COMMIT, 0, 9, 0, 0 },
		{ "a_undone", JOB_ROLLBACK, 0, 9, 0, 0 },
		{ "a_fourth", JOB_COMMIT, 0, 9, 0, 0 },
	};
	int		 i, n;

	n = run(one, 1);
	T_OK(n == 1 && one[0].rc == 0 && has_app("a_alone") == 1,
	    "a job alone: %d commits, rc %d", n, one[0].rc);

	n = run(t, 4);
	T_OK(n == 1, "four jobs, one batch: %d commits", n);
	for (i = 0; i < 4; i++)
		T_OK(t[i].rc == 0, "%s: rc %d", t[i].app, t[i].rc);
	T_OK(has_app("a_first") == 1 && has_app("a_second") == 1 &&
	    has_app("a_fourth") == 1, "the committed jobs' rows");
	T_OK(has_app("a_undone") == 0, "the rolled-back job's row");
}

/* A job queued while a batch runs waits for the next one. */
static void
test_next_batch(void)
{
	struct tjob	 t[2] = {
		{ "e_running", JOB_COMMIT, 1, 9, 0, 0 },
		{ "e_later", JOB_COMMIT, 0, 9, 0, 0 },
	};
	int		 c0 = commits;

	pthread_create(&t[0].th, NULL, job_thread, &t[0]);
	if (wait_queued(0, 1) == -1)
		T_OK(0, "the first batch runs");
	pthread_create(&t[1].th, NULL, job_thread, &t[1]);
	pthread_join(t[0].th, NULL);
	pthread_join(t[1].th, NULL);
	T_OK(commits - c0 == 2, "two batches: %d commits", commits - c0);
	T_OK(t[0].rc == 0 && t[1].rc == 0 && has_app("e_running") == 1 &&
	    has_app("e_later") == 1, "both kept: %d %d", t[0].rc, t[1].rc);
}

static void
test_failed_commit(void)
{
	struct tjob	 t[3] = {
		{ "b_first", JOB_COMMIT, 0, 9, 0, 0 },
		{ "b_bad", JOB_BAD_COMMIT, 0, 9, 0, 0 },
		{ "b_third", JOB_COMMIT, 0, 9, 0, 0 },
	};
	int		 i, n;

	n = run(t, 3);
	T_OK(n == 0, "a failed commit: %d commits", n);
	for (i = 0; i < 3; i++) {
		T_OK(t[i].rc == -1, "%s: rc %d", t[i].app, t[i].rc);
		T_OK(has_app(t[i].app) == 0, "%s kept", t[i].app);
	}
	T_OK(run(t, 1) == 1 && t[0].rc == 0 && has_app("b_first") == 1,
	    "the next batch commits");
}

static void
test_lost_transaction(void)
{
	struct tjob	 t[3] = {
		{ "c_first", JOB_COMMIT, 0, 9, 0, 0 },
		{ "c_lost", JOB_LOSE_TX, 0, 9, 0, 0 },
		{ "c_next", JOB_COMMIT, 0, 9, 0, 0 },
	};
	int		 n;

	n = run(t, 3);
	T_OK(n == 0, "a lost transaction: %d commits", n);
	T_OK(t[0].rc == -1 && t[1].rc == -1 && t[2].rc == -1,
	    "the batch's jobs: %d %d %d", t[0].rc, t[1].rc, t[2].rc);
	T_OK(has_app("c_first") == 0 && has_app("c_lost") == 0 &&
	    has_app("after_loss") == 0, "their rows are gone");
	T_OK(!t[2].ran, "the job after the loss did not run");
	T_OK(run(&t[2], 1) == 1 && t[2].rc == 0 && has_app("c_next") == 1,
	    "the next batch commits");
}

static void
test_busy(void)
{
	struct tjob	 t[2] = {
		{ "d_first", JOB_COMMIT, 0, 9, 0, 0 },
		{ "d_second", JOB_COMMIT, 0, 9, 0, 0 },
	};
	sqlite3		*other;
	struct db	*w;

	/* Another process's write lock, held past the busy timeout. */
	if ((w = db_pool_get(&pool, 1)) == NULL)
		return;
	sqlite3_busy_timeout(w->h, 20);
	db_pool_put(&pool, w);
	if (sqlite3_open(conf.database, &other) != SQLITE_OK ||
	    sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		T_OK(0, "lock: %s", sqlite3_errmsg(other));
		return;
	}
	run(t, 2);
	T_OK(t[0].rc == -1 && t[1].rc == -1, "a locked database: %d %d",
	    t[0].rc, t[1].rc);
	T_OK(!t[0].ran && !t[1].ran, "the jobs did not run");
	sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(other);
	T_OK(run(t, 2) == 1 && t[0].rc == 0 && t[1].rc == 0 &&
	    has_app("d_first") == 1 && has_app("d_second") == 1,
	    "once it is let go, both in one commit");
}

static void
test_unopenable(void)
{
	struct tjob	 t = { "f_nowhere", JOB_COMMIT, 0, 9, 0, 0 };
	struct dbpool	 bad;
	char		 keep[sizeof(conf.database)];

	memcpy(keep, conf.database, sizeof(keep));
	snprintf(conf.database, sizeof(conf.database), "/nonexistent/otp.db");
	if (db_pool_init(&bad, 1, 0) == 0) {
		t.rc = db_pool_batch(&bad, job, &t);
		T_OK(t.rc == -1 && !t.ran, "no database: rc %d, ran %d",
		    t.rc, t.ran);
		db_pool_close(&bad);
	} else
		T_OK(0, "db_pool_init");
	memcpy(conf.database, keep, sizeof(keep));
}

int
main(void)
{
	char		 dir[] = "/tmp/t_db.XXXXXX";
	struct db	 db, *w;

	alarm(60);		/* a lost wakeup hangs: fail instead */
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(conf.database, sizeof(conf.database), "%s/otp.db", dir);
	if (db_open(&db, conf.database) == -1 || db_migrate(&db) == -1)
		return 1;
	db_close(&db);
	if (db_pool_init(&pool, 2, 1) == -1 ||
	    (w = db_pool_get(&pool, 1)) == NULL)
		return 1;
	sqlite3_commit_hook(w->h, count_commit, NULL);
	db_pool_put(&pool, w);

	test_batch();
	test_next_batch();
	test_failed_commit();
	test_lost_transaction();
	test_busy();
	test_unopenable();

	db_pool_close(&pool);
	unlink(conf.database);
	snprintf(conf.database, sizeof(conf.database), "%s/otp.db-wal", dir);
	unlink(conf.database);
	snprintf(conf.database, sizeof(conf.database), "%s/otp.db-shm", dir);
	unlink(conf.database);
	rmdir(dir);
	return t_done("t_db");
}
