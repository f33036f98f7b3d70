/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Registry authentication: WWW-Authenticate challenges, Basic credentials,
 * bearer tokens from the challenge's realm (cached per scope), the
 * credential lookup in auth files, and `cairn login` / `cairn logout`.
 *
 * Secrets (passwords, tokens) go into Authorization headers and the
 * auth file only: never into messages or debug output.
 */
#include <fcntl.h>
#include <pwd.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "registry-internal.h"

#define TOKEN_BODY_MAX (1u << 20)
#define TOKEN_DEFAULT_TTL 60 /* distribution's token spec */

/* ---- base64 --------------------------------------------------------------- */

char *reg_base64(const void *p, size_t n)
{
	if (n > INT_MAX / 2)
		return NULL;
	char *s = malloc(4 * ((n + 2) / 3) + 1);
	if (s)
		EVP_EncodeBlock((unsigned char *) s, p, (int) n);
	return s;
}

int reg_unbase64(const char *s, char **ret, size_t *ret_len)
{
	size_t n = 0, len = strlen(s);
	if (len > INT_MAX / 2)
		return -EINVAL;
	_cleanup_free_ char *in = malloc(len + 4);
	if (!in)
		return -ENOMEM;
	for (; *s; s++)
		if (!strchr(" \t\r\n", *s))
			in[n++] = *s;
	while (n % 4) /* tolerate missing padding */
		in[n++] = '=';
	in[n] = 0;
	char *out = malloc(n / 4 * 3 + 1);
	if (!out)
		return -ENOMEM;
	int m = EVP_DecodeBlock((unsigned char *) out, (unsigned char *) in, (int) n);
	if (m < 0) {
		free(out);
		return -EINVAL;
	}
	for (size_t i = n; i > 0 && in[i - 1] == '='; i--) /* DecodeBlock counts padding */
		m--;
	out[m] = 0;
	if (ret_len)
		*ret_len = (size_t) m;
	*ret = out;
	return 0;
}

/* ---- challenges ----------------------------------------------------------- */

void reg_challenge_clear(struct reg_challenge *ch)
{
	free(ch->scheme);
	free(ch->realm);
	free(ch->service);
	free(ch->scope);
	free(ch->error);
	*ch = (struct reg_challenge){0};
}

static bool is_tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* A parameter value at p (quoted-string or token); *ret malloc'd. */
static const char *parse_value(const char *p, char **ret)
{
	bytebuf b = {0};
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++) {
			if (*p == '\\' && p[1])
				p++;
			buf_append(&b, p, 1);
		}
		if (*p == '"')
			p++;
	} else {
		for (; *p && *p != ',' && *p != ' ' && *p != '\t'; p++)
			buf_append(&b, p, 1);
	}
	buf_append(&b, "", 1);
	*ret = (char *) b.data;
	return p;
}

static void set_param(struct reg_challenge *ch, const char *name, size_t n, char *value)
{
	char **f = NULL;
	if (n == 5 && strncasecmp(name, "realm", 5) == 0)
		f = &ch->realm;
	else if (n == 7 && strncasecmp(name, "service", 7) == 0)
		f = &ch->service;
	else if (n == 5 && strncasecmp(name, "scope", 5) == 0)
		f = &ch->scope;
	else if (n == 5 && strncasecmp(name, "error", 5) == 0)
		f = &ch->error;
	if (f) {
		free(*f);
		*f = value;
	} else {
		free(value);
	}
}

static bool is_scheme(const struct reg_challenge *ch, const char *s)
{
	return ch->scheme && strcasecmp(ch->scheme, s) == 0;
}

/* Keeps the better of the challenges seen so far: Bearer, then Basic. */
static void keep_best(struct reg_challenge *best, struct reg_challenge *cur)
{
	bool take = (is_scheme(cur, "Bearer") && !is_scheme(best, "Bearer")) ||
		    (is_scheme(cur, "Basic") && !best->scheme);
	if (take) {
		reg_challenge_clear(best);
		*best = *cur;
	} else {
		reg_challenge_clear(cur);
	}
	*cur = (struct reg_challenge){0};
}

int reg_parse_challenge(const char *header, struct reg_challenge *ret)
{
	struct reg_challenge best = {0}, cur = {0};
	const char *p = header ? header : "";
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		const char *t = p;
		while (is_tchar(*p))
			p++;
		size_t n = (size_t) (p - t);
		if (n == 0) { /* stray byte */
			p++;
			continue;
		}
		const char *q = skip_ws(p);
		if (*q == '=' && cur.scheme) { /* auth-param of the current challenge */
			char *v;
			p = parse_value(skip_ws(q + 1), &v);
			if (v)
				set_param(&cur, t, n, v);
			continue;
		}
		keep_best(&best, &cur); /* a new challenge starts */
		cur.scheme = strndup(t, n);
		p = q;
	}
	keep_best(&best, &cur);
	if (!best.scheme) {
		reg_challenge_clear(&best);
		return -EINVAL;
	}
	*ret = best;
	return 0;
}

static bool has_word(const char *list, const char *w, size_t n)
{
	for (const char *p = list; *p;) {
		size_t m = strcspn(p, " ");
		if (m == n && memcmp(p, w, n) == 0)
			return true;
		p += m + (p[m] == ' ');
	}
	return false;
}

/* "a b" + "b c" -> "a b c": scopes are space-separated. */
static char *scope_union(const char *a, const char *b)
{
	size_t cap = (a ? strlen(a) : 0) + (b ? strlen(b) : 0) + 2, len = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	out[0] = 0;
	const char *lists[] = {a ? a : "", b ? b : ""};
	for (size_t i = 0; i < 2; i++) {
		for (const char *p = lists[i]; *p;) {
			size_t n = strcspn(p, " ");
			if (n > 0 && !has_word(out, p, n)) {
				if (len)
					out[len++] = ' ';
				memcpy(out + len, p, n);
				out[len += n] = 0;
			}
			p += n + (p[n] == ' ');
		}
	}
	return out;
}

/* ---- tokens ------------------------------------------------------------------ */

static time_t now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static struct reg_token *token_find(reg_client *c, const char *key)
{
	for (size_t i = 0; i < c->n_tokens; i++)
		if (strcmp(c->tokens[i].scope, key) == 0)
			return &c->tokens[i];
	return NULL;
}

static int token_store(reg_client *c, const char *key, const char *value, long ttl)
{
	int r = 0;
	char *v = strdup(value), *k = NULL;
	pthread_mutex_lock(&c->lock);
	struct reg_token *t = token_find(c, key);
	if (!t && (k = strdup(key)) &&
	    ARRAY_RESERVE(c->tokens, c->cap_tokens, c->n_tokens + 1, 8) >= 0) {
		t = &c->tokens[c->n_tokens++];
		*t = (struct reg_token){.scope = steal_pointer(&k)};
	}
	if (t && v) {
		free(t->value);
		t->value = steal_pointer(&v);
		/* renew a little early: the clock started before the request */
		t->expires = now_mono() + MAX(ttl - 10, ttl / 2);
	} else {
		r = -ENOMEM;
	}
	pthread_mutex_unlock(&c->lock);
	free(k);
	free(v);
	return r;
}

static void token_drop(reg_client *c, const char *key)
{
	pthread_mutex_lock(&c->lock);
	struct reg_token *t = token_find(c, key);
	if (t)
		t->expires = 0;
	pthread_mutex_unlock(&c->lock);
}

static int append_param(bytebuf *b, const char *name, const char *value)
{
	char *e = curl_easy_escape(NULL, value, 0);
	if (!e)
		return -ENOMEM;
	int r = buf_append(b, b->len ? "&" : "", b->len ? 1 : 0);
	if (r >= 0)
		r = buf_append(b, name, strlen(name));
	if (r >= 0)
		r = buf_append(b, "=", 1);
	if (r >= 0)
		r = buf_append(b, e, strlen(e));
	curl_free(e);
	return r;
}

/* The query (GET) or form (POST, refresh token) of a token request. */
static char *token_params(reg_client *c, const char *service, const char *scopes)
{
	bytebuf b = {0};
	int r = 0;
	if (c->identity_token) {
		r = append_param(&b, "grant_type", "refresh_token");
		if (r >= 0)
			r = append_param(&b, "client_id", "cairn");
		if (r >= 0)
			r = append_param(&b, "refresh_token", c->identity_token);
	}
	if (r >= 0 && service && *service)
		r = append_param(&b, "service", service);
	if (c->identity_token) {
		if (r >= 0 && scopes && *scopes)
			r = append_param(&b, "scope", scopes); /* OAuth2: space-separated */
	} else {
		for (const char *p = scopes ? scopes : ""; *p && r >= 0;) {
			size_t n = strcspn(p, " ");
			_cleanup_free_ char *one = strndup(p, n);
			r = one ? (n ? append_param(&b, "scope", one) : 0) : -ENOMEM;
			p += n + (p[n] == ' ');
		}
	}
	if (r < 0 || buf_append(&b, "", 1) < 0) {
		buf_clear(&b);
		return NULL;
	}
	return (char *) b.data;
}

static char *basic_header(reg_client *c)
{
	_cleanup_free_ char *pair = NULL, *b64 = NULL;
	char *h = NULL;
	if (asprintf(&pair, "%s:%s", c->user, c->password ? c->password : "") < 0)
		return NULL;
	b64 = reg_base64(pair, strlen(pair));
	explicit_bzero(pair, strlen(pair));
	if (!b64 || asprintf(&h, "Authorization: Basic %s", b64) < 0)
		h = NULL;
	return h;
}

static int parse_token(reg_client *c, const struct reg_response *resp, char **ret, long *ret_ttl,
		       cairn_error **err)
{
	json_t *root = json_loadb((const char *) resp->body.data, resp->body.len, 0, NULL);
	const char *tok = json_string_value(json_object_get(root, "token"));
	if (!tok || !*tok)
		tok = json_string_value(json_object_get(root, "access_token"));
	json_t *exp = json_object_get(root, "expires_in");
	long ttl = json_is_integer(exp) ? (long) json_integer_value(exp) : TOKEN_DEFAULT_TTL;
	int r = 0;
	if (!tok || !*tok)
		r = cairn_error_set(err, CAIRN_E_REMOTE, "%s: the token server sent no token",
				    c->domain);
	else if (!(*ret = strdup(tok)))
		r = -ENOMEM;
	json_decref(root);
	*ret_ttl = ttl > 0 ? ttl : TOKEN_DEFAULT_TTL;
	return r;
}

/* A bearer token for scopes from realm: with Basic credentials (or the
 * identity token) when we have them, anonymously otherwise. */
static int fetch_token(reg_client *c, const char *realm, const char *service, const char *scopes,
		       char **ret, long *ret_ttl, cairn_error **err)
{
	_cleanup_free_ char *params = token_params(c, service, scopes);
	_cleanup_free_ char *url = NULL, *auth = NULL, *rhost = reg_url_host(realm);
	if (!params || !rhost)
		return cairn_error_set(err, params ? CAIRN_E_REMOTE : -ENOMEM,
				       "%s: bad token realm in the auth challenge", c->domain);
	struct reg_request req = {
	    .method = "GET", .no_auth = true, .retry = true, .max_body = TOKEN_BODY_MAX};
	if (c->identity_token) {
		req.method = "POST";
		req.post_fields = params;
		req.url = realm;
	} else {
		if (asprintf(&url, "%s%c%s", realm, strchr(realm, '?') ? '&' : '?', params) < 0)
			return -ENOMEM;
		req.url = url;
		if (c->user && !(auth = basic_header(c)))
			return -ENOMEM;
		req.auth_header = auth;
	}
	struct reg_response resp = {0};
	int r = reg_request_do(c, &req, &resp, err);
	if (r >= 0 && resp.status == 200) {
		r = parse_token(c, &resp, ret, ret_ttl, err);
	} else if (r >= 0) {
		_cleanup_free_ char *what = NULL;
		if (asprintf(&what, "%s: %s token from %s", c->domain,
			     c->user || c->identity_token ? "authenticated" : "anonymous",
			     rhost) < 0)
			what = NULL;
		r = reg_http_error(c, &resp, what ? what : c->domain, err);
	}
	if (auth)
		explicit_bzero(auth, strlen(auth));
	reg_response_clear(&resp);
	return r;
}

static char *bearer_header(const char *token)
{
	char *h = NULL;
	if (asprintf(&h, "Authorization: Bearer %s", token) < 0)
		return NULL;
	return h;
}

int reg_auth_header(reg_client *c, const char *scope, char **ret, cairn_error **err)
{
	const char *key = scope ? scope : "";
	*ret = NULL;
	pthread_mutex_lock(&c->lock);
	enum reg_auth_kind kind = c->auth_kind;
	if (kind == REG_AUTH_BEARER) {
		struct reg_token *t = token_find(c, key);
		if (t && t->expires > now_mono()) {
			*ret = bearer_header(t->value);
			pthread_mutex_unlock(&c->lock);
			return *ret ? 0 : -ENOMEM;
		}
	}
	_cleanup_free_ char *realm = kind == REG_AUTH_BEARER ? strdup(c->realm) : NULL;
	_cleanup_free_ char *service =
	    kind == REG_AUTH_BEARER && c->service ? strdup(c->service) : NULL;
	pthread_mutex_unlock(&c->lock);

	if (kind == REG_AUTH_BASIC && c->user)
		return (*ret = basic_header(c)) ? 0 : -ENOMEM;
	if (kind != REG_AUTH_BEARER)
		return 0; /* anonymous until challenged */
	if (!realm)
		return -ENOMEM;
	/* a bearer registry: fetch the token now rather than after a 401 */
	_cleanup_free_ char *tok = NULL;
	long ttl;
	int r = fetch_token(c, realm, service, key, &tok, &ttl, err);
	if (r < 0)
		return r;
	r = token_store(c, key, tok, ttl);
	if (r >= 0 && !(*ret = bearer_header(tok)))
		r = -ENOMEM;
	explicit_bzero(tok, strlen(tok));
	return r;
}

int reg_auth_challenge(reg_client *c, const char *scope, const char *www_auth, bool sent_auth,
		       cairn_error **err)
{
	const char *key = scope ? scope : "";
	struct reg_challenge ch = {0};
	if (reg_parse_challenge(www_auth, &ch) < 0)
		return 0;
	if (is_scheme(&ch, "Basic")) {
		reg_challenge_clear(&ch);
		if (!c->user)
			return 0;
		pthread_mutex_lock(&c->lock);
		bool known = c->auth_kind == REG_AUTH_BASIC;
		c->auth_kind = REG_AUTH_BASIC;
		pthread_mutex_unlock(&c->lock);
		return known && sent_auth ? 0 : 1; /* sent and refused: wrong credentials */
	}
	if (!ch.realm || !*ch.realm) {
		reg_challenge_clear(&ch);
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	c->auth_kind = REG_AUTH_BEARER;
	free(c->realm);
	free(c->service);
	c->realm = strdup(ch.realm);
	c->service = ch.service ? strdup(ch.service) : NULL;
	pthread_mutex_unlock(&c->lock);
	token_drop(c, key); /* refused or expired: fetch a new one */

	/* what the registry asks for, plus what we know we need (mounts) */
	_cleanup_free_ char *scopes = scope_union(ch.scope, scope);
	_cleanup_free_ char *tok = NULL;
	long ttl;
	int r = scopes ? fetch_token(c, ch.realm, ch.service, scopes, &tok, &ttl, err) : -ENOMEM;
	reg_challenge_clear(&ch);
	if (r < 0)
		return r;
	r = token_store(c, key, tok, ttl);
	explicit_bzero(tok, strlen(tok));
	return r < 0 ? r : 1;
}

/* ---- credentials ------------------------------------------------------------ */

static const char *home_dir(void)
{
	const char *h = getenv("HOME");
	if (h && *h)
		return h;
	struct passwd *pw = getpwuid(getuid());
	return pw ? pw->pw_dir : "/";
}

char *reg_auth_file_path(const struct reg_options *opts)
{
	char *p = NULL;
	const char *env = getenv("REGISTRY_AUTH_FILE"), *xdg = getenv("XDG_CONFIG_HOME");
	if (opts && opts->auth_file)
		return strdup(opts->auth_file);
	if (env && *env)
		return strdup(env);
	if (xdg && xdg[0] == '/')
		return asprintf(&p, "%s/cairn/auth.json", xdg) < 0 ? NULL : p;
	return asprintf(&p, "%s/.config/cairn/auth.json", home_dir()) < 0 ? NULL : p;
}

/* The keys Docker Hub's credentials go by. */
static const char *const docker_hub[] = {"docker.io", "index.docker.io", "registry-1.docker.io",
					 NULL};

static const char *strip_scheme(const char *k)
{
	if (strncasecmp(k, "https://", 8) == 0)
		return k + 8;
	if (strncasecmp(k, "http://", 7) == 0)
		return k + 7;
	return k;
}

/* key names host: "host", "https://host[/]", or (prefix) "host/path". */
static bool key_matches(const char *key, const char *host, bool prefix)
{
	const char *k = strip_scheme(key);
	size_t n = strlen(host);
	if (strncasecmp(k, host, n) != 0)
		return false;
	if (k[n] == 0 || (k[n] == '/' && k[n + 1] == 0))
		return true;
	return prefix && k[n] == '/';
}

static json_t *find_entry(json_t *auths, const char *domain)
{
	const char *const self[] = {domain, NULL};
	const char *const *hosts = strcmp(domain, "docker.io") == 0 ? docker_hub : self;
	for (int prefix = 0; prefix < 2; prefix++) {
		for (const char *const *h = hosts; *h; h++) {
			const char *key;
			json_t *v;
			json_object_foreach(auths, key, v)
			{
				if (json_is_object(v) && key_matches(key, *h, prefix))
					return v;
			}
		}
	}
	return NULL;
}

static int set_user_password(reg_client *c, const char *pair, size_t len)
{
	const char *colon = memchr(pair, ':', len);
	size_t ulen = colon ? (size_t) (colon - pair) : len;
	c->user = strndup(pair, ulen);
	c->password = colon ? strndup(colon + 1, len - ulen - 1) : strdup("");
	return c->user && c->password ? 0 : -ENOMEM;
}

/* 1 when entry held usable credentials (now in c). */
static int creds_from_entry(reg_client *c, json_t *entry)
{
	const char *auth = json_string_value(json_object_get(entry, "auth"));
	const char *user = json_string_value(json_object_get(entry, "username"));
	const char *pass = json_string_value(json_object_get(entry, "password"));
	const char *idt = json_string_value(json_object_get(entry, "identitytoken"));
	int r = 0;
	if (idt && *idt) {
		if (!(c->identity_token = strdup(idt)))
			return -ENOMEM;
		r = 1;
	}
	if (auth && *auth) {
		_cleanup_free_ char *pair = NULL;
		size_t len;
		if (reg_unbase64(auth, &pair, &len) < 0 || len == 0)
			return r;
		int q = set_user_password(c, pair, len);
		explicit_bzero(pair, len);
		return q < 0 ? q : 1;
	}
	if (user && *user) {
		c->user = strdup(user);
		c->password = strdup(pass ? pass : "");
		return c->user && c->password ? 1 : -ENOMEM;
	}
	return r;
}

/* 1 when path has an entry for the registry.  A missing file is no entry;
 * a broken one an error when the user named it, skipped otherwise. */
static int creds_from_file(reg_client *c, const char *path, bool named, cairn_error **err)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	if (!root) {
		if (access(path, F_OK) < 0 || !named)
			return 0;
		return cairn_error_set(err, CAIRN_E_FORMAT, "%s:%d: %s", path, je.line, je.text);
	}
	json_t *entry = find_entry(json_object_get(root, "auths"), c->domain);
	int r = entry ? creds_from_entry(c, entry) : 0;
	json_decref(root);
	if (r < 0)
		return cairn_error_set(err, r, "%s: %s", path, strerror(-r));
	return r;
}

int reg_load_credentials(reg_client *c, const struct reg_options *opts, cairn_error **err)
{
	if (opts->creds) {
		if (!opts->creds[0] || opts->creds[0] == ':')
			return cairn_error_set(err, CAIRN_E_FORMAT, "--creds: empty user name");
		int r = set_user_password(c, opts->creds, strlen(opts->creds));
		return r < 0 ? cairn_error_set(err, r, "%s: out of memory", c->domain) : 0;
	}
	const char *home = home_dir(), *env;
	char *paths[6] = {NULL};
	bool named[6] = {true, true};
	if (opts->auth_file)
		paths[0] = strdup(opts->auth_file);
	if ((env = getenv("REGISTRY_AUTH_FILE")) && *env)
		paths[1] = strdup(env);
	paths[2] = reg_auth_file_path(opts);
	if ((env = getenv("XDG_RUNTIME_DIR")) && *env &&
	    asprintf(&paths[3], "%s/containers/auth.json", env) < 0)
		paths[3] = NULL;
	env = getenv("XDG_CONFIG_HOME");
	if (asprintf(&paths[4], "%s%s/containers/auth.json", env && *env == '/' ? env : home,
		     env && *env == '/' ? "" : "/.config") < 0)
		paths[4] = NULL;
	env = getenv("DOCKER_CONFIG");
	if (asprintf(&paths[5], "%s%s/config.json", env && *env ? env : home,
		     env && *env ? "" : "/.docker") < 0)
		paths[5] = NULL;
	int r = 0;
	for (size_t i = 0; i < ARRAY_SIZE(paths) && r == 0; i++)
		if (paths[i])
			r = creds_from_file(c, paths[i], named[i], err);
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
		free(paths[i]);
	return r < 0 ? r : 0;
}

/* ---- login / logout -------------------------------------------------------- */

/* path's JSON, or an empty object when it does not exist. */
static int load_auth_file(const char *path, json_t **ret, cairn_error **err)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je);
	if (!root && access(path, F_OK) < 0 && errno == ENOENT)
		root = json_object();
	else if (!root)
		return cairn_error_set(err, CAIRN_E_FORMAT, "%s:%d: %s", path, je.line, je.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return cairn_error_set(err, CAIRN_E_FORMAT, "%s: not a JSON object", path);
	}
	*ret = root;
	return 0;
}

/* Writes root to path: 0600, parent 0700, temporary file and rename. */
static int store_auth_file(const char *path, json_t *root, cairn_error **err)
{
	_cleanup_free_ char *dir = strdup(path), *tmp = NULL;
	_cleanup_free_ char *text = json_dumps(root, JSON_INDENT(1));
	if (!dir || !text || asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return cairn_error_set(err, -ENOMEM, "%s: out of memory", path);
	char *slash = strrchr(dir, '/');
	int r = 0;
	if (slash && slash != dir) {
		*slash = 0;
		r = mkdir_p(dir, 0700);
		if (r < 0)
			return cairn_error_set(err, r, "%s: %s", dir, strerror(-r));
	}
	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
	if (fd < 0)
		return cairn_error_set(err, -errno, "%s: %s", tmp, strerror(errno));
	size_t len = strlen(text);
	r = write_all(fd, text, len);
	if (r >= 0)
		r = write_all(fd, "\n", 1);
	if (r >= 0 && (fchmod(fd, 0600) < 0 || fsync(fd) < 0))
		r = -errno;
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	explicit_bzero(text, len);
	if (r < 0) {
		unlink(tmp);
		return cairn_error_set(err, r, "%s: %s", path, strerror(-r));
	}
	return 0;
}

/* GET /v2/ answering the challenge with the client's credentials. */
static int check_login(reg_client *c, const char *user, cairn_error **err)
{
	struct reg_request req = {.method = "GET", .url = "/v2/", .retry = true};
	struct reg_response resp = {0};
	int r = reg_request_do(c, &req, &resp, err);
	if (r >= 0 && (resp.status == 401 || resp.status == 403))
		r = cairn_error_set(err, CAIRN_E_AUTH, "%s: login as \"%s\" refused: %s", c->domain,
				    user, resp.status == 401 ? "unauthorized" : "denied");
	else if (r >= 0 && resp.status != 200)
		r = reg_http_error(c, &resp, c->domain, err);
	reg_response_clear(&resp);
	return r;
}

int reg_login(const char *domain, const char *user, const char *password,
	      const struct reg_options *opts, cairn_error **err)
{
	static const struct reg_options no_options;
	if (!user || !*user || strchr(user, ':'))
		return cairn_error_set(err, CAIRN_E_FORMAT, "%s: invalid user name", domain);
	struct reg_options o = opts ? *opts : no_options;
	_cleanup_free_ char *creds = NULL, *b64 = NULL, *path = reg_auth_file_path(opts);
	if (!path || asprintf(&creds, "%s:%s", user, password ? password : "") < 0)
		return cairn_error_set(err, -ENOMEM, "%s: out of memory", domain);
	o.creds = creds;
	reg_client *c = NULL;
	int r = reg_client_new(domain, &o, &c, err);
	if (r >= 0)
		r = check_login(c, user, err);
	reg_client_free(c);
	b64 = r >= 0 ? reg_base64(creds, strlen(creds)) : NULL;
	explicit_bzero(creds, strlen(creds));
	if (r < 0)
		return r;
	if (!b64)
		return cairn_error_set(err, -ENOMEM, "%s: out of memory", domain);

	json_t *root = NULL;
	r = load_auth_file(path, &root, err);
	if (r < 0)
		return r;
	json_t *auths = json_object_get(root, "auths");
	if (!json_is_object(auths)) {
		auths = json_object();
		json_object_set_new(root, "auths", auths);
	}
	json_object_set_new(auths, domain, json_pack("{s:s}", "auth", b64));
	explicit_bzero(b64, strlen(b64));
	r = store_auth_file(path, root, err);
	json_decref(root);
	return r;
}

int reg_logout(const char *domain, const struct reg_options *opts, cairn_error **err)
{
	_cleanup_free_ char *path = reg_auth_file_path(opts);
	if (!path)
		return cairn_error_set(err, -ENOMEM, "%s: out of memory", domain);
	json_t *root = NULL;
	int r = load_auth_file(path, &root, err);
	if (r < 0)
		return r;
	json_t *auths = json_object_get(root, "auths");
	const char *const self[] = {domain, NULL};
	const char *const *hosts = strcmp(domain, "docker.io") == 0 ? docker_hub : self;
	const char *key;
	json_t *v;
	void *tmp;
	int removed = 0;
	json_object_foreach_safe(auths, tmp, key, v)
	{
		for (const char *const *h = hosts; *h; h++)
			if (key_matches(key, *h, false) ||
			    (hosts == docker_hub &&
			     strcmp(key, "https://index.docker.io/v1/") == 0)) {
				json_object_del(auths, key);
				removed++;
				break;
			}
	}
	if (removed == 0)
		r = cairn_error_set(err, CAIRN_E_NOTFOUND, "%s: not logged in (no entry in %s)",
				    domain, path);
	else
		r = store_auth_file(path, root, err);
	json_decref(root);
	return r;
}
