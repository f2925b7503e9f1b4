/*
 * otpctl: the administration tool.  Creates the database and secrets,
 * manages applications and their API keys, and reads the audit log.
 * Every change writes an audit record.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>
#include <sqlite3.h>

#include "otp.h"

#define APIKEY_BUF	64
#define APP_NAME_MAX	64

static void
usage(void)
{
	fprintf(stderr, "usage: otpctl [-c file] init\n"
	    "       otpctl [-c file] app create name [--json]\n"
	    "       otpctl [-c file] app list\n"
	    "       otpctl [-c file] app disable|enable id\n"
	    "       otpctl [-c file] key rotate id [--json]\n"
	    "       otpctl [-c file] audit\n");
	exit(1);
}

static void
fmt_time(char *out, size_t sz, time_t t)
{
	struct tm	 tm;

	gmtime_r(&t, &tm);
	strftime(out, sz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Print a new key once, as text or JSON, and wipe it. */
static void
print_key(const char *app, char *key, int json)
{
	struct json_object	*o;

	if (json) {
		o = json_object_new_object();
		json_object_object_add(o, "app_id",
		    json_object_new_string(app));
		json_object_object_add(o, "api_key",
		    json_object_new_string(key));
		puts(json_object_to_json_string_ext(o,
		    JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else
		printf("app_id: %s\napi_key: %s\n", app, key);
	sodium_memzero(key, APIKEY_BUF);
}

/*
 * Store the keyed hash of a fresh key for app; the key itself is left
 * in key (APIKEY_BUF bytes) for printing once.  Returns 0 or -1.
 */
static int
add_key(struct db *db, const char *app, char *key)
{
	unsigned char	 h[HASH_LEN];
	sqlite3_stmt	*st;
	int		 rc;

	sec_api_key(key, APIKEY_BUF);
	sec_hash(h, conf.apikey_key, key, strlen(key));
	if ((st = db_stmt(db, STMT_KEY_INSERT)) == NULL)
		return -1;
	sqlite3_bind_blob(st, 1, h, sizeof(h), SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, app, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sodium_memzero(h, sizeof(h));
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Does the application exist?  1, 0, or -1 on error. */
static int
app_exists(struct db *db, const char *id)
{
	sqlite3_stmt	*st;
	int		 rc;

	if ((st = db_stmt(db, STMT_APP_EXISTS)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
cmd_app_create(struct db *db, const char *name, int json)
{
	char		 id[ID_MAX], key[APIKEY_BUF];
	sqlite3_stmt	*st;
	size_t		 i, n = strlen(name);

	if (n == 0 || n > APP_NAME_MAX)
		errx(1, "name: 1 to %d bytes", APP_NAME_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			errx(1, "name: no control characters");
	sec_random_id(id, sizeof(id), "app_");
	if (db_exec(db, STMT_BEGIN_IMMEDIATE) == -1)
		goto fail;
	if ((st = db_stmt(db, STMT_APP_INSERT)) == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE)
		goto rollback;
	if (add_key(db, id, key) == -1 ||
	    db_audit(db, "otpctl", "app.create", id, name) == -1 ||
	    db_exec(db, STMT_COMMIT) == -1)
		goto rollback;
	print_key(id, key, json);
	return 0;
rollback:
	db_exec(db, STMT_ROLLBACK);
fail:
	sodium_memzero(key, sizeof(key));
	errx(1, "app create: %s", db_errmsg(db));
}

static int
cmd_app_list(struct db *db)
{
	sqlite3_stmt	*st;
	char		 t[32];
	int		 rc;

	if ((st = db_stmt(db, STMT_APP_LIST)) == NULL)
		errx(1, "app list: %s", db_errmsg(db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fmt_time(t, sizeof(t), (time_t)sqlite3_column_int64(st, 3));
		printf("%s\t%s\t%s\tkeys=%d\t%s\n",
		    sqlite3_column_text(st, 0),
		    sqlite3_column_int(st, 2) ? "enabled" : "disabled",
		    t, sqlite3_column_int(st, 4),
		    sqlite3_column_text(st, 1));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		errx(1, "app list: %s", db_errmsg(db));
	return 0;
}

static int
cmd_app_enable(struct db *db, const char *id, int enable)
{
	sqlite3_stmt	*st;

	if (app_exists(db, id) != 1)
		errx(1, "%s: no such application", id);
	if (db_exec(db, STMT_BEGIN_IMMEDIATE) == -1 ||
	    (st = db_stmt(db, STMT_APP_SET_ENABLED)) == NULL)
		errx(1, "%s", db_errmsg(db));
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, enable);
	if (sqlite3_step(st) != SQLITE_DONE ||
	    db_audit(db, "otpctl", enable ? "app.enable" : "app.disable",
	    id, NULL) == -1 || db_exec(db, STMT_COMMIT) == -1) {
		db_exec(db, STMT_ROLLBACK);
		errx(1, "%s", db_errmsg(db));
	}
	printf("%s: %s\n", id, enable ? "enabled" : "disabled");
	return 0;
}

static int
cmd_key_rotate(struct db *db, const char *id, int json)
{
	sqlite3_stmt	*st;
	char		 key[APIKEY_BUF];

	if (app_exists(db, id) != 1)
		errx(1, "%s: no such application", id);
	if (db_exec(db, STMT_BEGIN_IMMEDIATE) == -1 ||
	    (st = db_stmt(db, STMT_KEY_REVOKE_ALL)) == NULL)
		errx(1, "%s", db_errmsg(db));
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
	if (sqlite3_step(st) != SQLITE_DONE || add_key(db, id, key) == -1 ||
	    db_audit(db, "otpctl", "key.rotate", id, NULL) == -1 ||
	    db_exec(db, STMT_COMMIT) == -1) {
		db_exec(db, STMT_ROLLBACK);
		sodium_memzero(key, sizeof(key));
		errx(1, "%s", db_errmsg(db));
	}
	print_key(id, key, json);
	return 0;
}

static int
cmd_audit(struct db *db)
{
	sqlite3_stmt	*st;
	char		 t[32];
	int		 rc;

	if ((st = db_stmt(db, STMT_AUDIT_LIST)) == NULL)
		errx(1, "audit: %s", db_errmsg(db));
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		fmt_time(t, sizeof(t), (time_t)sqlite3_column_int64(st, 0));
		printf("%s\t%s\t%s\t%s\t%s\n", t,
		    sqlite3_column_text(st, 1), sqlite3_column_text(st, 2),
		    sqlite3_column_type(st, 3) == SQLITE_NULL ? "-" :
		    (const char *)sqlite3_column_text(st, 3),
		    sqlite3_column_type(st, 4) == SQLITE_NULL ? "-" :
		    (const char *)sqlite3_column_text(st, 4));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		errx(1, "audit: %s", db_errmsg(db));
	return 0;
}

static int
cmd_init(struct db *db)
{
	if (db_audit(db, "otpctl", "init", NULL, NULL) == -1)
		errx(1, "%s", db_errmsg(db));
	printf("database: %s\nsecrets: %s\n", conf.database, conf.secrets);
	return 0;
}

int
main(int argc, char *argv[])
{
	struct db	 db;
	const char	*cfile = NULL;
	char		 msg[1024];
	int		 ch, json = 0, rc, i;

	while ((ch = getopt(argc, argv, "+c:")) != -1)
		switch (ch) {
		case 'c':
			cfile = optarg;
			break;
		default:
			usage();
		}
	argc -= optind;
	argv += optind;
	/* --json may stand anywhere after the command. */
	for (i = 0; i < argc; i++)
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
			memmove(&argv[i], &argv[i + 1],
			    (argc - i) * sizeof(*argv));
			argc--;
			i--;
		}
	if (argc < 1)
		usage();

	if (sec_init() == -1)
		errx(1, "libsodium cannot start");
	if (conf_load(conf_path(cfile), msg, sizeof(msg)) == -1)
		errx(1, "%s", msg);
	if (strcmp(argv[0], "init") == 0) {
		if (argc != 1)
			usage();
		if ((rc = conf_write_secrets(msg, sizeof(msg))) == -1)
			errx(1, "%s", msg);
		if (rc == 0)
			printf("created %s with fresh keys (mode 0600)\n",
			    conf.secrets);
	}
	if (conf_load_secrets(msg, sizeof(msg)) == -1)
		errx(1, "%s", msg);
	if (db_open(&db, conf.database) == -1 || db_migrate(&db) == -1)
		errx(1, "%s: cannot open or migrate the database",
		    conf.database);

	if (strcmp(argv[0], "init") == 0)
		rc = cmd_init(&db);
	else if (argc == 3 && strcmp(argv[0], "app") == 0 &&
	    strcmp(argv[1], "create") == 0)
		rc = cmd_app_create(&db, argv[2], json);
	else if (argc == 2 && strcmp(argv[0], "app") == 0 &&
	    strcmp(argv[1], "list") == 0)
		rc = cmd_app_list(&db);
	else if (argc == 3 && strcmp(argv[0], "app") == 0 &&
	    strcmp(argv[1], "disable") == 0)
		rc = cmd_app_enable(&db, argv[2], 0);
	else if (argc == 3 && strcmp(argv[0], "app") == 0 &&
	    strcmp(argv[1], "enable") == 0)
		rc = cmd_app_enable(&db, argv[2], 1);
	else if (argc == 3 && strcmp(argv[0], "key") == 0 &&
	    strcmp(argv[1], "rotate") == 0)
		rc = cmd_key_rotate(&db, argv[2], json);
	else if (argc == 1 && strcmp(argv[0], "audit") == 0)
		rc = cmd_audit(&db);
	else
		usage();
	db_close(&db);
	return rc;
}
