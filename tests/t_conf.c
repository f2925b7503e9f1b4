/*
 * Unit tests of conf.c: conf_load() over temporary files, the secrets
 * file (conf_load_secrets, conf_write_secrets), num_parse() and
 * conf_path().  API.md §7: unknown sections or keys and values out of
 * range stop start-up with a message naming file, line and key.
 */
#include <sys/stat.h>

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otp.h"
#include "t.h"

static char	 dir[64];		/* a mkdtemp directory */
static char	 path[128];		/* dir/x.conf */
static char	 spath[128];		/* dir/secrets */
static char	 err[1024];

/* Channel whatsapp (the default) needs a phone number id. */
#define TAIL	"\n[whatsapp]\nphone_number_id = 123456789\n"

/* The example of API.md §7, verbatim but for phone_number_id. */
#define EXAMPLE_A \
	"[service]\n" \
	"name = Baghdad OTP            # shown on pages and in logs\n" \
	"base_url = https://otp.example.com\n" \
	"contact_email = support@example.com\n" \
	"policy_updated = 2026-11-21\n" \
	"database = /var/lib/baghdad-otp/otp.db\n" \
	"secrets = /etc/baghdad-otp/secrets   # 0600 INI made by " \
	    "`otpctl init`\n" \
	"require_https = yes\n" \
	"default_locale = en           # en | ar\n" \
	"trusted_proxies =             # space-separated IPs\n" \
	"\n" \
	"[otp]\n" \
	"code_length = 6               # 4..10\n" \
	"ttl = 300                     # seconds, 5..600\n" \
	"max_attempts = 5              # 1..10\n" \
	"resend_cooldown = 30          # seconds, 0..3600\n" \
	"default_country = 964         # digits, or empty\n" \
	"allowed_countries =           # space-separated country codes; " \
	    "empty = all\n" \
	"\n" \
	"[limits]                      # 0 disables a limit\n" \
	"sends_per_phone_hour = 5\n" \
	"sends_per_phone_day = 10\n" \
	"sends_per_app_minute = 600\n" \
	"sends_per_ip_minute = 60      # deletion form and any " \
	    "unauthenticated sending\n" \
	"failed_checks_per_phone_day = 20\n" \
	"\n" \
	"[retention]\n" \
	"delivery_days = 30\n" \
	"audit_days = 365\n" \
	"idempotency_hours = 24\n" \
	"\n" \
	"[whatsapp]\n" \
	"channel = whatsapp            # whatsapp | console\n" \
	"console_file =                # for channel = console\n" \
	"api_base = https://graph.facebook.com\n" \
	"api_version = v21.0\n"
#define EXAMPLE_B \
	"template = otp_code\n" \
	"template_languages = en:en_US ar:ar\n" \
	"timeout_ms = 10000\n" \
	"retries = 2\n"

#define FIELD_INT(off)	(*(int *)((char *)&conf + (off)))

/* Write text to a new file p with the given mode; exits on failure. */
static void
put(const char *p, const char *text, mode_t mode)
{
	FILE	*f;

	unlink(p);		/* a 0400 file cannot be opened to write */
	if ((f = fopen(p, "w")) == NULL) {
		perror(p);
		exit(2);
	}
	if (fputs(text, f) == EOF || fclose(f) != 0 || chmod(p, mode) == -1) {
		perror(p);
		exit(2);
	}
}

/* Read a small file into out; returns its length or -1. */
static long
slurp(const char *p, char *out, size_t sz)
{
	FILE	*f;
	size_t	 n;

	if ((f = fopen(p, "r")) == NULL)
		return -1;
	n = fread(out, 1, sz - 1, f);
	out[n] = '\0';
	fclose(f);
	return (long)n;
}

/* conf_load() of exactly text; err holds the message. */
static int
load_raw(const char *text)
{
	int	 rc;

	put(path, text, 0644);
	err[0] = '\0';
	rc = conf_load(path, err, sizeof(err));
	T_OK(rc == 0 || (err[0] != '\0' && strlen(err) < sizeof(err)),
	    "conf_load failed without a message");
	return rc;
}

/* conf_load() of text followed by a phone_number_id. */
static int
load(const char *text)
{
	char	*s;
	size_t	 n = strlen(text) + sizeof(TAIL);
	int	 rc;

	if ((s = malloc(n)) == NULL)
		exit(2);
	snprintf(s, n, "%s%s", text, TAIL);
	rc = load_raw(s);
	free(s);
	return rc;
}

/* Does err hold "file:line: key:" (or "file:line:" with key NULL)? */
static int
at_file(const char *file, int line, const char *key)
{
	char	 want[512];

	if (key != NULL)
		snprintf(want, sizeof(want), "%s:%d: %s:", file, line, key);
	else
		snprintf(want, sizeof(want), "%s:%d:", file, line);
	return strstr(err, want) != NULL;
}

static int
at(int line, const char *key)
{
	return at_file(path, line, key);
}

static int
has(const char *s)
{
	return strstr(err, s) != NULL;
}

/* ---------------------------------------------------------------- */

static void
test_num_parse(void)
{
	static const struct {
		const char	*s;
		long long	 min, max;
		int		 rc;
		long long	 v;
	} t[] = {
		{ "0", 0, 10, 0, 0 },
		{ "10", 0, 10, 0, 10 },
		{ "5", 5, 5, 0, 5 },
		{ "007", 0, 10, 0, 7 },
		{ "-1", -5, 5, 0, -1 },
		{ "-5", -5, 5, 0, -5 },
		{ "11", 0, 10, -1, 0 },
		{ "-1", 0, 10, -1, 0 },
		{ "-6", -5, 5, -1, 0 },
		{ "4", 5, 10, -1, 0 },
		{ "9223372036854775807", LLONG_MIN, LLONG_MAX, 0, LLONG_MAX },
		{ "-9223372036854775808", LLONG_MIN, LLONG_MAX, 0, LLONG_MIN },
		{ "9223372036854775808", LLONG_MIN, LLONG_MAX, -1, 0 },
		{ "-9223372036854775809", LLONG_MIN, LLONG_MAX, -1, 0 },
		{ "99999999999999999999999", LLONG_MIN, LLONG_MAX, -1, 0 },
		{ "", 0, 10, -1, 0 },
		{ "1x", 0, 10, -1, 0 },
		{ "x1", 0, 10, -1, 0 },
		{ " 1", 0, 10, -1, 0 },
		{ "1 ", 0, 10, -1, 0 },
		{ "\t1", 0, 10, -1, 0 },
		{ "1\n", 0, 10, -1, 0 },
		{ "-", -10, 10, -1, 0 },
		{ "--1", -10, 10, -1, 0 },
		{ "- 1", -10, 10, -1, 0 },
		{ "+1", 0, 10, -1, 0 },
		{ "0x5", 0, 10, -1, 0 },
		{ "1.0", 0, 10, -1, 0 },
		{ "1e1", 0, 100, -1, 0 },
	};
	size_t		 i;
	long long	 v;
	int		 rc;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		v = 4242;
		rc = num_parse(t[i].s, t[i].min, t[i].max, &v);
		T_OK(rc == t[i].rc, "num_parse(\"%s\", %lld, %lld) = %d",
		    t[i].s, t[i].min, t[i].max, rc);
		if (rc == 0 && t[i].rc == 0)
			T_OK(v == t[i].v, "num_parse(\"%s\") gave %lld",
			    t[i].s, v);
		if (t[i].rc == -1)
			T_OK(v == 4242, "num_parse(\"%s\") wrote %lld on "
			    "failure", t[i].s, v);
	}
}

static void
test_conf_path(void)
{
	T_OK(strcmp(conf_path("/x/y.conf"), "/x/y.conf") == 0, "conf_path -c");
	setenv("OTP_CONFIG", "/env/otp.conf", 1);
	T_OK(strcmp(conf_path(NULL), "/env/otp.conf") == 0,
	    "conf_path OTP_CONFIG");
	T_OK(strcmp(conf_path("/c.conf"), "/c.conf") == 0,
	    "conf_path: -c before OTP_CONFIG");
	setenv("OTP_CONFIG", "", 1);
	T_OK(strcmp(conf_path(NULL), OTP_DEFAULT_CONFIG) == 0,
	    "conf_path: empty OTP_CONFIG");
	unsetenv("OTP_CONFIG");
	T_OK(strcmp(conf_path(NULL), OTP_DEFAULT_CONFIG) == 0,
	    "conf_path default");
}

static void
test_defaults(void)
{
	/* An empty file: every default, and the default channel needs an id. */
	T_OK(load_raw("") == -1 && has(path) && has("phone_number_id"),
	    "empty file: %s", err);

	T_OK(load("") == 0, "defaults: %s", err);
	T_OK(strcmp(conf.path, path) == 0, "defaults: path");
	T_OK(conf.name[0] != '\0', "defaults: name");
	T_OK(conf.base_url[0] != '\0', "defaults: base_url");
	T_OK(strchr(conf.contact_email, '@') != NULL, "defaults: email");
	T_OK(strlen(conf.policy_updated) == 10, "defaults: policy_updated");
	T_OK(conf.database[0] != '\0', "defaults: database");
	T_OK(conf.secrets[0] != '\0', "defaults: secrets");
	T_OK(conf.require_https == 1, "defaults: require_https");
	T_OK(conf.default_locale == LOCALE_EN, "defaults: default_locale");
	T_OK(conf.trusted_proxiesz == 0, "defaults: trusted_proxies");
	T_OK(conf.code_length == 6, "defaults: code_length");
	T_OK(conf.ttl == 300, "defaults: ttl");
	T_OK(conf.max_attempts == 5, "defaults: max_attempts");
	T_OK(conf.resend_cooldown == 30, "defaults: resend_cooldown");
	T_OK(strcmp(conf.default_country, "964") == 0,
	    "defaults: default_country");
	T_OK(conf.allowed_countriesz == 0, "defaults: allowed_countries");
	T_OK(conf.sends_per_phone_hour == 5, "defaults: sends_per_phone_hour");
	T_OK(conf.sends_per_phone_day == 10, "defaults: sends_per_phone_day");
	T_OK(conf.sends_per_app_minute == 600,
	    "defaults: sends_per_app_minute");
	T_OK(conf.sends_per_ip_minute == 60, "defaults: sends_per_ip_minute");
	T_OK(conf.failed_checks_per_phone_day == 20,
	    "defaults: failed_checks_per_phone_day");
	T_OK(conf.delivery_days == 30, "defaults: delivery_days");
	T_OK(conf.audit_days == 365, "defaults: audit_days");
	T_OK(conf.idempotency_hours == 24, "defaults: idempotency_hours");
	T_OK(conf.channel == CHANNEL_WHATSAPP, "defaults: channel");
	T_OK(conf.console_file[0] == '\0', "defaults: console_file");
	T_OK(strcmp(conf.api_base, "https://graph.facebook.com") == 0,
	    "defaults: api_base");
	T_OK(strcmp(conf.api_version, "v21.0") == 0, "defaults: api_version");
	T_OK(strcmp(conf.phone_number_id, "123456789") == 0,
	    "defaults: phone_number_id");
	T_OK(strcmp(conf.template, "otp_code") == 0, "defaults: template");
	T_OK(strcmp(conf.template_languages[LOCALE_EN], "en_US") == 0 &&
	    strcmp(conf.template_languages[LOCALE_AR], "ar") == 0,
	    "defaults: template_languages");
	T_OK(conf.timeout_ms == 10000, "defaults: timeout_ms");
	T_OK(conf.retries == 2, "defaults: retries");
	T_OK(conf.have_secrets == 0, "defaults: have_secrets");

	/* Only blanks and comments. */
	T_OK(load_raw("\n\n   \n\t\n# a comment\n   # indented\n"
	    "[whatsapp] # c\nphone_number_id = 1 # c\n") == 0,
	    "blank and comment lines: %s", err);

	/* A missing file names the file. */
	memset(err, 0, sizeof(err));
	T_OK(conf_load("/nonexistent/otp.conf", err, sizeof(err)) == -1 &&
	    has("/nonexistent/otp.conf"), "missing file: %s", err);
	/* A directory. */
	memset(err, 0, sizeof(err));
	T_OK(conf_load(dir, err, sizeof(err)) == -1 && has(dir),
	    "directory: %s", err);
}

static void
test_example(void)
{
	/* Verbatim, phone_number_id is empty: channel whatsapp needs it. */
	T_OK(load_raw(EXAMPLE_A "phone_number_id =\n" EXAMPLE_B) == -1 &&
	    has(path) && has("phone_number_id"), "example verbatim: %s", err);

	T_OK(load_raw(EXAMPLE_A "phone_number_id = 106540352242922\n"
	    EXAMPLE_B) == 0, "example: %s", err);
	T_OK(strcmp(conf.name, "Baghdad OTP") == 0,
	    "example: name \"%s\"", conf.name);
	T_OK(strcmp(conf.base_url, "https://otp.example.com") == 0,
	    "example: base_url");
	T_OK(strcmp(conf.contact_email, "support@example.com") == 0,
	    "example: contact_email");
	T_OK(strcmp(conf.policy_updated, "2026-11-21") == 0,
	    "example: policy_updated");
	T_OK(strcmp(conf.database, "/var/lib/baghdad-otp/otp.db") == 0,
	    "example: database");
	T_OK(strcmp(conf.secrets, "/etc/baghdad-otp/secrets") == 0,
	    "example: secrets \"%s\"", conf.secrets);
	T_OK(conf.require_https == 1, "example: require_https");
	T_OK(conf.default_locale == LOCALE_EN, "example: default_locale");
	T_OK(conf.trusted_proxiesz == 0, "example: trusted_proxies");
	T_OK(conf.code_length == 6 && conf.ttl == 300 &&
	    conf.max_attempts == 5 && conf.resend_cooldown == 30,
	    "example: [otp] numbers");
	T_OK(strcmp(conf.default_country, "964") == 0,
	    "example: default_country");
	T_OK(conf.allowed_countriesz == 0, "example: allowed_countries");
	T_OK(conf.sends_per_phone_hour == 5 &&
	    conf.sends_per_phone_day == 10 &&
	    conf.sends_per_app_minute == 600 &&
	    conf.sends_per_ip_minute == 60 &&
	    conf.failed_checks_per_phone_day == 20, "example: [limits]");
	T_OK(conf.delivery_days == 30 && conf.audit_days == 365 &&
	    conf.idempotency_hours == 24, "example: [retention]");
	T_OK(conf.channel == CHANNEL_WHATSAPP, "example: channel");
	T_OK(conf.console_file[0] == '\0', "example: console_file");
	T_OK(strcmp(conf.api_base, "https://graph.facebook.com") == 0,
	    "example: api_base");
	T_OK(strcmp(conf.api_version, "v21.0") == 0, "example: api_version");
	T_OK(strcmp(conf.phone_number_id, "106540352242922") == 0,
	    "example: phone_number_id");
	T_OK(strcmp(conf.template, "otp_code") == 0, "example: template");
	T_OK(strcmp(conf.template_languages[LOCALE_EN], "en_US") == 0 &&
	    strcmp(conf.template_languages[LOCALE_AR], "ar") == 0,
	    "example: template_languages");
	T_OK(conf.timeout_ms == 10000 && conf.retries == 2,
	    "example: timeout_ms, retries");
}

/* Every key set to a value that is not its default. */
static void
test_every_key(void)
{
	T_OK(load_raw(
	    "[service]\n"
	    "name = Test Service\n"
	    "base_url = https://otp.test.example/base\n"
	    "contact_email = privacy@test.example\n"
	    "policy_updated = 2025-01-31\n"
	    "database = /srv/otp/otp.db\n"
	    "secrets = /srv/otp/secrets\n"
	    "require_https = no\n"
	    "default_locale = ar\n"
	    "trusted_proxies = 10.0.0.1 ::1   192.168.1.1\n"
	    "[otp]\n"
	    "code_length = 8\n"
	    "ttl = 120\n"
	    "max_attempts = 3\n"
	    "resend_cooldown = 0\n"
	    "default_country = 1\n"
	    "allowed_countries = 964 1 44\n"
	    "[limits]\n"
	    "sends_per_phone_hour = 0\n"
	    "sends_per_phone_day = 1000000\n"
	    "sends_per_app_minute = 7\n"
	    "sends_per_ip_minute = 8\n"
	    "failed_checks_per_phone_day = 9\n"
	    "[retention]\n"
	    "delivery_days = 1\n"
	    "audit_days = 3650\n"
	    "idempotency_hours = 168\n"
	    "[whatsapp]\n"
	    "channel = console\n"
	    "console_file = /srv/otp/console.jsonl\n"
	    "api_base = http://127.0.0.1:9000\n"
	    "api_version = v22.0\n"
	    "phone_number_id = 1234567890\n"
	    "template = auth_code_2\n"
	    "template_languages = ar:ar_IQ en:en_GB\n"
	    "timeout_ms = 100\n"
	    "retries = 0\n") == 0, "every key: %s", err);
	T_OK(strcmp(conf.name, "Test Service") == 0, "key name");
	T_OK(strcmp(conf.base_url, "https://otp.test.example/base") == 0,
	    "key base_url");
	T_OK(strcmp(conf.contact_email, "privacy@test.example") == 0,
	    "key contact_email");
	T_OK(strcmp(conf.policy_updated, "2025-01-31") == 0,
	    "key policy_updated");
	T_OK(strcmp(conf.database, "/srv/otp/otp.db") == 0, "key database");
	T_OK(strcmp(conf.secrets, "/srv/otp/secrets") == 0, "key secrets");
	T_OK(conf.require_https == 0, "key require_https");
	T_OK(conf.default_locale == LOCALE_AR, "key default_locale");
	T_OK(conf.trusted_proxiesz == 3 &&
	    strcmp(conf.trusted_proxies[0], "10.0.0.1") == 0 &&
	    strcmp(conf.trusted_proxies[1], "::1") == 0 &&
	    strcmp(conf.trusted_proxies[2], "192.168.1.1") == 0,
	    "key trusted_proxies (%zu)", conf.trusted_proxiesz);
	T_OK(conf.code_length == 8, "key code_length");
	T_OK(conf.ttl == 120, "key ttl");
	T_OK(conf.max_attempts == 3, "key max_attempts");
	T_OK(conf.resend_cooldown == 0, "key resend_cooldown");
	T_OK(strcmp(conf.default_country, "1") == 0, "key default_country");
	T_OK(conf.allowed_countriesz == 3 &&
	    strcmp(conf.allowed_countries[0], "964") == 0 &&
	    strcmp(conf.allowed_countries[1], "1") == 0 &&
	    strcmp(conf.allowed_countries[2], "44") == 0,
	    "key allowed_countries (%zu)", conf.allowed_countriesz);
	T_OK(conf.sends_per_phone_hour == 0, "key sends_per_phone_hour");
	T_OK(conf.sends_per_phone_day == 1000000, "key sends_per_phone_day");
	T_OK(conf.sends_per_app_minute == 7, "key sends_per_app_minute");
	T_OK(conf.sends_per_ip_minute == 8, "key sends_per_ip_minute");
	T_OK(conf.failed_checks_per_phone_day == 9,
	    "key failed_checks_per_phone_day");
	T_OK(conf.delivery_days == 1, "key delivery_days");
	T_OK(conf.audit_days == 3650, "key audit_days");
	T_OK(conf.idempotency_hours == 168, "key idempotency_hours");
	T_OK(conf.channel == CHANNEL_CONSOLE, "key channel");
	T_OK(strcmp(conf.console_file, "/srv/otp/console.jsonl") == 0,
	    "key console_file");
	T_OK(strcmp(conf.api_base, "http://127.0.0.1:9000") == 0,
	    "key api_base");
	T_OK(strcmp(conf.api_version, "v22.0") == 0, "key api_version");
	T_OK(strcmp(conf.phone_number_id, "1234567890") == 0,
	    "key phone_number_id");
	T_OK(strcmp(conf.template, "auth_code_2") == 0, "key template");
	T_OK(strcmp(conf.template_languages[LOCALE_EN], "en_GB") == 0 &&
	    strcmp(conf.template_languages[LOCALE_AR], "ar_IQ") == 0,
	    "key template_languages");
	T_OK(conf.timeout_ms == 100, "key timeout_ms");
	T_OK(conf.retries == 0, "key retries");

	/* The other boolean and locale, and empty lists and country. */
	T_OK(load("[service]\nrequire_https = yes\ndefault_locale = en\n"
	    "trusted_proxies =\n[otp]\ndefault_country =\n"
	    "allowed_countries =\n") == 0, "yes/en/empty: %s", err);
	T_OK(conf.require_https == 1 && conf.default_locale == LOCALE_EN &&
	    conf.trusted_proxiesz == 0 && conf.default_country[0] == '\0' &&
	    conf.allowed_countriesz == 0, "yes/en/empty values");

	/* A reload starts from the defaults again. */
	T_OK(load("[service]\ntrusted_proxies = 10.0.0.9\n") == 0 &&
	    conf.trusted_proxiesz == 1, "reload 1: %s", err);
	T_OK(load("") == 0 && conf.trusted_proxiesz == 0 &&
	    conf.require_https == 1, "reload 2 resets: %s", err);
}

static void
test_layout(void)
{
	/* Comments after values and sections, blanks, CRLF, no spaces. */
	T_OK(load_raw(
	    "# leading comment\n"
	    "[service]   # section comment\n"
	    "name = Otp#1 # '#' glued to a word is part of the value\n"
	    "\tcontact_email=ops@example.com\t# tabs and no spaces\n"
	    "[otp]  \n"
	    "ttl = 60 #\n"
	    "code_length=7\r\n"
	    "[whatsapp]\r\n"
	    "phone_number_id = 42   \r\n"
	    "template = otp_code#x\n") == -1 && at(10, "template"),
	    "'#' inside a name value is not a comment: %s", err);
	T_OK(load_raw(
	    "# leading comment\n"
	    "[service]   # section comment\n"
	    "name = Otp#1 # '#' glued to a word is part of the value\n"
	    "\tcontact_email=ops@example.com\t# tabs and no spaces\n"
	    "[otp]  \n"
	    "ttl = 60 #\n"
	    "code_length=7\r\n"
	    "[whatsapp]\r\n"
	    "phone_number_id = 42   \r\n") == 0, "layout: %s", err);
	T_OK(strcmp(conf.name, "Otp#1") == 0, "layout: name \"%s\"",
	    conf.name);
	T_OK(strcmp(conf.contact_email, "ops@example.com") == 0,
	    "layout: contact_email \"%s\"", conf.contact_email);
	T_OK(conf.ttl == 60, "layout: ttl");
	T_OK(conf.code_length == 7, "layout: code_length with CRLF");
	T_OK(strcmp(conf.phone_number_id, "42") == 0,
	    "layout: phone_number_id \"%s\"", conf.phone_number_id);

	/* A section may be opened again. */
	T_OK(load("[otp]\nttl = 10\n[limits]\nsends_per_phone_day = 3\n"
	    "[otp]\nmax_attempts = 2\n") == 0 && conf.ttl == 10 &&
	    conf.max_attempts == 2 && conf.sends_per_phone_day == 3,
	    "section reopened: %s", err);
	/* No final newline. */
	T_OK(load_raw("[whatsapp]\nphone_number_id = 77") == 0 &&
	    strcmp(conf.phone_number_id, "77") == 0, "no final newline: %s",
	    err);
}

/* Integer keys: both bounds accepted, one past each refused. */
static void
test_ints(void)
{
	static const struct {
		const char	*sec, *key;
		long long	 min, max;
		size_t		 off;
	} t[] = {
#define I(s, k, lo, hi)	{ s, #k, lo, hi, offsetof(struct conf, k) }
		I("otp", code_length, 4, 10),
		I("otp", ttl, 5, 600),
		I("otp", max_attempts, 1, 10),
		I("otp", resend_cooldown, 0, 3600),
		I("limits", sends_per_phone_hour, 0, 1000000),
		I("limits", sends_per_phone_day, 0, 1000000),
		I("limits", sends_per_app_minute, 0, 1000000),
		I("limits", sends_per_ip_minute, 0, 1000000),
		I("limits", failed_checks_per_phone_day, 0, 1000000),
		I("retention", delivery_days, 1, 3650),
		I("retention", audit_days, 1, 3650),
		I("retention", idempotency_hours, 1, 168),
		I("whatsapp", timeout_ms, 100, 60000),
		I("whatsapp", retries, 0, 10),
#undef I
	};
	static const char *const garbage[] = {
		"", "abc", "1x", "x1", "+5", "0x5", "5.0", "1e2", "5 5",
		"99999999999999999999", "-", "--5",
	};
	char		 text[256];
	size_t		 i, j;
	long long	 v[4];

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		v[0] = t[i].min;
		v[1] = t[i].max;
		v[2] = t[i].min - 1;
		v[3] = t[i].max + 1;
		for (j = 0; j < 4; j++) {
			snprintf(text, sizeof(text),
			    "# range\n[%s]\n%s = %lld\n", t[i].sec,
			    t[i].key, v[j]);
			if (j < 2)
				T_OK(load(text) == 0 &&
				    FIELD_INT(t[i].off) == v[j],
				    "%s = %lld: %s", t[i].key, v[j], err);
			else
				T_OK(load(text) == -1 && at(3, t[i].key),
				    "%s = %lld: \"%s\"", t[i].key, v[j], err);
		}
		for (j = 0; j < sizeof(garbage) / sizeof(garbage[0]); j++) {
			snprintf(text, sizeof(text), "[%s]\n%s = %s\n",
			    t[i].sec, t[i].key, garbage[j]);
			T_OK(load(text) == -1 && at(2, t[i].key),
			    "%s = \"%s\": \"%s\"", t[i].key, garbage[j], err);
		}
	}
}

/* Malformed values of the other keys, each refused at its line. */
static void
test_malformed(void)
{
	static const struct {
		const char	*sec, *key, *val;
	} t[] = {
		{ "service", "name", "" },
		{ "service", "name", "a\x01" "b" },
		{ "service", "name", "a\tb" },
		{ "service", "name", "a\x7f" },
		{ "service", "name",	/* 64 bytes: the field holds 63 */
		    "0123456789012345678901234567890123456789"
		    "012345678901234567890123" },
		{ "service", "base_url", "" },
		{ "service", "base_url", "otp.example.com" },
		{ "service", "base_url", "ftp://otp.example.com" },
		{ "service", "base_url", "https://otp.example.com/<x>" },
		{ "service", "base_url", "https://otp.example.com/\"" },
		{ "service", "contact_email", "" },
		{ "service", "contact_email", "nobody" },
		{ "service", "contact_email", "@example.com" },
		{ "service", "contact_email", "a b@example.com" },
		{ "service", "contact_email", "a<b>@example.com" },
		{ "service", "policy_updated", "" },
		{ "service", "policy_updated", "2026-1-21" },
		{ "service", "policy_updated", "21-11-2026" },
		{ "service", "policy_updated", "2026/11/21" },
		{ "service", "policy_updated", "2026-11-2x" },
		{ "service", "policy_updated", "2026-11-211" },
		{ "service", "database", "" },
		{ "service", "secrets", "" },
		{ "service", "require_https", "" },
		{ "service", "require_https", "true" },
		{ "service", "require_https", "1" },
		{ "service", "require_https", "Yes" },
		{ "service", "require_https", "yes please" },
		{ "service", "default_locale", "" },
		{ "service", "default_locale", "fr" },
		{ "service", "default_locale", "EN" },
		{ "service", "default_locale", "en ar" },
		{ "service", "trusted_proxies", "1.2.3" },
		{ "service", "trusted_proxies", "10.0.0.1 bogus" },
		{ "service", "trusted_proxies", "localhost" },
		{ "service", "trusted_proxies", "10.0.0.0/8" },
		{ "service", "trusted_proxies", "10.0.0.1,10.0.0.2" },
		{ "service", "trusted_proxies", "[::1]" },
		{ "service", "trusted_proxies", "256.1.1.1" },
		{ "otp", "default_country", "0964" },
		{ "otp", "default_country", "+964" },
		{ "otp", "default_country", "9640" },
		{ "otp", "default_country", "0" },
		{ "otp", "default_country", "iq" },
		{ "otp", "default_country", "964 1" },
		{ "otp", "allowed_countries", "964 iq" },
		{ "otp", "allowed_countries", "1234" },
		{ "otp", "allowed_countries", "0" },
		{ "otp", "allowed_countries", "+1" },
		{ "otp", "allowed_countries", "964,1" },
		{ "whatsapp", "channel", "" },
		{ "whatsapp", "channel", "sms" },
		{ "whatsapp", "channel", "WhatsApp" },
		{ "whatsapp", "api_base", "" },
		{ "whatsapp", "api_base", "graph.facebook.com" },
		{ "whatsapp", "api_base", "ftp://graph.facebook.com" },
		{ "whatsapp", "api_version", "" },
		{ "whatsapp", "api_version", "21.0" },
		{ "whatsapp", "api_version", "v" },
		{ "whatsapp", "api_version", "vX" },
		{ "whatsapp", "api_version", "v21.0-beta" },
		{ "whatsapp", "api_version", "v1234567890123456" },
		{ "whatsapp", "phone_number_id", "12ab" },
		{ "whatsapp", "phone_number_id", "+123" },
		{ "whatsapp", "phone_number_id", "-1" },
		{ "whatsapp", "phone_number_id",	/* 32 digits */
		    "12345678901234567890123456789012" },
		{ "whatsapp", "template", "" },
		{ "whatsapp", "template", "OTP" },
		{ "whatsapp", "template", "otp-code" },
		{ "whatsapp", "template", "otp code" },
		{ "whatsapp", "template_languages", "" },
		{ "whatsapp", "template_languages", "en:en_US" },
		{ "whatsapp", "template_languages", "ar:ar" },
		{ "whatsapp", "template_languages", "en ar" },
		{ "whatsapp", "template_languages", "en:en_US ar" },
		{ "whatsapp", "template_languages", "en: ar:ar" },
		{ "whatsapp", "template_languages", "en:en_US ar:" },
		{ "whatsapp", "template_languages", "en:en-US ar:ar" },
		{ "whatsapp", "template_languages", "fr:fr en:en ar:ar" },
		{ "whatsapp", "template_languages", "EN:en ar:ar" },
		{ "whatsapp", "template_languages", "en:en,ar:ar" },
		{ "whatsapp", "template_languages",
		    "en:abcdefghijklmnopq ar:ar" },
	};
	char	 text[512];
	size_t	 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(text, sizeof(text), "\n[%s]\n%s = %s\n", t[i].sec,
		    t[i].key, t[i].val);
		T_OK(load(text) == -1 && at(3, t[i].key),
		    "%s = \"%s\" accepted or bad message: \"%s\"", t[i].key,
		    t[i].val, err);
	}

	/* The longest values that fit. */
	T_OK(load("[service]\nname = 012345678901234567890123456789012345678"
	    "901234567890123456789012\n") == 0 && strlen(conf.name) == 63,
	    "name of 63 bytes: %s", err);
	T_OK(load_raw("[whatsapp]\nphone_number_id = "
	    "1234567890123456789012345678901\n") == 0,
	    "phone_number_id of 31 digits: %s", err);
	T_OK(load("[whatsapp]\ntemplate_languages = en:abcdefghijklmno "
	    "ar:ar\n") == 0 && strcmp(conf.template_languages[LOCALE_EN],
	    "abcdefghijklmno") == 0, "language of 15 bytes: %s", err);
	/* UTF-8 text is printable. */
	T_OK(load("[service]\nname = \xd8\xa8\xd8\xba\xd8\xaf\xd8\xa7\xd8\xaf"
	    " OTP\n") == 0, "UTF-8 name: %s", err);

	/* A line longer than the reader's buffer. */
	{
		char	*big;
		size_t	 n = 6000;

		if ((big = malloc(n + 32)) == NULL)
			exit(2);
		memcpy(big, "[service]\nname = ", 17);
		memset(big + 17, 'a', n);
		memcpy(big + 17 + n, "\n", 2);
		T_OK(load(big) == -1 && at(2, NULL), "long line: %s", err);
		free(big);
	}
}

static void
test_structure(void)
{
	T_OK(load("[foo]\n") == -1 && at(1, NULL) && has("foo"),
	    "unknown section: %s", err);
	T_OK(load("[otp]\nttl = 5\n[Otp]\n") == -1 && at(3, NULL),
	    "section names are case-sensitive: %s", err);
	T_OK(load("[secrets]\ncode_key = 00\n") == -1 && at(1, NULL) &&
	    has("secrets"), "[secrets] in the configuration: %s", err);
	T_OK(load("[otp\nttl = 5\n") == -1 && at(1, NULL),
	    "malformed section: %s", err);
	T_OK(load("[]\n") == -1 && at(1, NULL), "empty section: %s", err);
	T_OK(load("[otp]]\n") == -1 && at(1, NULL), "section ]]: %s", err);
	T_OK(load("[otp]\ncolour = red\n") == -1 && at(2, "colour"),
	    "unknown key: %s", err);
	T_OK(load("[otp]\nname = x\n") == -1 && at(2, "name"),
	    "key of another section: %s", err);
	T_OK(load("[otp]\nTTL = 5\n") == -1 && at(2, "TTL"),
	    "keys are case-sensitive: %s", err);
	T_OK(load("[otp]\nttl = 5\nttl = 6\n") == -1 && at(3, "ttl"),
	    "given twice: %s", err);
	T_OK(load("[otp]\nttl = 5\n[limits]\n[otp]\nttl = 5\n") == -1 &&
	    at(5, "ttl"), "given twice across sections: %s", err);
	T_OK(load("ttl = 5\n[otp]\n") == -1 && at(1, "ttl"),
	    "key outside a section: %s", err);
	T_OK(load("# c\n\nname = x\n") == -1 && at(3, "name"),
	    "key outside a section after comments: %s", err);
	T_OK(load("[otp]\njunk\n") == -1 && at(2, NULL),
	    "line without '=': %s", err);
	T_OK(load("[otp]\n= 5\n") == -1 && at(2, NULL),
	    "line without a key: %s", err);
}

/* The rules that join keys. */
static void
test_joins(void)
{
	char	 ca[128], text[256];

	T_OK(load("[whatsapp]\nchannel = console\n"
	    "console_file = /tmp/c.jsonl\n") == -1 && has(path) &&
	    has("channel") && has("require_https"),
	    "console with require_https = yes: %s", err);
	T_OK(load("[service]\nrequire_https = no\n[whatsapp]\n"
	    "channel = console\n") == -1 && has(path) &&
	    has("console_file"), "console without console_file: %s", err);
	T_OK(load("[service]\nrequire_https = no\n[whatsapp]\n"
	    "channel = console\nconsole_file =\n") == -1 &&
	    has("console_file"), "console with empty console_file: %s", err);
	T_OK(load_raw("[service]\nrequire_https = no\n[whatsapp]\n"
	    "channel = console\nconsole_file = /tmp/c.jsonl\n") == 0 &&
	    conf.channel == CHANNEL_CONSOLE,
	    "console without phone_number_id: %s", err);
	T_OK(load_raw("[whatsapp]\nchannel = whatsapp\n") == -1 &&
	    has(path) && has("phone_number_id"),
	    "whatsapp without phone_number_id: %s", err);
	T_OK(load_raw("[whatsapp]\nchannel = whatsapp\nphone_number_id =\n") ==
	    -1 && has("phone_number_id"),
	    "whatsapp with empty phone_number_id: %s", err);
	T_OK(load_raw("[service]\nrequire_https = no\n[whatsapp]\n"
	    "phone_number_id = 5\n") == 0 && conf.require_https == 0,
	    "whatsapp with require_https = no: %s", err);
	T_OK(load_raw("[whatsapp]\nphone_number_id = 5\n"
	    "ca_file = /nonexistent/ca.pem\n") == -1 && has("ca_file") &&
	    has("/nonexistent/ca.pem"), "unreadable ca_file: %s", err);
	T_OK(load_raw("[whatsapp]\nphone_number_id = 5\n"
	    "ca_file = /dev/null\n") == -1 && has("ca_file") &&
	    has("no PEM certificate"), "ca_file without a certificate: %s",
	    err);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	put(ca, "# a bundle\n-----BEGIN CERTIFICATE-----\nMIIB\n"
	    "-----END CERTIFICATE-----\n", 0644);
	snprintf(text, sizeof(text), "[whatsapp]\nphone_number_id = 5\n"
	    "ca_file = %s\n", ca);
	T_OK(load_raw(text) == 0 && strcmp(conf.ca_file, ca) == 0,
	    "ca_file with a certificate: %s", err);
	unlink(ca);
	T_OK(load_raw("[whatsapp]\nphone_number_id = 5\n") == 0 &&
	    conf.ca_file[0] == '\0', "no ca_file: %s", err);
}

static void
test_api_base(void)
{
	static const char *const good[] = {
		"https://graph.facebook.com",
		"https://graph.facebook.com/",
		"https://127.0.0.1:8443",
		"http://127.0.0.1",
		"http://127.0.0.1:9000",
		"http://127.0.0.1/",
		"http://127.0.0.1:9000/graph",
		"http://localhost",
		"http://localhost:8080/",
		"http://[::1]",
		"http://[::1]:9000",
	};
	/* http to a host that is not loopback; curl would go to evil.com. */
	static const char *const bad[] = {
		"http://graph.facebook.com",
		"http://localhost.evil.com",
		"http://localhost.evil.com:80/",
		"http://127.0.0.1.evil.com",
		"http://127.0.0.1@evil.com",
		"http://localhost@evil.com/",
		"http://[::1]@evil.com",
		"http://127.0.0.2",
		"http://localhostx",
		"http://10.0.0.1",
		"http://[::2]",
		"http://127.0.0.1:80@evil.com",
		"http://localhost:@evil.com",
		"http://localhost:8080@evil.com/",
		"http://[::1]:1@evil.com",
	};
	char	 text[256];
	size_t	 i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "[whatsapp]\napi_base = %s\n",
		    good[i]);
		T_OK(load(text) == 0 && strcmp(conf.api_base, good[i]) == 0,
		    "api_base %s refused: %s", good[i], err);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[whatsapp]\napi_base = %s\n",
		    bad[i]);
		T_OK(load(text) == -1 && has(path) && has("api_base"),
		    "api_base %s accepted or bad message: %s", bad[i], err);
	}
	/* A value out of range is reported at its line (API.md §7). */
	T_OK(load("# c\n[whatsapp]\napi_base = http://example.com\n") == -1 &&
	    at(3, "api_base"), "api_base error without file:line: key: %s",
	    err);
	/* base_url is the public address: http is the operator's choice. */
	T_OK(load("[service]\nbase_url = http://otp.example.com\n") == 0,
	    "base_url http: %s", err);
}

static void
test_lists(void)
{
	char	 text[2048];
	size_t	 i, n;

	T_OK(load("[service]\ntrusted_proxies = 10.0.0.1\n") == 0 &&
	    conf.trusted_proxiesz == 1 &&
	    strcmp(conf.trusted_proxies[0], "10.0.0.1") == 0,
	    "one proxy: %s", err);
	T_OK(load("[service]\ntrusted_proxies =   ::1    2001:db8::1  "
	    "2001:0db8:0000:0000:0000:0000:0000:0001\n") == 0 &&
	    conf.trusted_proxiesz == 3 &&
	    strcmp(conf.trusted_proxies[0], "::1") == 0 &&
	    strcmp(conf.trusted_proxies[1], "2001:db8::1") == 0 &&
	    strcmp(conf.trusted_proxies[2],
	    "2001:0db8:0000:0000:0000:0000:0000:0001") == 0,
	    "IPv6 proxies: %s", err);
	T_OK(load("[service]\ntrusted_proxies = ::ffff:10.0.0.1\n") == 0 &&
	    conf.trusted_proxiesz == 1, "IPv4-mapped proxy: %s", err);

	/* LIST_MAX items are accepted, one more is refused. */
	for (n = LIST_MAX; n <= LIST_MAX + 1; n++) {
		size_t	 k;

		i = (size_t)snprintf(text, sizeof(text),
		    "[service]\ntrusted_proxies =");
		for (k = 0; k < n; k++)
			i += (size_t)snprintf(text + i, sizeof(text) - i,
			    " 10.0.0.%zu", k + 1);
		snprintf(text + i, sizeof(text) - i, "\n");
		if (n == LIST_MAX)
			T_OK(load(text) == 0 &&
			    conf.trusted_proxiesz == LIST_MAX &&
			    strcmp(conf.trusted_proxies[LIST_MAX - 1],
			    "10.0.0.32") == 0, "%d proxies: %s", LIST_MAX,
			    err);
		else
			T_OK(load(text) == -1 && at(2, "trusted_proxies"),
			    "%d proxies: %s", LIST_MAX + 1, err);
	}

	T_OK(load("[otp]\nallowed_countries = 964\n") == 0 &&
	    conf.allowed_countriesz == 1 &&
	    strcmp(conf.allowed_countries[0], "964") == 0,
	    "one country: %s", err);
	T_OK(load("[otp]\nallowed_countries = 1   7 44 964 971\n") == 0 &&
	    conf.allowed_countriesz == 5 &&
	    strcmp(conf.allowed_countries[0], "1") == 0 &&
	    strcmp(conf.allowed_countries[1], "7") == 0 &&
	    strcmp(conf.allowed_countries[2], "44") == 0 &&
	    strcmp(conf.allowed_countries[3], "964") == 0 &&
	    strcmp(conf.allowed_countries[4], "971") == 0,
	    "five countries: %s", err);
	for (n = LIST_MAX; n <= LIST_MAX + 1; n++) {
		size_t	 k;

		i = (size_t)snprintf(text, sizeof(text),
		    "[otp]\nallowed_countries =");
		for (k = 0; k < n; k++)
			i += (size_t)snprintf(text + i, sizeof(text) - i,
			    " %zu", 210 + k);
		snprintf(text + i, sizeof(text) - i, "\n");
		if (n == LIST_MAX)
			T_OK(load(text) == 0 &&
			    conf.allowed_countriesz == LIST_MAX,
			    "%d countries: %s", LIST_MAX, err);
		else
			T_OK(load(text) == -1 && at(2, "allowed_countries"),
			    "%d countries: %s", LIST_MAX + 1, err);
	}

	/* Country codes as ITU assigns them: no prefixes of real ones. */
	T_OK(load("[otp]\nallowed_countries = 96\n") == -1 &&
	    at(2, "allowed_countries"), "96 accepted: %s", err);
	T_OK(load("[otp]\nallowed_countries = 9\n") == -1 &&
	    at(2, "allowed_countries"), "9 accepted: %s", err);
	T_OK(load("[otp]\ndefault_country = 96\n") == -1 &&
	    at(2, "default_country"), "default 96 accepted: %s", err);
	T_OK(load("[otp]\nallowed_countries = 1 7 44 964\n") == 0,
	    "real codes refused: %s", err);

	/* A URL may not hide another host, a query or a fragment. */
	T_OK(load("[whatsapp]\nphone_number_id = 1\napi_base = "
	    "https://graph.facebook.com@127.0.0.1:9\n") == -1 &&
	    at(3, "api_base"), "userinfo in api_base: %s", err);
	T_OK(load("[whatsapp]\nphone_number_id = 1\napi_base = "
	    "https://graph.facebook.com/x?y=\n") == -1 &&
	    at(3, "api_base"), "query in api_base: %s", err);
	T_OK(load("[service]\nbase_url = https://a.example#x\n") == -1 &&
	    at(2, "base_url"), "fragment in base_url: %s", err);

	/* template_languages: order, spacing, both locales needed. */
	T_OK(load("[whatsapp]\ntemplate_languages =   ar:ar_IQ    "
	    "en:en_GB  \n") == 0 &&
	    strcmp(conf.template_languages[LOCALE_EN], "en_GB") == 0 &&
	    strcmp(conf.template_languages[LOCALE_AR], "ar_IQ") == 0,
	    "template_languages spacing: %s", err);
	T_OK(load("[whatsapp]\ntemplate_languages = en:en ar:ar\n") == 0 &&
	    strcmp(conf.template_languages[LOCALE_EN], "en") == 0,
	    "template_languages en:en: %s", err);
}

/* ---------------------------------------------------------------- */

/* A secrets file; skip names a hex key to leave out, or NULL. */
static void
put_secrets(const char *skip, const char *codehex, mode_t mode)
{
	static const char *const names[] = {
		"code_key", "pseudonym_key", "apikey_key", "csrf_key",
		"state_key",
	};
	unsigned char	 key[KEY_LEN];
	char		 hex[KEY_LEN * 2 + 1], text[2048];
	size_t		 i, j, n;

	n = (size_t)snprintf(text, sizeof(text),
	    "# secrets\n[secrets]\n");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (skip != NULL && strcmp(skip, names[i]) == 0)
			continue;
		for (j = 0; j < KEY_LEN; j++)
			key[j] = (unsigned char)(i * KEY_LEN + j);
		sec_hex(hex, key, sizeof(key));
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s = %s\n",
		    names[i], i == 0 && codehex != NULL ? codehex : hex);
	}
	snprintf(text + n, sizeof(text) - n,
	    "whatsapp_access_token = EAAG-token_1\n"
	    "whatsapp_app_secret = appsecret\n"
	    "whatsapp_verify_token = verify me\n");
	put(spath, text, mode);
}

static int
load_secrets(void)
{
	int	 rc;

	err[0] = '\0';
	rc = conf_load_secrets(err, sizeof(err));
	T_OK(rc == 0 || err[0] != '\0',
	    "conf_load_secrets failed without a message");
	return rc;
}

static void
test_secrets(void)
{
	static const mode_t refused[] = {
		0644, 0640, 0604, 0660, 0606, 0610, 0601, 0620, 0602, 0666,
	};
	static const char *const keynames[] = {
		"code_key", "pseudonym_key", "apikey_key", "csrf_key",
		"state_key",
	};
	unsigned char	 key[KEY_LEN];
	char		 text[1024], hex[KEY_LEN * 2 + 1];
	size_t		 i;
	int		 ok;

	snprintf(text, sizeof(text), "[service]\nsecrets = %s\n", spath);
	T_OK(load(text) == 0 && strcmp(conf.secrets, spath) == 0,
	    "secrets path: %s", err);

	put_secrets(NULL, NULL, 0600);
	T_OK(load_secrets() == 0, "secrets 0600: %s", err);
	T_OK(conf.have_secrets == 1, "have_secrets");
	ok = 1;
	for (i = 0; i < KEY_LEN; i++)
		if (conf.code_key[i] != i || conf.pseudonym_key[i] !=
		    KEY_LEN + i || conf.apikey_key[i] != 2 * KEY_LEN + i ||
		    conf.csrf_key[i] != 3 * KEY_LEN + i ||
		    conf.state_key[i] != 4 * KEY_LEN + i)
			ok = 0;
	T_OK(ok, "secrets: key bytes");
	T_OK(strcmp(conf.whatsapp_access_token, "EAAG-token_1") == 0,
	    "whatsapp_access_token");
	T_OK(strcmp(conf.whatsapp_app_secret, "appsecret") == 0,
	    "whatsapp_app_secret");
	T_OK(strcmp(conf.whatsapp_verify_token, "verify me") == 0,
	    "whatsapp_verify_token");

	put_secrets(NULL, NULL, 0400);
	T_OK(load_secrets() == 0, "secrets 0400: %s", err);

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		put_secrets(NULL, NULL, refused[i]);
		T_OK(load_secrets() == -1 && has(spath),
		    "secrets mode %04o: %s", (unsigned)refused[i], err);
	}

	/* Each hex key is needed, and named when missing. */
	for (i = 0; i < sizeof(keynames) / sizeof(keynames[0]); i++) {
		put_secrets(keynames[i], NULL, 0600);
		T_OK(load_secrets() == -1 && has(spath) && has(keynames[i]),
		    "secrets without %s: %s", keynames[i], err);
	}
	/* The WhatsApp values are optional. */
	memset(key, 0xab, sizeof(key));
	sec_hex(hex, key, sizeof(key));
	snprintf(text, sizeof(text), "[secrets]\ncode_key = %s\n"
	    "pseudonym_key = %s\napikey_key = %s\ncsrf_key = %s\n"
	    "state_key = %s\n", hex, hex, hex, hex, hex);
	put(spath, text, 0600);
	snprintf(text, sizeof(text), "[service]\nsecrets = %s\n",
	    spath);
	T_OK(load(text) == 0, "secrets: reload conf: %s", err);
	T_OK(load_secrets() == 0 &&
	    conf.whatsapp_access_token[0] == '\0',
	    "secrets without WhatsApp values: %s", err);
	/* Upper-case hex is hex. */
	for (i = 0; hex[i] != '\0'; i++)
		if (hex[i] >= 'a' && hex[i] <= 'f')
			hex[i] = (char)(hex[i] - 'a' + 'A');
	snprintf(text, sizeof(text), "[secrets]\ncode_key = %s\n"
	    "pseudonym_key = %s\napikey_key = %s\ncsrf_key = %s\n"
	    "state_key = %s\n", hex, hex, hex, hex, hex);
	put(spath, text, 0600);
	T_OK(load_secrets() == 0 && conf.code_key[0] == 0xab,
	    "upper-case hex: %s", err);

	/* Bad hex, at its line and named. */
	{
		static const char *const badhex[] = {
			"",
			"zz00000000000000000000000000000000000000000000000000"
			    "000000000000",
			"000000000000000000000000000000000000000000000000000"
			    "000000000000",			/* 63 */
			"00000000000000000000000000000000000000000000000000000"
			    "000000000000",			/* 65 */
			"0000000000000000000000000000000 0000000000000000000000"
			    "000000000",
			"0x00000000000000000000000000000000000000000000000000"
			    "00000000000",
			"g000000000000000000000000000000000000000000000000000"
			    "000000000000",
		};

		for (i = 0; i < sizeof(badhex) / sizeof(badhex[0]); i++) {
			put_secrets(NULL, badhex[i], 0600);
			T_OK(load_secrets() == -1 &&
			    at_file(spath, 3, "code_key"),
			    "bad hex \"%s\": %s", badhex[i], err);
		}
	}

	/* Structure of the secrets file. */
	put(spath, "[secrets]\nfoo = bar\n", 0600);
	T_OK(load_secrets() == -1 && at_file(spath, 2, "foo"),
	    "secrets unknown key: %s", err);
	put(spath, "[service]\nname = x\n", 0600);
	T_OK(load_secrets() == -1 && at_file(spath, 1, NULL),
	    "secrets [service]: %s", err);
	put(spath, "code_key = 00\n", 0600);
	T_OK(load_secrets() == -1 && at_file(spath, 1, "code_key"),
	    "secrets key outside a section: %s", err);
	put(spath, "[secrets]\nwhatsapp_app_secret = a\n"
	    "whatsapp_app_secret = b\n", 0600);
	T_OK(load_secrets() == -1 && at_file(spath, 3, "whatsapp_app_secret"),
	    "secrets key twice: %s", err);

	/* Missing, and not a regular file. */
	unlink(spath);
	T_OK(load_secrets() == -1 && has(spath), "secrets missing: %s", err);
	if (mkdir(spath, 0700) == 0) {
		T_OK(load_secrets() == -1 && has(spath),
		    "secrets is a directory: %s", err);
		rmdir(spath);
	}
}

static void
test_write_secrets(void)
{
	struct stat	 st;
	char		 before[4096], after[4096], text[512];
	unsigned char	 zero[KEY_LEN];
	mode_t		 um;
	int		 rc;

	snprintf(text, sizeof(text), "[service]\nsecrets = %s\n", spath);
	T_OK(load(text) == 0, "write: conf: %s", err);
	unlink(spath);

	/* Mode 0600 even under a permissive umask. */
	um = umask(0);
	memset(err, 0, sizeof(err));
	rc = conf_write_secrets(err, sizeof(err));
	umask(um);
	T_OK(rc == 0, "conf_write_secrets: %d %s", rc, err);
	T_OK(stat(spath, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 07777) == 0600, "written mode %04o",
	    (unsigned)(st.st_mode & 07777));
	T_OK(load_secrets() == 0, "written file loads: %s", err);
	memset(zero, 0, sizeof(zero));
	T_OK(memcmp(conf.code_key, zero, KEY_LEN) != 0 &&
	    memcmp(conf.state_key, zero, KEY_LEN) != 0 &&
	    memcmp(conf.code_key, conf.pseudonym_key, KEY_LEN) != 0 &&
	    memcmp(conf.csrf_key, conf.state_key, KEY_LEN) != 0 &&
	    memcmp(conf.apikey_key, conf.code_key, KEY_LEN) != 0,
	    "written keys are random and distinct");
	T_OK(conf.whatsapp_access_token[0] == '\0', "written token empty");

	/* An existing file is never touched. */
	T_OK(slurp(spath, before, sizeof(before)) > 0, "read secrets");
	memset(err, 0, sizeof(err));
	T_OK(conf_write_secrets(err, sizeof(err)) == 1, "existing: 1 (%s)",
	    err);
	T_OK(slurp(spath, after, sizeof(after)) > 0 &&
	    strcmp(before, after) == 0, "existing file unchanged");

	put(spath, "operator's file\n", 0644);
	T_OK(conf_write_secrets(err, sizeof(err)) == 1, "existing 0644: 1");
	T_OK(slurp(spath, after, sizeof(after)) > 0 &&
	    strcmp(after, "operator's file\n") == 0 && stat(spath, &st) == 0 &&
	    (st.st_mode & 07777) == 0644, "existing 0644 file unchanged");
	unlink(spath);

	/* A directory that does not exist. */
	snprintf(text, sizeof(text), "[service]\nsecrets = %s/no/such/dir\n",
	    dir);
	T_OK(load(text) == 0, "write: conf 2: %s", err);
	memset(err, 0, sizeof(err));
	T_OK(conf_write_secrets(err, sizeof(err)) == -1 && has("no/such/dir"),
	    "write into a missing directory: %s", err);
}

int
main(void)
{
	char	 tmpl[] = "/tmp/t_conf.XXXXXX";

	if (sec_init() == -1 || mkdtemp(tmpl) == NULL) {
		perror("t_conf: setup");
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", tmpl);
	snprintf(path, sizeof(path), "%s/x.conf", dir);
	snprintf(spath, sizeof(spath), "%s/secrets", dir);

	test_num_parse();
	test_conf_path();
	test_defaults();
	test_example();
	test_every_key();
	test_layout();
	test_ints();
	test_malformed();
	test_structure();
	test_joins();
	test_api_base();
	test_lists();
	test_secrets();
	test_write_secrets();

	unlink(path);
	unlink(spath);
	rmdir(dir);
	return t_done("conf");
}
