/*
 * Baghdad OTP: the one private header.  Types first, then the
 * prototypes of every cross-file function, grouped by the file that
 * defines them.  A symbol carries its file's prefix.
 */
#ifndef OTP_H
#define OTP_H

#include <pthread.h>
#include <semaphore.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct json_object;
struct curl_slist;
struct sqlite3;
struct sqlite3_stmt;

#define BODY_MAX	16384		/* request body cap, API.md §2 */
#define HOOK_BODY_MAX	(1024 * 1024)	/* webhook batches of 1,000 statuses */
#define KEY_LEN		32		/* secret key bytes */
#define HASH_LEN	32		/* keyed hash output bytes */
#define PHONE_MAX	17		/* "+", 15 digits, NUL */
#define MASKED_MAX	20		/* masked phone, NUL included */
#define ID_MAX		40		/* ids: prefix and 32 hex digits */
#define LIST_MAX	32		/* entries of a list-valued key */

#ifndef OTP_DEFAULT_CONFIG
#define OTP_DEFAULT_CONFIG "/etc/baghdad-otp/otp.conf"
#endif

/*
 * A bounded growable buffer: it never holds more than max bytes and is
 * always NUL-terminated when len > 0 or after buf_init.
 */
struct buf {
	char		*p;
	size_t		 len;
	size_t		 cap;
	size_t		 max;
};

enum channel {
	CHANNEL_WHATSAPP,
	CHANNEL_CONSOLE,
	CHANNEL__MAX
};

enum locale {
	LOCALE_EN,
	LOCALE_AR,
	LOCALE__MAX
};

extern const char *const locale_names[LOCALE__MAX];

/* The files of www/, read at start-up (www.c). */
enum www {
	WWW_LAYOUT,
	WWW_PRIVACY,
	WWW_DELETION,
	WWW_DELETION_CODE,
	WWW_DELETION_DONE,
	WWW_DELETION_STATUS,
	WWW_MESSAGE,
	WWW_STYLE,
	WWW__MAX
};

/*
 * The configuration: filled once by conf_load() and conf_load_secrets()
 * at start-up, read-only afterwards.
 */
struct conf {
	char		 path[1024];
	/* [service] */
	char		 name[64];
	char		 base_url[256];
	char		 contact_email[128];
	char		 policy_updated[16];
	char		 database[1024];
	char		 secrets[1024];
	int		 require_https;
	enum locale	 default_locale;
	char		 trusted_proxies[LIST_MAX][64];
	size_t		 trusted_proxiesz;
	/* [otp] */
	int		 code_length;
	int		 ttl;
	int		 max_attempts;
	int		 resend_cooldown;
	char		 default_country[4];
	char		 allowed_countries[LIST_MAX][4];
	size_t		 allowed_countriesz;
	/* [limits] */
	int		 sends_per_phone_hour;
	int		 sends_per_phone_day;
	int		 sends_per_app_minute;
	int		 sends_per_ip_minute;
	int		 failed_checks_per_phone_day;
	/* [retention] */
	int		 delivery_days;
	int		 audit_days;
	int		 idempotency_hours;
	/* [whatsapp] */
	enum channel	 channel;
	char		 console_file[1024];
	char		 api_base[256];
	char		 ca_file[1024];	/* "": the system's CAs */
	char		 api_version[16];
	char		 phone_number_id[32];
	char		 template[128];
	char		 template_languages[LOCALE__MAX][16];
	int		 timeout_ms;
	int		 retries;
	/* the secrets file */
	int		 have_secrets;
	unsigned char	 code_key[KEY_LEN];
	unsigned char	 pseudonym_key[KEY_LEN];
	unsigned char	 apikey_key[KEY_LEN];
	unsigned char	 csrf_key[KEY_LEN];
	unsigned char	 state_key[KEY_LEN];
	char		 whatsapp_access_token[512];
	char		 whatsapp_app_secret[128];
	char		 whatsapp_verify_token[128];
};

extern struct conf conf;

enum method {
	METHOD_GET,
	METHOD_POST,
	METHOD_DELETE,
	METHOD__MAX
};

/*
 * A parsed request: a pure function of the CGI environment and the body
 * bytes (req_parse).  Strings point into the environment or body, which
 * outlive the request.
 */
struct req {
	enum method	 method;	/* METHOD__MAX: not one we take */
	const char	*method_name;
	int		 head;		/* HEAD: answer as GET, no body */
	char		 path[256];	/* without the query */
	const char	*query;		/* after '?', or "" */
	char		 ip[64];	/* client address, proxies applied */
	int		 https;
	const char	*content_type;
	const char	*authorization;
	const char	*idempotency_key;
	const char	*accept_language;
	const char	*cookie;
	const char	*signature;	/* X-Hub-Signature-256 */
	const char	*body;
	size_t		 bodysz;
};

/* Stable error codes of problem documents (API.md §2). */
enum err {
	ERR_INVALID_REQUEST,
	ERR_UNAUTHORIZED,
	ERR_FORBIDDEN,
	ERR_HTTPS_REQUIRED,
	ERR_NOT_FOUND,
	ERR_METHOD_NOT_ALLOWED,
	ERR_BODY_TOO_LARGE,
	ERR_UNSUPPORTED_MEDIA_TYPE,
	ERR_INVALID_PHONE,
	ERR_COUNTRY_NOT_ALLOWED,
	ERR_UNDELIVERABLE,
	ERR_IDEMPOTENCY_KEY_REUSED,
	ERR_REQUEST_IN_PROGRESS,
	ERR_OTP_NOT_PENDING,
	ERR_RATE_LIMITED,
	ERR_INTERNAL,
	ERR_DELIVERY_FAILED,
	ERR_DELIVERY_UNAVAILABLE,
	ERR_UNAVAILABLE,
	ERR__MAX
};

#define RESP_HEADERS_MAX 1024

struct resp {
	int		 status;
	const char	*ctype;
	char		 headers[RESP_HEADERS_MAX];	/* "Name: value\r\n"... */
	size_t		 headersz;
	struct buf	 body;
};

/* Prepared statements, one table in db.c. */
enum stmt {
	STMT_BEGIN_IMMEDIATE,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_SAVEPOINT,
	STMT_RELEASE,
	STMT_ROLLBACK_TO,
	STMT_PING,
	STMT_APP_INSERT,
	STMT_APP_LIST,
	STMT_APP_SET_ENABLED,
	STMT_APP_EXISTS,
	STMT_KEY_INSERT,
	STMT_KEY_REVOKE_ALL,
	STMT_KEY_LOOKUP,
	STMT_AUDIT_INSERT,
	STMT_AUDIT_LIST,
	STMT_OTP_INSERT,
	STMT_OTP_SENT,
	STMT_OTP_SUPERSEDE,
	STMT_OTP_FAILED,
	STMT_OTP_GET,
	STMT_OTP_CURRENT,
	STMT_OTP_LAST_SEND,
	STMT_OTP_APPROVE,
	STMT_OTP_WRONG,
	STMT_OTP_EXPIRE,
	STMT_OTP_CANCEL,
	STMT_EVENT_INSERT,
	STMT_WEBHOOK_STATUS,
	STMT_RATE_GET,
	STMT_RATE_HIT,
	STMT_IDEM_GET,
	STMT_IDEM_INSERT,
	STMT_IDEM_FINISH,
	STMT_IDEM_DELETE,
	STMT_ERASE_COUNT_EVENTS,
	STMT_ERASE_OTPS,
	STMT_ERASE_IDEM,
	STMT_DELETION_INSERT,
	STMT_DELETION_GET,
	STMT_DELETION_BY_CONFIRMATION,
	STMT_PHONE_HELD,
	STMT_CHALLENGE_INSERT,
	STMT_CHALLENGE_GET,
	STMT_CHALLENGE_FAIL,
	STMT_CHALLENGE_ERASE,
	STMT__MAX
};

struct db {
	struct sqlite3		*h;
	int			 writer;	/* the pool's writer */
	struct sqlite3_stmt	*st[STMT__MAX];
	pthread_mutex_t		*wlock;	/* the process's writers queue here */
	int			 writing;	/* holds wlock */
	int			 batched;	/* transactions are savepoints */
};

/* A request's write, waiting for a batch to run it (db_pool_batch()). */
struct dbjob {
	void		(*fn)(void *, struct db *);
	void		*arg;
	sem_t		 wake;		/* its batch ended, or its turn */
	int		 done;		/* run, and its batch ended */
	int		 rc;		/* 0: committed; -1: lost */
	struct dbjob	*next;
};

/*
 * The database connections of a process, fewer than its worker threads:
 * a request takes one for its database work and gives it back while it
 * waits on a delivery channel.  Connection 0 is the writer, taken by
 * requests that may write (POST, DELETE), which check their API key on
 * it, so that its cache always holds the pages it wrote last; the
 * others are readers.  The API's writes run in batches, one transaction
 * for all the requests that queue meanwhile (db_pool_batch()); the
 * others take the writer one at a time.  With a single connection, it
 * serves both.  In a server, wlock is the writers' turn (db_exec()) and
 * a thread of its own checkpoints the WAL, so that writers wait only
 * for the last few pages of each checkpoint.
 */
struct dbpool {
	pthread_mutex_t	 lock;
	pthread_cond_t	 freed[2];	/* a reader, the writer */
	pthread_mutex_t	 wlock;
	pthread_cond_t	 wal_full;	/* under lock: checkpoint now */
	int		 wal_pages;	/* under lock: WAL size last seen */
	struct db	 ckpt;		/* the checkpointer's connection */
	struct db	*dbs;
	int		*taken;
	size_t		 n;
	int		 server;	/* wlock and the checkpointer */
	struct dbjob	*jobs;		/* under lock: waiting for a batch */
	struct dbjob	**jobs_tail;
	int		 batching;	/* under lock: a batch is running */
};

/* Everything one worker thread owns. */
struct worker {
	struct dbpool	*pool;
	struct db	*db;		/* taken from the pool, or NULL */
	struct buf	 body;		/* request body, HOOK_BODY_MAX */
	struct buf	 out;		/* the whole response */
	void		*curl;		/* WhatsApp: one kept-alive handle */
	struct curl_slist *headers;	/* its request headers */
	struct buf	 upstream;	/* its response body */
	char		 upstream_err[256]; /* its error text (CURL_ERROR_SIZE) */
	struct {
		int		 pending;
		char		 e164[PHONE_MAX];
		char		 code[16];
		char		 id[ID_MAX];
		enum locale	 locale;
	}		 later;		/* a code to send once answered */
};

/* What a handler is given: one request being answered. */
struct ctx {
	struct worker		*w;
	const struct req	*req;
	struct resp		*resp;
	char			 app[ID_MAX];	/* authenticated application */
	char			 id[ID_MAX];	/* the {id} path segment */
	struct json_object	*json;		/* body of a JSON route */
	char			 jerr[256];	/* why it is NULL */
	time_t			 now;
};

typedef void (*handler)(struct ctx *);

/* A string member of a JSON body: one row of a validation table. */
struct field {
	const char	*name;
	int		 required;
	size_t		 max;		/* bytes */
	const char	*charset;	/* NULL: any */
};

/* What a delivery channel answered. */
enum send_result {
	SEND_OK,
	SEND_UNDELIVERABLE,	/* the recipient cannot get it: 422 */
	SEND_UNAVAILABLE,	/* try again later: 503 */
	SEND_FAILED		/* refused for an operator-side reason: 502 */
};

struct send_out {
	char		 message_id[128];	/* WhatsApp's (wamid), or "" */
	long long	 error_code;
	char		 error_title[128];
	int		 retry_after;		/* seconds, for SEND_UNAVAILABLE */
};

/* A rate limit: a fixed window of seconds and the most it allows. */
struct limit {
	const char	*name;		/* what is counted: the bucket's key */
	const char	*scope;		/* as in problem documents */
	int		 window;	/* seconds */
	int		 max;		/* 0: no limit */
};

struct erased {
	long long	 otps;
	long long	 delivery_events;
};

/* buf.c */
void	 buf_init(struct buf *, size_t max);
void	 buf_free(struct buf *);
void	 buf_reset(struct buf *);
int	 buf_add(struct buf *, const void *, size_t);
int	 buf_adds(struct buf *, const char *);

/* log.c */
void	 log_msg(int level, const char *func, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
#define LOG_ERR		0
#define LOG_WARN	1
#define LOG_INFO	2
#define LOG_DEBUG	3
#define log_err(...)	log_msg(LOG_ERR, __func__, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __func__, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __func__, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, __func__, __VA_ARGS__)

/* conf.c */
const char *conf_path(const char *opt);
int	 conf_load(const char *path, char *err, size_t errsz);
int	 conf_load_secrets(char *err, size_t errsz);
int	 conf_write_secrets(char *err, size_t errsz);
int	 num_parse(const char *, long long min, long long max, long long *);

/* jparse.c */
struct json_object *jparse(const char *, size_t, char *err, size_t errsz);

/* sec.c */
int	 sec_init(void);
void	 sec_hash(unsigned char out[HASH_LEN], const unsigned char *key,
	    const void *, size_t);
int	 sec_equal(const void *, const void *, size_t);
void	 sec_random_id(char *, size_t, const char *prefix);
void	 sec_time_id(char *, size_t, const char *prefix);
void	 sec_api_key(char *, size_t);
void	 sec_code(char *, size_t);
void	 sec_hex(char *, const unsigned char *, size_t);
int	 sec_unhex(unsigned char *, size_t, const char *);

/* phone.c */
enum phone_result {
	PHONE_OK,
	PHONE_INVALID,
	PHONE_COUNTRY
};
enum phone_result phone_normalise(char out[PHONE_MAX], const char *in);
void	 phone_mask(char out[MASKED_MAX], const char *e164);
size_t	 phone_cc_len(const char *digits);

/* db.c */
int	 db_open(struct db *, const char *path);
void	 db_close(struct db *);
int	 db_migrate(struct db *);
struct sqlite3_stmt *db_stmt(struct db *, enum stmt);
int	 db_exec(struct db *, enum stmt);
int	 db_audit(struct db *, const char *actor, const char *action,
	    const char *subject, const char *detail);
const char *db_errmsg(struct db *);
int	 db_pool_init(struct dbpool *, size_t, int server);
struct db *db_pool_get(struct dbpool *, int write);
void	 db_pool_put(struct dbpool *, struct db *);
void	 db_pool_close(struct dbpool *);
int	 db_pool_batch(struct dbpool *, void (*)(void *, struct db *),
	    void *);

/* req.c */
int	 req_parse(struct req *, char *const *env, const char *body,
	    size_t bodysz);
const char *req_env(char *const *env, const char *name);
int	 req_query(const char *query, const char *name, char *out, size_t);
int	 req_body_length(char *const *env, size_t *);

/* resp.c */
void	 resp_init(struct resp *);
void	 resp_free(struct resp *);
void	 resp_header(struct resp *, const char *name, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 resp_json(struct resp *, int status, struct json_object *);
void	 resp_problem(struct resp *, enum err, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
struct json_object *resp_problem_new(enum err, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 resp_problem_send(struct resp *, enum err, struct json_object *);
void	 resp_text(struct resp *, int status, const char *ctype,
	    const char *, size_t);
int	 resp_emit(const struct resp *, int https, int head, struct buf *);

/* route.c */
void	 route_worker_open(struct worker *, struct dbpool *);
void	 route_worker_close(struct worker *);
void	 route_request(struct worker *, char *const *env, int bodyerr);
void	 route_after(struct worker *);
int	 route_writer(struct ctx *);

/* valid.c */
int	 valid_body(struct resp *, struct json_object *, const struct field *,
	    size_t, const char **);

/* channel.c */
const char *chan_name(void);
int	 chan_waits(void);
enum send_result chan_send(struct worker *, const char *e164, const char *code,
	    const char *otp_id, enum locale, struct send_out *);

/* wa.c */
enum send_result wa_send(struct worker *, const char *e164, const char *code,
	    enum locale, struct send_out *);
void	 wa_close(struct worker *);
void	 wa_webhook_get(struct ctx *);
void	 wa_webhook_post(struct ctx *);

/* sender.c */
long long sender_clock_ms(void);
int	 sender_start(int https);
int	 sender_perform(void *curl, long timeout_ms);

/* limit.c */
enum limit_result {
	LIMIT_OK,
	LIMIT_REACHED,
	LIMIT_ERROR
};
enum limit_result limit_check(struct db *, const struct limit *,
	    const void *subject, size_t, time_t now, int hit, int *retry_after);
void	 limit_problem(struct resp *, const struct limit *, int retry_after);

/* idem.c */
enum idem_result {
	IDEM_NONE,	/* no Idempotency-Key: go on */
	IDEM_NEW,	/* go on, then idem_finish() */
	IDEM_DONE	/* the answer is in the response already */
};
enum idem_result idem_begin(struct ctx *, const unsigned char *fingerprint,
	    const unsigned char *phone_ps, unsigned char keyhash[HASH_LEN]);
void	 idem_finish(struct ctx *, const unsigned char keyhash[HASH_LEN]);

/* erase.c */
int	 erase_phone(struct db *, const char *app,
	    const unsigned char phone_ps[HASH_LEN], struct erased *);

/* www.c */
int	 www_load(char *err, size_t errsz);
const char *www_file(enum www, size_t *);
int	 www_escape(struct buf *, const char *, size_t);
int	 www_text(struct buf *, enum locale, const char *key, size_t,
	    const char *const *vars);
int	 www_render(struct buf *, enum www, enum locale,
	    const char *const *vars);

/* page.c */
void	 page_privacy(struct ctx *);
void	 page_deletion(struct ctx *);
void	 page_deletion_post(struct ctx *);
void	 page_deletion_confirm(struct ctx *);
void	 page_deletion_status(struct ctx *);
void	 page_style(struct ctx *);

/* api.c */
void	 api_otp_create(struct ctx *);
void	 api_otp_verify(struct ctx *);
void	 api_otp_get(struct ctx *);
void	 api_otp_cancel(struct ctx *);
void	 api_deletion_create(struct ctx *);
void	 api_deletion_get(struct ctx *);
const char *api_time(char out[32], time_t);

/* auth.c */
enum auth_result {
	AUTH_OK,
	AUTH_DENIED,
	AUTH_ERROR
};
const char	*auth_key(const char *authorization);
enum auth_result auth_app(struct db *, const char *authorization,
	    char app[ID_MAX]);

#endif /* !OTP_H */
