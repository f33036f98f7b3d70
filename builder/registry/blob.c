/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Blobs: HEAD, a resumable, verified GET streamed into a file, and the
 * upload protocol (HEAD, cross-repository mount, monolithic PUT or
 * chunked PATCH + PUT).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "registry-internal.h"

#define MAX_TRIES 3
#define PROGRESS_STEP (1u << 20)

DEFINE_CLEANUP_FUNC(EVP_MD_CTX, EVP_MD_CTX_free)

static char *blob_path(const char *repo, const cairn_digest *d)
{
	char hex[2 * CAIRN_DIGEST_LEN + 1], *s = NULL;
	cairn_digest_hex(d, hex);
	if (asprintf(&s, "/v2/%s/blobs/sha256:%s", repo, hex) < 0)
		return NULL;
	return s;
}

static int oom(reg_client *c, cairn_error **err)
{
	return cairn_error_set(err, -ENOMEM, "%s: out of memory", c->domain);
}

/* Moves a retried request's error to the caller. */
static int pass_error(int r, cairn_error **local, cairn_error **err)
{
	if (err && !*err)
		*err = steal_pointer(local);
	return r;
}

static int blob_head(reg_client *c, const char *repo, const cairn_digest *digest, const char *scope,
		     uint64_t *ret_size, cairn_error **err)
{
	_cleanup_free_ char *path = blob_path(repo, digest), *what = reg_blob_what(c, repo, digest);
	if (!path || !what)
		return oom(c, err);
	struct reg_request req = {
	    .method = "HEAD", .url = path, .scope = scope, .follow = true, .retry = true};
	struct reg_response resp = {0};
	int r = reg_request_do(c, &req, &resp, err);
	if (r >= 0 && resp.status == 200) {
		if (ret_size)
			*ret_size = resp.has_length ? resp.content_length : 0;
		r = 1;
	} else if (r >= 0 && resp.status == 404) {
		r = 0;
	} else if (r >= 0) {
		r = reg_http_error(c, &resp, what, err);
	}
	reg_response_clear(&resp);
	return r;
}

int reg_blob_head(reg_client *c, const char *repo, const cairn_digest *digest, uint64_t *ret_size,
		  cairn_error **err)
{
	int r = reg_check_repo(c, repo, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *scope = reg_scope(repo, false);
	return scope ? blob_head(c, repo, digest, scope, ret_size, err) : oom(c, err);
}

/* ---- fetch ---------------------------------------------------------------- */

struct fetch {
	int fd;
	uint64_t size, have; /* bytes in the file, all hashed into md */
	EVP_MD_CTX *md;
	bool started;	/* this answer's first bytes seen */
	bool too_large; /* more than size bytes */
	bool restart;	/* a 206 for another range */
	int werr;
	reg_progress_fn progress;
	void *userdata;
	uint64_t reported;
};

static int fetch_reset(struct fetch *f)
{
	if (ftruncate(f->fd, 0) < 0)
		return -errno;
	f->have = f->reported = 0;
	return EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) ? 0 : -ENOMEM;
}

/* Checks where the answer starts: a 206 must resume at f->have, a 200
 * starts over. */
static bool fetch_start(struct fetch *f, const struct reg_response *resp)
{
	f->started = true;
	if (resp->status == 206) {
		uint64_t start;
		if (!resp->content_range ||
		    sscanf(resp->content_range, "bytes %" SCNu64 "-", &start) != 1 ||
		    start != f->have) {
			f->restart = true;
			return false;
		}
		return true;
	}
	if (f->have > 0) {
		int r = fetch_reset(f);
		if (r < 0) {
			f->werr = -r;
			return false;
		}
	}
	return true;
}

static bool fetch_sink(void *userdata, struct reg_response *resp, const char *p, size_t n)
{
	struct fetch *f = userdata;
	if (!f->started && !fetch_start(f, resp))
		return false;
	if (n > f->size - f->have) { /* refused as soon as it arrives */
		f->too_large = true;
		return false;
	}
	for (size_t done = 0; done < n;) {
		ssize_t w = pwrite(f->fd, p + done, n - done, (off_t) (f->have + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			f->werr = w < 0 ? errno : EIO;
			return false;
		}
		done += (size_t) w;
	}
	if (!EVP_DigestUpdate(f->md, p, n)) {
		f->werr = ENOMEM;
		return false;
	}
	f->have += n;
	if (f->progress && (f->have - f->reported >= PROGRESS_STEP || f->have == f->size)) {
		f->reported = f->have;
		f->progress(f->userdata, f->have, f->size);
	}
	return true;
}

/* Hashes what an earlier fetch left in the file. */
static int hash_prefix(struct fetch *f)
{
	size_t bufsize = 1u << 20;
	_cleanup_free_ char *buf = malloc(bufsize);
	if (!buf)
		return -ENOMEM;
	for (uint64_t off = 0; off < f->have;) {
		ssize_t n =
		    pread(f->fd, buf, (size_t) MIN((uint64_t) bufsize, f->have - off), (off_t) off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0) /* shrank under us */
			return fetch_reset(f);
		if (!EVP_DigestUpdate(f->md, buf, (size_t) n))
			return -ENOMEM;
		off += (uint64_t) n;
	}
	return 0;
}

/* One GET from f->have on.  0 when the answer was complete, 1 when a retry
 * may do better, < 0 on errors. */
static int fetch_once(reg_client *c, const char *path, const char *scope, const char *what,
		      struct fetch *f, int tries, cairn_error **err)
{
	char range[64];
	snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-", f->have);
	struct curl_slist *hdrs = f->have > 0 ? curl_slist_append(NULL, range) : NULL;
	if (f->have > 0 && !hdrs)
		return oom(c, err);
	struct reg_request req = {.method = "GET",
				  .url = path,
				  .scope = scope,
				  .headers = hdrs,
				  .sink = fetch_sink,
				  .sink_data = f,
				  .follow = true};
	struct reg_response resp = {0};
	_cleanup_error_ cairn_error *e = NULL;
	f->started = f->restart = false;
	int r = reg_request_do(c, &req, &resp, &e);
	curl_slist_free_all(hdrs);
	bool can_retry = tries < MAX_TRIES;
	if (f->werr)
		r = cairn_error_set(err, -f->werr, "%s: writing the blob: %s", what,
				    strerror(f->werr));
	else if (f->too_large)
		r = 0; /* the caller reports the size mismatch */
	else if (f->restart)
		r = can_retry ? (fetch_reset(f) < 0 ? -EIO : 1) : pass_error(r, &e, err);
	else if (r < 0)
		r = can_retry && reg_curl_transient(resp.curl) ? 1 : pass_error(r, &e, err);
	else if (resp.status == 416 && can_retry) /* our range is wrong: start over */
		r = fetch_reset(f) < 0 ? -EIO : 1;
	else if (reg_status_transient(resp.status) && can_retry)
		r = 1;
	else if (resp.status != 200 && resp.status != 206)
		r = reg_http_error(c, &resp, what, err);
	else
		r = 0;
	reg_response_clear(&resp);
	return r;
}

static int fetch_fail(struct fetch *f, cairn_error **err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fetch_fail(struct fetch *f, cairn_error **err, const char *fmt, ...)
{
	if (ftruncate(f->fd, 0) < 0)
		return cairn_error_set(err, -errno, "truncating the blob: %s", strerror(errno));
	va_list ap;
	va_start(ap, fmt);
	int r = cairn_error_setv(err, CAIRN_E_DIGEST, fmt, ap);
	va_end(ap);
	return r;
}

/* 1 when the file holds digest, 0 when not (*got what it holds). */
static int fetch_verify(struct fetch *f, const cairn_digest *digest, cairn_digest *got)
{
	unsigned int n = 0;
	if (!EVP_DigestFinal_ex(f->md, got->b, &n) || n != CAIRN_DIGEST_LEN)
		return -ENOMEM;
	return memcmp(got, digest, sizeof(*got)) == 0;
}

int reg_blob_fetch(reg_client *c, const char *repo, const cairn_digest *digest, uint64_t size,
		   int fd, reg_progress_fn progress, void *userdata, cairn_error **err)
{
	int r = reg_check_repo(c, repo, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *path = blob_path(repo, digest), *what = reg_blob_what(c, repo, digest);
	_cleanup_free_ char *scope = reg_scope(repo, false);
	_cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!path || !what || !scope || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		return oom(c, err);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return cairn_error_set(err, -errno, "%s: %s", what, strerror(errno));
	struct fetch f = {.fd = fd,
			  .size = size,
			  .have = (uint64_t) st.st_size,
			  .md = md,
			  .progress = progress,
			  .userdata = userdata};
	r = f.have > size ? fetch_reset(&f) : hash_prefix(&f);
	if (r < 0)
		return cairn_error_set(err, r, "%s: %s", what, strerror(-r));
	if (progress && f.have > 0)
		progress(userdata, f.have, size);
	bool resumed = f.have > 0;
	for (int tries = 0;;) {
		while (f.have < size && !f.too_large) {
			r = fetch_once(c, path, scope, what, &f, tries, err);
			if (r < 0)
				return r;
			if (r == 0)
				break;
			reg_backoff(tries++);
		}
		if (f.too_large)
			return fetch_fail(&f, err,
					  "%s: size mismatch: more than %" PRIu64 " bytes sent",
					  what, size);
		if (f.have != size)
			return fetch_fail(&f, err,
					  "%s: size mismatch: got %" PRIu64 " of %" PRIu64 " bytes",
					  what, f.have, size);
		cairn_digest got;
		r = fetch_verify(&f, digest, &got);
		if (r < 0)
			return oom(c, err);
		if (r > 0)
			break;
		if (resumed) { /* maybe the earlier bytes were bad: once from 0 */
			resumed = false;
			if ((r = fetch_reset(&f)) < 0)
				return cairn_error_set(err, r, "%s: %s", what, strerror(-r));
			continue;
		}
		_cleanup_free_ char *g = cairn_digest_string(&got);
		return fetch_fail(&f, err, "%s: digest mismatch: got %s", what, g ? g : "?");
	}
	if (progress && f.reported != size)
		progress(userdata, size, size);
	return 0;
}

/* ---- push ------------------------------------------------------------------ */

struct upload {
	reg_client *c;
	const char *repo, *scope, *what;
	const cairn_digest *digest;
	uint64_t size;
	int fd;
	reg_progress_fn progress;
	void *userdata;
};

static struct curl_slist *octet_headers(const char *content_range)
{
	struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/octet-stream");
	if (l && content_range) {
		struct curl_slist *n = curl_slist_append(l, content_range);
		if (!n) {
			curl_slist_free_all(l);
			return NULL;
		}
		l = n;
	}
	return l;
}

/* The upload session a 202 points to: Location resolved against the URL. */
static int next_location(struct upload *u, const struct reg_response *resp, char **location,
			 cairn_error **err)
{
	if (!resp->location || !*resp->location) {
		if (*location)
			return 0; /* no new one: keep using the old */
		return cairn_error_set(err, CAIRN_E_REMOTE, "%s: upload: no Location in the answer",
				       u->what);
	}
	char *l = reg_url_resolve(resp->url, resp->location, NULL);
	if (!l)
		return cairn_error_set(err, CAIRN_E_REMOTE, "%s: upload: bad Location", u->what);
	free(*location);
	*location = l;
	return 0;
}

static int check_echo(struct upload *u, const struct reg_response *resp, cairn_error **err)
{
	cairn_digest d;
	if (!resp->digest || strncmp(resp->digest, "sha256:", 7) != 0)
		return 0;
	if (cairn_digest_parse(resp->digest, false, &d) < 0 ||
	    memcmp(&d, u->digest, sizeof(d)) != 0)
		return cairn_error_set(err, CAIRN_E_DIGEST,
				       "%s: digest mismatch: the registry stored %.80s", u->what,
				       resp->digest);
	return 0;
}

/* A request of the upload; *transient says whether a new upload may work. */
static int upload_request(struct upload *u, struct reg_request *req, struct reg_response *resp,
			  long want, bool *transient, cairn_error **err)
{
	_cleanup_error_ cairn_error *e = NULL;
	req->scope = u->scope;
	req->progress = u->progress;
	req->progress_data = u->userdata;
	req->progress_total = u->size;
	int r = reg_request_do(u->c, req, resp, &e);
	if (r < 0) {
		*transient = reg_curl_transient(resp->curl);
		return pass_error(r, &e, err);
	}
	if (resp->status != want) {
		*transient = reg_status_transient(resp->status);
		return reg_http_error(u->c, resp, u->what, err);
	}
	return 0;
}

/* POST .../blobs/uploads/: the session in *location. */
static int upload_start(struct upload *u, char **location, bool *transient, cairn_error **err)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "/v2/%s/blobs/uploads/", u->repo) < 0)
		return oom(u->c, err);
	struct reg_request req = {.method = "POST", .url = path};
	struct reg_response resp = {0};
	int r = upload_request(u, &req, &resp, 202, transient, err);
	if (r >= 0)
		r = next_location(u, &resp, location, err);
	reg_response_clear(&resp);
	return r;
}

/* POST ...?mount=DIGEST&from=FROM: 1 when mounted (201), 0 otherwise:
 * with *location when the registry opened an upload session instead
 * (202), without when it refused (an upload follows). */
static int try_mount(struct upload *u, const char *from, char **location, cairn_error **err)
{
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	cairn_digest_hex(u->digest, hex);
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "/v2/%s/blobs/uploads/?mount=sha256:%s&from=%s", u->repo, hex, from) <
	    0)
		return oom(u->c, err);
	struct reg_request req = {.method = "POST", .url = path, .scope = u->scope};
	struct reg_response resp = {0};
	int r = reg_request_do(u->c, &req, &resp, err);
	if (r >= 0 && resp.status == 201)
		r = check_echo(u, &resp, err) < 0 ? CAIRN_E_DIGEST : 1;
	else if (r >= 0 && resp.status == 202)
		r = next_location(u, &resp, location, err);
	else if (r >= 0 && resp.status == 429)
		r = reg_http_error(u->c, &resp, u->what, err);
	reg_response_clear(&resp);
	return r;
}

static int upload_finish(struct upload *u, const char *location, uint64_t off, uint64_t len,
			 bool *transient, cairn_error **err)
{
	char hex[2 * CAIRN_DIGEST_LEN + 1], query[80];
	cairn_digest_hex(u->digest, hex);
	snprintf(query, sizeof(query), "digest=sha256:%s", hex);
	_cleanup_free_ char *url = reg_url_resolve(location, location, query);
	struct curl_slist *hdrs = octet_headers(NULL);
	if (!url || !hdrs) {
		curl_slist_free_all(hdrs);
		return oom(u->c, err);
	}
	struct reg_request req = {.method = "PUT",
				  .url = url,
				  .headers = hdrs,
				  .body_fd = u->fd,
				  .body_off = off,
				  .body_len = len};
	struct reg_response resp = {0};
	int r = upload_request(u, &req, &resp, 201, transient, err);
	if (r >= 0)
		r = check_echo(u, &resp, err);
	curl_slist_free_all(hdrs);
	reg_response_clear(&resp);
	return r;
}

static int upload_chunks(struct upload *u, char **location, bool *transient, cairn_error **err)
{
	for (uint64_t off = 0; off < u->size;) {
		uint64_t n = MIN((uint64_t) REG_CHUNK_SIZE, u->size - off);
		char range[80];
		snprintf(range, sizeof(range), "Content-Range: %" PRIu64 "-%" PRIu64, off,
			 off + n - 1);
		struct curl_slist *hdrs = octet_headers(range);
		if (!hdrs)
			return oom(u->c, err);
		struct reg_request req = {.method = "PATCH",
					  .url = *location,
					  .headers = hdrs,
					  .body_fd = u->fd,
					  .body_off = off,
					  .body_len = n};
		struct reg_response resp = {0};
		int r = upload_request(u, &req, &resp, 202, transient, err);
		if (r >= 0)
			r = next_location(u, &resp, location, err);
		curl_slist_free_all(hdrs);
		reg_response_clear(&resp);
		if (r < 0)
			return r;
		off += n;
	}
	return upload_finish(u, *location, u->size, 0, transient, err);
}

/* 1 when mounted, 0 when uploaded. */
static int upload(struct upload *u, const char *mount_from, unsigned flags, cairn_error **err)
{
	_cleanup_free_ char *location = NULL;
	if (mount_from) {
		int r = try_mount(u, mount_from, &location, err);
		if (r != 0)
			return r;
	}
	if (u->fd < 0) /* HEAD and mount only: the caller has no bytes ready */
		return -EAGAIN;
	for (int tries = 0;; tries++) {
		_cleanup_error_ cairn_error *e = NULL;
		bool transient = false;
		int r = 0;
		if (!location)
			r = upload_start(u, &location, &transient, &e);
		if (r >= 0)
			r = flags & REG_PUSH_CHUNKED
				? upload_chunks(u, &location, &transient, &e)
				: upload_finish(u, location, 0, u->size, &transient, &e);
		if (r >= 0)
			return 0;
		if (!transient || tries + 1 >= MAX_TRIES)
			return pass_error(r, &e, err);
		free(steal_pointer(&location)); /* a new session */
		reg_backoff(tries);
	}
}

int reg_blob_push(reg_client *c, const char *repo, const cairn_digest *digest, uint64_t size,
		  int fd, const char *mount_from, unsigned flags, reg_progress_fn progress,
		  void *userdata, enum reg_push_how *ret_how, cairn_error **err)
{
	int r = reg_check_repo(c, repo, err);
	if (r >= 0 && mount_from && strcmp(mount_from, repo) != 0)
		r = reg_check_repo(c, mount_from, err);
	else
		mount_from = NULL;
	if (r < 0)
		return r;
	_cleanup_free_ char *scope = reg_scope(repo, true), *what = reg_blob_what(c, repo, digest);
	_cleanup_free_ char *mscope = NULL;
	if (!scope || !what ||
	    (mount_from && asprintf(&mscope, "%s repository:%s:pull", scope, mount_from) < 0))
		return oom(c, err);
	r = blob_head(c, repo, digest, scope, NULL, err);
	if (r < 0)
		return r;
	enum reg_push_how how = REG_PUSH_EXISTED;
	if (r == 0) {
		struct upload u = {.c = c,
				   .repo = repo,
				   .scope = scope,
				   .what = what,
				   .digest = digest,
				   .size = size,
				   .fd = fd,
				   .progress = progress,
				   .userdata = userdata};
		if (mount_from) { /* the mount needs a token for both repositories */
			struct upload m = u;
			m.scope = mscope;
			r = upload(&m, mount_from, flags, err);
		} else {
			r = upload(&u, NULL, flags, err);
		}
		if (r < 0)
			return r;
		how = r == 1 ? REG_PUSH_MOUNTED : REG_PUSH_UPLOADED;
	}
	if (progress)
		progress(userdata, size, size);
	if (ret_how)
		*ret_how = how;
	return 0;
}
