/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Image references with Docker's grammar (github.com/distribution/reference):
 *
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [domain "/"] path            (at most 255 characters)
 *   domain     := host [":" port]   host := domain-name | IPv4 | "[" IPv6 "]"
 *   path       := component ("/" component)*   component := [a-z0-9]+ (sep [a-z0-9]+)*
 *   sep        := [_.] | "__" | "-"+
 *   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest     := "sha256:" 64 lowercase hex   (the only algorithm cairn stores)
 *
 * Normalization as ParseNormalizedNamed: the first component is a domain
 * when it contains '.' or ':', is "localhost", or has upper case letters;
 * otherwise the domain is docker.io ("index.docker.io" is folded into it)
 * and single-component docker.io paths get "library/".  "latest" is added
 * when neither tag nor digest is given.
 */
#include <ctype.h>

#include <cairn/image.h>

#include "oci-internal.h"

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DOMAIN "index.docker.io"
#define OFFICIAL_PREFIX "library/"
#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128

static bool is_alnum_lower(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_word(char c)
{
	return isalnum((unsigned char) c) || c == '_';
}

bool ref_is_hex(const char *s, size_t len)
{
	if (len != 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* One path component: [a-z0-9]+ ((?:[._]|__|[-]+)[a-z0-9]+)* */
static bool valid_component(const char *s, size_t len)
{
	size_t i = 0;
	if (len == 0 || !is_alnum_lower(s[0]))
		return false;
	while (i < len) {
		while (i < len && is_alnum_lower(s[i]))
			i++;
		if (i == len)
			return true;
		size_t sep = i;
		if (s[i] == '.' || s[i] == '_') {
			i++;
			if (s[sep] == '_' && i < len && s[i] == '_')
				i++;
		} else if (s[i] == '-') {
			while (i < len && s[i] == '-')
				i++;
		} else {
			return false;
		}
		if (i == len || !is_alnum_lower(s[i]))
			return false;
	}
	return true;
}

static bool valid_path(const char *s, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '/')
			continue;
		if (!valid_component(s + start, i - start))
			return false;
		start = i + 1;
	}
	return true;
}

/* domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool valid_domain_name(const char *s, size_t len)
{
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		size_t n = i - start;
		const char *c = s + start;
		if (n == 0 || !isalnum((unsigned char) c[0]) || !isalnum((unsigned char) c[n - 1]))
			return false;
		for (size_t k = 0; k < n; k++)
			if (!isalnum((unsigned char) c[k]) && c[k] != '-')
				return false;
		start = i + 1;
	}
	return true;
}

static bool valid_domain(const char *s, size_t len)
{
	size_t host_len = len;
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (!close || close == s + 1)
			return false;
		for (const char *p = s + 1; p < close; p++)
			if (!isxdigit((unsigned char) *p) && *p != ':')
				return false;
		host_len = (size_t) (close - s) + 1;
	} else {
		const char *colon = memchr(s, ':', len);
		if (colon)
			host_len = (size_t) (colon - s);
		if (!valid_domain_name(s, host_len))
			return false;
	}
	if (host_len == len)
		return true;
	if (s[host_len] != ':' || host_len + 1 == len)
		return false;
	for (size_t i = host_len + 1; i < len; i++)
		if (!isdigit((unsigned char) s[i]))
			return false;
	return true;
}

static bool valid_tag(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > TAG_MAX_LEN || !is_word(s[0]))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!is_word(s[i]) && s[i] != '.' && s[i] != '-')
			return false;
	return true;
}

static bool valid_digest(const char *s)
{
	return strncmp(s, "sha256:", 7) == 0 && ref_is_hex(s + 7, strlen(s + 7));
}

static int ref_fail(cairn_error **err, const char *input, const char *why)
{
	return cairn_error_set(err, CAIRN_E_FORMAT, "invalid reference format: \"%s\": %s", input,
			       why);
}

/* Splits the name into domain and path as splitDockerDomain does. */
static int split_domain(const char *name, char **ret_domain, char **ret_path)
{
	const char *slash = strchr(name, '/');
	_cleanup_free_ char *domain = NULL, *path = NULL;
	bool lower = true;
	for (const char *p = name; slash && p < slash; p++)
		if (isupper((unsigned char) *p))
			lower = false;
	if (!slash || (!memchr(name, '.', (size_t) (slash - name)) &&
		       !memchr(name, ':', (size_t) (slash - name)) &&
		       strncmp(name, "localhost/", 10) != 0 && lower)) {
		domain = strdup(DEFAULT_DOMAIN);
		path = strdup(name);
	} else {
		domain = strndup(name, (size_t) (slash - name));
		path = strdup(slash + 1);
	}
	if (!domain || !path)
		return -ENOMEM;
	if (strcmp(domain, LEGACY_DOMAIN) == 0) {
		free(domain);
		domain = strdup(DEFAULT_DOMAIN);
		if (!domain)
			return -ENOMEM;
	}
	if (strcmp(domain, DEFAULT_DOMAIN) == 0 && !strchr(path, '/')) {
		char *p = NULL;
		if (asprintf(&p, OFFICIAL_PREFIX "%s", path) < 0)
			return -ENOMEM;
		free(path);
		path = p;
	}
	*ret_domain = steal_pointer(&domain);
	*ret_path = steal_pointer(&path);
	return 0;
}

/* Separates "name[:tag][@digest]"; the parts point into s (modified). */
static void split_reference(char *s, char **ret_name, char **ret_tag, char **ret_digest)
{
	char *at = strchr(s, '@');
	char *digest = NULL, *tag = NULL;
	if (at) {
		*at = 0;
		digest = at + 1;
	}
	char *colon = strrchr(s, ':');
	char *slash = strrchr(s, '/');
	if (colon && (!slash || colon > slash)) {
		*colon = 0;
		tag = colon + 1;
	}
	*ret_name = s;
	*ret_tag = tag;
	*ret_digest = digest;
}

static int ref_check_name(const char *input, const char *domain, const char *path,
			  cairn_error **err)
{
	for (const char *p = path; *p; p++)
		if (isupper((unsigned char) *p))
			return ref_fail(err, input, "repository name must be lowercase");
	if (!valid_domain(domain, strlen(domain)))
		return ref_fail(err, input, "invalid registry domain");
	if (!valid_path(path, strlen(path)))
		return ref_fail(err, input, "invalid repository name");
	if (strlen(domain) + 1 + strlen(path) > NAME_MAX_LEN)
		return ref_fail(err, input, "repository name must not be more than 255 characters");
	return 0;
}

int cairn_ref_parse(const char *s, cairn_ref *ret, cairn_error **err)
{
	if (!s || !*s)
		return ref_fail(err, s ? s : "", "empty reference");
	if (ref_is_hex(s, strlen(s)))
		return ref_fail(err, s, "cannot specify 64-byte hexadecimal strings as a name");
	_cleanup_free_ char *copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	char *name, *tag, *digest;
	split_reference(copy, &name, &tag, &digest);
	if (!*name)
		return ref_fail(err, s, "empty repository name");
	if (tag && !valid_tag(tag))
		return ref_fail(err, s, "invalid tag");
	if (digest && !valid_digest(digest))
		return ref_fail(err, s, "invalid digest (want sha256:<64 lowercase hex>)");
	_cleanup_free_ char *domain = NULL, *path = NULL;
	int r = split_domain(name, &domain, &path);
	if (r < 0)
		return r;
	r = ref_check_name(s, domain, path, err);
	if (r < 0)
		return r;
	cairn_ref out = {0};
	out.tag = strdup(tag ? tag : (digest ? "" : "latest"));
	out.digest = digest ? strdup(digest) : NULL;
	if (!out.tag || (digest && !out.digest)) {
		cairn_ref_clear(&out);
		return -ENOMEM;
	}
	if (!*out.tag) {
		free(out.tag);
		out.tag = NULL;
	}
	out.domain = steal_pointer(&domain);
	out.path = steal_pointer(&path);
	*ret = out;
	return 0;
}

void cairn_ref_clear(cairn_ref *r)
{
	if (!r)
		return;
	free(r->domain);
	free(r->path);
	free(r->tag);
	free(r->digest);
	*r = (cairn_ref){0};
}

static char *ref_format(const char *repo, const cairn_ref *r)
{
	char *out = NULL;
	if (asprintf(&out, "%s%s%s%s%s", repo, r->tag ? ":" : "", r->tag ? r->tag : "",
		     r->digest ? "@" : "", r->digest ? r->digest : "") < 0)
		return NULL;
	return out;
}

char *cairn_ref_repository(const cairn_ref *r)
{
	char *out = NULL;
	if (asprintf(&out, "%s/%s", r->domain, r->path) < 0)
		return NULL;
	return out;
}

char *cairn_ref_string(const cairn_ref *r)
{
	_cleanup_free_ char *repo = cairn_ref_repository(r);
	return repo ? ref_format(repo, r) : NULL;
}

/* The familiar repository: docker.io/library/x -> x, docker.io/u/x -> u/x. */
static const char *familiar_path(const cairn_ref *r, bool *ret_has_domain)
{
	*ret_has_domain = strcmp(r->domain, DEFAULT_DOMAIN) != 0;
	if (*ret_has_domain)
		return r->path;
	const char *rest = r->path + strlen(OFFICIAL_PREFIX);
	if (strncmp(r->path, OFFICIAL_PREFIX, strlen(OFFICIAL_PREFIX)) == 0 && !strchr(rest, '/'))
		return rest;
	return r->path;
}

char *cairn_ref_familiar(const cairn_ref *r)
{
	bool has_domain;
	const char *path = familiar_path(r, &has_domain);
	if (has_domain)
		return cairn_ref_string(r);
	return ref_format(path, r);
}

int ref_parse_string(const char *s, char **ret_normalized, cairn_error **err)
{
	cairn_ref ref;
	int r = cairn_ref_parse(s, &ref, err);
	if (r < 0)
		return r;
	char *out = cairn_ref_string(&ref);
	cairn_ref_clear(&ref);
	if (!out)
		return -ENOMEM;
	*ret_normalized = out;
	return 0;
}
