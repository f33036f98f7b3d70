/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Store records of the image layer.
 *
 * CAIRN_T_BLOBS   key: sha256 (32 bytes)
 *                 value: u8 version (1) | content id (16 bytes) | varint size
 *                 The content holds the verbatim bytes (configs, manifests,
 *                 indexes, original layer blobs of loaded images).
 *
 * CAIRN_T_DIFFS   key: diff_id (32 bytes, sha256 of the uncompressed tar)
 *                 value: JSON object
 *                   {"layer":"<32 hex layer id>","size":<tar bytes>,
 *                    "source":"canonical" | "sha256:<blob>" | "tar-split",
 *                    "compression":"gzip"|"zstd"|"none"   (blob sources),
 *                    "split":"<32 hex content id>"        (tar-split sources),
 *                    "gzip":{"digest":"sha256:..","size":N},  (cached, optional)
 *                    "zstd":{"digest":"sha256:..","size":N}}  (cached, optional)
 *                 "canonical": cairn_layer_export_tar() of the layer without
 *                 timestamp clamping produces exactly this diff_id.  A blob
 *                 source is a BLOBS entry whose decompressed bytes have it.
 *                 A tar-split source is the tar stream the layer was imported
 *                 from, recorded by the importer (cairn_tar_split_write()
 *                 replays it; file data is the layer's contents, so it is
 *                 not stored twice).  An uncompressed layer blob whose
 *                 digest is its diff_id needs no BLOBS entry: the diff
 *                 reproduces it.
 *                 The cached forms are cairn's own deterministic gzip/zstd
 *                 (default levels) of those tar bytes.
 *
 * CAIRN_T_IMAGES  key: image id "sha256:<hex>" (config digest for single
 *                 images, index digest for multi-platform ones)
 *                 value: JSON object, either
 *                   {"kind":"manifest","toplevel":bool,"created":N,
 *                    "platform":{"os","architecture"[,"variant"]},
 *                    "config":DESC,["manifest":DESC,]     (manifest: verbatim)
 *                    "layers":[{"diff_id":"sha256:..",[mediaType,digest,size]}]}
 *                 or
 *                   {"kind":"index","toplevel":bool,"index":DESC,
 *                    "children":["sha256:<image id>",...],
 *                    "blobs":["sha256:..",...]}   (every blob the index reaches)
 *                 DESC = {"mediaType","digest","size"}.
 *
 * CAIRN_T_TAGS    key: normalized reference ("docker.io/library/x:latest")
 *                 value: image id ("sha256:<hex>"), no NUL.
 */
#include <cairn/image.h>

#include "oci-internal.h"

#define BLOB_REC_V1 1

void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

void image_id_from_digest(const cairn_digest *d, char out[IMAGE_ID_LEN + 1])
{
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	cairn_digest_hex(d, hex);
	snprintf(out, IMAGE_ID_LEN + 1, "sha256:%s", hex);
}

/* ---- BLOBS -------------------------------------------------------------------- */

int blob_rec_encode(const cairn_id *content, uint64_t size, bytebuf *out)
{
	int r = buf_put_u8(out, BLOB_REC_V1);
	if (r >= 0)
		r = buf_append(out, content->b, CAIRN_ID_LEN);
	if (r >= 0)
		r = buf_put_varint(out, size);
	return r;
}

int blob_rec_decode(const void *val, size_t len, cairn_id *ret_content, uint64_t *ret_size)
{
	cursor c = {val, (const uint8_t *) val + len};
	uint8_t v;
	const void *id;
	uint64_t size;
	if (cur_u8(&c, &v) < 0 || v != BLOB_REC_V1 || cur_raw(&c, CAIRN_ID_LEN, &id) < 0 ||
	    cur_varint(&c, &size) < 0 || c.p != c.end)
		return CAIRN_E_CORRUPT;
	memcpy(ret_content->b, id, CAIRN_ID_LEN);
	*ret_size = size;
	return 0;
}

int blob_get(cairn_store *s, const cairn_digest *d, cairn_id *ret_content, uint64_t *ret_size)
{
	_cleanup_free_ void *val = NULL;
	size_t len;
	int r = cairn_store_get(s, CAIRN_T_BLOBS, d->b, CAIRN_DIGEST_LEN, &val, &len);
	if (r < 0)
		return r;
	return blob_rec_decode(val, len, ret_content, ret_size);
}

int blob_put(cairn_batch *b, const cairn_digest *d, const cairn_id *content, uint64_t size)
{
	bytebuf out = {0};
	int r = blob_rec_encode(content, size, &out);
	if (r >= 0)
		r = cairn_batch_put(b, CAIRN_T_BLOBS, d->b, CAIRN_DIGEST_LEN, out.data, out.len);
	buf_clear(&out);
	return r;
}

int blob_put_bytes(cairn_batch *b, const void *data, size_t len, cairn_digest *ret_digest)
{
	cairn_digest d;
	cairn_id id;
	cairn_sha256(data, len, &d);
	int r = cairn_batch_put_content(b, data, len, &id);
	if (r >= 0)
		r = blob_put(b, &d, &id, len);
	if (r >= 0 && ret_digest)
		*ret_digest = d;
	return r;
}

int blob_read(cairn_store *s, const cairn_digest *d, size_t max, char **ret_buf, size_t *ret_len,
	      cairn_error **err)
{
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	cairn_digest_hex(d, hex);
	cairn_id id;
	uint64_t size;
	int r = blob_get(s, d, &id, &size);
	if (r == -ENOENT)
		return cairn_error_set(err, CAIRN_E_NOTFOUND, "blob sha256:%s: not in the store",
				       hex);
	if (r < 0)
		return cairn_error_from(err, r, "blob sha256:%s", hex);
	if (size > max)
		return cairn_error_set(err, -EFBIG, "blob sha256:%s: %llu bytes, too large", hex,
				       (unsigned long long) size);
	_cleanup_free_ void *data = NULL;
	size_t len;
	r = cairn_content_read_all(s, &id, &data, &len);
	if (r < 0)
		return cairn_error_from(err, r, "blob sha256:%s: reading content", hex);
	cairn_digest got;
	cairn_sha256(data, len, &got);
	if (len != size || memcmp(got.b, d->b, CAIRN_DIGEST_LEN) != 0)
		return cairn_error_set(err, CAIRN_E_CORRUPT,
				       "blob sha256:%s: stored bytes do not match the digest", hex);
	*ret_buf = steal_pointer((char **) &data);
	*ret_len = len;
	return 0;
}

/* ---- JSON helpers for records ---------------------------------------------------- */

static int rec_digest(json_t *v, cairn_digest *ret)
{
	return json_is_string(v) && cairn_digest_parse(json_string_value(v), false, ret) >= 0
		   ? 0
		   : CAIRN_E_CORRUPT;
}

static int rec_u64(json_t *v, uint64_t *ret)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return CAIRN_E_CORRUPT;
	*ret = (uint64_t) json_integer_value(v);
	return 0;
}

static json_t *digest_json(const cairn_digest *d)
{
	char *s = cairn_digest_string(d);
	if (!s)
		return NULL;
	json_t *j = json_string(s);
	free(s);
	return j;
}

int img_desc_set(img_desc *d, const char *media_type, const cairn_digest *digest, uint64_t size)
{
	char *mt = strdup(media_type ? media_type : "");
	if (!mt)
		return -ENOMEM;
	free(d->media_type);
	*d = (img_desc){.set = true, .media_type = mt, .digest = *digest, .size = size};
	return 0;
}

void img_desc_clear(img_desc *d)
{
	free(d->media_type);
	*d = (img_desc){0};
}

static json_t *desc_rec_json(const img_desc *d)
{
	return oci_desc_json(d->media_type, &d->digest, d->size);
}

static int desc_rec_parse(json_t *v, img_desc *ret)
{
	json_t *mt = json_object_get(v, "mediaType");
	cairn_digest d;
	uint64_t size;
	if (!json_is_string(mt) || rec_digest(json_object_get(v, "digest"), &d) < 0 ||
	    rec_u64(json_object_get(v, "size"), &size) < 0)
		return CAIRN_E_CORRUPT;
	return img_desc_set(ret, json_string_value(mt), &d, size);
}

/* ---- DIFFS ------------------------------------------------------------------------ */

diff_cache *diff_rec_cache(diff_rec *d, cairn_compression c)
{
	switch (c) {
	case CAIRN_COMPRESS_GZIP:
		return &d->gzip;
	case CAIRN_COMPRESS_ZSTD:
		return &d->zstd;
	default:
		return NULL;
	}
}

static int cache_json(json_t *obj, const char *key, const diff_cache *c)
{
	if (!c->set)
		return 0;
	json_t *dj = digest_json(&c->digest);
	json_t *v = dj ? json_pack("{s:o, s:I}", "digest", dj, "size", (json_int_t) c->size) : NULL;
	return v && json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

int diff_rec_encode(const diff_rec *d, char **ret_buf, size_t *ret_len)
{
	char hex[2 * CAIRN_ID_LEN + 1];
	cairn_id_hex(&d->layer, hex);
	_cleanup_json_ json_t *j =
	    json_pack("{s:s, s:I}", "layer", hex, "size", (json_int_t) d->size);
	if (!j)
		return -ENOMEM;
	json_t *src = d->from_blob    ? digest_json(&d->blob)
		      : d->from_split ? json_string("tar-split")
				      : json_string("canonical");
	if (!src || json_object_set_new(j, "source", src) < 0)
		return -ENOMEM;
	if (d->from_split) {
		char shex[2 * CAIRN_ID_LEN + 1];
		cairn_id_hex(&d->split, shex);
		if (json_object_set_new(j, "split", json_string(shex)) < 0)
			return -ENOMEM;
	}
	if (d->from_blob &&
	    json_object_set_new(j, "compression",
				json_string(cairn_compression_name(d->blob_compression))) < 0)
		return -ENOMEM;
	if (cache_json(j, "gzip", &d->gzip) < 0 || cache_json(j, "zstd", &d->zstd) < 0)
		return -ENOMEM;
	return oci_json_dump(j, ret_buf, ret_len);
}

static int cache_parse(json_t *v, diff_cache *ret)
{
	if (!v)
		return 0;
	if (rec_digest(json_object_get(v, "digest"), &ret->digest) < 0 ||
	    rec_u64(json_object_get(v, "size"), &ret->size) < 0)
		return CAIRN_E_CORRUPT;
	ret->set = true;
	return 0;
}

int diff_rec_decode(const void *val, size_t len, diff_rec *ret)
{
	_cleanup_json_ json_t *j = json_loadb(val, len, 0, NULL);
	diff_rec d = {0};
	if (!json_is_object(j))
		return CAIRN_E_CORRUPT;
	json_t *layer = json_object_get(j, "layer"), *src = json_object_get(j, "source");
	if (!json_is_string(layer) || cairn_id_parse(json_string_value(layer), &d.layer) < 0 ||
	    rec_u64(json_object_get(j, "size"), &d.size) < 0 || !json_is_string(src))
		return CAIRN_E_CORRUPT;
	if (strcmp(json_string_value(src), "tar-split") == 0) {
		json_t *split = json_object_get(j, "split");
		d.from_split = true;
		if (!json_is_string(split) ||
		    cairn_id_parse(json_string_value(split), &d.split) < 0)
			return CAIRN_E_CORRUPT;
	} else if (strcmp(json_string_value(src), "canonical") != 0) {
		json_t *comp = json_object_get(j, "compression");
		d.from_blob = true;
		if (rec_digest(src, &d.blob) < 0 || !json_is_string(comp) ||
		    cairn_compression_parse(json_string_value(comp), &d.blob_compression) < 0)
			return CAIRN_E_CORRUPT;
	}
	if (cache_parse(json_object_get(j, "gzip"), &d.gzip) < 0 ||
	    cache_parse(json_object_get(j, "zstd"), &d.zstd) < 0)
		return CAIRN_E_CORRUPT;
	*ret = d;
	return 0;
}

int diff_get(cairn_store *s, const cairn_digest *diff_id, diff_rec *ret)
{
	_cleanup_free_ void *val = NULL;
	size_t len;
	int r = cairn_store_get(s, CAIRN_T_DIFFS, diff_id->b, CAIRN_DIGEST_LEN, &val, &len);
	if (r < 0)
		return r;
	return diff_rec_decode(val, len, ret);
}

int diff_put(cairn_batch *b, const cairn_digest *diff_id, const diff_rec *d)
{
	_cleanup_free_ char *val = NULL;
	size_t len;
	int r = diff_rec_encode(d, &val, &len);
	if (r < 0)
		return r;
	return cairn_batch_put(b, CAIRN_T_DIFFS, diff_id->b, CAIRN_DIGEST_LEN, val, len);
}

/* ---- IMAGES ----------------------------------------------------------------------- */

static json_t *platform_json(const oci_platform *p)
{
	json_t *j = json_pack("{s:s, s:s}", "os", p->os ? p->os : "", "architecture",
			      p->arch ? p->arch : "");
	if (j && p->variant && json_object_set_new(j, "variant", json_string(p->variant)) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

static int layers_json(const img_rec *r, json_t *obj)
{
	json_t *arr = json_array();
	if (!arr || json_object_set_new(obj, "layers", arr) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_layers; i++) {
		const img_layer *l = &r->layers[i];
		json_t *lj = json_object();
		if (!lj || json_array_append_new(arr, lj) < 0 ||
		    json_object_set_new(lj, "diff_id", digest_json(&l->diff_id)) < 0)
			return -ENOMEM;
		if (!l->blob.set)
			continue;
		json_t *d = desc_rec_json(&l->blob);
		int k = d ? json_object_update(lj, d) : -1;
		json_decref(d);
		if (k < 0)
			return -ENOMEM;
	}
	return 0;
}

static int manifest_rec_json(const img_rec *r, json_t *j)
{
	if (json_object_set_new(j, "created", json_integer(r->created)) < 0 ||
	    json_object_set_new(j, "platform", platform_json(&r->platform)) < 0 ||
	    json_object_set_new(j, "config", desc_rec_json(&r->config)) < 0)
		return -ENOMEM;
	if (r->manifest.set && json_object_set_new(j, "manifest", desc_rec_json(&r->manifest)) < 0)
		return -ENOMEM;
	return layers_json(r, j);
}

static int index_rec_json(const img_rec *r, json_t *j)
{
	json_t *children = json_array(), *blobs = json_array();
	if (json_object_set_new(j, "index", desc_rec_json(&r->index)) < 0 ||
	    json_object_set_new(j, "children", children) < 0 ||
	    json_object_set_new(j, "blobs", blobs) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_children; i++)
		if (json_array_append_new(children, json_string(r->children[i])) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < r->n_blobs; i++)
		if (json_array_append_new(blobs, digest_json(&r->blobs[i])) < 0)
			return -ENOMEM;
	return 0;
}

int img_rec_encode(const img_rec *r, char **ret_buf, size_t *ret_len)
{
	_cleanup_json_ json_t *j = json_pack(
	    "{s:s, s:b}", "kind", r->is_index ? "index" : "manifest", "toplevel", r->toplevel);
	if (!j)
		return -ENOMEM;
	int k = r->is_index ? index_rec_json(r, j) : manifest_rec_json(r, j);
	if (k < 0)
		return k;
	return oci_json_dump(j, ret_buf, ret_len);
}

static int layers_parse(json_t *arr, img_rec *r)
{
	if (!json_is_array(arr))
		return CAIRN_E_CORRUPT;
	size_t n = json_array_size(arr);
	r->layers = calloc(n ? n : 1, sizeof(*r->layers));
	if (!r->layers)
		return -ENOMEM;
	r->n_layers = n;
	for (size_t i = 0; i < n; i++) {
		json_t *l = json_array_get(arr, i);
		if (rec_digest(json_object_get(l, "diff_id"), &r->layers[i].diff_id) < 0)
			return CAIRN_E_CORRUPT;
		if (json_object_get(l, "digest") && desc_rec_parse(l, &r->layers[i].blob) < 0)
			return CAIRN_E_CORRUPT;
	}
	return 0;
}

static int platform_parse(json_t *v, oci_platform *ret)
{
	json_t *os = json_object_get(v, "os"), *arch = json_object_get(v, "architecture");
	json_t *variant = json_object_get(v, "variant");
	if (!json_is_string(os) || !json_is_string(arch) || (variant && !json_is_string(variant)))
		return CAIRN_E_CORRUPT;
	oci_platform p = {(char *) json_string_value(os), (char *) json_string_value(arch),
			  variant ? (char *) json_string_value(variant) : NULL};
	return oci_platform_copy(&p, ret);
}

static int manifest_rec_parse(json_t *j, img_rec *r)
{
	json_t *created = json_object_get(j, "created");
	if (!json_is_integer(created))
		return CAIRN_E_CORRUPT;
	r->created = json_integer_value(created);
	int k = platform_parse(json_object_get(j, "platform"), &r->platform);
	if (k >= 0)
		k = desc_rec_parse(json_object_get(j, "config"), &r->config);
	if (k >= 0 && json_object_get(j, "manifest"))
		k = desc_rec_parse(json_object_get(j, "manifest"), &r->manifest);
	if (k >= 0)
		k = layers_parse(json_object_get(j, "layers"), r);
	return k;
}

static int index_rec_parse(json_t *j, img_rec *r)
{
	json_t *children = json_object_get(j, "children"), *blobs = json_object_get(j, "blobs");
	int k = desc_rec_parse(json_object_get(j, "index"), &r->index);
	if (k < 0)
		return k;
	if (!json_is_array(children) || !json_is_array(blobs))
		return CAIRN_E_CORRUPT;
	size_t nc = json_array_size(children), nb = json_array_size(blobs);
	r->children = calloc(nc + 1, sizeof(char *));
	r->blobs = calloc(nb ? nb : 1, sizeof(cairn_digest));
	if (!r->children || !r->blobs)
		return -ENOMEM;
	for (size_t i = 0; i < nc; i++) {
		json_t *c = json_array_get(children, i);
		cairn_digest d;
		if (rec_digest(c, &d) < 0)
			return CAIRN_E_CORRUPT;
		if (!(r->children[i] = strdup(json_string_value(c))))
			return -ENOMEM;
		r->n_children = i + 1;
	}
	for (size_t i = 0; i < nb; i++)
		if (rec_digest(json_array_get(blobs, i), &r->blobs[i]) < 0)
			return CAIRN_E_CORRUPT;
	r->n_blobs = nb;
	return 0;
}

int img_rec_decode(const char *id, const void *val, size_t len, img_rec *ret)
{
	_cleanup_json_ json_t *j = json_loadb(val, len, 0, NULL);
	img_rec r = {0};
	cairn_digest d;
	if (!json_is_object(j) || strlen(id) != IMAGE_ID_LEN ||
	    cairn_digest_parse(id, false, &d) < 0)
		return CAIRN_E_CORRUPT;
	memcpy(r.id, id, IMAGE_ID_LEN + 1);
	json_t *kind = json_object_get(j, "kind"), *top = json_object_get(j, "toplevel");
	if (!json_is_string(kind) || !json_is_boolean(top))
		return CAIRN_E_CORRUPT;
	r.toplevel = json_is_true(top);
	r.is_index = strcmp(json_string_value(kind), "index") == 0;
	if (!r.is_index && strcmp(json_string_value(kind), "manifest") != 0)
		return CAIRN_E_CORRUPT;
	int k = r.is_index ? index_rec_parse(j, &r) : manifest_rec_parse(j, &r);
	if (k < 0) {
		img_rec_clear(&r);
		return k;
	}
	*ret = r;
	return 0;
}

void img_rec_clear(img_rec *r)
{
	oci_platform_clear(&r->platform);
	img_desc_clear(&r->config);
	img_desc_clear(&r->manifest);
	img_desc_clear(&r->index);
	for (size_t i = 0; i < r->n_layers; i++)
		img_desc_clear(&r->layers[i].blob);
	free(r->layers);
	for (size_t i = 0; i < r->n_children; i++)
		free(r->children[i]);
	free(r->children);
	free(r->blobs);
	*r = (img_rec){0};
}

int img_rec_add_blob(img_rec *r, const cairn_digest *d)
{
	for (size_t i = 0; i < r->n_blobs; i++)
		if (memcmp(r->blobs[i].b, d->b, CAIRN_DIGEST_LEN) == 0)
			return 0;
	cairn_digest *n = realloc(r->blobs, (r->n_blobs + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	n[r->n_blobs++] = *d;
	r->blobs = n;
	return 1;
}

int img_get(cairn_store *s, const char *id, img_rec *ret)
{
	_cleanup_free_ void *val = NULL;
	size_t len;
	int r = cairn_store_get(s, CAIRN_T_IMAGES, id, strlen(id), &val, &len);
	if (r < 0)
		return r;
	return img_rec_decode(id, val, len, ret);
}

int img_put(cairn_batch *b, const img_rec *rec)
{
	_cleanup_free_ char *val = NULL;
	size_t len;
	int r = img_rec_encode(rec, &val, &len);
	if (r < 0)
		return r;
	return cairn_batch_put(b, CAIRN_T_IMAGES, rec->id, strlen(rec->id), val, len);
}

/* ---- TAGS ------------------------------------------------------------------------- */

int tag_get(cairn_store *s, const char *ref, char ret_id[IMAGE_ID_LEN + 1])
{
	_cleanup_free_ void *val = NULL;
	size_t len;
	int r = cairn_store_get(s, CAIRN_T_TAGS, ref, strlen(ref), &val, &len);
	if (r < 0)
		return r;
	if (len != IMAGE_ID_LEN)
		return CAIRN_E_CORRUPT;
	memcpy(ret_id, val, IMAGE_ID_LEN);
	ret_id[IMAGE_ID_LEN] = 0;
	return 0;
}

int tag_put(cairn_batch *b, const char *ref, const char *id)
{
	return cairn_batch_put(b, CAIRN_T_TAGS, ref, strlen(ref), id, strlen(id));
}

int tag_del(cairn_batch *b, const char *ref)
{
	return cairn_batch_del(b, CAIRN_T_TAGS, ref, strlen(ref));
}

struct tags_of_ctx {
	const char *id;
	char **refs;
	size_t n;
};

static int tags_of_one(const void *key, size_t klen, const void *val, size_t vlen, void *userdata)
{
	struct tags_of_ctx *c = userdata;
	if (vlen != strlen(c->id) || memcmp(val, c->id, vlen) != 0)
		return 0;
	char **n = realloc(c->refs, (c->n + 2) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->refs = n;
	if (!(n[c->n] = strndup(key, klen)))
		return -ENOMEM;
	n[++c->n] = NULL;
	return 0;
}

int tags_of(cairn_store *s, const char *id, char ***ret_refs, size_t *ret_n)
{
	struct tags_of_ctx c = {.id = id};
	int r = cairn_store_foreach(s, CAIRN_T_TAGS, tags_of_one, &c);
	if (r < 0) {
		strv_free(c.refs);
		return r;
	}
	if (!c.refs && !(c.refs = calloc(1, sizeof(char *))))
		return -ENOMEM;
	*ret_refs = c.refs;
	if (ret_n)
		*ret_n = c.n;
	return 0;
}
