/*
 * The pages' files: templates, the style sheet and the translations in
 * www/, read once at start-up and read-only afterwards.  Templates are
 * filled only through the escapers below (the cgit habit):
 *
 *	{{t:key}}	the translation of key, as HTML text
 *	{{v:name}}	a value, as HTML text
 *	{{a:name}}	a value, as an HTML attribute value
 *	{{u:name}}	a value, as a URL query argument (percent-encoded)
 *	{{h:name}}	HTML already made through these escapers (a body)
 *
 * Translations are "key = text" lines; {name} in a text is replaced with
 * a value before the whole is escaped.  Both languages must have the
 * same keys.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otp.h"

#define WWW_FILE_MAX	(256 * 1024)
#define WWW_KEYS_MAX	256

static const char *const files[WWW__MAX] = {
	[WWW_LAYOUT] = "layout.html",
	[WWW_PRIVACY] = "privacy.html",
	[WWW_DELETION] = "deletion.html",
	[WWW_DELETION_CODE] = "deletion-code.html",
	[WWW_DELETION_DONE] = "deletion-done.html",
	[WWW_DELETION_STATUS] = "deletion-status.html",
	[WWW_MESSAGE] = "message.html",
	[WWW_STYLE] = "style.css",
};

struct text {
	char	*key;
	char	*val;
};

/* Everything read from www/ at start-up. */
static struct {
	char		*file[WWW__MAX];
	size_t		 filesz[WWW__MAX];
	struct text	 text[LOCALE__MAX][WWW_KEYS_MAX];
	size_t		 textsz[LOCALE__MAX];
} www;

/* Read a whole file into a new NUL-terminated string. */
static char *
slurp(const char *path, size_t *szp, char *err, size_t errsz)
{
	FILE	*f;
	char	*p;
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((p = malloc(WWW_FILE_MAX + 1)) == NULL) {
		fclose(f);
		snprintf(err, errsz, "%s: out of memory", path);
		return NULL;
	}
	n = fread(p, 1, WWW_FILE_MAX + 1, f);
	fclose(f);
	if (n > WWW_FILE_MAX || memchr(p, '\0', n) != NULL) {
		free(p);
		snprintf(err, errsz, "%s: too large or not text", path);
		return NULL;
	}
	p[n] = '\0';
	if (szp != NULL)
		*szp = n;
	return p;
}

/* Parse a translation file's "key = text" lines in place. */
static int
parse_texts(enum locale l, char *p, const char *path, char *err,
    size_t errsz)
{
	char	*line, *eq, *k, *v, *e;
	size_t	 lineno = 0;

	while ((line = strsep(&p, "\n")) != NULL) {
		lineno++;
		while (*line == ' ' || *line == '\t')
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		if ((eq = strchr(line, '=')) == NULL) {
			snprintf(err, errsz, "%s:%zu: expected key = text",
			    path, lineno);
			return -1;
		}
		k = line;
		for (e = eq; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
			continue;
		*e = '\0';
		for (v = eq + 1; *v == ' ' || *v == '\t'; v++)
			continue;
		for (e = v + strlen(v); e > v && (e[-1] == ' ' ||
		    e[-1] == '\r'); e--)
			continue;
		*e = '\0';
		if (www.textsz[l] == WWW_KEYS_MAX) {
			snprintf(err, errsz, "%s: too many keys", path);
			return -1;
		}
		www.text[l][www.textsz[l]].key = k;
		www.text[l][www.textsz[l]].val = v;
		www.textsz[l]++;
	}
	return 0;
}

/*
 * The www/ folder: $OTP_WWW, else www/ beside the binary's folder (the
 * layout of the source tree and of an installation alike).
 */
static int
www_dir(char *out, size_t sz)
{
	const char	*env = getenv("OTP_WWW");
	char		 exe[PATH_MAX], *slash;
	ssize_t		 n;

	if (env != NULL && *env != '\0')
		return snprintf(out, sz, "%s", env) < (int)sz ? 0 : -1;
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
		return -1;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return -1;
	*slash = '\0';
	return snprintf(out, sz, "%s/../www", exe) < (int)sz ? 0 : -1;
}

/* The translation of key in l, or NULL. */
static const char *
text(enum locale l, const char *key, size_t keysz)
{
	size_t	 i;

	for (i = 0; i < www.textsz[l]; i++)
		if (strlen(www.text[l][i].key) == keysz &&
		    strncmp(www.text[l][i].key, key, keysz) == 0)
			return www.text[l][i].val;
	return NULL;
}

/*
 * Read every file of www/ and check that both languages have the same
 * keys.  Returns 0 or -1 with a message in err.
 */
int
www_load(char *err, size_t errsz)
{
	char	 dir[PATH_MAX - 64], path[PATH_MAX], *p;
	int	 i, l;
	size_t	 k;

	if (www_dir(dir, sizeof(dir)) == -1) {
		snprintf(err, errsz, "cannot find the www folder (set OTP_WWW)");
		return -1;
	}
	for (i = 0; i < WWW__MAX; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		if ((www.file[i] = slurp(path, &www.filesz[i], err,
		    errsz)) == NULL)
			return -1;
	}
	for (l = 0; l < LOCALE__MAX; l++) {
		snprintf(path, sizeof(path), "%s/%s.txt", dir, locale_names[l]);
		if ((p = slurp(path, NULL, err, errsz)) == NULL ||
		    parse_texts(l, p, path, err, errsz) == -1)
			return -1;
	}
	for (l = 0; l < LOCALE__MAX; l++)
		for (k = 0; k < www.textsz[l]; k++)
			if (text(!l, www.text[l][k].key,
			    strlen(www.text[l][k].key)) == NULL) {
				snprintf(err, errsz, "%s/%s.txt: %s: missing",
				    dir, locale_names[!l],
				    www.text[l][k].key);
				return -1;
			}
	return 0;
}

/* The bytes of a file of www/ (the style sheet). */
const char *
www_file(enum www f, size_t *sz)
{
	*sz = www.filesz[f];
	return www.file[f];
}

/* Append s as HTML text, or as an attribute value (the same set). */
int
www_escape(struct buf *b, const char *s, size_t n)
{
	size_t	 i, start = 0;
	const char *rep;

	for (i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		if (buf_add(b, s + start, i - start) == -1 ||
		    buf_adds(b, rep) == -1)
			return -1;
		start = i + 1;
	}
	return buf_add(b, s + start, n - start);
}

/* Append s percent-encoded for a URL query argument. */
static int
url_escape(struct buf *b, const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			 e[3];

	for (; *s != '\0'; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~", *s) != NULL) {
			if (buf_add(b, s, 1) == -1)
				return -1;
			continue;
		}
		e[0] = '%';
		e[1] = hex[(unsigned char)*s >> 4];
		e[2] = hex[(unsigned char)*s & 15];
		if (buf_add(b, e, 3) == -1)
			return -1;
	}
	return 0;
}

/* The value of name among vars (NULL-terminated pairs), or "". */
static const char *
var(const char *const *vars, const char *name, size_t n)
{
	for (; vars != NULL && vars[0] != NULL; vars += 2)
		if (strlen(vars[0]) == n && strncmp(vars[0], name, n) == 0)
			return vars[1] ? vars[1] : "";
	return NULL;
}

/*
 * Append the translation of key with its {name} placeholders replaced
 * by vars, escaped as HTML text.  Returns 0 or -1.
 */
int
www_text(struct buf *b, enum locale l, const char *key, size_t keysz,
    const char *const *vars)
{
	const char	*t, *p, *o, *c, *v;

	if ((t = text(l, key, keysz)) == NULL) {
		log_err("no text %.*s", (int)keysz, key);
		return -1;
	}
	for (p = t; (o = strchr(p, '{')) != NULL &&
	    (c = strchr(o, '}')) != NULL; p = c + 1) {
		if (www_escape(b, p, (size_t)(o - p)) == -1)
			return -1;
		if ((v = var(vars, o + 1, (size_t)(c - o - 1))) == NULL) {
			log_err("text %.*s: no value %.*s", (int)keysz, key,
			    (int)(c - o - 1), o + 1);
			return -1;
		}
		if (www_escape(b, v, strlen(v)) == -1)
			return -1;
	}
	return www_escape(b, p, strlen(p));
}

/*
 * Fill template f for locale l with vars (NULL-terminated name, value
 * pairs) into b.  Returns 0 or -1 (logged: a template names something
 * unknown).
 */
int
www_render(struct buf *b, enum www f, enum locale l, const char *const *vars)
{
	const char	*p = www.file[f], *o, *c, *name, *v;
	size_t		 n;
	int		 rc;

	while ((o = strstr(p, "{{")) != NULL) {
		if ((c = strstr(o, "}}")) == NULL || c - o < 4 || o[3] != ':')
			break;
		if (buf_add(b, p, (size_t)(o - p)) == -1)
			return -1;
		name = o + 4;
		n = (size_t)(c - name);
		if (o[2] == 't')
			rc = www_text(b, l, name, n, vars);
		else if ((v = var(vars, name, n)) == NULL) {
			log_err("%s: no value %.*s", files[f], (int)n, name);
			rc = -1;
		} else if (o[2] == 'v' || o[2] == 'a')
			rc = www_escape(b, v, strlen(v));
		else if (o[2] == 'u')
			rc = url_escape(b, v);
		else if (o[2] == 'h')
			rc = buf_adds(b, v);
		else {
			log_err("%s: unknown {{%c:", files[f], o[2]);
			rc = -1;
		}
		if (rc == -1)
			return -1;
		p = c + 2;
	}
	return buf_adds(b, p);
}
