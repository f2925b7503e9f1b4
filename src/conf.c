/*
 * The configuration file and the secrets file: INI, "key = value", "#"
 * comments.  Every key is a row in one table with its type, range and
 * default; defaults go through the same parser as the file.  Anything
 * unknown or out of range stops start-up with file, line and key.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "otp.h"

struct conf	 conf;

enum ktype {
	K_TEXT,		/* printable, non-empty */
	K_TEXT0,	/* printable, may be empty */
	K_URL,		/* http(s)://host... */
	K_APIURL,	/* https://, or http:// to a loopback host */
	K_EMAIL,
	K_DATE,		/* YYYY-MM-DD */
	K_INT,
	K_BOOL,		/* yes | no */
	K_LOCALE,	/* en | ar */
	K_CHANNEL,	/* whatsapp | console */
	K_DIGITS0,	/* 1-3 digits, or empty */
	K_DIGITS,	/* digits, may be empty */
	K_IPS,		/* space-separated IP addresses */
	K_CCS,		/* space-separated country codes */
	K_VERSION,	/* v21.0 */
	K_NAME,		/* [a-z0-9_]+ */
	K_LANGS,	/* en:en_US ar:ar */
	K_HEXKEY,	/* 64 hex digits */
};

struct key {
	const char	*section;
	const char	*name;
	enum ktype	 type;
	size_t		 off;
	size_t		 size;
	long long	 min, max;
	const char	*def;	/* NULL: no default, must be given */
};

#define S(f)	offsetof(struct conf, f), sizeof(((struct conf *)0)->f)

static const struct key keys[] = {
	{ "service", "name", K_TEXT, S(name), 0, 0, "Baghdad OTP" },
	{ "service", "base_url", K_URL, S(base_url), 0, 0,
	    "http://127.0.0.1:8080" },
	{ "service", "contact_email", K_EMAIL, S(contact_email), 0, 0,
	    "privacy@example.com" },
	{ "service", "policy_updated", K_DATE, S(policy_updated), 0, 0,
	    "2026-11-21" },
	{ "service", "database", K_TEXT, S(database), 0, 0,
	    "/var/lib/baghdad-otp/otp.db" },
	{ "service", "secrets", K_TEXT, S(secrets), 0, 0,
	    "/etc/baghdad-otp/secrets" },
	{ "service", "require_https", K_BOOL, S(require_https), 0, 0, "yes" },
	{ "service", "default_locale", K_LOCALE, S(default_locale), 0, 0,
	    "en" },
	{ "service", "trusted_proxies", K_IPS, S(trusted_proxies), 0, 0, "" },
	{ "otp", "code_length", K_INT, S(code_length), 4, 10, "6" },
	{ "otp", "ttl", K_INT, S(ttl), 5, 600, "300" },
	{ "otp", "max_attempts", K_INT, S(max_attempts), 1, 10, "5" },
	{ "otp", "resend_cooldown", K_INT, S(resend_cooldown), 0, 3600, "30" },
	{ "otp", "default_country", K_DIGITS0, S(default_country), 0, 0,
	    "964" },
	{ "otp", "allowed_countries", K_CCS, S(allowed_countries), 0, 0, "" },
	{ "limits", "sends_per_phone_hour", K_INT, S(sends_per_phone_hour),
	    0, 1000000, "5" },
	{ "limits", "sends_per_phone_day", K_INT, S(sends_per_phone_day),
	    0, 1000000, "10" },
	{ "limits", "sends_per_app_minute", K_INT, S(sends_per_app_minute),
	    0, 1000000, "600" },
	{ "limits", "sends_per_ip_minute", K_INT, S(sends_per_ip_minute),
	    0, 1000000, "60" },
	{ "limits", "failed_checks_per_phone_day", K_INT,
	    S(failed_checks_per_phone_day), 0, 1000000, "20" },
	{ "retention", "delivery_days", K_INT, S(delivery_days), 1, 3650,
	    "30" },
	{ "retention", "audit_days", K_INT, S(audit_days), 1, 3650, "365" },
	{ "retention", "idempotency_hours", K_INT, S(idempotency_hours),
	    1, 168, "24" },
	{ "whatsapp", "channel", K_CHANNEL, S(channel), 0, 0, "whatsapp" },
	{ "whatsapp", "console_file", K_TEXT0, S(console_file), 0, 0, "" },
	{ "whatsapp", "api_base", K_APIURL, S(api_base), 0, 0,
	    "https://graph.facebook.com" },
	{ "whatsapp", "ca_file", K_TEXT0, S(ca_file), 0, 0, "" },
	{ "whatsapp", "api_version", K_VERSION, S(api_version), 0, 0,
	    "v21.0" },
	{ "whatsapp", "phone_number_id", K_DIGITS, S(phone_number_id), 0, 0,
	    "" },
	{ "whatsapp", "template", K_NAME, S(template), 0, 0, "otp_code" },
	{ "whatsapp", "template_languages", K_LANGS, S(template_languages),
	    0, 0, "en:en_US ar:ar" },
	{ "whatsapp", "timeout_ms", K_INT, S(timeout_ms), 100, 60000,
	    "10000" },
	{ "whatsapp", "retries", K_INT, S(retries), 0, 10, "2" },
	{ "secrets", "code_key", K_HEXKEY, S(code_key), 0, 0, NULL },
	{ "secrets", "pseudonym_key", K_HEXKEY, S(pseudonym_key), 0, 0, NULL },
	{ "secrets", "apikey_key", K_HEXKEY, S(apikey_key), 0, 0, NULL },
	{ "secrets", "csrf_key", K_HEXKEY, S(csrf_key), 0, 0, NULL },
	{ "secrets", "state_key", K_HEXKEY, S(state_key), 0, 0, NULL },
	{ "secrets", "whatsapp_access_token", K_TEXT0,
	    S(whatsapp_access_token), 0, 0, "" },
	{ "secrets", "whatsapp_app_secret", K_TEXT0,
	    S(whatsapp_app_secret), 0, 0, "" },
	{ "secrets", "whatsapp_verify_token", K_TEXT0,
	    S(whatsapp_verify_token), 0, 0, "" },
};

#define KEYSZ	(sizeof(keys) / sizeof(keys[0]))

const char *const locale_names[LOCALE__MAX] = { "en", "ar" };
static const char *const channels[CHANNEL__MAX] = { "whatsapp", "console" };

/*
 * Range-checked number parsing (strtonum's contract): the whole string
 * must be a decimal integer within [min, max].  Returns 0 or -1.
 */
int
num_parse(const char *s, long long min, long long max, long long *out)
{
	char		*end;
	long long	 v;

	if (*s == '\0' || (*s != '-' && (*s < '0' || *s > '9')))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
is_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int
is_digits(const char *s, size_t min, size_t max)
{
	size_t	 n = strlen(s);

	if (n < min || n > max)
		return 0;
	for (; *s != '\0'; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* Copy s into a field of size sz; -1 if it does not fit. */
static int
set_str(char *dst, size_t sz, const char *s)
{
	size_t	 n = strlen(s);

	if (n >= sz)
		return -1;
	memcpy(dst, s, n + 1);
	return 0;
}

/*
 * Is this an http URL whose authority is exactly a loopback host with
 * an optional numeric port (tests use http there)?
 */
static int
is_loopback_url(const char *u)
{
	static const char *const hosts[] = {
		"http://127.0.0.1", "http://localhost", "http://[::1]"
	};
	size_t	 i, n;

	for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		n = strlen(hosts[i]);
		if (strncmp(u, hosts[i], n) != 0)
			continue;
		u += n;
		if (*u == ':')
			u += 1 + strspn(u + 1, "0123456789");
		return *u == '\0' || *u == '/';
	}
	return 0;
}

/* An http(s) URL with a host and nothing that needs quoting. */
static int
is_url(const char *u)
{
	size_t	 n;

	if (strncmp(u, "https://", 8) == 0)
		n = 8;
	else if (strncmp(u, "http://", 7) == 0)
		n = 7;
	else
		return 0;
	/* No user part, query or fragment: they change where it goes. */
	return u[n] != '\0' && u[n] != '/' &&
	    strpbrk(u, " \"'<>\\@?#") == NULL;
}

/*
 * Split a space-separated list into a table of fixed-size strings,
 * checking each item with check().  Returns 0 or -1 with why set.
 */
static int
set_list(char *tab, size_t itemsz, size_t *count, const char *val,
    int (*check)(const char *), const char **why)
{
	const char	*p = val, *e;
	size_t		 n = 0, len;
	char		 item[128];

	while (*p != '\0') {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		for (e = p; *e != '\0' && *e != ' ' && *e != '\t'; e++)
			continue;
		len = e - p;
		if (n == LIST_MAX) {
			*why = "too many items";
			return -1;
		}
		if (len >= itemsz || len >= sizeof(item)) {
			*why = "item too long";
			return -1;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (!check(item)) {
			*why = "invalid item";
			return -1;
		}
		memcpy(tab + n * itemsz, item, len + 1);
		n++;
		p = e;
	}
	*count = n;
	return 0;
}

static int
check_ip(const char *s)
{
	unsigned char	 a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* A country code as ITU assigns them: 1 to 3 digits, prefix-free. */
static int
check_cc(const char *s)
{
	return is_digits(s, 1, 3) && s[0] != '0' &&
	    phone_cc_len(s) == strlen(s);
}

/* "en:en_US ar:ar": a WhatsApp language code for each locale. */
static int
set_langs(char (*tab)[16], const char *val, const char **why)
{
	char		 items[LIST_MAX][64], *colon;
	size_t		 n, i;
	int		 l, seen[LOCALE__MAX] = { 0 };

	if (set_list(&items[0][0], sizeof(items[0]), &n, val, is_printable,
	    why) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if ((colon = strchr(items[i], ':')) == NULL) {
			*why = "expected locale:language pairs";
			return -1;
		}
		*colon++ = '\0';
		for (l = 0; l < LOCALE__MAX; l++)
			if (strcmp(items[i], locale_names[l]) == 0)
				break;
		if (l == LOCALE__MAX || *colon == '\0' || strlen(colon) >= 16 ||
		    strspn(colon, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") != strlen(colon)) {
			*why = "invalid locale:language pair";
			return -1;
		}
		memcpy(tab[l], colon, strlen(colon) + 1);
		seen[l] = 1;
	}
	for (l = 0; l < LOCALE__MAX; l++)
		if (!seen[l]) {
			*why = "a language is needed for en and ar";
			return -1;
		}
	return 0;
}

/* Index of s in a table of n names, or -1. */
static int
lookup(const char *const *tab, int n, const char *s)
{
	int	 i;

	for (i = 0; i < n; i++)
		if (strcmp(tab[i], s) == 0)
			return i;
	return -1;
}

/*
 * Parse val into the field that k describes.  Returns 0, or -1 with a
 * short reason in *why.
 */
static int
set_key(const struct key *k, const char *val, const char **why)
{
	char		*f = (char *)&conf + k->off;
	long long	 n;
	int		 i;
	size_t		 len = strlen(val);

	*why = "invalid value";
	if (!is_printable(val))
		return -1;
	switch (k->type) {
	case K_TEXT:
		if (len == 0) {
			*why = "must not be empty";
			return -1;
		}
		/* FALLTHROUGH */
	case K_TEXT0:
		*why = "value too long";
		return set_str(f, k->size, val);
	case K_URL:
		if (!is_url(val)) {
			*why = "expected an https:// URL";
			return -1;
		}
		*why = "value too long";
		return set_str(f, k->size, val);
	case K_APIURL:
		if (!is_url(val) || (strncmp(val, "https://", 8) != 0 &&
		    !is_loopback_url(val))) {
			*why = "must be https (http only for a loopback host)";
			return -1;
		}
		*why = "value too long";
		return set_str(f, k->size, val);
	case K_EMAIL:
		if (strchr(val, '@') == NULL || val[0] == '@' ||
		    strchr(val, '@')[1] == '\0' ||
		    strpbrk(val, " \"'<>\\") != NULL)
			return -1;
		*why = "value too long";
		return set_str(f, k->size, val);
	case K_DATE:
		for (i = 0; i < 10; i++)
			if (len != 10 || (i == 4 || i == 7 ? val[i] != '-' :
			    val[i] < '0' || val[i] > '9'))
				break;
		if (i < 10 || memcmp(val + 5, "01", 2) < 0 ||
		    memcmp(val + 5, "12", 2) > 0 ||
		    memcmp(val + 8, "01", 2) < 0 ||
		    memcmp(val + 8, "31", 2) > 0) {
			*why = "expected YYYY-MM-DD";
			return -1;
		}
		return set_str(f, k->size, val);
	case K_INT:
		if (num_parse(val, k->min, k->max, &n) == -1) {
			*why = "not a number in range";
			return -1;
		}
		*(int *)f = (int)n;
		return 0;
	case K_BOOL:
		if (strcmp(val, "yes") == 0)
			*(int *)f = 1;
		else if (strcmp(val, "no") == 0)
			*(int *)f = 0;
		else {
			*why = "expected yes or no";
			return -1;
		}
		return 0;
	case K_LOCALE:
		if ((i = lookup(locale_names, LOCALE__MAX, val)) == -1) {
			*why = "expected en or ar";
			return -1;
		}
		*(enum locale *)f = i;
		return 0;
	case K_CHANNEL:
		if ((i = lookup(channels, CHANNEL__MAX, val)) == -1) {
			*why = "expected whatsapp or console";
			return -1;
		}
		*(enum channel *)f = i;
		return 0;
	case K_DIGITS0:
		if (len > 0 && !check_cc(val)) {
			*why = "expected a country code of 1 to 3 digits";
			return -1;
		}
		return set_str(f, k->size, val);
	case K_DIGITS:
		if (!is_digits(val, 0, k->size - 1)) {
			*why = "expected digits";
			return -1;
		}
		return set_str(f, k->size, val);
	case K_IPS:
		return set_list(f, sizeof(conf.trusted_proxies[0]),
		    &conf.trusted_proxiesz, val, check_ip, why);
	case K_CCS:
		return set_list(f, sizeof(conf.allowed_countries[0]),
		    &conf.allowed_countriesz, val, check_cc, why);
	case K_VERSION:
		if (len < 2 || val[0] != 'v' ||
		    strspn(val + 1, "0123456789.") != len - 1) {
			*why = "expected a version such as v21.0";
			return -1;
		}
		return set_str(f, k->size, val);
	case K_NAME:
		if (len == 0 || strspn(val,
		    "abcdefghijklmnopqrstuvwxyz0123456789_") != len) {
			*why = "expected [a-z0-9_]";
			return -1;
		}
		return set_str(f, k->size, val);
	case K_LANGS:
		return set_langs((char (*)[16])f, val, why);
	case K_HEXKEY:
		if (sec_unhex((unsigned char *)f, k->size, val) == -1) {
			*why = "expected 64 hex digits";
			return -1;
		}
		return 0;
	}
	return -1;
}

static int
fail(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errsz, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

/* Trim blanks at both ends in place. */
static char *
trim(char *s)
{
	char	*e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
	    e[-1] == '\n'))
		*--e = '\0';
	return s;
}

/*
 * Read an INI file, setting the keys of the sections for which
 * want(section) is true.  seen[] marks the keys given.  Returns 0 or -1
 * with "file:line: key: why" in err.
 */
static int
ini_read(FILE *f, const char *path, int secrets, int *seen, char *err,
    size_t errsz)
{
	char		 line[4096], section[32] = "", *p, *eq, *key, *val, *c;
	const char	*why;
	size_t		 lineno = 0, i, n;
	int		 known;

	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		n = strlen(line);
		if (n == sizeof(line) - 1 && line[n - 1] != '\n')
			return fail(err, errsz, "%s:%zu: line too long",
			    path, lineno);
		/* A comment starts a line or follows a blank. */
		for (c = line; (c = strchr(c, '#')) != NULL; c++)
			if (c == line || c[-1] == ' ' || c[-1] == '\t') {
				*c = '\0';
				break;
			}
		p = trim(line);
		if (*p == '\0')
			continue;
		if (*p == '[') {
			n = strlen(p);
			if (p[n - 1] != ']' || n - 2 >= sizeof(section))
				return fail(err, errsz,
				    "%s:%zu: malformed section", path, lineno);
			p[n - 1] = '\0';
			p = trim(p + 1);
			known = 0;
			for (i = 0; i < KEYSZ; i++)
				if (strcmp(keys[i].section, p) == 0 &&
				    (strcmp(p, "secrets") == 0) == secrets)
					known = 1;
			if (!known)
				return fail(err, errsz,
				    "%s:%zu: unknown section [%.32s]",
				    path, lineno, p);
			memcpy(section, p, strlen(p) + 1);
			continue;
		}
		if ((eq = strchr(p, '=')) == NULL)
			return fail(err, errsz, "%s:%zu: expected key = value",
			    path, lineno);
		*eq = '\0';
		key = trim(p);
		val = trim(eq + 1);
		if (section[0] == '\0')
			return fail(err, errsz, "%s:%zu: %.64s: key outside "
			    "a section", path, lineno, key);
		for (i = 0; i < KEYSZ; i++)
			if (strcmp(keys[i].section, section) == 0 &&
			    strcmp(keys[i].name, key) == 0)
				break;
		if (i == KEYSZ)
			return fail(err, errsz, "%s:%zu: %.64s: unknown key "
			    "in [%s]", path, lineno, key, section);
		if (seen[i])
			return fail(err, errsz, "%s:%zu: %s: given twice",
			    path, lineno, key);
		seen[i] = 1;
		if (set_key(&keys[i], val, &why) == -1)
			return fail(err, errsz, "%s:%zu: %s: %s", path,
			    lineno, key, why);
	}
	if (ferror(f))
		return fail(err, errsz, "%s: %s", path, strerror(errno));
	return 0;
}

/* Which configuration file: -c, else $OTP_CONFIG, else the default. */
const char *
conf_path(const char *opt)
{
	const char	*env;

	if (opt != NULL)
		return opt;
	if ((env = getenv("OTP_CONFIG")) != NULL && *env != '\0')
		return env;
	return OTP_DEFAULT_CONFIG;
}

/*
 * How many lines of the file at path begin a PEM certificate, or -1
 * with errno set if it cannot be read.  libcurl would find a file
 * without any only at the first send.
 */
static int
pem_certs(const char *path)
{
	FILE	*f;
	char	 line[256];
	int	 n = 0;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "-----BEGIN CERTIFICATE-----", 27) == 0)
			n++;
	if (ferror(f))
		n = -1;
	fclose(f);
	return n;
}

/*
 * Load the configuration file at path over the defaults and check the
 * rules that join keys.  Returns 0 or -1 with a message in err.
 */
int
conf_load(const char *path, char *err, size_t errsz)
{
	FILE		*f;
	const char	*why;
	int		 seen[KEYSZ] = { 0 }, rc, n;
	size_t		 i;

	memset(&conf, 0, sizeof(conf));
	for (i = 0; i < KEYSZ; i++)
		if (keys[i].def != NULL &&
		    set_key(&keys[i], keys[i].def, &why) == -1)
			return fail(err, errsz, "default of %s: %s",
			    keys[i].name, why);
	if (set_str(conf.path, sizeof(conf.path), path) == -1)
		return fail(err, errsz, "%s: path too long", path);
	if ((f = fopen(path, "r")) == NULL)
		return fail(err, errsz, "%s: %s", path, strerror(errno));
	rc = ini_read(f, path, 0, seen, err, errsz);
	fclose(f);
	if (rc == -1)
		return -1;

	if (conf.channel == CHANNEL_CONSOLE) {
		if (conf.require_https)
			return fail(err, errsz, "%s: channel: console is for "
			    "development only and needs require_https = no",
			    path);
		if (conf.console_file[0] == '\0')
			return fail(err, errsz, "%s: console_file: needed by "
			    "channel = console", path);
	}
	if (conf.channel == CHANNEL_WHATSAPP && conf.phone_number_id[0] == '\0')
		return fail(err, errsz, "%s: phone_number_id: needed by "
		    "channel = whatsapp", path);
	if (conf.ca_file[0] != '\0' && (n = pem_certs(conf.ca_file)) < 1)
		return fail(err, errsz, "%s: ca_file: %s: %s", path,
		    conf.ca_file, n == -1 ? strerror(errno) :
		    "no PEM certificate in it");
	return 0;
}

/*
 * Load the secrets file named by the configuration.  It is refused when
 * group or others may read it.  Returns 0 or -1 with a message in err.
 */
int
conf_load_secrets(char *err, size_t errsz)
{
	struct stat	 st;
	FILE		*f;
	int		 fd, seen[KEYSZ] = { 0 }, rc;
	size_t		 i;

	if ((fd = open(conf.secrets, O_RDONLY | O_CLOEXEC)) == -1)
		return fail(err, errsz, "%s: %s (run otpctl init)",
		    conf.secrets, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errsz, "%s: not a regular file", conf.secrets);
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		return fail(err, errsz, "%s: readable by group or others "
		    "(chmod 600)", conf.secrets);
	}
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return fail(err, errsz, "%s: %s", conf.secrets,
		    strerror(errno));
	}
	rc = ini_read(f, conf.secrets, 1, seen, err, errsz);
	fclose(f);
	if (rc == -1)
		return -1;
	for (i = 0; i < KEYSZ; i++)
		if (strcmp(keys[i].section, "secrets") == 0 &&
		    keys[i].def == NULL && !seen[i])
			return fail(err, errsz, "%s: %s: missing",
			    conf.secrets, keys[i].name);
	conf.have_secrets = 1;
	return 0;
}

/*
 * Create the secrets file with fresh random keys, mode 0600.  An
 * existing file is never touched: returns 1 then, 0 when created, -1 on
 * error with a message in err.
 */
int
conf_write_secrets(char *err, size_t errsz)
{
	unsigned char	 key[KEY_LEN];
	char		 hex[KEY_LEN * 2 + 1];
	FILE		*f;
	int		 fd;
	size_t		 i;

	fd = open(conf.secrets, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 && errno == EEXIST)
		return 1;
	if (fd == -1)
		return fail(err, errsz, "%s: %s", conf.secrets,
		    strerror(errno));
	if ((f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return fail(err, errsz, "%s: %s", conf.secrets,
		    strerror(errno));
	}
	fprintf(f, "# Baghdad OTP secrets: keep this file mode 0600.\n"
	    "# Add the WhatsApp values from Meta's developer console.\n"
	    "[secrets]\n");
	for (i = 0; i < KEYSZ; i++) {
		if (keys[i].type != K_HEXKEY)
			continue;
		randombytes_buf(key, sizeof(key));
		sec_hex(hex, key, sizeof(key));
		fprintf(f, "%s = %s\n", keys[i].name, hex);
	}
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
	fprintf(f, "whatsapp_access_token =\nwhatsapp_app_secret =\n"
	    "whatsapp_verify_token =\n");
	if (fclose(f) != 0)
		return fail(err, errsz, "%s: %s", conf.secrets,
		    strerror(errno));
	return 0;
}
