/*
 * The trivial FastCGI responder that benchmarks measure the service
 * against: it answers every request with a fixed small JSON body, with
 * the same threading as otp.fcgi, scheduling policy included.  Usage:
 * trivial.fcgi [threads]
 */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include <fcgiapp.h>

static void *
serve(void *arg)
{
	static const char	 resp[] = "Status: 200 OK\r\n"
	    "Content-Type: application/json; charset=utf-8\r\n"
	    "Content-Length: 15\r\n\r\n{\"status\":\"ok\"}";
	FCGX_Request		 fr;

	(void)arg;
	FCGX_InitRequest(&fr, 0, 0);
	for (;;) {
		if (FCGX_Accept_r(&fr) < 0)
			break;
		FCGX_PutStr(resp, sizeof(resp) - 1, fr.out);
		FCGX_Finish_r(&fr);
	}
	return NULL;
}

int
main(int argc, char *argv[])
{
	pthread_t	 th[64];
	int		 i, n = 4;

	if (argc > 1 && (n = (int)strtol(argv[1], NULL, 10)) < 1)
		n = 1;
	if (n > 64)
		n = 64;
	FCGX_Init();
#ifdef SCHED_BATCH
	sched_setscheduler(0, SCHED_BATCH,
	    &(struct sched_param){ .sched_priority = 0 });
#endif
	for (i = 0; i < n; i++)
		pthread_create(&th[i], NULL, serve, NULL);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return 0;
}
