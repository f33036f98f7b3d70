/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `cairn inspect`: one JSON object per image.
 *
 *   Id, RepoTags (familiar), Names (normalized), Digest (of the manifest or
 *   index that `save` writes by default: the verbatim one for loaded
 *   images, the generated gzip one for cairn's own, whose layer digests
 *   are computed and cached on the way), MediaType, Architecture, Os,
 *   Variant, Created, Size, Layers (diff_ids), Manifest, Config;
 *   for multi-platform images Manifest is the index and Images lists the
 *   platform images (Id, Platform, Digest).
 */
#include <cairn/image.h>

#include "oci-internal.h"

static int put_str(json_t *o, const char *k, const char *v)
{
	return v && json_object_set_new(o, k, json_string(v)) < 0 ? -ENOMEM : 0;
}

static int put_digest(json_t *o, const char *k, const cairn_digest *d)
{
	_cleanup_free_ char *s = cairn_digest_string(d);
	return s ? put_str(o, k, s) : -ENOMEM;
}

static int put_doc(json_t *o, const char *k, const char *data, size_t len)
{
	json_t *j = json_loadb(data, len, 0, NULL);
	return j && json_object_set_new(o, k, j) == 0 ? 0 : CAIRN_E_CORRUPT;
}

static int put_names(cairn_store *s, json_t *o, const char *id)
{
	tag_list tags = {0};
	char **fam = NULL, **full = NULL;
	int r = tag_list_load(s, &tags);
	if (r >= 0)
		r = tag_list_names(&tags, id, true, &fam);
	if (r >= 0)
		r = tag_list_names(&tags, id, false, &full);
	json_t *a = json_array(), *b = json_array();
	for (size_t i = 0; r >= 0 && fam[i]; i++)
		if (json_array_append_new(a, json_string(fam[i])) < 0 ||
		    json_array_append_new(b, json_string(full[i])) < 0)
			r = -ENOMEM;
	if (r >= 0 &&
	    (json_object_set_new(o, "RepoTags", a) < 0 || json_object_set_new(o, "Names", b) < 0))
		r = -ENOMEM;
	else if (r < 0) {
		json_decref(a);
		json_decref(b);
	}
	strv_free(fam);
	strv_free(full);
	tag_list_clear(&tags);
	return r;
}

static int inspect_manifest(cairn_store *s, const img_rec *r, json_t *o, cairn_error **err)
{
	_cleanup_free_ char *cfg = NULL, *man = NULL;
	size_t clen, mlen;
	cairn_digest md;
	int k = blob_read(s, &r->config.digest, 64u << 20, &cfg, &clen, err);
	if (k >= 0)
		k = manifest_default(s, r, &man, &mlen, &md, err);
	if (k < 0)
		return k;
	json_t *config = json_loadb(cfg, clen, 0, NULL);
	json_t *created = json_object_get(config, "created");
	json_t *layers = json_array();
	for (size_t i = 0; layers && i < r->n_layers; i++) {
		_cleanup_free_ char *d = cairn_digest_string(&r->layers[i].diff_id);
		if (!d || json_array_append_new(layers, json_string(d)) < 0)
			k = -ENOMEM;
	}
	if (k >= 0)
		k = put_digest(o, "Digest", &md);
	if (k >= 0)
		k = put_str(o, "MediaType",
			    r->manifest.set ? r->manifest.media_type : MT_OCI_MANIFEST);
	if (k >= 0)
		k = put_str(o, "Architecture", r->platform.arch);
	if (k >= 0)
		k = put_str(o, "Os", r->platform.os);
	if (k >= 0)
		k = put_str(o, "Variant", r->platform.variant);
	if (k >= 0)
		k = put_str(o, "Created",
			    json_is_string(created) ? json_string_value(created) : NULL);
	if (k >= 0 &&
	    (json_object_set_new(o, "Size", json_integer((json_int_t) image_size(s, r))) < 0 ||
	     json_object_set_new(o, "Layers", layers) < 0))
		k = -ENOMEM;
	else if (k < 0)
		json_decref(layers);
	if (k >= 0)
		k = put_doc(o, "Manifest", man, mlen);
	if (k >= 0 && (!config || json_object_set(o, "Config", config) < 0))
		k = CAIRN_E_CORRUPT;
	json_decref(config);
	return k;
}

static int inspect_index(cairn_store *s, const img_rec *r, json_t *o, cairn_error **err)
{
	_cleanup_free_ char *idx = NULL;
	size_t len;
	int k = blob_read(s, &r->index.digest, OCI_JSON_MAX, &idx, &len, err);
	json_t *imgs = json_array();
	for (size_t i = 0; k >= 0 && i < r->n_children; i++) {
		img_rec c;
		if (img_get(s, r->children[i], &c) < 0)
			continue;
		_cleanup_free_ char *p = oci_platform_string(&c.platform);
		_cleanup_free_ char *d =
		    c.manifest.set ? cairn_digest_string(&c.manifest.digest) : NULL;
		json_t *e = json_pack("{s:s, s:s}", "Id", c.id, "Platform", p ? p : "");
		if (!e || json_array_append_new(imgs, e) < 0 || put_str(e, "Digest", d) < 0)
			k = -ENOMEM;
		img_rec_clear(&c);
	}
	if (k >= 0)
		k = put_digest(o, "Digest", &r->index.digest);
	if (k >= 0)
		k = put_str(o, "MediaType", r->index.media_type);
	if (k >= 0 &&
	    json_object_set_new(o, "Size", json_integer((json_int_t) image_size(s, r))) < 0)
		k = -ENOMEM;
	if (k >= 0)
		k = put_doc(o, "Manifest", idx, len);
	if (k >= 0 && json_object_set_new(o, "Images", imgs) < 0)
		k = -ENOMEM;
	else if (k < 0)
		json_decref(imgs);
	return k;
}

int cairn_image_inspect_json(cairn_store *s, const char *name, char **ret_json, cairn_error **err)
{
	img_rec r;
	int k = image_get_named(s, name, &r, err);
	if (k < 0)
		return k;
	_cleanup_json_ json_t *o = json_pack("{s:s}", "Id", r.id);
	k = o ? put_names(s, o, r.id) : -ENOMEM;
	if (k >= 0)
		k = r.is_index ? inspect_index(s, &r, o, err) : inspect_manifest(s, &r, o, err);
	if (k >= 0) {
		char *out = json_dumps(o, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
		k = out ? 0 : -ENOMEM;
		if (out)
			*ret_json = out;
	}
	img_rec_clear(&r);
	return k < 0 ? cairn_error_from(err, k, "inspecting %s", name) : 0;
}
