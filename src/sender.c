/*
 * The sender: one thread that performs the workers' requests to the
 * WhatsApp Graph API on one curl multi handle.  Every send of the
 * process then shares that handle's connections: over HTTP/2, one TLS
 * connection carries a hundred sends at once as streams, where each
 * worker would otherwise keep a TLS connection of its own.  A worker
 * hands its easy handle over and sleeps until the transfer is done.
 */
#include <pthread.h>

#include <curl/curl.h>

#include "otp.h"

#define SENDER_STREAMS	1000	/* our cap on streams per connection */
#define SENDER_CONNS	4	/* HTTPS connections to Graph, at most */

/* One transfer handed to the sender, on the stack of its worker. */
struct job {
	CURL		*easy;
	CURLcode	 rc;
	int		 done;
	pthread_cond_t	 cond;
	struct job	*next;
};

static pthread_mutex_t	 lock = PTHREAD_MUTEX_INITIALIZER;
static CURLM		*multi;		/* NULL: no sender, work in place */
static struct job	*queue;		/* handed over, not yet started */

/* Start what was handed over: the sender thread only. */
static void
take_queue(void)
{
	struct job	*j, *next;

	pthread_mutex_lock(&lock);
	j = queue;
	queue = NULL;
	pthread_mutex_unlock(&lock);
	for (; j != NULL; j = next) {
		next = j->next;
		curl_easy_setopt(j->easy, CURLOPT_PRIVATE, j);
		if (curl_multi_add_handle(multi, j->easy) != CURLM_OK) {
			pthread_mutex_lock(&lock);
			j->rc = CURLE_OUT_OF_MEMORY;
			j->done = 1;
			pthread_cond_signal(&j->cond);
			pthread_mutex_unlock(&lock);
		}
	}
}

/* Wake the workers whose transfers have ended: the sender thread only. */
static void
finish_done(void)
{
	struct CURLMsg	*m;
	struct job	*j;
	char		*p;
	int		 left;

	while ((m = curl_multi_info_read(multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &p);
		j = (struct job *)p;
		curl_multi_remove_handle(multi, m->easy_handle);
		pthread_mutex_lock(&lock);
		j->rc = m->data.result;
		j->done = 1;
		pthread_cond_signal(&j->cond);
		pthread_mutex_unlock(&lock);
	}
}

static void *
sender(void *arg)
{
	int	 running;

	(void)arg;
	for (;;) {
		take_queue();
		curl_multi_perform(multi, &running);
		finish_done();
		curl_multi_poll(multi, NULL, 0, 1000, NULL);
	}
	return NULL;
}

/*
 * Start the sender thread.  Without it, sender_perform() works in the
 * calling thread, as a CGI process or a tool does.  With https set,
 * sends go as HTTP/2 streams on at most SENDER_CONNS connections, each
 * taking as many as the server allows (Graph: 100 or more): without a
 * cap, libcurl opens a new connection for nearly every send once the
 * first is full, and each TLS connection costs about 400 KB.  Plain
 * HTTP, for tests on loopback, takes a connection per send in flight.
 * Returns 0 or -1.
 */
int
sender_start(int https)
{
	pthread_t	 th;

	if ((multi = curl_multi_init()) == NULL)
		return -1;
	curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS,
	    (long)SENDER_STREAMS);
	if (https)
		curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS,
		    (long)SENDER_CONNS);
	if (pthread_create(&th, NULL, sender, NULL) != 0 ||
	    pthread_detach(th) != 0) {
		curl_multi_cleanup(multi);
		multi = NULL;
		return -1;
	}
	return 0;
}

/*
 * Perform the transfer set up in easy, as curl_easy_perform() does, on
 * the sender's connections: the caller waits until it is done.
 */
int
sender_perform(void *easy)
{
	struct job	 j;

	if (multi == NULL)
		return curl_easy_perform(easy);
	j.easy = easy;
	j.rc = CURLE_OK;
	j.done = 0;
	pthread_cond_init(&j.cond, NULL);
	pthread_mutex_lock(&lock);
	j.next = queue;
	queue = &j;
	pthread_mutex_unlock(&lock);
	curl_multi_wakeup(multi);
	pthread_mutex_lock(&lock);
	while (!j.done)
		pthread_cond_wait(&j.cond, &lock);
	pthread_mutex_unlock(&lock);
	pthread_cond_destroy(&j.cond);
	return j.rc;
}
