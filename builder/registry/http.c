/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The transport of the registry client: the client object, easy handles
 * (a pool per client, so that connections are reused), the DNS and TLS
 * session share, scheme selection (HTTPS, or HTTP for insecure registries
 * that do not speak TLS), auth challenges, retries, and the mapping of
 * curl and HTTP failures to cairn errors.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <strings.h>

#include <jansson.h>

#include "registry-internal.h"

#define USER_AGENT "cairn/0.1"
#define ERROR_BODY_MAX (64u << 10)
#define FETCH_BUFFER (512L << 10)
#define MAX_TRIES 3

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *userp)
{
	reg_client *c = userp;
	if ((unsigned) data < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&c->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *userp)
{
	reg_client *c = userp;
	if ((unsigned) data < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&c->share_locks[data]);
}

/* ---- hosts ---------------------------------------------------------------- */

/* The host name of "host[:port]" / "[v6]:port" without port or brackets. */
static void host_name(const char *hostport, char *buf, size_t size)
{
	const char *s = hostport, *e;
	if (*s == '[') {
		s++;
		e = strchr(s, ']');
		if (!e)
			e = s + strlen(s);
	} else {
		e = strchr(s, ':');
		if (!e || strchr(e + 1, ':')) /* bare IPv6 */
			e = s + strlen(s);
	}
	size_t n = MIN((size_t) (e - s), size - 1);
	memcpy(buf, s, n);
	buf[n] = 0;
}

bool reg_host_is_loopback(const char *host)
{
	char name[256];
	host_name(host, name, sizeof(name));
	if (strcasecmp(name, "localhost") == 0)
		return true;
	struct in_addr a4;
	if (inet_pton(AF_INET, name, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	struct in6_addr a6;
	if (inet_pton(AF_INET6, name, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static bool host_is_insecure(const char *domain, const struct reg_options *opts)
{
	if (opts->tls_verify_off || reg_host_is_loopback(domain))
		return true;
	char name[256];
	host_name(domain, name, sizeof(name));
	for (const char *const *p = opts->insecure; p && *p; p++)
		if (strcasecmp(*p, domain) == 0 || strcasecmp(*p, name) == 0)
			return true;
	return false;
}

static bool valid_domain(const char *s)
{
	if (!*s || strlen(s) > 255)
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char) *s) || strchr(".-:[]_", *s)))
			return false;
	return true;
}

/* ---- certificates ------------------------------------------------------- */

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n > m && strcmp(s + n - m, suffix) == 0;
}

static int append_file(bytebuf *b, const char *path)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = read_file(path, 16u << 20, &data, &len);
	if (r < 0)
		return r;
	r = buf_append(b, data, len);
	if (r >= 0)
		r = buf_append(b, "\n", 1);
	return r;
}

/* The system bundle libcurl would use, so that cert_dir's CAs add to it. */
static void append_system_cas(bytebuf *b)
{
	CURL *h = curl_easy_init();
	char *path = NULL;
	if (h && curl_easy_getinfo(h, CURLINFO_CAINFO, &path) == CURLE_OK && path)
		(void) append_file(b, path);
	if (h)
		curl_easy_cleanup(h);
}

/* cert_dir as Docker's certs.d: *.crt are CAs, *.cert + *.key a client pair. */
static int load_cert_dir(reg_client *c, const char *dir, cairn_error **err)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return cairn_error_set(err, -errno, "%s: %s", dir, strerror(errno));
	}
	bytebuf cas = {0};
	int r = 0, n_cas = 0;
	struct dirent *de;
	while (r >= 0 && (de = readdir(d))) {
		_cleanup_free_ char *path = NULL;
		if (de->d_name[0] == '.' || asprintf(&path, "%s/%s", dir, de->d_name) < 0)
			continue;
		if (has_suffix(de->d_name, ".crt")) {
			if (n_cas++ == 0)
				append_system_cas(&cas);
			r = append_file(&cas, path);
			if (r < 0)
				cairn_error_set(err, r, "%s: %s", path, strerror(-r));
		} else if (has_suffix(de->d_name, ".cert") && !c->client_cert) {
			_cleanup_free_ char *key = strndup(path, strlen(path) - 5);
			char *k = NULL;
			if (key && asprintf(&k, "%s.key", key) >= 0 && access(k, R_OK) == 0) {
				c->client_cert = steal_pointer(&path);
				c->client_key = k;
			} else {
				free(k);
			}
		}
	}
	closedir(d);
	if (r < 0) {
		buf_clear(&cas);
		return r;
	}
	c->ca_blob = (char *) cas.data;
	c->ca_len = cas.len;
	return 0;
}

/* ---- the client ----------------------------------------------------------- */

int reg_client_new(const char *domain, const struct reg_options *opts, reg_client **ret,
		   cairn_error **err)
{
	static const struct reg_options no_options;
	if (!opts)
		opts = &no_options;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return cairn_error_set(err, -ENOMEM, "libcurl: %s", curl_easy_strerror(global_rc));
	if (!domain || !valid_domain(domain))
		return cairn_error_set(err, CAIRN_E_FORMAT, "invalid registry name \"%s\"",
				       domain ? domain : "");

	reg_client *c = calloc(1, sizeof(*c));
	if (!c)
		return cairn_error_set(err, -ENOMEM, "%s: out of memory", domain);
	for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&c->share_locks[i], NULL);
	pthread_mutex_init(&c->lock, NULL);
	c->domain = strdup(domain);
	c->host = strdup(strcmp(domain, "docker.io") == 0 ? "registry-1.docker.io" : domain);
	c->insecure = host_is_insecure(domain, opts);
	c->verify_off_all = opts->tls_verify_off;
	const char *dbg = getenv("CAIRN_REGISTRY_DEBUG");
	c->debug = dbg && *dbg && strcmp(dbg, "0") != 0;
	c->share = curl_share_init();
	if (!c->domain || !c->host || !c->share) {
		reg_client_free(c);
		return cairn_error_set(err, -ENOMEM, "%s: out of memory", domain);
	}
	curl_share_setopt(c->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(c->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(c->share, CURLSHOPT_USERDATA, c);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(c->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);

	int r = 0;
	if (opts->cert_dir)
		r = load_cert_dir(c, opts->cert_dir, err);
	if (r >= 0)
		r = reg_load_credentials(c, opts, err);
	if (r < 0) {
		reg_client_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void reg_client_free(reg_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_pool; i++)
		curl_easy_cleanup(c->pool[i]);
	if (c->share)
		curl_share_cleanup(c->share);
	for (size_t i = 0; i < c->n_tokens; i++) {
		free(c->tokens[i].scope);
		free(c->tokens[i].value);
	}
	free(c->tokens);
	free(c->realm);
	free(c->service);
	free(c->domain);
	free(c->host);
	free(c->ca_blob);
	free(c->client_cert);
	free(c->client_key);
	free(c->user);
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	free(c->password);
	free(c->identity_token);
	for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&c->share_locks[i]);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

const char *reg_client_domain(const reg_client *c)
{
	return c->domain;
}

static CURL *pool_get(reg_client *c)
{
	CURL *h = NULL;
	pthread_mutex_lock(&c->lock);
	if (c->n_pool > 0)
		h = c->pool[--c->n_pool];
	pthread_mutex_unlock(&c->lock);
	return h ? h : curl_easy_init();
}

/* Keeps the handle (and so its idle connections) for the next request. */
static void pool_put(reg_client *c, CURL *h)
{
	curl_easy_reset(h);
	pthread_mutex_lock(&c->lock);
	if (c->n_pool < REG_POOL_MAX) {
		c->pool[c->n_pool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&c->lock);
	if (h)
		curl_easy_cleanup(h);
}

/* ---- URLs ----------------------------------------------------------------- */

char *reg_url_resolve(const char *base, const char *location, const char *query)
{
	CURLU *u = curl_url();
	char *s = NULL, *ret = NULL;
	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK &&
	    (!query || curl_url_set(u, CURLUPART_QUERY, query, CURLU_APPENDQUERY) == CURLUE_OK) &&
	    curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK)
		ret = strdup(s);
	curl_free(s);
	curl_url_cleanup(u);
	return ret;
}

char *reg_url_host(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *ret = NULL;
	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK) {
			if (asprintf(&ret, "%s:%s", host, port) < 0)
				ret = NULL;
		} else {
			ret = strdup(host);
		}
	}
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ret;
}

static bool is_absolute(const char *url)
{
	return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

/* ---- one transfer ------------------------------------------------------- */

void reg_response_clear(struct reg_response *r)
{
	free(r->url);
	free(r->location);
	free(r->content_type);
	free(r->digest);
	free(r->www_auth);
	free(r->retry_after);
	free(r->content_range);
	buf_clear(&r->body);
	*r = (struct reg_response){0};
}

struct xfer {
	reg_client *c;
	const struct reg_request *req;
	struct reg_response *resp;
	CURL *h;
	uint64_t up_off;
	uint64_t reported;
};

static void set_field(char **field, const char *v, size_t n)
{
	free(*field);
	*field = strndup(v, n);
}

static void reset_headers(struct reg_response *r)
{
	char **fields[] = {&r->location, &r->content_type, &r->digest,
			   &r->www_auth, &r->retry_after,  &r->content_range};
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		free(*fields[i]);
		*fields[i] = NULL;
	}
	r->has_length = false;
	r->content_length = 0;
	r->body.len = 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	struct reg_response *r = x->resp;
	size_t len = size * nmemb;
	if (len >= 5 && strncasecmp(p, "HTTP/", 5) == 0) { /* a new answer: redirect, 100 */
		reset_headers(r);
		return len;
	}
	const char *colon = memchr(p, ':', len);
	if (!colon)
		return len;
	size_t nlen = (size_t) (colon - p);
	const char *v = colon + 1, *end = p + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	size_t vlen = (size_t) (end - v);
#define IS(name) (nlen == sizeof(name) - 1 && strncasecmp(p, name, nlen) == 0)
	if (IS("location"))
		set_field(&r->location, v, vlen);
	else if (IS("content-type"))
		set_field(&r->content_type, v, vlen);
	else if (IS("docker-content-digest"))
		set_field(&r->digest, v, vlen);
	else if (IS("retry-after"))
		set_field(&r->retry_after, v, vlen);
	else if (IS("content-range"))
		set_field(&r->content_range, v, vlen);
	else if (IS("content-length")) {
		char tmp[32];
		snprintf(tmp, sizeof(tmp), "%.*s", (int) MIN(vlen, 31u), v);
		r->content_length = strtoull(tmp, NULL, 10);
		r->has_length = true;
	} else if (IS("www-authenticate")) {
		/* several headers: one challenge list */
		char *joined = NULL;
		if (!r->www_auth)
			set_field(&r->www_auth, v, vlen);
		else if (asprintf(&joined, "%s, %.*s", r->www_auth, (int) vlen, v) >= 0) {
			free(r->www_auth);
			r->www_auth = joined;
		}
	}
#undef IS
	return len;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	size_t len = size * nmemb;
	long status = 0;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	bool ok = status >= 200 && status < 300;
	x->resp->status = status;
	if (ok && x->req->sink)
		return x->req->sink(x->req->sink_data, x->resp, p, len) ? len : 0;
	size_t max = x->req->max_body ? x->req->max_body : ERROR_BODY_MAX;
	bytebuf *b = &x->resp->body;
	if (b->len + len > max) {
		if (ok) { /* a body we want, but too large */
			x->resp->too_large = true;
			return 0;
		}
		len = max - b->len; /* an error page: keep its start */
		if (len == 0)
			return size * nmemb;
	}
	if (buf_append(b, p, len) < 0)
		return 0;
	return size * nmemb;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *userdata)
{
	struct xfer *x = userdata;
	const struct reg_request *req = x->req;
	size_t want = (size_t) MIN((uint64_t) size * nmemb, req->body_len - x->up_off);
	if (want == 0)
		return 0;
	if (req->body) {
		memcpy(buf, (const char *) req->body + x->up_off, want);
	} else {
		ssize_t n;
		do
			n = pread(req->body_fd, buf, want, (off_t) (req->body_off + x->up_off));
		while (n < 0 && errno == EINTR);
		if (n <= 0) /* error, or the file is shorter than it should be */
			return CURL_READFUNC_ABORT;
		want = (size_t) n;
	}
	x->up_off += want;
	x->resp->sent = x->up_off;
	uint64_t done = req->body_off + x->up_off;
	if (req->progress && (done - x->reported >= (1u << 20) || x->up_off == req->body_len)) {
		x->reported = done;
		req->progress(req->progress_data, done, req->progress_total);
	}
	return want;
}

static int on_seek(void *userdata, curl_off_t off, int origin)
{
	struct xfer *x = userdata;
	if (origin != SEEK_SET || off < 0 || (uint64_t) off > x->req->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->up_off = (uint64_t) off;
	return CURL_SEEKFUNC_OK;
}

static bool want_verify(reg_client *c, const char *url_host)
{
	if (c->verify_off_all)
		return false;
	if (!url_host || strcasecmp(url_host, c->host) == 0)
		return !c->insecure;
	return !reg_host_is_loopback(url_host);
}

static int setup_method(CURL *h, const struct reg_request *req, struct xfer *x)
{
	const char *m = req->method;
	if (strcmp(m, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t) req->body_len);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
		if (m[1] == 'A')
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PATCH");
	} else if (strcmp(m, "POST") == 0) {
		const char *f = req->post_fields ? req->post_fields : "";
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, f);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(f));
	} else if (strcmp(m, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		return -EINVAL;
	}
	return 0;
}

static int add_header(struct curl_slist **l, const char *h)
{
	struct curl_slist *n = curl_slist_append(*l, h);
	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

static int build_headers(const struct reg_request *req, const char *auth, struct curl_slist **ret)
{
	struct curl_slist *l = NULL;
	int r = 0;
	for (const struct curl_slist *s = req->headers; s && r >= 0; s = s->next)
		r = add_header(&l, s->data);
	if (auth && r >= 0)
		r = add_header(&l, auth);
	/* the auth round trip is done by then: no 100-continue wait */
	if (r >= 0 && (strcmp(req->method, "PUT") == 0 || strcmp(req->method, "PATCH") == 0 ||
		       strcmp(req->method, "POST") == 0))
		r = add_header(&l, "Expect:");
	if (r < 0) {
		curl_slist_free_all(l);
		return r;
	}
	*ret = l;
	return 0;
}

static void debug_log(reg_client *c, const struct reg_request *req, const struct reg_response *r,
		      CURL *h)
{
	/* URLs elsewhere (blob storage) may carry signatures: host only */
	_cleanup_free_ char *host = reg_url_host(r->url);
	bool ours = host && strcasecmp(host, c->host) == 0;
	const char *q = strchr(r->url, '?');
	int n = ours || !q ? (int) strlen(r->url) : (int) (q - r->url);
	char *eff = NULL;
	curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff);
	_cleanup_free_ char *ehost = eff && strcmp(eff, r->url) != 0 ? reg_url_host(eff) : NULL;
	if (r->curl != CURLE_OK)
		fprintf(stderr, "registry: %s %.*s -> error: %s\n", req->method, n, r->url,
			r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->curl));
	else
		fprintf(stderr, "registry: %s %.*s -> %ld%s%s%s\n", req->method, n, r->url,
			r->status, ehost ? " (redirected to " : "", ehost ? ehost : "",
			ehost ? ")" : "");
}

static void setup_handle(reg_client *c, CURL *h, const struct reg_request *req, struct xfer *x,
			 const char *url, const char *url_host)
{
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_SHARE, c->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L); /* stalls, not slow links */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->resp->errbuf);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	if (req->sink || req->body_len > (1u << 20)) {
		curl_easy_setopt(h, CURLOPT_BUFFERSIZE, FETCH_BUFFER);
		curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, FETCH_BUFFER);
	}
	if (req->follow) { /* curl drops our Authorization on other hosts/ports */
		curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
	}
	bool verify = want_verify(c, url_host);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
	if (c->ca_blob) {
		struct curl_blob blob = {c->ca_blob, c->ca_len, CURL_BLOB_NOCOPY};
		curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
	}
	if (c->client_cert && (!url_host || strcasecmp(url_host, c->host) == 0)) {
		curl_easy_setopt(h, CURLOPT_SSLCERT, c->client_cert);
		curl_easy_setopt(h, CURLOPT_SSLKEY, c->client_key);
	}
}

/* One request to url; the outcome in resp (curl code and status). */
static int perform_once(reg_client *c, const struct reg_request *req, const char *url,
			const char *auth, struct reg_response *resp)
{
	resp->url = strdup(url);
	CURL *h = pool_get(c);
	_cleanup_free_ char *url_host = is_absolute(req->url) ? reg_url_host(url) : NULL;
	bool ours = !url_host || strcasecmp(url_host, c->host) == 0;
	/* the registry's credentials go to the registry only */
	const char *a = req->no_auth ? req->auth_header : ours ? auth : NULL;
	struct curl_slist *hdrs = NULL;
	if (!resp->url || !h || build_headers(req, a, &hdrs) < 0) {
		if (h)
			pool_put(c, h);
		curl_slist_free_all(hdrs);
		return -ENOMEM;
	}
	struct xfer x = {.c = c, .req = req, .resp = resp, .h = h};
	setup_handle(c, h, req, &x, url, url_host);
	if (hdrs)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	int r = setup_method(h, req, &x);
	if (r >= 0) {
		resp->curl = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
		long sent = 0;
		curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &sent);
		if (resp->curl == CURLE_OPERATION_TIMEDOUT && sent == 0)
			resp->curl = CURLE_COULDNT_CONNECT; /* a connect timeout: no retries */
		if (c->debug)
			debug_log(c, req, resp, h);
	}
	curl_slist_free_all(hdrs);
	pool_put(c, h);
	return r;
}

/* ---- the request loop ------------------------------------------------------ */

bool reg_curl_transient(CURLcode cc)
{
	switch (cc) {
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return true;
	default:
		return false;
	}
}

bool reg_status_transient(long status)
{
	return status == 500 || status == 502 || status == 503 || status == 504;
}

void reg_backoff(int attempt)
{
	usleep(250000u << MIN(attempt, 4));
}

/* An HTTPS attempt on an insecure registry that does not speak TLS. */
static bool plain_http_server(reg_client *c, CURLcode cc)
{
	switch (cc) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_WEIRD_SERVER_REPLY:
		return true;
	case CURLE_COULDNT_CONNECT: /* nothing on 443: maybe on 80 */
		return !strchr(c->host, ':') || c->host[0] == '[';
	default:
		return false;
	}
}

static int curl_error(reg_client *c, const struct reg_response *resp, cairn_error **err)
{
	_cleanup_free_ char *host = resp->url ? reg_url_host(resp->url) : NULL;
	const char *h = host ? host : c->host;
	const char *d = resp->errbuf[0] ? resp->errbuf : curl_easy_strerror(resp->curl);
	switch (resp->curl) {
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_CLIENTCERT:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_USE_SSL_FAILED:
		return cairn_error_set(
		    err, CAIRN_E_TLS,
		    "%s: TLS failure: %s (--tls-verify=false skips verification, "
		    "for a registry you trust)",
		    h, d);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
		return cairn_error_set(err, CAIRN_E_NETWORK, "%s: unreachable: %s", h, d);
	case CURLE_OUT_OF_MEMORY:
		return cairn_error_set(err, -ENOMEM, "%s: out of memory", h);
	case CURLE_READ_ERROR:
	case CURLE_ABORTED_BY_CALLBACK:
		return cairn_error_set(err, -EIO, "%s: reading the upload failed", h);
	case CURLE_WRITE_ERROR:
		return cairn_error_set(err, -EIO, "%s: storing the download failed", h);
	case CURLE_TOO_MANY_REDIRECTS:
		return cairn_error_set(err, CAIRN_E_REMOTE, "%s: %s", h, d);
	default:
		return cairn_error_set(err, CAIRN_E_NETWORK, "%s: connection failed: %s", h, d);
	}
}

/* The URL for req: relative ones on the registry, over HTTPS unless it is
 * known (or being tried, force_http) to speak plain HTTP. */
static char *request_url(reg_client *c, const struct reg_request *req, bool force_http,
			 enum reg_scheme *scheme)
{
	char *url = NULL;
	if (is_absolute(req->url)) {
		*scheme = REG_SCHEME_HTTPS; /* as given: nothing to learn */
		return strdup(req->url);
	}
	pthread_mutex_lock(&c->lock);
	*scheme = c->scheme;
	pthread_mutex_unlock(&c->lock);
	bool http = *scheme == REG_SCHEME_HTTP || (*scheme == REG_SCHEME_UNKNOWN && force_http);
	if (asprintf(&url, "%s://%s%s", http ? "http" : "https", c->host, req->url) < 0)
		return NULL;
	return url;
}

static void set_scheme(reg_client *c, enum reg_scheme s)
{
	pthread_mutex_lock(&c->lock);
	if (c->scheme == REG_SCHEME_UNKNOWN)
		c->scheme = s;
	pthread_mutex_unlock(&c->lock);
}

int reg_request_do(reg_client *c, const struct reg_request *req, struct reg_response *resp,
		   cairn_error **err)
{
	int tries = 0, auth_rounds = 0;
	bool force_http = false;
	for (;;) {
		_cleanup_free_ char *auth = NULL, *url = NULL;
		enum reg_scheme scheme;
		int r;
		if (!req->no_auth && (r = reg_auth_header(c, req->scope, &auth, err)) < 0)
			return r;
		reg_response_clear(resp);
		url = request_url(c, req, force_http, &scheme);
		if (!url)
			return cairn_error_set(err, -ENOMEM, "%s: out of memory", c->domain);
		r = perform_once(c, req, url, auth, resp);
		if (r < 0)
			return cairn_error_set(err, r, "%s: %s %s: %s", c->domain, req->method,
					       req->url, strerror(-r));
		if (resp->curl != CURLE_OK) {
			if (scheme == REG_SCHEME_UNKNOWN && c->insecure && !force_http &&
			    plain_http_server(c, resp->curl)) {
				force_http = true; /* as Docker does for insecure registries */
				continue;
			}
			if (req->retry && reg_curl_transient(resp->curl) && tries < MAX_TRIES) {
				reg_backoff(tries++);
				continue;
			}
			return curl_error(c, resp, err);
		}
		if (scheme == REG_SCHEME_UNKNOWN)
			set_scheme(c, force_http ? REG_SCHEME_HTTP : REG_SCHEME_HTTPS);
		if (resp->status == 401 && !req->no_auth && auth_rounds < 2) {
			r = reg_auth_challenge(c, req->scope, resp->www_auth, auth != NULL, err);
			if (r < 0)
				return r;
			if (r > 0) {
				auth_rounds++;
				continue;
			}
		}
		if (req->retry && reg_status_transient(resp->status) && tries < MAX_TRIES) {
			reg_backoff(tries++);
			continue;
		}
		return 0;
	}
}

/* ---- HTTP errors ---------------------------------------------------------- */

/* Untrusted text for a one-line message: no control bytes, bounded. */
static void append_clean(bytebuf *b, const char *s, size_t max)
{
	for (size_t i = 0; s[i] && i < max; i++) {
		char ch = (unsigned char) s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
		buf_append(b, &ch, 1);
	}
}

/* " (CODE: message; ...)" from the registry's JSON error body, or "". */
static char *registry_errors(const struct reg_response *resp)
{
	bytebuf b = {0};
	json_t *root = resp->body.len
			   ? json_loadb((const char *) resp->body.data, resp->body.len, 0, NULL)
			   : NULL;
	json_t *errors = json_object_get(root, "errors");
	size_t i, n = 0;
	json_t *e;
	json_array_foreach(errors, i, e)
	{
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		if ((!code && !msg) || n >= 3)
			continue;
		buf_append(&b, n++ ? "; " : ": ", 2);
		if (code)
			append_clean(&b, code, 64);
		if (code && msg)
			buf_append(&b, ": ", 2);
		if (msg)
			append_clean(&b, msg, 200);
	}
	json_decref(root);
	buf_append(&b, "", 1);
	return (char *) b.data;
}

static long retry_after_seconds(const char *v)
{
	if (!v || !*v)
		return -1;
	char *end;
	long s = strtol(v, &end, 10);
	if (end != v && *end == 0)
		return s;
	time_t t = curl_getdate(v, NULL);
	if (t < 0)
		return -1;
	long d = (long) (t - time(NULL));
	return d < 0 ? 0 : d;
}

int reg_http_error(reg_client *c, const struct reg_response *resp, const char *what,
		   cairn_error **err)
{
	_cleanup_free_ char *detail = registry_errors(resp);
	const char *d = detail ? detail : "";
	switch (resp->status) {
	case 404:
		return cairn_error_set(err, CAIRN_E_NOTFOUND, "%s: not found%s", what, d);
	case 401:
	case 403:
		return cairn_error_set(err, CAIRN_E_AUTH, "%s: %s%s (log in with `cairn login %s`)",
				       what, resp->status == 401 ? "unauthorized" : "access denied",
				       d, c->domain);
	case 429: {
		long s = retry_after_seconds(resp->retry_after);
		if (s >= 0)
			return cairn_error_set(err, CAIRN_E_RATELIMIT,
					       "%s: too many requests%s, retry after %ld s", what,
					       d, s);
		return cairn_error_set(err, CAIRN_E_RATELIMIT, "%s: too many requests%s", what, d);
	}
	default:
		return cairn_error_set(err, CAIRN_E_REMOTE, "%s: HTTP %ld%s", what, resp->status,
				       d);
	}
}
