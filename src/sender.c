/*
 * The sender: one thread that performs the workers' requests to the
 * WhatsApp Graph API on one curl multi handle.  Every send of the
 * process then shares that handle's connections: over HTTP/2, one TLS
 * connection carries a hundred sends at once as streams, where each
 * worker would otherwise keep a TLS connection of its own.  A worker
 * hands its easy handle over and sleeps until the transfer is done or
 * its deadline has passed, whichever comes first.
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "otp.h"

#define SENDER_STREAMS	1000	/* our cap on streams per connection */
#define SENDER_CONNS	4	/* HTTP/2 connections to Graph, at most */
#define SENDER_PAUSE_MS	50	/* after an error of curl's own */

/* One transfer handed to the sender, on the stack of its worker. */
struct job {
	CURL		*easy;
	long long	 deadline;	/* ms, CLOCK_MONOTONIC */
	CURLcode	 rc;
	int		 done;
	pthread_cond_t	 cond;
	struct job	*next;
};

static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
static struct job	*queue, **tail = &queue; /* handed over, in order */
static CURLM		*multi;		/* NULL: no sender, work in place */
static struct job	*active;	/* in the multi: the sender's own */
static int		 capped;	/* MAX_HOST_CONNECTIONS is set */

/* Milliseconds on CLOCK_MONOTONIC: the clock of send deadlines. */
long long
sender_clock_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Hand job j back to its worker with rc. */
static void
finish(struct job *j, CURLcode rc)
{
	pthread_mutex_lock(&lock);
	j->rc = rc;
	j->done = 1;
	pthread_cond_signal(&j->cond);
	pthread_mutex_unlock(&lock);
}

/* Take active job j out of the multi and hand it back with rc. */
static void
end(struct job *j, CURLcode rc)
{
	struct job	**p;

	for (p = &active; *p != j; p = &(*p)->next)
		continue;
	*p = j->next;
	curl_multi_remove_handle(multi, j->easy);
	finish(j, rc);
}

/* Start what was handed over. */
static void
take_queue(void)
{
	struct job	*j, *next;

	pthread_mutex_lock(&lock);
	j = queue;
	queue = NULL;
	tail = &queue;
	pthread_mutex_unlock(&lock);
	for (; j != NULL; j = next) {
		next = j->next;
		curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
		if (curl_multi_add_handle(multi, j->easy) != CURLM_OK) {
			finish(j, CURLE_OUT_OF_MEMORY);
			continue;
		}
		j->next = active;
		active = j;
	}
}

/*
 * Hand back the transfers that have ended.  A server that answered in
 * HTTP/1.1 cannot take streams: then a connection per send in flight,
 * or four connections would hold every send of the process.
 */
static void
take_done(void)
{
	struct CURLMsg	*m;
	CURLcode	 rc;
	long		 version;
	char		*p;
	int		 left;

	while ((m = curl_multi_info_read(multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &p);
		if (capped && rc == CURLE_OK &&
		    curl_easy_getinfo(m->easy_handle, CURLINFO_HTTP_VERSION,
		    &version) == CURLE_OK && version != CURL_HTTP_VERSION_2_0) {
			log_warn("the Graph API answered in HTTP/1.x: a "
			    "connection for each send from now on");
			curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			    0L);
			capped = 0;
		}
		end((struct job *)p, rc);
	}
}

/*
 * Hand back the transfers past their deadline, which libcurl does not
 * enforce while one waits for a connection; returns the ms to the next
 * deadline (at most 1000).
 */
static long
take_late(void)
{
	struct job	*j, *next;
	long long	 now = sender_clock_ms(), wait = 1000;

	for (j = active; j != NULL; j = next) {
		next = j->next;
		if (j->deadline <= now)
			end(j, CURLE_OPERATION_TIMEDOUT);
		else if (j->deadline - now < wait)
			wait = j->deadline - now;
	}
	return (long)wait;
}

static void *
sender(void *arg)
{
	CURLMcode	 mc;
	int		 running;

	(void)arg;
	for (;;) {
		take_queue();
		if ((mc = curl_multi_perform(multi, &running)) != CURLM_OK) {
			log_err("curl_multi_perform: %s",
			    curl_multi_strerror(mc));
			while (active != NULL)
				end(active, CURLE_SEND_ERROR);
		}
		take_done();
		if ((mc = curl_multi_poll(multi, NULL, 0, (int)take_late(),
		    NULL)) != CURLM_OK) {
			log_err("curl_multi_poll: %s", curl_multi_strerror(mc));
			usleep(SENDER_PAUSE_MS * 1000);
		}
	}
	return NULL;
}

/*
 * Start the sender thread.  Without it, sender_perform() works in the
 * calling thread, as a CGI process does.  With https set, sends go as
 * HTTP/2 streams on at most SENDER_CONNS connections, each taking as
 * many as the server allows: without a cap, libcurl opens a new
 * connection for nearly every send once the first is full, and each TLS
 * connection costs 400 KB or more.  Plain HTTP, for tests on loopback,
 * takes a connection per send in flight.  Returns 0 or -1.
 */
int
sender_start(int https)
{
	pthread_attr_t	 attr;
	pthread_t	 th;
	int		 rc;

	if ((multi = curl_multi_init()) == NULL)
		return -1;
	curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS,
	    (long)SENDER_STREAMS);
	if ((capped = https))
		curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS,
		    (long)SENDER_CONNS);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&th, &attr, sender, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		curl_multi_cleanup(multi);
		multi = NULL;
		return -1;
	}
	return 0;
}

/*
 * Perform the transfer set up in easy, as curl_easy_perform() does, on
 * the sender's connections: the caller waits until it is done, or for
 * timeout_ms at most.
 */
int
sender_perform(void *easy, long timeout_ms)
{
	struct job	 j;

	if (multi == NULL)
		return curl_easy_perform(easy);
	j.easy = easy;
	j.deadline = sender_clock_ms() + timeout_ms;
	j.rc = CURLE_OK;
	j.done = 0;
	j.next = NULL;
	pthread_cond_init(&j.cond, NULL);
	pthread_mutex_lock(&lock);
	*tail = &j;
	tail = &j.next;
	pthread_mutex_unlock(&lock);
	curl_multi_wakeup(multi);
	pthread_mutex_lock(&lock);
	while (!j.done)
		pthread_cond_wait(&j.cond, &lock);
	pthread_mutex_unlock(&lock);
	pthread_cond_destroy(&j.cond);
	return j.rc;
}
