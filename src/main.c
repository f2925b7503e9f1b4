/*
 * otp.fcgi: the front.  FastCGI when started with a listening socket on
 * standard input (a web server's spawner, spawn-fcgi), or on a socket
 * of its own with --listen; plain CGI otherwise.  Each FastCGI worker
 * thread owns its buffers and its WhatsApp handle, and takes a database
 * connection from a pool the threads share for each request.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <fcgiapp.h>

#include <sqlite3.h>

#include "otp.h"

#define THREADS_MAX	512	/* a thread waits through each send */
#define DB_CONNS	8	/* database connections they share */

extern char	**environ;

/*
 * What the workers share: the listening socket and the database
 * connections.  Linux needs no lock around accept().  A worker serves
 * one connection at a time, so web servers should not keep idle FastCGI
 * connections open (Apache's enablereuse, nginx's fastcgi_keep_conn):
 * each would hold a worker.
 */
struct server {
	int		 fd;
	struct dbpool	 pool;
};

/*
 * Read a FastCGI request's body into w->body.  Returns 0, 413 when it is
 * larger than HOOK_BODY_MAX, or 400 when its length cannot be read.
 * The chunk is small: a worker's stack pages stay resident once touched,
 * and with 256 workers each kilobyte of stack is a quarter megabyte.
 */
static int
read_fcgi_body(struct worker *w, FCGX_Request *fr)
{
	char	 tmp[512];
	size_t	 len;
	int	 n;

	buf_reset(&w->body);
	if (req_body_length(fr->envp, &len) == -1)
		return 400;
	if (len > HOOK_BODY_MAX)
		return 413;
	while (w->body.len < len) {
		n = FCGX_GetStr(tmp, (int)(len - w->body.len < sizeof(tmp) ?
		    len - w->body.len : sizeof(tmp)), fr->in);
		if (n <= 0)
			break;
		buf_add(&w->body, tmp, (size_t)n);
	}
	/*
	 * A whole body of a length given: the end of stdin, which a web
	 * server sends right after the body's last byte, is read now, so
	 * that finish_fcgi() has nothing left to drain.  Without a length
	 * (a GET, or a body streamed by a web server that does not know
	 * its length), what comes next is the client's to send: no read
	 * may wait for it.
	 */
	if (len > 0 && w->body.len == len)
		FCGX_GetStr(tmp, 1, fr->in);
	return 0;
}

/*
 * End a request whose answer is written.  libfcgi's close shuts the
 * connection down and waits for the web server to close its end (up to
 * 2 s), holding the worker for a round trip that answers nothing.  When
 * the request's stdin has come to its end, the request is detached,
 * which makes libfcgi close at once: nothing is left unread that could
 * reset the connection.  It has, once read_fcgi_body() has read a whole
 * body; otherwise (a body larger than we read) what has arrived of it is
 * read without waiting.  When stdin has not ended (a body still
 * arriving, a length we did not read to), the worker must not wait for
 * the client: libfcgi's own close, bounded, ends it.
 */
static void
finish_fcgi(FCGX_Request *fr)
{
	char	 tmp[512];
	int	 fl;

	if (FCGX_HasSeenEOF(fr->in) && FCGX_GetError(fr->in) == 0)
		FCGX_Detach(fr);
	else if ((fl = fcntl(fr->ipcFd, F_GETFL)) != -1 &&
	    fcntl(fr->ipcFd, F_SETFL, fl | O_NONBLOCK) != -1) {
		while (FCGX_GetStr(tmp, sizeof(tmp), fr->in) > 0)
			continue;
		fcntl(fr->ipcFd, F_SETFL, fl);
		if (FCGX_HasSeenEOF(fr->in) && FCGX_GetError(fr->in) == 0)
			FCGX_Detach(fr);
	}
	FCGX_Finish_r(fr);
}

static void *
serve_fcgi(void *arg)
{
	struct server	*s = arg;
	struct worker	 w;
	FCGX_Request	 fr;
	int		 bodyerr;

	route_worker_open(&w, &s->pool);
	if (FCGX_InitRequest(&fr, s->fd, 0) != 0) {
		log_err("FCGX_InitRequest failed");
		return NULL;
	}
	for (;;) {
		if (FCGX_Accept_r(&fr) < 0)
			break;
		bodyerr = read_fcgi_body(&w, &fr);
		route_request(&w, fr.envp, bodyerr);
		FCGX_PutStr(w.out.p, (int)w.out.len, fr.out);
		finish_fcgi(&fr);
		route_after(&w);
	}
	route_worker_close(&w);
	return NULL;
}

/* Plain CGI: one request from the environment and standard input. */
static int
serve_cgi(void)
{
	struct dbpool	 pool;
	struct worker	 w;
	char		 tmp[4096];
	size_t		 len, n;
	int		 bodyerr = 0;

	if (db_pool_init(&pool, 1, 0) == -1)
		errx(1, "out of memory");
	route_worker_open(&w, &pool);
	if (req_body_length(environ, &len) == -1)
		bodyerr = 400;
	else if (len > HOOK_BODY_MAX)
		bodyerr = 413;
	while (bodyerr == 0 && w.body.len < len) {
		n = fread(tmp, 1, len - w.body.len < sizeof(tmp) ?
		    len - w.body.len : sizeof(tmp), stdin);
		if (n == 0)
			break;
		buf_add(&w.body, tmp, n);
	}
	route_request(&w, environ, bodyerr);
	fwrite(w.out.p, 1, w.out.len, stdout);
	fclose(stdout);		/* the answer is complete: then the rest */
	route_after(&w);
	route_worker_close(&w);
	db_pool_close(&pool);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: otp.fcgi [-n] [-c file] "
	    "[--listen address [--threads n]]\n");
	exit(1);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	struct server	 s;
	struct db	 db;
	pthread_t	 th[THREADS_MAX];
	const char	*cfile = NULL, *listen = NULL;
	char		 msg[1024];
	long long	 threads = 4;
	int		 ch, check = 0, i;

	while ((ch = getopt_long(argc, argv, "c:n", longopts, NULL)) != -1)
		switch (ch) {
		case 'c':
			cfile = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'l':
			listen = optarg;
			break;
		case 't':
			if (num_parse(optarg, 1, THREADS_MAX, &threads) == -1)
				errx(1, "--threads: expected 1 to %d",
				    THREADS_MAX);
			break;
		default:
			usage();
		}
	if (optind != argc)
		usage();

	/*
	 * SQLite's memory statistics put one process-wide mutex around every
	 * allocation it makes; we never read them, and the worker threads
	 * met on it in a third of their futex(2) calls.
	 */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (sec_init() == -1)
		errx(1, "libsodium cannot start");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		errx(1, "libcurl cannot start");
	if (conf_load(conf_path(cfile), msg, sizeof(msg)) == -1 ||
	    conf_load_secrets(msg, sizeof(msg)) == -1 ||
	    www_load(msg, sizeof(msg)) == -1)
		errx(1, "%s", msg);
	if (check) {
		printf("%s: configuration ok\n", conf.path);
		return 0;
	}
	if (FCGX_Init() != 0)
		errx(1, "FCGX_Init failed");
	/*
	 * libfcgi turns SIGTERM into a flag that is only read after the
	 * next request; we stop at once instead.  Every change is one
	 * SQLite transaction, so nothing is left half done.
	 */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);

	if (listen == NULL && FCGX_IsCGI())
		return serve_cgi();

	/* Bring the schema up to date once, before any worker starts. */
	if (db_open(&db, conf.database) == -1 || db_migrate(&db) == -1)
		errx(1, "%s: cannot open or migrate the database",
		    conf.database);
	db_close(&db);

	s.fd = 0;
	if (listen != NULL) {
		if (listen[0] == '/')
			unlink(listen);
		if ((s.fd = FCGX_OpenSocket(listen, 128)) < 0)
			errx(1, "%s: cannot listen", listen);
	}
	/*
	 * glibc gives threads up to 8 malloc arenas per core, each holding
	 * on to its own free memory; a few are plenty for short requests.
	 * Its default trim threshold gave memory back to the system and
	 * took it again on almost every request (brk(2), madvise(2)): a
	 * fifth of a verify's CPU time.
	 */
	mallopt(M_ARENA_MAX, 2);
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
	/*
	 * The threads run as SCHED_BATCH (they inherit it from this one):
	 * a worker woken by the web server's connection or by its batch's
	 * end waits for the running thread to sleep or use up its turn
	 * instead of preempting it, be it the web server's event loop or a
	 * batch's leader.  Same share of the CPU, and no privilege needed.
	 * At half load: about a tenth less CPU per verify, and its p99
	 * inside the service 1.0 ms instead of 1.35 (README, Performance).
	 */
#ifdef SCHED_BATCH
	if (sched_setscheduler(0, SCHED_BATCH,
	    &(struct sched_param){ .sched_priority = 0 }) == -1)
		log_warn("SCHED_BATCH: %s", strerror(errno));
#endif
	if (db_pool_init(&s.pool, threads < DB_CONNS ? threads : DB_CONNS,
	    1) == -1)
		errx(1, "%s: cannot start the database pool", conf.database);
	if (conf.channel == CHANNEL_WHATSAPP &&
	    sender_start(strncmp(conf.api_base, "https://", 8) == 0) == -1)
		errx(1, "cannot start the WhatsApp sender");
	log_info("serving FastCGI with %lld threads", threads);
	for (i = 0; i < threads; i++)
		if (pthread_create(&th[i], NULL, serve_fcgi, &s) != 0)
			errx(1, "pthread_create failed");
	for (i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	db_pool_close(&s.pool);
	return 0;
}
