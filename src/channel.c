/*
 * Delivery channels behind one call.  The console channel, for
 * development only, appends one JSON line per code to console_file: the
 * only place a code is ever written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sodium.h>

#include "otp.h"

static const char *const names[CHANNEL__MAX] = { "whatsapp", "console" };

const char *
chan_name(void)
{
	return names[conf.channel];
}

/*
 * Whether a send waits on the network (WhatsApp), so that callers hold
 * no lock through it, or answers at once (console).
 */
int
chan_waits(void)
{
	return conf.channel != CHANNEL_CONSOLE;
}

/*
 * Append {"time","phone","code","otp_id"} as one line with a single
 * write, so that lines from several workers never interleave.
 */
static enum send_result
console_send(const char *e164, const char *code, const char *otp_id,
    struct send_out *out)
{
	struct json_object	*o;
	struct buf		 line;
	char			 t[32];
	ssize_t			 n;
	int			 fd;

	o = json_object_new_object();
	json_object_object_add(o, "time",
	    json_object_new_string(api_time(t, time(NULL))));
	json_object_object_add(o, "phone", json_object_new_string(e164));
	json_object_object_add(o, "code", json_object_new_string(code));
	json_object_object_add(o, "otp_id", json_object_new_string(otp_id));
	buf_init(&line, 1024);
	buf_adds(&line, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN));
	buf_adds(&line, "\n");
	json_object_put(o);
	fd = open(conf.console_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600);
	n = fd == -1 ? -1 : write(fd, line.p, line.len);
	if (fd != -1)
		close(fd);
	sodium_memzero(line.p, line.len);
	if (n != (ssize_t)line.len) {
		if (n == -1)
			log_err("%s: %m", conf.console_file);
		else
			log_err("%s: short write", conf.console_file);
		buf_free(&line);
		out->error_code = 0;
		snprintf(out->error_title, sizeof(out->error_title),
		    "console file not writable");
		return SEND_FAILED;
	}
	buf_free(&line);
	return SEND_OK;		/* no message id: no webhook will name it */
}

/*
 * Deliver code to e164 on the configured channel.  The code is the
 * caller's to wipe.  out says what the channel answered.  The worker's
 * database connection, if it holds one, may be another one afterwards,
 * or NULL if none could be opened: callers take w->db again.
 */
enum send_result
chan_send(struct worker *w, const char *e164, const char *code,
    const char *otp_id, enum locale locale, struct send_out *out)
{
	enum send_result	 r;
	int			 writer;

	memset(out, 0, sizeof(*out));
	if (conf.channel == CHANNEL_CONSOLE)
		return console_send(e164, code, otp_id, out);
	if (w->db == NULL)
		return wa_send(w, e164, code, locale, out);
	/* A send takes long: the connection serves others meanwhile. */
	writer = w->db->writer;
	db_pool_put(w->pool, w->db);
	r = wa_send(w, e164, code, locale, out);
	w->db = db_pool_get(w->pool, writer);
	return r;
}
