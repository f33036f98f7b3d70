/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Manifests: GET / HEAD / PUT /v2/REPO/manifests/REF, with the digest
 * checks the content-addressed store relies on.
 */
#include <strings.h>

#include <cairn/stream.h>

#include "registry-internal.h"

static const char accept_header[] = "Accept: " REG_MT_OCI_INDEX ", " REG_MT_OCI_MANIFEST
				    ", " REG_MT_DOCKER_LIST ", " REG_MT_DOCKER_MANIFEST;

int reg_check_repo(reg_client *c, const char *repo, cairn_error **err)
{
	bool ok = repo && *repo && *repo != '/' && strlen(repo) <= 255;
	for (const char *p = repo; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		     (*p >= '0' && *p <= '9') || strchr("._-/", *p);
	if (ok && !strstr(repo, "..") && !strstr(repo, "//") && repo[strlen(repo) - 1] != '/')
		return 0;
	return cairn_error_set(err, CAIRN_E_FORMAT, "%s: invalid repository name \"%s\"", c->domain,
			       repo ? repo : "");
}

static bool ref_is_digest(const char *ref)
{
	return strchr(ref, ':') != NULL;
}

static int check_ref(reg_client *c, const char *repo, const char *ref, cairn_error **err)
{
	bool ok = ref && *ref && strlen(ref) <= 256;
	for (const char *p = ref; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		     (*p >= '0' && *p <= '9') || strchr("._-:+", *p);
	if (!ok)
		return cairn_error_set(err, CAIRN_E_FORMAT, "%s/%s: invalid tag or digest \"%s\"",
				       c->domain, repo, ref ? ref : "");
	return 0;
}

char *reg_scope(const char *repo, bool push)
{
	char *s = NULL;
	if (asprintf(&s, "repository:%s:%s", repo, push ? "pull,push" : "pull") < 0)
		return NULL;
	return s;
}

char *reg_blob_what(reg_client *c, const char *repo, const cairn_digest *d)
{
	char hex[2 * CAIRN_DIGEST_LEN + 1], *s = NULL;
	cairn_digest_hex(d, hex);
	if (asprintf(&s, "%s/%s@sha256:%s", c->domain, repo, hex) < 0)
		return NULL;
	return s;
}

static char *ref_what(reg_client *c, const char *repo, const char *ref)
{
	char *s = NULL;
	if (asprintf(&s, "%s/%s%c%s", c->domain, repo, ref_is_digest(ref) ? '@' : ':', ref) < 0)
		return NULL;
	return s;
}

/* The media type of a Content-Type, NULL for generic ones. */
static char *media_type(const char *content_type)
{
	static const char *const generic[] = {"application/json", "text/plain",
					      "application/octet-stream", "binary/octet-stream"};
	if (!content_type)
		return NULL;
	size_t n = strcspn(content_type, "; \t");
	if (n == 0)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(generic); i++)
		if (strlen(generic[i]) == n && strncasecmp(content_type, generic[i], n) == 0)
			return NULL;
	return strndup(content_type, n);
}

/* The Docker-Content-Digest header: 1 and *ret when it is a sha256, 0
 * when absent or of another algorithm. */
static int header_digest(const struct reg_response *resp, cairn_digest *ret)
{
	if (!resp->digest || strncmp(resp->digest, "sha256:", 7) != 0)
		return 0;
	return cairn_digest_parse(resp->digest, false, ret) >= 0 ? 1 : -EINVAL;
}

static int digest_mismatch(cairn_error **err, const char *what, const char *fmt,
			   const cairn_digest *got)
{
	_cleanup_free_ char *g = cairn_digest_string(got);
	return cairn_error_set(err, CAIRN_E_DIGEST, "%s: %s: got %s", what, fmt, g ? g : "?");
}

/* A manifest request; resp filled, what names the manifest. */
static int manifest_request(reg_client *c, const char *method, const char *repo, const char *ref,
			    struct reg_response *resp, char **ret_what, cairn_error **err)
{
	int r = reg_check_repo(c, repo, err);
	if (r >= 0)
		r = check_ref(c, repo, ref, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *path = NULL, *scope = reg_scope(repo, false);
	char *what = ref_what(c, repo, ref);
	struct curl_slist *hdrs = curl_slist_append(NULL, accept_header);
	if (!scope || !what || !hdrs || asprintf(&path, "/v2/%s/manifests/%s", repo, ref) < 0) {
		free(what);
		curl_slist_free_all(hdrs);
		return cairn_error_set(err, -ENOMEM, "%s: out of memory", c->domain);
	}
	struct reg_request req = {.method = method,
				  .url = path,
				  .scope = scope,
				  .headers = hdrs,
				  .max_body = REG_MANIFEST_MAX,
				  .follow = true,
				  .retry = true};
	_cleanup_error_ cairn_error *e = NULL;
	r = reg_request_do(c, &req, resp, &e);
	curl_slist_free_all(hdrs);
	if (resp->too_large)
		r = cairn_error_set(err, CAIRN_E_FORMAT, "%s: manifest larger than %u MiB refused",
				    what, REG_MANIFEST_MAX >> 20);
	else if (r < 0 && err && !*err)
		*err = steal_pointer(&e);
	else if (r >= 0 && resp->status != 200)
		r = reg_http_error(c, resp, what, err);
	if (r < 0) {
		free(what);
		return r;
	}
	*ret_what = what;
	return 0;
}

void reg_manifest_clear(struct reg_manifest *m)
{
	free(m->body);
	free(m->media_type);
	*m = (struct reg_manifest){0};
}

int reg_manifest_get(reg_client *c, const char *repo, const char *ref, struct reg_manifest *ret,
		     cairn_error **err)
{
	struct reg_response resp = {0};
	_cleanup_free_ char *what = NULL;
	int r = manifest_request(c, "GET", repo, ref, &resp, &what, err);
	if (r < 0) {
		reg_response_clear(&resp);
		return r;
	}
	cairn_digest d, want;
	cairn_sha256(resp.body.data, resp.body.len, &d);
	if (ref_is_digest(ref)) {
		if (cairn_digest_parse(ref, false, &want) < 0)
			r = cairn_error_set(err, CAIRN_E_FORMAT, "%s: unsupported digest", what);
		else if (memcmp(&want, &d, sizeof(d)) != 0)
			r = digest_mismatch(err, what, "digest mismatch", &d);
	}
	int h = r >= 0 ? header_digest(&resp, &want) : 0;
	if (h < 0)
		r = cairn_error_set(err, CAIRN_E_REMOTE, "%s: malformed Docker-Content-Digest",
				    what);
	else if (h > 0 && memcmp(&want, &d, sizeof(d)) != 0)
		r = digest_mismatch(err, what, "digest mismatch with Docker-Content-Digest", &d);
	if (r >= 0 && buf_append(&resp.body, "", 1) < 0)
		r = cairn_error_set(err, -ENOMEM, "%s: out of memory", what);
	if (r >= 0) {
		*ret = (struct reg_manifest){.len = resp.body.len - 1,
					     .media_type = media_type(resp.content_type),
					     .digest = d};
		ret->body = (char *) steal_pointer(&resp.body.data);
	}
	reg_response_clear(&resp);
	return r;
}

int reg_manifest_head(reg_client *c, const char *repo, const char *ref, char **ret_media_type,
		      cairn_digest *ret_digest, uint64_t *ret_size, cairn_error **err)
{
	struct reg_response resp = {0};
	_cleanup_free_ char *what = NULL;
	int r = manifest_request(c, "HEAD", repo, ref, &resp, &what, err);
	if (r < 0) {
		reg_response_clear(&resp);
		return r;
	}
	cairn_digest d = {{0}}, want;
	if (header_digest(&resp, &d) < 0)
		r = cairn_error_set(err, CAIRN_E_REMOTE, "%s: malformed Docker-Content-Digest",
				    what);
	else if (ref_is_digest(ref) && resp.digest && cairn_digest_parse(ref, false, &want) >= 0 &&
		 memcmp(&want, &d, sizeof(d)) != 0)
		r = digest_mismatch(err, what, "digest mismatch with Docker-Content-Digest", &d);
	if (r >= 0) {
		if (ret_media_type)
			*ret_media_type = media_type(resp.content_type);
		if (ret_digest)
			*ret_digest = d;
		if (ret_size)
			*ret_size = resp.has_length ? resp.content_length : 0;
	}
	reg_response_clear(&resp);
	return r;
}

int reg_manifest_put(reg_client *c, const char *repo, const char *ref, const char *media_type_,
		     const void *body, size_t len, cairn_error **err)
{
	int r = reg_check_repo(c, repo, err);
	if (r >= 0)
		r = check_ref(c, repo, ref, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *what = ref_what(c, repo, ref), *path = NULL, *ct = NULL;
	_cleanup_free_ char *scope = reg_scope(repo, true);
	if (!what || !scope || asprintf(&path, "/v2/%s/manifests/%s", repo, ref) < 0 ||
	    asprintf(&ct, "Content-Type: %s", media_type_ ? media_type_ : REG_MT_OCI_MANIFEST) < 0)
		return cairn_error_set(err, -ENOMEM, "%s: out of memory", c->domain);
	cairn_digest d, want;
	cairn_sha256(body, len, &d);
	if (ref_is_digest(ref) &&
	    (cairn_digest_parse(ref, false, &want) < 0 || memcmp(&want, &d, sizeof(d)) != 0))
		return digest_mismatch(err, what,
				       "manifest does not match the digest it is pushed as", &d);
	struct curl_slist *hdrs = curl_slist_append(NULL, ct);
	if (!hdrs)
		return cairn_error_set(err, -ENOMEM, "%s: out of memory", c->domain);
	struct reg_request req = {.method = "PUT",
				  .url = path,
				  .scope = scope,
				  .headers = hdrs,
				  .body = body ? body : "",
				  .body_len = len,
				  .retry = true};
	struct reg_response resp = {0};
	r = reg_request_do(c, &req, &resp, err);
	curl_slist_free_all(hdrs);
	if (r >= 0 && (resp.status < 200 || resp.status > 299))
		r = reg_http_error(c, &resp, what, err);
	else if (r >= 0 && header_digest(&resp, &want) > 0 && memcmp(&want, &d, sizeof(d)) != 0)
		r = digest_mismatch(err, what, "the registry stored another digest", &want);
	reg_response_clear(&resp);
	return r;
}
