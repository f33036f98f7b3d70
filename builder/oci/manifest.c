/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Generated OCI manifests and indexes (for images without a verbatim
 * manifest, or saved with another layer compression).  Field order follows
 * BuildKit's output (schemaVersion, mediaType, config, layers; descriptors
 * mediaType, digest, size, platform); JSON is compact, so the same image
 * and compression always give the same manifest digest.
 */
#include "oci-internal.h"

/* Docker layer media types become their OCI equivalents in OCI manifests. */
static const char *oci_layer_type(const char *media_type)
{
	const struct oci_media *m = oci_media_lookup(media_type);
	if (m && m->kind == OCI_K_LAYER)
		return oci_layer_media_type(m->compression);
	return media_type;
}

int manifest_json(const img_rec *r, const layer_blob *const *lbs, char **ret_json, size_t *ret_len)
{
	_cleanup_json_ json_t *layers = json_array();
	if (!layers)
		return -ENOMEM;
	for (size_t i = 0; i < r->n_layers; i++) {
		json_t *d = oci_desc_json(oci_layer_type(lbs[i]->media_type), &lbs[i]->digest,
					  lbs[i]->size);
		if (!d || json_array_append_new(layers, d) < 0)
			return -ENOMEM;
	}
	_cleanup_json_ json_t *m = json_pack(
	    "{s:i, s:s, s:o, s:O}", "schemaVersion", 2, "mediaType", MT_OCI_MANIFEST, "config",
	    oci_desc_json(MT_OCI_CONFIG, &r->config.digest, r->config.size), "layers", layers);
	if (!m)
		return -ENOMEM;
	return oci_json_dump(m, ret_json, ret_len);
}

int manifest_build(cairn_store *s, const img_rec *r, int compression, bool need_bytes,
		   layer_blob *lbs, lb_updates *u, char **ret_json, size_t *ret_len,
		   cairn_error **err)
{
	_cleanup_free_ layer_blob *own = calloc(r->n_layers + 1, sizeof(*own));
	_cleanup_free_ const layer_blob **ptrs = calloc(r->n_layers + 1, sizeof(*ptrs));
	layer_blob *v = lbs ? lbs : own;
	size_t planned = 0;
	int k = own && ptrs ? 0 : -ENOMEM;
	for (size_t i = 0; k >= 0 && i < r->n_layers; i++) {
		k = layer_blob_plan(s, &r->layers[i], compression, need_bytes, &v[i], u, err);
		if (k >= 0)
			ptrs[planned++] = &v[i];
	}
	if (k >= 0)
		k = manifest_json(r, ptrs, ret_json, ret_len);
	for (size_t i = 0; (k < 0 || !lbs) && i < planned; i++)
		layer_blob_clear(&v[i]);
	return k;
}

int manifest_default(cairn_store *s, const img_rec *r, char **ret_json, size_t *ret_len,
		     cairn_digest *ret_digest, cairn_error **err)
{
	if (r->manifest.set) {
		int k = ret_json ? blob_read(s, &r->manifest.digest, OCI_JSON_MAX, ret_json,
					     ret_len, err)
				 : 0;
		if (k >= 0)
			*ret_digest = r->manifest.digest;
		return k;
	}
	lb_updates u = {0};
	_cleanup_free_ char *json = NULL;
	size_t len;
	int k = manifest_build(s, r, -1, false, NULL, &u, &json, &len, err);
	if (k >= 0) {
		cairn_sha256(json, len, ret_digest);
		lb_updates_commit(s, &u); /* a cache: failure is harmless */
		if (ret_json) {
			*ret_json = steal_pointer(&json);
			*ret_len = len;
		}
	}
	lb_updates_clear(&u);
	return k;
}

static json_t *platform_build(const oci_platform *p)
{
	json_t *j = json_pack("{s:s, s:s}", "architecture", p->arch ? p->arch : "", "os",
			      p->os ? p->os : "");
	if (j && p->variant && json_object_set_new(j, "variant", json_string(p->variant)) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int index_build(const oci_desc *children, size_t n, char **ret_json, size_t *ret_len)
{
	_cleanup_json_ json_t *arr = json_array();
	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		json_t *d =
		    oci_desc_json(children[i].media_type, &children[i].digest, children[i].size);
		if (!d || json_array_append_new(arr, d) < 0)
			return -ENOMEM;
		if (children[i].has_platform &&
		    json_object_set_new(d, "platform", platform_build(&children[i].platform)) < 0)
			return -ENOMEM;
	}
	_cleanup_json_ json_t *x = json_pack("{s:i, s:s, s:O}", "schemaVersion", 2, "mediaType",
					     MT_OCI_INDEX, "manifests", arr);
	if (!x)
		return -ENOMEM;
	return oci_json_dump(x, ret_json, ret_len);
}
