/*
 * Validation of JSON bodies against a table of string members (the
 * kcgi habit): handlers only ever see checked values.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "otp.h"

/* A member name fit for a detail message: printable, at most 64 bytes. */
static void
safe_name(char out[68], const char *name)
{
	size_t	 i;

	for (i = 0; name[i] != '\0' && i < 64; i++)
		out[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
	if (name[i] != '\0')
		out[i++] = '~';
	out[i] = '\0';
}

/*
 * Check obj against the n fields of tab: every member known, a string,
 * within its length and charset, every required one present.  The
 * values go into out[i] (NULL when absent), pointing into obj.  Returns
 * 0, or -1 with a 400 problem naming the member in resp.
 */
int
valid_body(struct resp *resp, struct json_object *obj,
    const struct field *tab, size_t n, const char **out)
{
	struct json_object_iterator	 it, end;
	struct json_object		*v;
	const char			*name, *s;
	char				 safe[68];
	size_t				 i, len;

	for (i = 0; i < n; i++)
		out[i] = NULL;
	it = json_object_iter_begin(obj);
	end = json_object_iter_end(obj);
	for (; !json_object_iter_equal(&it, &end);
	    json_object_iter_next(&it)) {
		name = json_object_iter_peek_name(&it);
		v = json_object_iter_peek_value(&it);
		safe_name(safe, name);
		for (i = 0; i < n; i++)
			if (strcmp(tab[i].name, name) == 0)
				break;
		if (i == n) {
			resp_problem(resp, ERR_INVALID_REQUEST,
			    "Unknown member \"%s\".", safe);
			return -1;
		}
		if (!json_object_is_type(v, json_type_string)) {
			resp_problem(resp, ERR_INVALID_REQUEST,
			    "Member \"%s\" must be a string.", safe);
			return -1;
		}
		s = json_object_get_string(v);
		len = (size_t)json_object_get_string_len(v);
		if (len == 0 || len > tab[i].max) {
			resp_problem(resp, ERR_INVALID_REQUEST,
			    "Member \"%s\" must be 1 to %zu bytes long.",
			    safe, tab[i].max);
			return -1;
		}
		if (tab[i].charset != NULL && strspn(s, tab[i].charset) != len) {
			resp_problem(resp, ERR_INVALID_REQUEST,
			    "Member \"%s\" has characters it may not have.",
			    safe);
			return -1;
		}
		out[i] = s;
	}
	for (i = 0; i < n; i++)
		if (tab[i].required && out[i] == NULL) {
			resp_problem(resp, ERR_INVALID_REQUEST,
			    "Member \"%s\" is required.", tab[i].name);
			return -1;
		}
	return 0;
}
