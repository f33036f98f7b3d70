/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_REGISTRY_INTERNAL_H
#define CAIRN_REGISTRY_INTERNAL_H

/* Internals of the registry client: the client object, the request helper
 * (http.c) and authentication (auth.c).  Not installed. */

#include <pthread.h>
#include <time.h>

#include <curl/curl.h>

#include "registry.h"
#include "util.h"

enum reg_scheme {
	REG_SCHEME_UNKNOWN = 0, /* insecure registry not contacted yet */
	REG_SCHEME_HTTPS,
	REG_SCHEME_HTTP,
};

enum reg_auth_kind {
	REG_AUTH_UNKNOWN = 0, /* no challenge seen: requests go anonymous */
	REG_AUTH_BASIC,
	REG_AUTH_BEARER,
};

struct reg_token {
	char *scope; /* cache key: the scopes requests needed ("" for none) */
	char *value;
	time_t expires; /* CLOCK_MONOTONIC seconds */
};

#define REG_POOL_MAX 16 /* idle easy handles kept (with their connections) */

struct reg_client {
	char *domain;	     /* as in references: "docker.io" */
	char *host;	     /* what requests go to: "registry-1.docker.io" */
	bool insecure;	     /* no verification, falls back to plain HTTP */
	bool verify_off_all; /* --tls-verify=false */
	bool debug;	     /* CAIRN_REGISTRY_DEBUG */
	char *ca_blob;	     /* system CAs + cert_dir's *.crt (PEM), or NULL */
	size_t ca_len;
	char *client_cert, *client_key; /* cert_dir's *.cert + *.key, or NULL */
	char *user, *password;		/* Basic credentials, or NULL */
	char *identity_token;		/* OAuth2 refresh token (Docker "identitytoken") */

	CURLSH *share; /* DNS cache and TLS sessions */
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

	pthread_mutex_t lock; /* guards everything below */
	enum reg_scheme scheme;
	enum reg_auth_kind auth_kind;
	char *realm, *service; /* from the last bearer challenge */
	struct reg_token *tokens;
	size_t n_tokens, cap_tokens;
	CURL *pool[REG_POOL_MAX]; /* idle easy handles: connections are reused
				     through them (libcurl does not support a
				     connection cache shared between threads) */
	size_t n_pool;
};

struct reg_response;
/* Receives the body of a 2xx answer; false aborts the transfer. */
typedef bool (*reg_sink_fn)(void *userdata, struct reg_response *resp, const char *p, size_t n);

struct reg_request {
	const char *method;	    /* GET HEAD PUT PATCH POST */
	const char *url;	    /* "/v2/..." on the registry, or absolute */
	const char *scope;	    /* token scopes needed, space-separated, or NULL */
	struct curl_slist *headers; /* extra headers (never Authorization) */
	/* PUT / PATCH body: body_len bytes of body, or of body_fd from body_off */
	const void *body;
	int body_fd;
	uint64_t body_off, body_len;
	const char *post_fields; /* POST body (form), or NULL for an empty one */
	reg_sink_fn sink;	 /* 2xx bodies go here, others into resp->body */
	void *sink_data;
	size_t max_body;	 /* resp->body limit (0: 64 KiB) */
	bool follow;		 /* follow redirects */
	bool retry;		 /* idempotent: retry transient failures and 5xx */
	bool no_auth;		 /* token requests: no challenge handling */
	const char *auth_header; /* with no_auth: "Authorization: ..." to send */
	reg_progress_fn progress;
	void *progress_data;
	uint64_t progress_total;
};

struct reg_response {
	long status;
	CURLcode curl;
	char errbuf[CURL_ERROR_SIZE];
	char *url; /* what the request went to (scheme resolved) */
	char *location, *content_type, *digest, *www_auth, *retry_after, *content_range;
	uint64_t content_length;
	bool has_length;
	bytebuf body;
	bool too_large; /* body over max_body: transfer aborted */
	uint64_t sent;	/* upload progress */
};

void reg_response_clear(struct reg_response *r);

/* Sends a request, answering auth challenges, falling back to HTTP for
 * insecure registries and retrying (req->retry) transient failures.
 * 0 with resp->status set when the registry answered (whatever the
 * status), < 0 with *err set when it could not be reached. */
int reg_request_do(reg_client *c, const struct reg_request *req, struct reg_response *resp,
		   cairn_error **err);

/* The error for an answer that is not the one wanted; what names the
 * object ("docker.io/library/alpine:3.19").  Returns the code. */
int reg_http_error(reg_client *c, const struct reg_response *resp, const char *what,
		   cairn_error **err);
/* Transient failure worth a retry: connection reset, timeouts, 5xx. */
bool reg_curl_transient(CURLcode cc);
bool reg_status_transient(long status);
void reg_backoff(int attempt);

/* location resolved against base; with query ("digest=...") appended. */
char *reg_url_resolve(const char *base, const char *location, const char *query);
/* "host[:port]" of an absolute URL, or NULL. */
char *reg_url_host(const char *url);
bool reg_host_is_loopback(const char *host);

/* ---- auth.c ---- */

/* The Authorization header for a request needing scope ("Authorization:
 * Bearer ..."), or NULL when none is known; may fetch a token. */
int reg_auth_header(reg_client *c, const char *scope, char **ret, cairn_error **err);
/* After a 401: learns the challenge.  1 when a retry can succeed (a token
 * fetched, Basic credentials to send), 0 when not, < 0 on error. */
int reg_auth_challenge(reg_client *c, const char *scope, const char *www_auth, bool sent_auth,
		       cairn_error **err);
/* Fills c->user/password/identity_token from opts->creds or auth files. */
int reg_load_credentials(reg_client *c, const struct reg_options *opts, cairn_error **err);

struct reg_challenge {
	char *scheme; /* "Bearer", "Basic" */
	char *realm, *service, *scope, *error;
};
void reg_challenge_clear(struct reg_challenge *ch);
/* Parses a WWW-Authenticate value (one or more challenges); picks Bearer
 * over Basic.  -EINVAL when neither is there. */
int reg_parse_challenge(const char *header, struct reg_challenge *ret);

char *reg_base64(const void *p, size_t n);
int reg_unbase64(const char *s, char **ret, size_t *ret_len);

/* ---- client.c ---- */

/* CAIRN_E_FORMAT unless repo is a repository path ("library/alpine"). */
int reg_check_repo(reg_client *c, const char *repo, cairn_error **err);
/* "repository:REPO:pull" or "...:pull,push" (malloc'd). */
char *reg_scope(const char *repo, bool push);
/* "docker.io/library/alpine@sha256:..." (malloc'd). */
char *reg_blob_what(reg_client *c, const char *repo, const cairn_digest *d);

#endif
