/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OCI image spec 1.1 and Docker v2 schema 2 documents: the media type
 * table, and parsers with validation for oci-layout, image indexes
 * (manifest lists), manifests, image configs and Docker archives'
 * manifest.json.  These read untrusted bytes (fuzzed by
 * tests/fuzz/fuzz-oci.c and fuzz-docker.c): every field is checked for its
 * JSON type before use and every failure is a one-line message naming the
 * document and the member ("index.json: manifests[1].size: not a
 * non-negative integer").
 */
#include <time.h>

#include <cairn/image.h>

#include "oci-internal.h"

static const struct oci_media media_table[] = {
    {MT_OCI_INDEX, OCI_K_INDEX, CAIRN_COMPRESS_NONE},
    {MT_DOCKER_LIST, OCI_K_INDEX, CAIRN_COMPRESS_NONE},
    {MT_OCI_MANIFEST, OCI_K_MANIFEST, CAIRN_COMPRESS_NONE},
    {MT_DOCKER_MANIFEST, OCI_K_MANIFEST, CAIRN_COMPRESS_NONE},
    {MT_OCI_CONFIG, OCI_K_CONFIG, CAIRN_COMPRESS_NONE},
    {MT_DOCKER_CONFIG, OCI_K_CONFIG, CAIRN_COMPRESS_NONE},
    {MT_OCI_LAYER, OCI_K_LAYER, CAIRN_COMPRESS_NONE},
    {MT_OCI_LAYER_GZIP, OCI_K_LAYER, CAIRN_COMPRESS_GZIP},
    {MT_OCI_LAYER_ZSTD, OCI_K_LAYER, CAIRN_COMPRESS_ZSTD},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", OCI_K_LAYER, CAIRN_COMPRESS_NONE},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", OCI_K_LAYER,
     CAIRN_COMPRESS_GZIP},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", OCI_K_LAYER,
     CAIRN_COMPRESS_ZSTD},
    {MT_DOCKER_LAYER_GZIP, OCI_K_LAYER, CAIRN_COMPRESS_GZIP},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", OCI_K_LAYER, CAIRN_COMPRESS_GZIP},
    {"application/vnd.docker.image.rootfs.diff.tar", OCI_K_LAYER, CAIRN_COMPRESS_NONE},
    {"application/vnd.docker.image.rootfs.diff.tar.zstd", OCI_K_LAYER, CAIRN_COMPRESS_ZSTD},
};

const struct oci_media *oci_media_lookup(const char *type)
{
	if (!type)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(media_table); i++)
		if (strcmp(media_table[i].type, type) == 0)
			return &media_table[i];
	return NULL;
}

oci_kind oci_media_kind(const char *type)
{
	const struct oci_media *m = oci_media_lookup(type);
	return m ? m->kind : OCI_K_UNKNOWN;
}

const char *oci_layer_media_type(cairn_compression c)
{
	switch (c) {
	case CAIRN_COMPRESS_GZIP:
		return MT_OCI_LAYER_GZIP;
	case CAIRN_COMPRESS_ZSTD:
		return MT_OCI_LAYER_ZSTD;
	default:
		return MT_OCI_LAYER;
	}
}

/* ---- small helpers ------------------------------------------------------- */

static int bad(cairn_error **err, const char *name, const char *path, const char *why)
{
	return cairn_error_set(err, CAIRN_E_FORMAT, "%s: %s%s%s", name, path, *path ? ": " : "",
			       why);
}

int oci_json_parse(const void *data, size_t len, const char *name, json_t **ret, cairn_error **err)
{
	json_error_t je;
	json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return cairn_error_set(err, CAIRN_E_FORMAT, "%s: line %d: %s", name, je.line,
				       je.text);
	*ret = j;
	return 0;
}

int oci_json_dump(const json_t *j, char **ret_buf, size_t *ret_len)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!s)
		return -ENOMEM;
	*ret_len = strlen(s);
	*ret_buf = s;
	return 0;
}

/* Optional string member: NULL when absent, error when not a string. */
static int get_str(json_t *obj, const char *key, const char *name, const char *path, bool required,
		   char **ret, cairn_error **err)
{
	json_t *v = json_object_get(obj, key);
	char where[256];
	snprintf(where, sizeof(where), "%s%s%s", path, *path ? "." : "", key);
	if (!v || json_is_null(v)) {
		if (required)
			return bad(err, name, where, "missing");
		*ret = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return bad(err, name, where, "not a string");
	char *s = strdup(json_string_value(v));
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

static int get_digest(json_t *v, const char *name, const char *where, cairn_digest *ret,
		      cairn_error **err)
{
	if (!v)
		return bad(err, name, where, "missing");
	if (!json_is_string(v))
		return bad(err, name, where, "not a string");
	const char *s = json_string_value(v);
	const char *colon = strchr(s, ':');
	if (colon && (colon - s != 6 || strncmp(s, "sha256", 6) != 0))
		return cairn_error_set(err, CAIRN_E_FORMAT,
				       "%s: %s: unsupported digest algorithm in \"%.80s\"", name,
				       where, s);
	if (!colon || !ref_is_hex(colon + 1, strlen(colon + 1)) ||
	    cairn_digest_parse(s, false, ret) < 0)
		return cairn_error_set(err, CAIRN_E_FORMAT, "%s: %s: invalid digest \"%.80s\"",
				       name, where, s);
	return 0;
}

static int get_platform(json_t *v, const char *name, const char *where, oci_platform *ret,
			cairn_error **err)
{
	if (!json_is_object(v))
		return bad(err, name, where, "not an object");
	oci_platform p = {0};
	int r = get_str(v, "os", name, where, true, &p.os, err);
	if (r >= 0)
		r = get_str(v, "architecture", name, where, true, &p.arch, err);
	if (r >= 0)
		r = get_str(v, "variant", name, where, false, &p.variant, err);
	if (r < 0) {
		oci_platform_clear(&p);
		return r;
	}
	*ret = p;
	return 0;
}

static int get_desc(json_t *v, const char *name, const char *where, oci_desc *ret,
		    cairn_error **err)
{
	char sub[256];
	if (!json_is_object(v))
		return bad(err, name, where, "not an object");
	oci_desc d = {0};
	int r = get_str(v, "mediaType", name, where, true, &d.media_type, err);
	snprintf(sub, sizeof(sub), "%s.digest", where);
	if (r >= 0)
		r = get_digest(json_object_get(v, "digest"), name, sub, &d.digest, err);
	json_t *size = json_object_get(v, "size");
	snprintf(sub, sizeof(sub), "%s.size", where);
	if (r >= 0 && (!json_is_integer(size) || json_integer_value(size) < 0))
		r = bad(err, name, sub, size ? "not a non-negative integer" : "missing");
	if (r >= 0)
		d.size = (uint64_t) json_integer_value(size);
	json_t *plat = json_object_get(v, "platform");
	snprintf(sub, sizeof(sub), "%s.platform", where);
	if (r >= 0 && plat && !json_is_null(plat)) {
		r = get_platform(plat, name, sub, &d.platform, err);
		d.has_platform = r >= 0;
	}
	json_t *ann = json_object_get(v, "annotations");
	snprintf(sub, sizeof(sub), "%s.annotations", where);
	if (r >= 0 && ann && !json_is_null(ann)) {
		const char *k;
		json_t *a;
		if (!json_is_object(ann))
			r = bad(err, name, sub, "not an object");
		json_object_foreach(ann, k, a)
		{
			if (r >= 0 && !json_is_string(a))
				r = bad(err, name, sub, "values must be strings");
		}
		if (r >= 0)
			d.annotations = json_incref(ann);
	}
	if (r < 0) {
		oci_desc_clear(&d);
		return r;
	}
	*ret = d;
	return 0;
}

static int get_desc_array(json_t *obj, const char *key, const char *name, bool required,
			  oci_desc **ret, size_t *ret_n, cairn_error **err)
{
	json_t *arr = json_object_get(obj, key);
	if (!arr || json_is_null(arr)) {
		if (required)
			return bad(err, name, key, "missing");
		*ret = NULL;
		*ret_n = 0;
		return 0;
	}
	if (!json_is_array(arr))
		return bad(err, name, key, "not an array");
	size_t n = json_array_size(arr);
	oci_desc *d = calloc(n ? n : 1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char where[64];
		snprintf(where, sizeof(where), "%s[%zu]", key, i);
		int r = get_desc(json_array_get(arr, i), name, where, &d[i], err);
		if (r < 0) {
			for (size_t k = 0; k < i; k++)
				oci_desc_clear(&d[k]);
			free(d);
			return r;
		}
	}
	*ret = d;
	*ret_n = n;
	return 0;
}

static int check_schema(json_t *j, const char *name, cairn_error **err)
{
	json_t *v = json_object_get(j, "schemaVersion");
	if (!v)
		return bad(err, name, "schemaVersion", "missing");
	if (!json_is_integer(v) || json_integer_value(v) != 2)
		return bad(err, name, "schemaVersion", "must be 2");
	return 0;
}

static int parse_object(const void *data, size_t len, const char *name, json_t **ret,
			cairn_error **err)
{
	json_t *j;
	int r = oci_json_parse(data, len, name, &j, err);
	if (r < 0)
		return r;
	if (!json_is_object(j)) {
		json_decref(j);
		return bad(err, name, "", "not a JSON object");
	}
	*ret = j;
	return 0;
}

/* ---- documents ------------------------------------------------------------ */

int oci_layout_check(const void *data, size_t len, const char *name, cairn_error **err)
{
	_cleanup_json_ json_t *j = NULL;
	int r = parse_object(data, len, name, &j, err);
	if (r < 0)
		return r;
	json_t *v = json_object_get(j, "imageLayoutVersion");
	if (!json_is_string(v))
		return bad(err, name, "imageLayoutVersion", v ? "not a string" : "missing");
	if (strcmp(json_string_value(v), MT_OCI_LAYOUT_VERSION) != 0)
		return cairn_error_set(err, CAIRN_E_FORMAT,
				       "%s: unsupported imageLayoutVersion \"%.40s\" (want %s)",
				       name, json_string_value(v), MT_OCI_LAYOUT_VERSION);
	return 0;
}

int oci_index_parse(const void *data, size_t len, const char *name, oci_index *ret,
		    cairn_error **err)
{
	_cleanup_json_ json_t *j = NULL;
	int r = parse_object(data, len, name, &j, err);
	if (r < 0)
		return r;
	r = check_schema(j, name, err);
	if (r < 0)
		return r;
	oci_index x = {0};
	r = get_str(j, "mediaType", name, "", false, &x.media_type, err);
	if (r >= 0 && x.media_type && oci_media_kind(x.media_type) != OCI_K_INDEX)
		r = cairn_error_set(err, CAIRN_E_FORMAT, "%s: mediaType \"%.100s\" is not an index",
				    name, x.media_type);
	if (r >= 0)
		r = get_desc_array(j, "manifests", name, true, &x.manifests, &x.n, err);
	if (r < 0) {
		oci_index_clear(&x);
		return r;
	}
	*ret = x;
	return 0;
}

int oci_manifest_parse(const void *data, size_t len, const char *name, oci_manifest *ret,
		       cairn_error **err)
{
	_cleanup_json_ json_t *j = NULL;
	int r = parse_object(data, len, name, &j, err);
	if (r < 0)
		return r;
	r = check_schema(j, name, err);
	if (r < 0)
		return r;
	oci_manifest m = {0};
	r = get_str(j, "mediaType", name, "", false, &m.media_type, err);
	if (r >= 0 && m.media_type && oci_media_kind(m.media_type) != OCI_K_MANIFEST)
		r = cairn_error_set(err, CAIRN_E_FORMAT,
				    "%s: mediaType \"%.100s\" is not an image manifest", name,
				    m.media_type);
	if (r >= 0)
		r = get_desc(json_object_get(j, "config"), name, "config", &m.config, err);
	if (r >= 0)
		r = get_desc_array(j, "layers", name, true, &m.layers, &m.n_layers, err);
	if (r < 0) {
		oci_manifest_clear(&m);
		return r;
	}
	*ret = m;
	return 0;
}

static int config_diff_ids(json_t *j, const char *name, oci_config *c, cairn_error **err)
{
	json_t *rootfs = json_object_get(j, "rootfs");
	if (!json_is_object(rootfs))
		return bad(err, name, "rootfs", rootfs ? "not an object" : "missing");
	json_t *type = json_object_get(rootfs, "type");
	if (!json_is_string(type) || strcmp(json_string_value(type), "layers") != 0)
		return bad(err, name, "rootfs.type", "must be \"layers\"");
	json_t *ids = json_object_get(rootfs, "diff_ids");
	if (!ids || json_is_null(ids))
		return 0;
	if (!json_is_array(ids))
		return bad(err, name, "rootfs.diff_ids", "not an array");
	size_t n = json_array_size(ids);
	c->diff_ids = calloc(n ? n : 1, sizeof(*c->diff_ids));
	if (!c->diff_ids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char where[64];
		snprintf(where, sizeof(where), "rootfs.diff_ids[%zu]", i);
		int r = get_digest(json_array_get(ids, i), name, where, &c->diff_ids[i], err);
		if (r < 0)
			return r;
	}
	c->n_diff_ids = n;
	return 0;
}

int oci_config_parse(const void *data, size_t len, const char *name, oci_config *ret,
		     cairn_error **err)
{
	_cleanup_json_ json_t *j = NULL;
	int r = parse_object(data, len, name, &j, err);
	if (r < 0)
		return r;
	oci_config c = {0};
	r = get_str(j, "os", name, "", false, &c.platform.os, err);
	if (r >= 0)
		r = get_str(j, "architecture", name, "", false, &c.platform.arch, err);
	if (r >= 0)
		r = get_str(j, "variant", name, "", false, &c.platform.variant, err);
	json_t *created = json_object_get(j, "created");
	if (r >= 0 && created && !json_is_null(created)) {
		if (!json_is_string(created) ||
		    oci_time_parse(json_string_value(created), &c.created) < 0)
			r = bad(err, name, "created", "not an RFC 3339 time");
	}
	if (r >= 0)
		r = config_diff_ids(j, name, &c, err);
	if (r < 0) {
		oci_config_clear(&c);
		return r;
	}
	*ret = c;
	return 0;
}

static int get_str_array(json_t *v, const char *name, const char *where, char ***ret, size_t *ret_n,
			 cairn_error **err)
{
	*ret = NULL;
	*ret_n = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return bad(err, name, where, "not an array");
	size_t n = json_array_size(v);
	char **out = calloc(n + 1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *s = json_array_get(v, i);
		if (!json_is_string(s) || !(out[i] = strdup(json_string_value(s)))) {
			for (size_t k = 0; k < i; k++)
				free(out[k]);
			free(out);
			return json_is_string(s) ? -ENOMEM : bad(err, name, where, "not strings");
		}
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

static void docker_image_clear(docker_image *d)
{
	free(d->config);
	for (size_t i = 0; i < d->n_tags; i++)
		free(d->tags[i]);
	free(d->tags);
	for (size_t i = 0; i < d->n_layers; i++)
		free(d->layers[i]);
	free(d->layers);
	*d = (docker_image){0};
}

static int docker_image_parse(json_t *v, const char *name, size_t idx, docker_image *ret,
			      cairn_error **err)
{
	char where[64], sub[80];
	snprintf(where, sizeof(where), "[%zu]", idx);
	if (!json_is_object(v))
		return bad(err, name, where, "not an object");
	docker_image d = {0};
	int r = get_str(v, "Config", name, where, true, &d.config, err);
	snprintf(sub, sizeof(sub), "%s.RepoTags", where);
	if (r >= 0)
		r = get_str_array(json_object_get(v, "RepoTags"), name, sub, &d.tags, &d.n_tags,
				  err);
	snprintf(sub, sizeof(sub), "%s.Layers", where);
	json_t *layers = json_object_get(v, "Layers");
	if (r >= 0 && !layers)
		r = bad(err, name, sub, "missing");
	if (r >= 0)
		r = get_str_array(layers, name, sub, &d.layers, &d.n_layers, err);
	if (r < 0) {
		docker_image_clear(&d);
		return r;
	}
	*ret = d;
	return 0;
}

int docker_manifest_parse(const void *data, size_t len, const char *name, docker_manifest *ret,
			  cairn_error **err)
{
	_cleanup_json_ json_t *j = NULL;
	int r = oci_json_parse(data, len, name, &j, err);
	if (r < 0)
		return r;
	if (!json_is_array(j))
		return bad(err, name, "", "not a JSON array");
	docker_manifest m = {0};
	size_t n = json_array_size(j);
	m.images = calloc(n ? n : 1, sizeof(*m.images));
	if (!m.images)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		r = docker_image_parse(json_array_get(j, i), name, i, &m.images[i], err);
		if (r < 0) {
			docker_manifest_clear(&m);
			return r;
		}
		m.n = i + 1;
	}
	*ret = m;
	return 0;
}

oci_kind oci_json_sniff(const void *data, size_t len)
{
	json_t *j = json_loadb(data, len, 0, NULL);
	oci_kind k = OCI_K_UNKNOWN;
	if (!json_is_object(j)) {
		json_decref(j);
		return k;
	}
	json_t *mt = json_object_get(j, "mediaType");
	if (json_is_string(mt))
		k = oci_media_kind(json_string_value(mt));
	if (k == OCI_K_UNKNOWN && json_object_get(j, "manifests"))
		k = OCI_K_INDEX;
	else if (k == OCI_K_UNKNOWN && json_object_get(j, "config") && json_object_get(j, "layers"))
		k = OCI_K_MANIFEST;
	json_decref(j);
	return k;
}

/* ---- clearing -------------------------------------------------------------- */

void oci_platform_clear(oci_platform *p)
{
	free(p->os);
	free(p->arch);
	free(p->variant);
	*p = (oci_platform){0};
}

void oci_desc_clear(oci_desc *d)
{
	free(d->media_type);
	oci_platform_clear(&d->platform);
	if (d->annotations)
		json_decref(d->annotations);
	*d = (oci_desc){0};
}

void oci_index_clear(oci_index *x)
{
	for (size_t i = 0; i < x->n; i++)
		oci_desc_clear(&x->manifests[i]);
	free(x->manifests);
	free(x->media_type);
	*x = (oci_index){0};
}

void oci_manifest_clear(oci_manifest *m)
{
	oci_desc_clear(&m->config);
	for (size_t i = 0; i < m->n_layers; i++)
		oci_desc_clear(&m->layers[i]);
	free(m->layers);
	free(m->media_type);
	*m = (oci_manifest){0};
}

void oci_config_clear(oci_config *c)
{
	oci_platform_clear(&c->platform);
	free(c->diff_ids);
	*c = (oci_config){0};
}

void docker_manifest_clear(docker_manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		docker_image_clear(&m->images[i]);
	free(m->images);
	*m = (docker_manifest){0};
}

const char *oci_desc_annotation(const oci_desc *d, const char *key)
{
	if (!d->annotations)
		return NULL;
	json_t *v = json_object_get(d->annotations, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

json_t *oci_desc_json(const char *media_type, const cairn_digest *d, uint64_t size)
{
	_cleanup_free_ char *digest = cairn_digest_string(d);
	if (!digest)
		return NULL;
	return json_pack("{s:s, s:s, s:I}", "mediaType", media_type, "digest", digest, "size",
			 (json_int_t) size);
}

int64_t oci_created_time(void)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	if (sde && *sde) {
		char *end;
		long long v = strtoll(sde, &end, 10);
		if (!*end && v >= 0)
			return v;
	}
	return (int64_t) time(NULL);
}
