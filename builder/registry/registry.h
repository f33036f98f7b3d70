/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_REGISTRY_H
#define CAIRN_REGISTRY_H

/*
 * Registry client: the OCI distribution protocol over libcurl, as Docker
 * Hub, GHCR, quay and the CNCF distribution registry speak it.
 *
 * One reg_client per registry (domain as in references: "docker.io",
 * "localhost:5000", "ghcr.io").  A client is safe to use from several
 * threads at once (each request takes an easy handle from the client's
 * pool and reuses the idle connections it keeps; the DNS cache and TLS
 * sessions are shared; the token cache is locked).  libcurl does not
 * support one connection cache shared by concurrent threads, hence the
 * pool.  reg_client_free only once no request is running.
 *
 * Transport: HTTPS with verification by default.  Plain HTTP only for
 * localhost / 127.0.0.0/8 / ::1 registries or those in opts->insecure (and
 * every registry when tls_verify is false): those try HTTPS without
 * verification first and fall back to HTTP when the server does not speak
 * TLS, as Docker does for insecure registries.  "docker.io" talks to
 * registry-1.docker.io.
 *
 * Auth: anonymous first; a 401 with a WWW-Authenticate challenge is
 * answered with Basic credentials, or with a bearer token fetched from the
 * challenge's realm (service and scope; with Basic credentials when known,
 * anonymously otherwise), cached per scope and reused.  Credentials come
 * from opts->creds, else the first auth file with an entry for the
 * registry: opts->auth_file, $REGISTRY_AUTH_FILE, cairn's own file
 * (reg_auth_file_path), ${XDG_RUNTIME_DIR}/containers/auth.json,
 * ${XDG_CONFIG_HOME:-~/.config}/containers/auth.json,
 * ${DOCKER_CONFIG:-~/.docker}/config.json
 * ("auths": {"HOST": {"auth": base64(user:pass)}}, or "username" and
 * "password", or "identitytoken" (an OAuth2 refresh token, POSTed to the
 * realm); keys "HOST", "https://HOST", "http://HOST" match, and
 * "HOST/path" when there is no such key; Docker Hub's key
 * "https://index.docker.io/v1/" matches docker.io).  Credential helpers
 * (credsStore, credHelpers) are not run.  Secrets are never
 * put into messages or debug output.
 *
 * Errors (cairn_error codes, one-line messages naming the registry and
 * repository, including the registry's own error code/message when it
 * sent a JSON error body):
 *   CAIRN_E_NOTFOUND  manifest / blob / repository unknown (404)
 *   CAIRN_E_AUTH      401/403 after auth was tried; message ends with
 *                     "(log in with `cairn login REGISTRY`)"
 *   CAIRN_E_RATELIMIT 429; message has the Retry-After delay when sent
 *   CAIRN_E_DIGEST    content does not match its digest (or size)
 *   CAIRN_E_TLS       handshake / certificate failure; message suggests
 *                     --tls-verify=false for a registry one trusts
 *   CAIRN_E_NETWORK   unreachable, connection refused, DNS, timeouts
 *   CAIRN_E_REMOTE    other HTTP errors (5xx after retries, ...)
 *
 * CAIRN_REGISTRY_DEBUG=1 logs each request (method, URL, status) to stderr,
 * never Authorization headers or tokens.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cairn/error.h>
#include <cairn/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The media types a manifest GET accepts (in this order). */
#define REG_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define REG_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define REG_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define REG_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

/* Largest manifest we accept. */
#define REG_MANIFEST_MAX (4u << 20)

struct reg_options {
	const char *const *insecure; /* NULL-terminated "host[:port]" list, or NULL */
	bool tls_verify_off;	     /* --tls-verify=false: for every registry */
	const char *creds;	     /* "USER[:PASSWORD]" (--creds), or NULL */
	const char *auth_file;	     /* --authfile, or NULL */
	const char *cert_dir;	     /* directory of CA certificates (*.crt), or NULL */
};

typedef struct reg_client reg_client;

int reg_client_new(const char *domain, const struct reg_options *opts, reg_client **ret,
		   cairn_error **err);
void reg_client_free(reg_client *c);
const char *reg_client_domain(const reg_client *c);

/* ---- manifests ---------------------------------------------------------- */

struct reg_manifest {
	char *body; /* NUL-terminated, len bytes */
	size_t len;
	char *media_type; /* Content-Type without parameters, or NULL when the
			     registry sent none or a generic one (application/json) */
	cairn_digest digest; /* sha256 of body */
};
void reg_manifest_clear(struct reg_manifest *m);

/* GET /v2/REPO/manifests/REF (REF: a tag or "sha256:..."), Accept: the four
 * types above.  When REF is a digest the body must hash to it; a
 * Docker-Content-Digest header that disagrees with the body is an error
 * too (CAIRN_E_DIGEST).  Bodies over REG_MANIFEST_MAX are refused. */
int reg_manifest_get(reg_client *c, const char *repo, const char *ref, struct reg_manifest *ret,
		     cairn_error **err);
/* HEAD of the same: 0 when present (digest from Docker-Content-Digest, zero
 * when the registry sent none; size from Content-Length, 0 when absent;
 * ret_media_type, ret_digest and ret_size may be NULL),
 * CAIRN_E_NOTFOUND when absent, < 0 on other errors. */
int reg_manifest_head(reg_client *c, const char *repo, const char *ref, char **ret_media_type,
		      cairn_digest *ret_digest, uint64_t *ret_size, cairn_error **err);
/* PUT /v2/REPO/manifests/REF with Content-Type media_type. */
int reg_manifest_put(reg_client *c, const char *repo, const char *ref, const char *media_type,
		     const void *body, size_t len, cairn_error **err);

/* ---- blobs ---------------------------------------------------------------- */

/* Progress of one transfer: bytes done so far (including bytes resumed)
 * out of total.  Called from the thread doing the transfer. */
typedef void (*reg_progress_fn)(void *userdata, uint64_t done, uint64_t total);

/* HEAD /v2/REPO/blobs/DIGEST: 1 when present (*ret_size, may be NULL),
 * 0 when absent, < 0 on error. */
int reg_blob_head(reg_client *c, const char *repo, const cairn_digest *digest,
		  uint64_t *ret_size, cairn_error **err);

/* GET /v2/REPO/blobs/DIGEST into fd, a regular file opened O_RDWR whose
 * current size is what an earlier, interrupted fetch already wrote: the
 * fetch resumes there with a Range request (starting over when the server
 * ignores Range) after hashing those bytes.  Redirects (to blob storage)
 * are followed without sending the registry's credentials elsewhere.
 * Transient failures (connection reset, 5xx, timeouts) are retried up to 3
 * times, resuming.  At the end the file must be exactly size bytes with
 * sha256 == digest; otherwise it is truncated to 0 and CAIRN_E_DIGEST
 * returned ("REPO@DIGEST: digest mismatch: got sha256:..." or "size
 * mismatch"); more bytes than size are refused as soon as they arrive.
 * The file is written with pwrite: its offset is not used or moved. */
int reg_blob_fetch(reg_client *c, const char *repo, const cairn_digest *digest, uint64_t size,
		   int fd, reg_progress_fn progress, void *userdata, cairn_error **err);

enum reg_push_how {
	REG_PUSH_EXISTED = 0, /* HEAD found it: nothing sent */
	REG_PUSH_MOUNTED,     /* cross-repository mount from mount_from */
	REG_PUSH_UPLOADED,
};
enum {
	REG_PUSH_CHUNKED = 1u << 0, /* PATCH in chunks (REG_CHUNK_SIZE) then PUT, instead of
				       one monolithic PUT */
};
#define REG_CHUNK_SIZE (16u << 20)

/* Uploads the size bytes of fd (read with pread from offset 0) as blob
 * digest to REPO, unless REPO already has it (HEAD first), trying a
 * cross-repository mount from mount_from (a repository of the same
 * registry, or NULL) before sending any bytes.  *ret_how (may be NULL)
 * says which.  The registry's answer (201, the digest it echoes) is
 * checked. */
int reg_blob_push(reg_client *c, const char *repo, const cairn_digest *digest, uint64_t size,
		  int fd, const char *mount_from, unsigned flags, reg_progress_fn progress,
		  void *userdata, enum reg_push_how *ret_how, cairn_error **err);
/* (With fd -1 only the HEAD and the mount are tried: -EAGAIN, without a
 * message, when the bytes are needed.) */

/* ---- login ------------------------------------------------------------------- */

/* The file `cairn login` writes: opts->auth_file, else $REGISTRY_AUTH_FILE,
 * else ${XDG_CONFIG_HOME:-~/.config}/cairn/auth.json (malloc'd). */
char *reg_auth_file_path(const struct reg_options *opts);
/* Checks user/password against the registry (GET /v2/ answering its
 * challenge; a token fetch for bearer registries), then stores them in
 * reg_auth_file_path (mode 0600, written to a temporary file and renamed;
 * other entries kept).  CAIRN_E_AUTH when the registry refuses them. */
int reg_login(const char *domain, const char *user, const char *password,
	      const struct reg_options *opts, cairn_error **err);
/* Removes the registry's entry from reg_auth_file_path; CAIRN_E_NOTFOUND
 * when there was none. */
int reg_logout(const char *domain, const struct reg_options *opts, cairn_error **err);

#ifdef __cplusplus
}
#endif
#endif
