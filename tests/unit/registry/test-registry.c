/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The registry client against mockreg.py: manifests, blob push (monolithic,
 * chunked, mount) and fetch (resume, corruption, redirects), error
 * mapping, Basic and bearer auth, auth files, login/logout, TLS.
 *
 * Usage: test-registry PYTHON MOCKREG.PY */
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include <cairn/stream.h>

#include "registry-internal.h"
#include "tap.h"

#define MT REG_MT_OCI_MANIFEST

/* ---- the mock registry ------------------------------------------------------ */

struct mock {
	pid_t pid;
	int in_fd; /* its stdin: when it closes, the mock exits */
	int port, rport;
	char domain[128];
};

#define MAX_MOCKS 8
static struct mock mocks[MAX_MOCKS];
static int n_mocks;
static const char *python, *mockreg;

static void stop_mocks(void)
{
	for (int i = 0; i < n_mocks; i++) {
		if (mocks[i].pid > 0) {
			kill(mocks[i].pid, SIGTERM);
			waitpid(mocks[i].pid, NULL, 0);
			mocks[i].pid = 0;
		}
		if (mocks[i].in_fd >= 0)
			close(mocks[i].in_fd);
		mocks[i].in_fd = -1;
	}
}

static void on_fatal_signal(int sig)
{
	stop_mocks();
	signal(sig, SIG_DFL);
	raise(sig);
}

static struct mock *mock_start(const char *host, const char *const *extra)
{
	if (n_mocks == MAX_MOCKS)
		return NULL;
	int out[2], in[2];
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(in, O_CLOEXEC) < 0)
		return NULL;
	const char *argv[32];
	int n = 0;
	argv[n++] = python;
	argv[n++] = mockreg;
	argv[n++] = "--host";
	argv[n++] = host;
	for (; extra && *extra && n < 30; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		return NULL;
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		execv(python, (char **) argv);
		_exit(127);
	}
	close(out[1]);
	close(in[0]);
	struct mock *m = &mocks[n_mocks++];
	*m = (struct mock){.pid = pid, .in_fd = in[1]};
	FILE *f = fdopen(out[0], "r");
	int ok = f && fscanf(f, "%d %d", &m->port, &m->rport) == 2;
	if (f)
		fclose(f);
	if (!ok)
		return NULL;
	snprintf(m->domain, sizeof(m->domain), "%s:%d", host, m->port);
	return m;
}

static size_t collect(char *p, size_t s, size_t n, void *ud)
{
	buf_append(ud, p, s * n);
	return s * n;
}

/* A request to the mock's own endpoints (not through the client). */
static json_t *mock_call(struct mock *m, const char *path, const char *body)
{
	char url[256];
	snprintf(url, sizeof(url), "http://%s%s", m->domain, path);
	CURL *h = curl_easy_init();
	bytebuf b = {0};
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (body)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	CURLcode cc = curl_easy_perform(h);
	curl_easy_cleanup(h);
	json_t *j = cc == CURLE_OK ? json_loadb((char *) b.data, b.len, 0, NULL) : NULL;
	buf_clear(&b);
	if (!j)
		printf("# mock %s %s failed\n", path, body ? body : "");
	return j;
}

static void mock_control(struct mock *m, const char *json)
{
	json_decref(mock_call(m, "/_control", json));
}

/* Log entries whose method and path (substring) match, and whose field
 * (when given) contains value ("true"/"false" for booleans). */
static int log_count(struct mock *m, const char *method, const char *path, const char *field,
		     const char *value)
{
	json_t *log = mock_call(m, "/_log", NULL), *e;
	size_t i;
	int n = 0;
	json_array_foreach(log, i, e)
	{
		const char *mth = json_string_value(json_object_get(e, "method"));
		const char *p = json_string_value(json_object_get(e, "path"));
		if ((method && (!mth || strcmp(mth, method) != 0)) ||
		    (path && (!p || !strstr(p, path))))
			continue;
		if (field) {
			json_t *v = json_object_get(e, field);
			if (json_is_boolean(v)) {
				if (strcmp(value, json_is_true(v) ? "true" : "false") != 0)
					continue;
			} else if (!json_is_string(v) || !strstr(json_string_value(v), value)) {
				continue;
			}
		}
		n++;
	}
	json_decref(log);
	return n;
}

/* ---- helpers --------------------------------------------------------------- */

static char *tpath(const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", tap_tmpdir(), name) < 0)
		exit(99);
	return p;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
		printf("Bail out! %s: %s\n", path, strerror(errno));
		exit(99);
	}
}

struct blob {
	uint8_t *data;
	size_t size;
	cairn_digest d;
	int fd; /* the data in a file, for pushes */
};

static struct blob make_blob(size_t size, uint64_t seed)
{
	struct blob b = {.data = malloc(size ? size : 1), .size = size};
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		b.data[i] = (uint8_t) x;
	}
	cairn_sha256(b.data, size, &b.d);
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/blob-%llu", tap_tmpdir(), (unsigned long long) seed) < 0)
		exit(99);
	b.fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (b.fd < 0 || write_all(b.fd, b.data, size) < 0)
		exit(99);
	return b;
}

static void blob_free(struct blob *b)
{
	free(b->data);
	close(b->fd);
}

static int new_file(const char *name)
{
	_cleanup_free_ char *p = tpath(name);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		exit(99);
	return fd;
}

static uint64_t file_size(int fd)
{
	struct stat st;
	return fstat(fd, &st) < 0 ? UINT64_MAX : (uint64_t) st.st_size;
}

static bool file_equals(int fd, const struct blob *b)
{
	if (file_size(fd) != b->size)
		return false;
	uint8_t *buf = malloc(b->size ? b->size : 1);
	bool eq =
	    pread(fd, buf, b->size, 0) == (ssize_t) b->size && memcmp(buf, b->data, b->size) == 0;
	free(buf);
	return eq;
}

static reg_client *client(const char *domain, const struct reg_options *o)
{
	reg_client *c = NULL;
	cairn_error *err = NULL;
	if (reg_client_new(domain, o, &c, &err) < 0) {
		printf("Bail out! client %s: %s\n", domain, err ? err->msg : "?");
		exit(99);
	}
	return c;
}

static const char *emsg(const cairn_error *e)
{
	return e && e->msg ? e->msg : "";
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static char *login_hint(const struct mock *m)
{
	char *s = NULL;
	if (asprintf(&s, "(log in with `cairn login %s`)", m->domain) < 0)
		exit(99);
	return s;
}

struct progress {
	uint64_t done, total;
	int calls;
};

static void on_progress(void *userdata, uint64_t done, uint64_t total)
{
	struct progress *p = userdata;
	p->done = done;
	p->total = total;
	p->calls++;
}

static int push(reg_client *c, const char *repo, const struct blob *b, const char *from,
		unsigned flags, enum reg_push_how *how, cairn_error **err)
{
	return reg_blob_push(c, repo, &b->d, b->size, b->fd, from, flags, NULL, NULL, how, err);
}

static int fetch_into(reg_client *c, const char *repo, const struct blob *b, int fd,
		      cairn_error **err)
{
	return reg_blob_fetch(c, repo, &b->d, b->size, fd, NULL, NULL, err);
}

static const char manifest_body[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" MT "\",\"config\":{\"mediaType\":"
    "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:"
    "0000000000000000000000000000000000000000000000000000000000000000\",\"size\":2},"
    "\"layers\":[]}";

/* ---- pure functions ------------------------------------------------------------ */

static void test_parsers(void)
{
	struct reg_challenge ch = {0};
	is_int(reg_parse_challenge("Bearer realm=\"https://auth.docker.io/token\",service="
				   "\"registry.docker.io\",scope=\"repository:library/ubuntu:pull,"
				   "push repository:x/y:pull\"",
				   &ch),
	       0, "challenge: bearer parsed");
	is_str(ch.scheme, "Bearer", "challenge: scheme");
	is_str(ch.realm, "https://auth.docker.io/token", "challenge: realm");
	is_str(ch.service, "registry.docker.io", "challenge: service");
	is_str(ch.scope, "repository:library/ubuntu:pull,push repository:x/y:pull",
	       "challenge: quoted scope with a comma and two scopes");
	reg_challenge_clear(&ch);

	is_int(reg_parse_challenge("Basic realm=\"Registry \\\"Realm\\\"\"", &ch), 0,
	       "challenge: basic parsed");
	ok(ch.scheme && strcmp(ch.scheme, "Basic") == 0 && ch.realm &&
	       strcmp(ch.realm, "Registry \"Realm\"") == 0,
	   "challenge: escaped quotes in a value");
	reg_challenge_clear(&ch);

	is_int(reg_parse_challenge("Basic realm=\"r\", Bearer realm=\"https://a/t\", "
				   "error=\"insufficient_scope\"",
				   &ch),
	       0, "challenge: list parsed");
	ok(ch.scheme && strcmp(ch.scheme, "Bearer") == 0 && ch.realm &&
	       strcmp(ch.realm, "https://a/t") == 0 && ch.error &&
	       strcmp(ch.error, "insufficient_scope") == 0,
	   "challenge: Bearer preferred over Basic in a list");
	reg_challenge_clear(&ch);
	ok(reg_parse_challenge("Negotiate abc==", &ch) < 0, "challenge: unknown scheme refused");
	ok(reg_parse_challenge("", &ch) < 0, "challenge: empty refused");

	_cleanup_free_ char *b = reg_base64("alice:s3cret", 12), *back = NULL;
	is_str(b, "YWxpY2U6czNjcmV0", "base64 encodes");
	size_t len = 0;
	ok(reg_unbase64("YWxp Y2U6\nczNjcmV0", &back, &len) == 0 && len == 12 &&
	       strcmp(back, "alice:s3cret") == 0,
	   "base64 decodes (whitespace ignored)");
	free(back);
	back = NULL;
	ok(reg_unbase64("YQ", &back, &len) == 0 && len == 1 && back[0] == 'a',
	   "base64 decodes without padding");

	_cleanup_free_ char *u1 =
	    reg_url_resolve("http://h:5/v2/r/blobs/uploads/", "/v2/r/blobs/uploads/abc?_state=x%3D",
			    "digest=sha256:00");
	is_str(u1, "http://h:5/v2/r/blobs/uploads/abc?_state=x%3D&digest=sha256:00",
	       "url: relative Location, query appended with &");
	_cleanup_free_ char *u2 = reg_url_resolve("http://h:5/a", "https://s3/x", "d=1");
	is_str(u2, "https://s3/x?d=1", "url: absolute Location");
	_cleanup_free_ char *h1 = reg_url_host("http://127.0.0.1:99/v2/");
	is_str(h1, "127.0.0.1:99", "url: host and port");

	ok(reg_host_is_loopback("localhost:5000") && reg_host_is_loopback("127.3.4.5") &&
	       reg_host_is_loopback("[::1]:5000") && !reg_host_is_loopback("192.0.2.1:5000") &&
	       !reg_host_is_loopback("ghcr.io"),
	   "loopback hosts recognised");
}

static void test_client_setup(void)
{
	reg_client *c = client("docker.io", NULL);
	is_str(c->host, "registry-1.docker.io", "docker.io talks to registry-1.docker.io");
	is_str(reg_client_domain(c), "docker.io", "domain kept as given");
	ok(!c->insecure, "docker.io is verified HTTPS");
	reg_client_free(c);

	c = client("localhost:5000", NULL);
	ok(c->insecure, "localhost is insecure (HTTPS unverified, HTTP fallback)");
	reg_client_free(c);

	const char *const list[] = {"myreg.example:5000", "other.example", NULL};
	struct reg_options o = {.insecure = list};
	c = client("myreg.example:5000", &o);
	ok(c->insecure, "--insecure-registry host:port");
	reg_client_free(c);
	c = client("other.example:443", &o);
	ok(c->insecure, "--insecure-registry host matches any port");
	reg_client_free(c);
	c = client("ghcr.io", &o);
	ok(!c->insecure, "others verified");
	reg_client_free(c);

	reg_client *bad = NULL;
	cairn_error *err = NULL;
	ok(reg_client_new("bad host/x", NULL, &bad, &err) == CAIRN_E_FORMAT, "bad domain refused");
	cairn_error_free(err);

	/* Docker Hub's key in ~/.docker/config.json */
	_cleanup_free_ char *dir = tpath("home/.docker"), *cfg = tpath("home/.docker/config.json");
	mkdir_p(dir, 0700);
	write_text(cfg, "{\"auths\":{\"https://index.docker.io/v1/\":{\"auth\":"
			"\"aHViOmh1Yi1wYXNz\"}}}");
	c = client("docker.io", NULL);
	ok(c->user && strcmp(c->user, "hub") == 0 && c->password &&
	       strcmp(c->password, "hub-pass") == 0,
	   "docker.io credentials from https://index.docker.io/v1/ in ~/.docker/config.json");
	reg_client_free(c);
	unlink(cfg);
}

/* ---- manifests --------------------------------------------------------------- */

static void test_manifests(struct mock *m)
{
	reg_client *c = client(m->domain, NULL);
	cairn_error *err = NULL;
	size_t len = strlen(manifest_body);
	cairn_digest d;
	cairn_sha256(manifest_body, len, &d);
	_cleanup_free_ char *ds = cairn_digest_string(&d);

	is_int(reg_manifest_put(c, "app/web", "v1", MT, manifest_body, len, &err), 0,
	       "manifest put by tag %s", emsg(err));
	is_int(c->scheme, REG_SCHEME_HTTP, "plain HTTP registry: fell back from HTTPS");
	struct reg_manifest mf = {0};
	is_int(reg_manifest_get(c, "app/web", "v1", &mf, &err), 0, "manifest get by tag %s",
	       emsg(err));
	ok(mf.len == len && memcmp(mf.body, manifest_body, len) == 0 && mf.body[len] == 0,
	   "manifest body round trip (NUL-terminated)");
	is_str(mf.media_type, MT, "manifest media type");
	ok(memcmp(&mf.digest, &d, sizeof(d)) == 0, "manifest digest is sha256 of the body");
	reg_manifest_clear(&mf);
	is_int(reg_manifest_get(c, "app/web", ds, &mf, &err), 0, "manifest get by digest");
	reg_manifest_clear(&mf);
	ok(log_count(m, "GET", "/manifests/v1", "accept",
		     REG_MT_OCI_INDEX ", " REG_MT_OCI_MANIFEST ", " REG_MT_DOCKER_LIST
				      ", " REG_MT_DOCKER_MANIFEST) > 0,
	   "Accept lists the four manifest types");

	char *mt = NULL;
	cairn_digest hd = {{0}};
	uint64_t size = 0;
	is_int(reg_manifest_head(c, "app/web", "v1", &mt, &hd, &size, &err), 0, "manifest head");
	ok(mt && strcmp(mt, MT) == 0 && memcmp(&hd, &d, sizeof(d)) == 0 && size == len,
	   "manifest head: media type, digest, size");
	free(mt);
	is_int(reg_manifest_head(c, "app/web", ds, NULL, NULL, NULL, &err), 0,
	       "manifest head by digest (NULL outputs)");

	is_int(reg_manifest_get(c, "app/web", "nope", &mf, &err), CAIRN_E_NOTFOUND,
	       "missing manifest: NOTFOUND");
	ok(strstr(emsg(err), "MANIFEST_UNKNOWN") && strstr(emsg(err), m->domain) &&
	       strstr(emsg(err), "app/web:nope"),
	   "message names the manifest and the registry's error: %s", emsg(err));
	cairn_error_free(steal_pointer(&err));
	is_int(reg_manifest_head(c, "app/web", "nope", NULL, NULL, NULL, &err), CAIRN_E_NOTFOUND,
	       "missing manifest: HEAD NOTFOUND");
	cairn_error_free(steal_pointer(&err));

	const char *wrong =
	    "sha256:1111111111111111111111111111111111111111111111111111111111111111";
	is_int(reg_manifest_put(c, "app/web", wrong, MT, manifest_body, len, &err), CAIRN_E_DIGEST,
	       "put by a digest the body does not have: refused");
	cairn_error_free(steal_pointer(&err));

	mock_control(m, "{\"bad_manifest_digest\":true}");
	is_int(reg_manifest_get(c, "app/web", "v1", &mf, &err), CAIRN_E_DIGEST,
	       "Docker-Content-Digest disagreeing with the body: DIGEST");
	ok(strstr(emsg(err), "digest mismatch") != NULL, "... %s", emsg(err));
	cairn_error_free(steal_pointer(&err));
	mock_control(m, "{\"bad_manifest_digest\":false}");

	char ctl[200];
	snprintf(ctl, sizeof(ctl), "{\"corrupt\":[\"%s\"]}", ds);
	mock_control(m, ctl);
	is_int(reg_manifest_get(c, "app/web", ds, &mf, &err), CAIRN_E_DIGEST,
	       "manifest by digest with another body: DIGEST");
	cairn_error_free(steal_pointer(&err));
	mock_control(m, "{\"corrupt\":[]}");

	is_int(reg_manifest_get(c, "app/web", "huge", &mf, &err), CAIRN_E_FORMAT,
	       "manifest over 4 MiB refused");
	cairn_error_free(steal_pointer(&err));
	is_int(reg_manifest_get(c, "../x", "v1", &mf, &err), CAIRN_E_FORMAT,
	       "bad repository name refused");
	cairn_error_free(steal_pointer(&err));
	is_int(reg_manifest_get(c, "app/web", "v1/../../x", &mf, &err), CAIRN_E_FORMAT,
	       "bad tag refused");
	cairn_error_free(steal_pointer(&err));
	reg_client_free(c);
}

/* ---- blobs --------------------------------------------------------------------- */

static void test_push(struct mock *m)
{
	reg_client *c = client(m->domain, NULL);
	cairn_error *err = NULL;
	enum reg_push_how how = 99;
	struct blob a = make_blob(3u << 20, 1), b = make_blob(40u << 20, 2);
	struct progress p = {0};

	mock_control(m, "{\"clear_log\":true}");
	is_int(
	    reg_blob_push(c, "app/web", &a.d, a.size, a.fd, NULL, 0, on_progress, &p, &how, &err),
	    0, "monolithic push %s", emsg(err));
	is_int(how, REG_PUSH_UPLOADED, "... uploaded");
	ok(p.done == a.size && p.total == a.size, "... progress reached the size");
	is_int(log_count(m, "PUT", "/blobs/uploads/", "query", "_state="), 1,
	       "... PUT kept the Location's query");
	is_int(log_count(m, "PUT", "/blobs/uploads/", "query", "&digest=sha256:"), 1,
	       "... and appended &digest=");
	is_int(log_count(m, "PUT", "/blobs/uploads/", "content_type", "application/octet-stream"),
	       1, "... Content-Type application/octet-stream");
	is_int(push(c, "app/web", &a, NULL, 0, &how, &err), 0, "push again");
	is_int(how, REG_PUSH_EXISTED, "... HEAD found it: EXISTED");

	uint64_t size = 0;
	is_int(reg_blob_head(c, "app/web", &a.d, &size, &err), 1, "blob head: present");
	is_int(size, a.size, "blob head: size");
	is_int(reg_blob_head(c, "app/web", &b.d, &size, &err), 0, "blob head: absent");

	mock_control(m, "{\"clear_log\":true}");
	is_int(push(c, "app/web", &b, NULL, REG_PUSH_CHUNKED, &how, &err), 0, "chunked push %s",
	       emsg(err));
	is_int(how, REG_PUSH_UPLOADED, "... uploaded");
	is_int(log_count(m, "PATCH", "/blobs/uploads/", NULL, NULL), 3, "... in three PATCHes");
	ok(log_count(m, "PATCH", NULL, "content_range", "0-16777215") == 1 &&
	       log_count(m, "PATCH", NULL, "content_range", "16777216-33554431") == 1 &&
	       log_count(m, "PATCH", NULL, "content_range", "33554432-41943039") == 1,
	   "... with Content-Range START-END");
	is_int(log_count(m, "PUT", "/blobs/uploads/", "query", "digest="), 1,
	       "... closed by a PUT with the digest");

	int fd = new_file("fetch-a");
	p = (struct progress){0};
	is_int(reg_blob_fetch(c, "app/web", &a.d, a.size, fd, on_progress, &p, &err), 0,
	       "fetch back the monolithic blob %s", emsg(err));
	ok(file_equals(fd, &a), "... same bytes");
	ok(p.done == a.size && p.total == a.size && p.calls >= 1, "... progress");
	close(fd);
	fd = new_file("fetch-b");
	is_int(fetch_into(c, "app/web", &b, fd, &err), 0, "fetch back the chunked blob");
	ok(file_equals(fd, &b), "... same bytes");
	close(fd);

	struct blob s = make_blob(1u << 20, 3);
	mock_control(m, "{\"absolute_location\":true}");
	is_int(push(c, "app/web", &s, NULL, REG_PUSH_CHUNKED, &how, &err), 0,
	       "chunked push with absolute Locations %s", emsg(err));
	mock_control(m, "{\"absolute_location\":false}");
	struct blob z = make_blob(0, 4);
	is_int(push(c, "app/web", &z, NULL, REG_PUSH_CHUNKED, &how, &err), 0,
	       "chunked push of an empty blob %s", emsg(err));
	fd = new_file("fetch-z");
	is_int(fetch_into(c, "app/web", &z, fd, &err), 0, "fetch of an empty blob");
	close(fd);

	mock_control(m, "{\"clear_log\":true}");
	is_int(push(c, "other/repo", &a, "app/web", 0, &how, &err), 0, "push with mount_from %s",
	       emsg(err));
	is_int(how, REG_PUSH_MOUNTED, "... MOUNTED");
	is_int(log_count(m, "POST", "/v2/other/repo/blobs/uploads/", "query", "mount=sha256:"), 1,
	       "... POST ?mount=&from=");
	is_int(log_count(m, "PUT", NULL, NULL, NULL), 0, "... and no bytes sent");
	fd = new_file("fetch-mounted");
	is_int(fetch_into(c, "other/repo", &a, fd, &err), 0, "fetch the mounted blob");
	ok(file_equals(fd, &a), "... same bytes");
	close(fd);
	is_int(push(c, "third", &s, "empty/repo", 0, &how, &err), 0,
	       "mount from a repository without the blob %s", emsg(err));
	is_int(how, REG_PUSH_UPLOADED, "... uploaded in the session the 202 opened");

	struct blob e = make_blob(1000, 5);
	mock_control(m, "{\"bad_echo\":true}");
	is_int(push(c, "app/web", &e, NULL, 0, &how, &err), CAIRN_E_DIGEST,
	       "registry echoing another digest: DIGEST");
	cairn_error_free(steal_pointer(&err));
	mock_control(m, "{\"bad_echo\":false}");

	blob_free(&a);
	blob_free(&b);
	blob_free(&s);
	blob_free(&z);
	blob_free(&e);
	reg_client_free(c);
}

static void test_fetch_faults(struct mock *m)
{
	reg_client *c = client(m->domain, NULL);
	cairn_error *err = NULL;
	struct blob r = make_blob(4u << 20, 10);
	char ctl[256], hex[2 * CAIRN_DIGEST_LEN + 1];
	cairn_digest_hex(&r.d, hex);
	is_int(push(c, "faults", &r, NULL, 0, NULL, &err), 0, "push the fault blob");

	snprintf(ctl, sizeof(ctl), "{\"clear_log\":true,\"drop\":{\"sha256:%s\":1000000}}", hex);
	mock_control(m, ctl);
	int fd = new_file("resume");
	is_int(fetch_into(c, "faults", &r, fd, &err), 0, "fetch over a dropped connection %s",
	       emsg(err));
	ok(file_equals(fd, &r), "... same bytes");
	is_int(log_count(m, "GET", "/blobs/", "range", "bytes="), 1, "... resumed with a Range");
	close(fd);

	fd = new_file("partial");
	write_all(fd, r.data, 1572864);
	mock_control(m, "{\"clear_log\":true}");
	is_int(fetch_into(c, "faults", &r, fd, &err), 0, "fetch into a partial file");
	ok(file_equals(fd, &r), "... same bytes");
	is_int(log_count(m, "GET", "/blobs/", "range", "bytes=1572864-"), 1,
	       "... Range from the file's size");
	close(fd);

	fd = new_file("partial-ignored");
	write_all(fd, r.data, 1000);
	mock_control(m, "{\"ignore_range\":true}");
	is_int(fetch_into(c, "faults", &r, fd, &err), 0, "Range ignored (200): starts over");
	ok(file_equals(fd, &r), "... same bytes");
	mock_control(m, "{\"ignore_range\":false}");
	close(fd);

	fd = new_file("bad-prefix");
	write_all(fd, "garbage!", 8);
	is_int(fetch_into(c, "faults", &r, fd, &err), 0, "bad earlier bytes: refetched from 0");
	ok(file_equals(fd, &r), "... same bytes");
	close(fd);

	fd = new_file("too-long");
	write_all(fd, r.data, r.size);
	write_all(fd, "tail", 4);
	is_int(fetch_into(c, "faults", &r, fd, &err), 0, "a file longer than the blob: refetched");
	ok(file_equals(fd, &r), "... same bytes");
	close(fd);

	snprintf(ctl, sizeof(ctl), "{\"corrupt\":[\"sha256:%s\"]}", hex);
	mock_control(m, ctl);
	fd = new_file("corrupt");
	is_int(fetch_into(c, "faults", &r, fd, &err), CAIRN_E_DIGEST, "corrupt blob: DIGEST");
	ok(strstr(emsg(err), "digest mismatch: got sha256:") && strstr(emsg(err), "faults@sha256:"),
	   "... %s", emsg(err));
	is_int(file_size(fd), 0, "... file truncated to 0");
	cairn_error_free(steal_pointer(&err));
	close(fd);

	snprintf(ctl, sizeof(ctl), "{\"corrupt\":[],\"extra\":[\"sha256:%s\"]}", hex);
	mock_control(m, ctl);
	fd = new_file("extra");
	is_int(fetch_into(c, "faults", &r, fd, &err), CAIRN_E_DIGEST,
	       "more bytes than size: DIGEST");
	ok(strstr(emsg(err), "size mismatch") != NULL, "... %s", emsg(err));
	is_int(file_size(fd), 0, "... file truncated to 0");
	cairn_error_free(steal_pointer(&err));
	close(fd);
	mock_control(m, "{\"extra\":[]}");

	struct blob u = make_blob(10, 11);
	fd = new_file("unknown");
	is_int(fetch_into(c, "faults", &u, fd, &err), CAIRN_E_NOTFOUND, "unknown blob: NOTFOUND");
	ok(strstr(emsg(err), "BLOB_UNKNOWN") != NULL, "... %s", emsg(err));
	cairn_error_free(steal_pointer(&err));
	close(fd);
	blob_free(&u);

	struct reg_manifest mf = {0};
	mock_control(m, "{\"ratelimit\":1,\"retry_after\":42}");
	is_int(reg_manifest_get(c, "app/web", "v1", &mf, &err), CAIRN_E_RATELIMIT,
	       "429: RATELIMIT");
	ok(strstr(emsg(err), "retry after 42 s") && strstr(emsg(err), "TOOMANYREQUESTS"), "... %s",
	   emsg(err));
	cairn_error_free(steal_pointer(&err));

	mock_control(m, "{\"fail\":2}");
	is_int(reg_manifest_get(c, "app/web", "v1", &mf, &err), 0, "503 twice: retried %s",
	       emsg(err));
	reg_manifest_clear(&mf);
	mock_control(m, "{\"fail\":2}");
	fd = new_file("after-503");
	is_int(fetch_into(c, "faults", &r, fd, &err), 0, "blob fetch after 503s %s", emsg(err));
	close(fd);
	mock_control(m, "{\"fail\":10}");
	is_int(reg_manifest_get(c, "app/web", "v1", &mf, &err), CAIRN_E_REMOTE,
	       "503 after the retries: REMOTE");
	ok(strstr(emsg(err), "HTTP 503") != NULL, "... %s", emsg(err));
	cairn_error_free(steal_pointer(&err));
	mock_control(m, "{\"fail\":0}");

	blob_free(&r);
	reg_client_free(c);
}

struct job {
	reg_client *c;
	struct blob *b;
	int fd, r;
};

static void *fetch_thread(void *p)
{
	struct job *j = p;
	cairn_error *err = NULL;
	for (int i = 0; i < 3 && j->r == 0; i++) {
		ftruncate(j->fd, 0);
		j->r = fetch_into(j->c, "threads", j->b, j->fd, &err);
	}
	if (err)
		printf("# thread: %s\n", emsg(err));
	cairn_error_free(err);
	return NULL;
}

static void test_threads(struct mock *m)
{
	reg_client *c = client(m->domain, NULL);
	cairn_error *err = NULL;
	struct blob b[4];
	struct job jobs[4];
	pthread_t t[4];
	int pushed = 0;
	for (int i = 0; i < 4; i++) {
		b[i] = make_blob(6u << 20, 20 + i);
		pushed += push(c, "threads", &b[i], NULL, 0, NULL, &err) == 0;
	}
	is_int(pushed, 4, "threads: blobs pushed");
	for (int i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "thread-%d", i);
		jobs[i] = (struct job){.c = c, .b = &b[i], .fd = new_file(name)};
		pthread_create(&t[i], NULL, fetch_thread, &jobs[i]);
	}
	int good = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		good += jobs[i].r == 0 && file_equals(jobs[i].fd, &b[i]);
		close(jobs[i].fd);
		blob_free(&b[i]);
	}
	is_int(good, 4, "four threads fetching on one client");
	reg_client_free(c);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_large(struct mock *m)
{
	reg_client *c = client(m->domain, NULL);
	cairn_error *err = NULL;
	struct blob b = make_blob(90u << 20, 30);
	double t0 = now_s();
	is_int(push(c, "large", &b, NULL, 0, NULL, &err), 0, "90 MB push %s", emsg(err));
	double t1 = now_s();
	int fd = new_file("large");
	is_int(fetch_into(c, "large", &b, fd, &err), 0, "90 MB fetch %s", emsg(err));
	double t2 = now_s();
	ok(file_equals(fd, &b), "... same bytes");
	tap_diag("90 MB: push %.2f s, fetch %.2f s (%.0f MB/s)", t1 - t0, t2 - t1,
		 90 / (t2 - t1 > 0 ? t2 - t1 : 1e-9));
	ok(t2 - t1 < 30, "fetch at loopback speed (%.2f s)", t2 - t1);
	close(fd);
	blob_free(&b);
	reg_client_free(c);
}

static void test_refused(void)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	bind(s, (struct sockaddr *) &a, sizeof(a));
	getsockname(s, (struct sockaddr *) &a, &len);
	close(s); /* nobody listens there now */
	char domain[64];
	snprintf(domain, sizeof(domain), "127.0.0.1:%d", ntohs(a.sin_port));
	reg_client *c = client(domain, NULL);
	cairn_error *err = NULL;
	struct reg_manifest mf = {0};
	is_int(reg_manifest_get(c, "x", "latest", &mf, &err), CAIRN_E_NETWORK,
	       "connection refused: NETWORK");
	ok(strstr(emsg(err), "unreachable") && strstr(emsg(err), domain), "... %s", emsg(err));
	cairn_error_free(err);
	reg_client_free(c);
}

/* ---- Basic auth -------------------------------------------------------------- */

static int get_v1(reg_client *c, cairn_error **err)
{
	struct reg_manifest mf = {0};
	int r = reg_manifest_get(c, "app", "v1", &mf, err);
	reg_manifest_clear(&mf);
	return r;
}

static void test_basic(struct mock *m)
{
	_cleanup_free_ char *hint = login_hint(m);
	cairn_error *err = NULL;
	size_t len = strlen(manifest_body);

	reg_client *c = client(m->domain, NULL);
	is_int(get_v1(c, &err), CAIRN_E_AUTH, "basic: no credentials: AUTH");
	ok(ends_with(emsg(err), hint), "... message ends with the login hint: %s", emsg(err));
	cairn_error_free(steal_pointer(&err));
	reg_client_free(c);

	struct reg_options o = {.creds = "alice:s3cret-pw"};
	c = client(m->domain, &o);
	is_int(reg_manifest_put(c, "app", "v1", MT, manifest_body, len, &err), 0,
	       "basic: put with --creds %s", emsg(err));
	is_int(get_v1(c, &err), 0, "basic: get with --creds");
	struct blob b = make_blob(2u << 20, 40);
	is_int(push(c, "app", &b, NULL, 0, NULL, &err), 0, "basic: blob push");

	/* redirects to blob storage do not get the registry's credentials */
	mock_control(m, "{\"redirect\":true,\"clear_log\":true}");
	int fd = new_file("redirected");
	is_int(fetch_into(c, "app", &b, fd, &err), 0, "fetch through a redirect %s", emsg(err));
	ok(file_equals(fd, &b), "... same bytes");
	is_int(log_count(m, "GET", "/v2/app/blobs/", "auth", "true"), 1,
	       "... the registry got Authorization");
	is_int(log_count(m, "GET", "/blobs/sha256:", "port", "redirect"), 1,
	       "... the storage port got the request");
	is_int(log_count(m, "GET", "/blobs/sha256:", "auth", "true") -
		   log_count(m, "GET", "/v2/app/blobs/", "auth", "true"),
	       0, "... without Authorization");
	close(fd);
	mock_control(m, "{\"redirect\":false}");
	reg_client_free(c);

	/* debug log: requests, never secrets */
	_cleanup_free_ char *dbg = tpath("debug.log");
	fflush(stderr);
	int saved = dup(2), dfd = open(dbg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(dfd, 2);
	close(dfd);
	setenv("CAIRN_REGISTRY_DEBUG", "1", 1);
	c = client(m->domain, &o);
	int r = get_v1(c, &err);
	reg_client_free(c);
	unsetenv("CAIRN_REGISTRY_DEBUG");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	_cleanup_free_ char *log = NULL, *want = NULL;
	read_file(dbg, 1 << 20, &log, NULL);
	if (asprintf(&want, "registry: GET http://%s/v2/app/manifests/v1 -> 200", m->domain) < 0)
		exit(99);
	ok(r == 0 && log && strstr(log, want), "CAIRN_REGISTRY_DEBUG logs METHOD URL -> STATUS");
	ok(log && strstr(log, "-> 401") && !strstr(log, "s3cret") && !strstr(log, "Basic") &&
	       !strstr(log, "YWxpY2U6"),
	   "... without credentials");

	o.creds = "alice:wrong-pw-123";
	c = client(m->domain, &o);
	is_int(get_v1(c, &err), CAIRN_E_AUTH, "basic: wrong password: AUTH");
	ok(ends_with(emsg(err), hint) && !strstr(emsg(err), "wrong-pw-123"),
	   "... login hint, no password in the message: %s", emsg(err));
	cairn_error_free(steal_pointer(&err));
	reg_client_free(c);

	/* credentials from auth files */
	_cleanup_free_ char *f1 = tpath("auth1.json"), *f2 = tpath("auth2.json"), *text = NULL;
	if (asprintf(&text, "{\"auths\":{\"%s\":{\"auth\":\"YWxpY2U6czNjcmV0LXB3\"}}}", m->domain) <
	    0)
		exit(99);
	write_text(f1, text);
	setenv("REGISTRY_AUTH_FILE", f1, 1);
	c = client(m->domain, NULL);
	is_int(get_v1(c, &err), 0, "basic: credentials from $REGISTRY_AUTH_FILE %s", emsg(err));
	reg_client_free(c);
	unsetenv("REGISTRY_AUTH_FILE");
	free(text);
	if (asprintf(&text,
		     "{\"auths\":{\"other.example\":{\"auth\":\"eDp5\"},\"http://%s\":"
		     "{\"username\":\"alice\",\"password\":\"s3cret-pw\"}}}",
		     m->domain) < 0)
		exit(99);
	write_text(f2, text);
	o = (struct reg_options){.auth_file = f2};
	c = client(m->domain, &o);
	is_int(get_v1(c, &err), 0, "basic: --authfile with http://HOST and username/password %s",
	       emsg(err));
	reg_client_free(c);
	free(text);
	if (asprintf(&text, "{\"auths\":{\"%s/app\":{\"auth\":\"YWxpY2U6czNjcmV0LXB3\"}}}",
		     m->domain) < 0)
		exit(99);
	write_text(f2, text);
	c = client(m->domain, &o);
	is_int(get_v1(c, &err), 0, "basic: HOST/repo key %s", emsg(err));
	reg_client_free(c);
	write_text(f2, "{broken");
	reg_client *bad = NULL;
	is_int(reg_client_new(m->domain, &o, &bad, &err), CAIRN_E_FORMAT,
	       "a malformed --authfile is an error");
	cairn_error_free(steal_pointer(&err));
	blob_free(&b);
}

static void test_login(struct mock *m, const char *user, const char *pass)
{
	cairn_error *err = NULL;
	_cleanup_free_ char *dir = NULL, *path = NULL, *text = NULL;
	if (asprintf(&dir, "%s/login-%d/sub", tap_tmpdir(), m->port) < 0 ||
	    asprintf(&path, "%s/auth.json", dir) < 0)
		exit(99);
	struct reg_options o = {.auth_file = path};
	is_int(reg_login(m->domain, user, "not-the-password", &o, &err), CAIRN_E_AUTH,
	       "login with a wrong password: AUTH");
	ok(!strstr(emsg(err), "not-the-password"), "... no password in the message: %s", emsg(err));
	cairn_error_free(steal_pointer(&err));
	ok(access(path, F_OK) < 0, "... nothing written");

	is_int(reg_login(m->domain, user, pass, &o, &err), 0, "login %s", emsg(err));
	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "... auth file mode 0600");
	ok(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700, "... parent created 0700");
	reg_client *c = client(m->domain, &o);
	is_int(get_v1(c, &err), 0, "... the stored credentials work %s", emsg(err));
	reg_client_free(c);

	/* other entries and keys survive login and logout */
	json_t *root = json_load_file(path, 0, NULL);
	json_object_set_new(json_object_get(root, "auths"), "other.example",
			    json_pack("{s:s}", "auth", "eDp5"));
	json_object_set_new(root, "credHelpers", json_object());
	json_dump_file(root, path, 0);
	json_decref(root);
	is_int(reg_login(m->domain, user, pass, &o, &err), 0, "login again");
	root = json_load_file(path, 0, NULL);
	json_t *auths = json_object_get(root, "auths");
	const char *stored =
	    json_string_value(json_object_get(json_object_get(auths, m->domain), "auth"));
	_cleanup_free_ char *pair = NULL, *want = NULL;
	size_t n;
	if (asprintf(&want, "%s:%s", user, pass) < 0)
		exit(99);
	ok(stored && reg_unbase64(stored, &pair, &n) == 0 && strcmp(pair, want) == 0,
	   "... auths.HOST.auth is base64(user:password)");
	ok(json_object_get(auths, "other.example") && json_object_get(root, "credHelpers"),
	   "... other entries kept");
	json_decref(root);

	is_int(reg_logout(m->domain, &o, &err), 0, "logout");
	root = json_load_file(path, 0, NULL);
	auths = json_object_get(root, "auths");
	ok(!json_object_get(auths, m->domain) && json_object_get(auths, "other.example"),
	   "... entry removed, others kept");
	json_decref(root);
	is_int(reg_logout(m->domain, &o, &err), CAIRN_E_NOTFOUND, "logout again: NOTFOUND");
	cairn_error_free(steal_pointer(&err));
}

static void test_auth_file_path(void)
{
	struct reg_options o = {.auth_file = "/x/a.json"};
	_cleanup_free_ char *p1 = reg_auth_file_path(&o);
	is_str(p1, "/x/a.json", "auth file: --authfile");
	setenv("REGISTRY_AUTH_FILE", "/y/b.json", 1);
	_cleanup_free_ char *p2 = reg_auth_file_path(NULL);
	is_str(p2, "/y/b.json", "auth file: $REGISTRY_AUTH_FILE");
	unsetenv("REGISTRY_AUTH_FILE");
	setenv("XDG_CONFIG_HOME", "/z", 1);
	_cleanup_free_ char *p3 = reg_auth_file_path(NULL);
	is_str(p3, "/z/cairn/auth.json", "auth file: $XDG_CONFIG_HOME/cairn/auth.json");
	unsetenv("XDG_CONFIG_HOME");
	_cleanup_free_ char *p4 = reg_auth_file_path(NULL), *want = NULL;
	if (asprintf(&want, "%s/.config/cairn/auth.json", getenv("HOME")) < 0)
		exit(99);
	is_str(p4, want, "auth file: ~/.config/cairn/auth.json");
}

/* ---- bearer tokens --------------------------------------------------------------- */

static void test_bearer(struct mock *m)
{
	_cleanup_free_ char *hint = login_hint(m);
	cairn_error *err = NULL;
	size_t len = strlen(manifest_body);
	struct reg_options o = {.creds = "bob:tok-pw-9"};
	reg_client *c = client(m->domain, &o);

	is_int(reg_manifest_put(c, "app", "v1", MT, manifest_body, len, &err), 0,
	       "bearer: manifest put %s", emsg(err));
	ok(log_count(m, "GET", "/token", "query", "scope=repository%3Aapp%3Apull%2Cpush") >= 1 &&
	       log_count(m, "GET", "/token", "query", "service=mockreg") >= 1,
	   "... token for repository:app:pull,push from the realm");
	is_int(get_v1(c, &err), 0, "bearer: manifest get %s", emsg(err));
	struct blob b = make_blob(1u << 20, 50);
	is_int(push(c, "src/a", &b, NULL, REG_PUSH_CHUNKED, NULL, &err), 0, "bearer: blob push %s",
	       emsg(err));
	int fd = new_file("bearer");
	is_int(fetch_into(c, "src/a", &b, fd, &err), 0, "bearer: blob fetch %s", emsg(err));
	close(fd);

	mock_control(m, "{\"clear_log\":true}");
	is_int(get_v1(c, &err), 0, "bearer: get again");
	is_int(get_v1(c, &err), 0, "bearer: and again");
	is_int(log_count(m, "GET", "/token", NULL, NULL), 0, "... cached token reused");
	is_int(log_count(m, "GET", "/manifests/", NULL, NULL), 2, "... no 401 round trips");

	enum reg_push_how how = 99;
	mock_control(m, "{\"clear_log\":true}");
	is_int(push(c, "dst/b", &b, "src/a", 0, &how, &err), 0, "bearer: mount %s", emsg(err));
	is_int(how, REG_PUSH_MOUNTED, "... MOUNTED (token scope included the source)");
	is_int(log_count(m, "GET", "/token", "query", "scope=repository%3Asrc%2Fa%3Apull"), 1,
	       "... token requested for repository:src/a:pull too");

	mock_control(m, "{\"revoke_tokens\":true,\"clear_log\":true}");
	is_int(get_v1(c, &err), 0, "bearer: revoked token refreshed once %s", emsg(err));
	is_int(log_count(m, "GET", "/token", NULL, NULL), 1, "... one new token");
	reg_client_free(c);

	o.creds = "bob:bad-pw-77";
	c = client(m->domain, &o);
	is_int(get_v1(c, &err), CAIRN_E_AUTH, "bearer: wrong password: AUTH");
	ok(ends_with(emsg(err), hint) && !strstr(emsg(err), "bad-pw-77"),
	   "... login hint, no password: %s", emsg(err));
	cairn_error_free(steal_pointer(&err));
	reg_client_free(c);

	c = client(m->domain, NULL);
	is_int(get_v1(c, &err), CAIRN_E_AUTH, "bearer: anonymous token without access: AUTH");
	ok(ends_with(emsg(err), hint), "... %s", emsg(err));
	cairn_error_free(steal_pointer(&err));
	reg_client_free(c);

	/* Docker's identitytoken: an OAuth2 refresh token */
	_cleanup_free_ char *f = tpath("idtoken.json"), *text = NULL;
	if (asprintf(&text, "{\"auths\":{\"%s\":{\"identitytoken\":\"refresh-abc\"}}}", m->domain) <
	    0)
		exit(99);
	write_text(f, text);
	o = (struct reg_options){.auth_file = f};
	mock_control(m, "{\"clear_log\":true}");
	c = client(m->domain, &o);
	is_int(get_v1(c, &err), 0, "bearer: identitytoken from the auth file %s", emsg(err));
	is_int(log_count(m, "POST", "/token", NULL, NULL), 1, "... POSTed as refresh_token");
	reg_client_free(c);
	blob_free(&b);
}

/* ---- TLS ----------------------------------------------------------------------- */

static bool local_address(char *buf, size_t size)
{
	struct ifaddrs *ifa, *i;
	bool found = false;
	if (getifaddrs(&ifa) < 0)
		return false;
	for (i = ifa; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		struct in_addr a = ((struct sockaddr_in *) i->ifa_addr)->sin_addr;
		if ((ntohl(a.s_addr) >> 24) == 127)
			continue;
		found = inet_ntop(AF_INET, &a, buf, (socklen_t) size) != NULL;
	}
	freeifaddrs(ifa);
	return found;
}

static bool make_certs(const char *dir, const char *ip)
{
	char cmd[4096];
	snprintf(
	    cmd, sizeof(cmd),
	    "set -e; cd '%s'; mkdir -p certs.d;"
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
	    " -keyout ca.key -out certs.d/ca.crt -days 2 -subj /CN=cairn-test-ca"
	    " -addext basicConstraints=critical,CA:TRUE"
	    " -addext keyUsage=critical,keyCertSign,cRLSign;"
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
	    " -keyout srv.key -out srv.csr -subj /CN=%s;"
	    "printf 'subjectAltName=IP:%s,IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > ext;"
	    "openssl x509 -req -in srv.csr -CA certs.d/ca.crt -CAkey ca.key -CAcreateserial"
	    " -out srv.crt -days 2 -extfile ext",
	    dir, ip, ip);
	_cleanup_free_ char *quiet = NULL;
	if (asprintf(&quiet, "(%s) >/dev/null 2>&1", cmd) < 0)
		return false;
	return system(quiet) == 0;
}

static void test_tls(void)
{
	char ip[64];
	_cleanup_free_ char *dir = tpath("tls"), *cert = tpath("tls/srv.crt"),
			    *key = tpath("tls/srv.key"), *cadir = tpath("tls/certs.d");
	mkdir_p(dir, 0700);
	if (!local_address(ip, sizeof(ip)) || !make_certs(dir, ip)) {
		ok(1, "# SKIP TLS tests: no non-loopback address or no openssl");
		return;
	}
	const char *const tls_args[] = {"--tls", cert, key, NULL};
	struct mock *m = mock_start(ip, tls_args), *lo = mock_start("127.0.0.1", tls_args);
	struct mock *plain = mock_start(ip, NULL);
	if (!m || !lo || !plain) {
		ok(0, "TLS mocks started");
		return;
	}
	cairn_error *err = NULL;
	size_t len = strlen(manifest_body);

	reg_client *c = client(m->domain, NULL);
	is_int(get_v1(c, &err), CAIRN_E_TLS, "unknown CA: TLS");
	ok(strstr(emsg(err), "--tls-verify=false") && strstr(emsg(err), m->domain), "... %s",
	   emsg(err));
	cairn_error_free(steal_pointer(&err));
	reg_client_free(c);

	struct reg_options o = {.cert_dir = cadir};
	c = client(m->domain, &o);
	is_int(reg_manifest_put(c, "app", "v1", MT, manifest_body, len, &err), 0,
	       "--cert-dir CA: verified HTTPS %s", emsg(err));
	is_int(get_v1(c, &err), 0, "... get");
	reg_client_free(c);

	o = (struct reg_options){.tls_verify_off = true};
	c = client(m->domain, &o);
	is_int(get_v1(c, &err), 0, "--tls-verify=false: unverified HTTPS %s", emsg(err));
	is_int(c->scheme, REG_SCHEME_HTTPS, "... stays on HTTPS");
	reg_client_free(c);

	const char *const list[] = {m->domain, NULL};
	o = (struct reg_options){.insecure = list};
	c = client(m->domain, &o);
	is_int(get_v1(c, &err), 0, "insecure registry speaking TLS %s", emsg(err));
	reg_client_free(c);

	c = client(lo->domain, NULL);
	is_int(reg_manifest_put(c, "app", "v1", MT, manifest_body, len, &err), 0,
	       "localhost speaking TLS: HTTPS unverified %s", emsg(err));
	is_int(c->scheme, REG_SCHEME_HTTPS, "... remembered HTTPS");
	reg_client_free(c);

	c = client(plain->domain, NULL);
	is_int(get_v1(c, &err), CAIRN_E_TLS, "plain HTTP registry, verified: TLS");
	cairn_error_free(steal_pointer(&err));
	reg_client_free(c);
	const char *const hosts[] = {ip, NULL};
	o = (struct reg_options){.insecure = hosts};
	c = client(plain->domain, &o);
	is_int(reg_manifest_put(c, "app", "v1", MT, manifest_body, len, &err), 0,
	       "insecure plain HTTP registry: fell back to HTTP %s", emsg(err));
	is_int(c->scheme, REG_SCHEME_HTTP, "... remembered HTTP");
	reg_client_free(c);
}

/* ---- main ----------------------------------------------------------------------- */

static void isolate_environment(void)
{
	static const char *const unset[] = {
	    "XDG_CONFIG_HOME",	    "XDG_RUNTIME_DIR", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE",
	    "CAIRN_REGISTRY_DEBUG", "http_proxy",      "https_proxy",	"HTTP_PROXY",
	    "HTTPS_PROXY",	    "all_proxy",       "ALL_PROXY"};
	for (size_t i = 0; i < ARRAY_SIZE(unset); i++)
		unsetenv(unset[i]);
	_cleanup_free_ char *home = tpath("home");
	mkdir_p(home, 0700);
	setenv("HOME", home, 1);
	setenv("no_proxy", "*", 1);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		tap_skip_all("usage: test-registry PYTHON MOCKREG.PY");
	python = argv[1];
	mockreg = argv[2];
	if (access(python, X_OK) < 0 || access(mockreg, R_OK) < 0)
		tap_skip_all("python3 or mockreg.py missing");
	isolate_environment();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	atexit(stop_mocks);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_fatal_signal);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGABRT, on_fatal_signal);
	signal(SIGSEGV, on_fatal_signal);

	test_parsers();
	test_client_setup();
	test_auth_file_path();
	test_refused();

	struct mock *m = mock_start("127.0.0.1", NULL);
	const char *const basic_args[] = {"--auth",	"basic",     "--user", "alice",
					  "--password", "s3cret-pw", NULL};
	const char *const bearer_args[] = {
	    "--auth",	"bearer",	   "--user",	  "bob", "--password",
	    "tok-pw-9", "--refresh-token", "refresh-abc", NULL};
	struct mock *mb = mock_start("127.0.0.1", basic_args);
	struct mock *mt = mock_start("127.0.0.1", bearer_args);
	if (!m || !mb || !mt) {
		printf("Bail out! mockreg.py did not start\n");
		return 99;
	}
	test_manifests(m);
	test_push(m);
	test_fetch_faults(m);
	test_threads(m);
	test_large(m);
	test_basic(mb);
	test_login(mb, "alice", "s3cret-pw");
	test_bearer(mt);
	test_login(mt, "bob", "tok-pw-9");
	test_tls();

	stop_mocks();
	curl_global_cleanup();
	return tap_done();
}
