/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A new image from a parent image plus one layer (`cairn commit`, later
 * every build step): the parent's config with the layer's diff_id and a
 * history entry appended, staged in the caller's batch together with the
 * layer, so the image appears whole or not at all.
 */
#include <cairn/image.h>

#include "oci-internal.h"

/* The parent's config (verbatim JSON, parsed), or a fresh one for scratch. */
static int base_config(cairn_store *s, const img_rec *parent, json_t **ret, cairn_error **err)
{
	if (!parent) {
		oci_platform p;
		int r = oci_platform_host(&p);
		if (r < 0)
			return r;
		json_t *c = json_pack("{s:s, s:s, s:{}, s:{s:s, s:[]}, s:[]}", "architecture", p.arch,
				      "os", p.os, "config", "rootfs", "type", "layers", "diff_ids",
				      "history");
		if (c && p.variant)
			json_object_set_new(c, "variant", json_string(p.variant));
		oci_platform_clear(&p);
		if (!c)
			return -ENOMEM;
		*ret = c;
		return 0;
	}
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = blob_read(s, &parent->config.digest, OCI_JSON_MAX, &buf, &len, err);
	if (r < 0)
		return r;
	return oci_json_parse(buf, len, "config", ret, err);
}

/* rootfs.diff_ids and history get the new layer; created is updated. */
static int config_append(json_t *c, const cairn_digest *diff_id, int64_t created,
			 const struct cairn_image_commit_options *o)
{
	char when[32];
	oci_time_format(created, when);
	_cleanup_free_ char *diff = cairn_digest_string(diff_id);
	if (!diff)
		return -ENOMEM;
	json_t *rootfs = json_object_get(c, "rootfs");
	if (!json_is_object(rootfs)) {
		rootfs = json_pack("{s:s, s:[]}", "type", "layers", "diff_ids");
		if (!rootfs || json_object_set_new(c, "rootfs", rootfs) < 0)
			return -ENOMEM;
	}
	json_t *ids = json_object_get(rootfs, "diff_ids");
	if (!json_is_array(ids) || json_array_append_new(ids, json_string(diff)) < 0)
		return CAIRN_E_FORMAT;
	json_t *hist = json_object_get(c, "history");
	if (!json_is_array(hist)) {
		hist = json_array();
		if (!hist || json_object_set_new(c, "history", hist) < 0)
			return -ENOMEM;
	}
	json_t *h = json_pack("{s:s, s:s}", "created", when, "created_by",
			      o && o->created_by ? o->created_by : "cairn commit");
	if (!h)
		return -ENOMEM;
	if (o && o->comment)
		json_object_set_new(h, "comment", json_string(o->comment));
	if (json_array_append_new(hist, h) < 0 ||
	    json_object_set_new(c, "created", json_string(when)) < 0)
		return -ENOMEM;
	return 0;
}

/* The first n layers of parent (diff_ids and verbatim blobs) into rec->layers. */
static int copy_layers(img_rec *rec, const img_rec *parent, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rec->layers[i].diff_id = parent->layers[i].diff_id;
		const img_desc *bl = &parent->layers[i].blob;
		if (bl->set && img_desc_set(&rec->layers[i].blob, bl->media_type, &bl->digest,
					    bl->size) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int commit_record(cairn_batch *b, const img_rec *parent, const cairn_digest *config,
			 size_t config_len, const cairn_digest *diff_id, int64_t created,
			 img_rec *rec)
{
	*rec = (img_rec){.toplevel = true, .created = created};
	size_t n = parent ? parent->n_layers : 0;
	rec->layers = calloc(n + 1, sizeof(*rec->layers));
	if (!rec->layers)
		return -ENOMEM;
	if (copy_layers(rec, parent, n) < 0)
		return -ENOMEM;
	rec->layers[n].diff_id = *diff_id;
	rec->n_layers = n + 1;
	int r = parent ? oci_platform_copy(&parent->platform, &rec->platform)
		       : oci_platform_host(&rec->platform);
	if (r < 0)
		return r;
	image_id_from_digest(config, rec->id);
	if (img_desc_set(&rec->config, MT_OCI_CONFIG, config, config_len) < 0)
		return -ENOMEM;
	return img_put(b, rec);
}

int cairn_image_commit(cairn_batch *b, const char *parent_id, const cairn_id *layer,
		       const cairn_digest *diff_id, uint64_t diff_size,
		       const struct cairn_image_commit_options *o, char **ret_id, cairn_error **err)
{
	cairn_store *s = cairn_batch_store(b);
	img_rec parent = {0}, rec = {0};
	_cleanup_free_ char *name = NULL;
	int r = 0;
	if (o && o->name && (r = ref_parse_string(o->name, &name, err)) < 0)
		return r;
	if (name && strchr(name, '@'))
		return cairn_error_set(err, CAIRN_E_FORMAT,
				       "\"%s\": an image name cannot contain a digest", o->name);
	if (parent_id && (r = image_get_named(s, parent_id, &parent, err)) < 0)
		return r;
	if (parent_id && parent.is_index) {
		img_rec_clear(&parent);
		return cairn_error_set(err, -EINVAL, "%s: a multi-platform image cannot be a parent",
				       parent_id);
	}
	_cleanup_json_ json_t *c = NULL;
	_cleanup_free_ char *cfg = NULL;
	size_t cfg_len = 0;
	cairn_digest config;
	int64_t created = o && o->created >= 0 ? o->created : oci_created_time();
	r = base_config(s, parent_id ? &parent : NULL, &c, err);
	if (r >= 0 && (r = config_append(c, diff_id, created, o)) < 0)
		cairn_error_from(err, r, "image config");
	if (r >= 0)
		r = oci_json_dump(c, &cfg, &cfg_len);
	if (r >= 0)
		r = blob_put_bytes(b, cfg, cfg_len, &config);
	diff_rec old;
	if (r >= 0 && diff_get(s, diff_id, &old) < 0) {
		diff_rec d = {.layer = *layer, .size = diff_size};
		r = diff_put(b, diff_id, &d);
	}
	if (r >= 0)
		r = commit_record(b, parent_id ? &parent : NULL, &config, cfg_len, diff_id, created,
				  &rec);
	if (r >= 0 && name)
		r = tag_put(b, name, rec.id);
	if (r >= 0 && ret_id && !(*ret_id = strdup(rec.id)))
		r = -ENOMEM;
	img_rec_clear(&parent);
	img_rec_clear(&rec);
	return r < 0 ? cairn_error_from(err, r, "creating the image") : 0;
}

/* ---- an image from a complete config (the builder) ----------------------------------------- */

/* The record of a new image: the first n_base layers of base (with their
 * verbatim blobs), then the new ones; platform and created from cfg. */
static int create_record(const img_rec *base, size_t n_base, const oci_config *cfg,
			 const cairn_digest *config, size_t config_len,
			 const struct cairn_image_new_layer *layers, size_t n, img_rec *rec)
{
	*rec = (img_rec){.toplevel = true, .created = cfg->created};
	rec->layers = calloc(n_base + n + 1, sizeof(*rec->layers));
	if (!rec->layers)
		return -ENOMEM;
	if (copy_layers(rec, base, n_base) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		rec->layers[n_base + i].diff_id = layers[i].diff_id;
	rec->n_layers = n_base + n;
	int r = oci_platform_copy(&cfg->platform, &rec->platform);
	if (r < 0)
		return r;
	image_id_from_digest(config, rec->id);
	if (img_desc_set(&rec->config, MT_OCI_CONFIG, config, config_len) < 0)
		return -ENOMEM;
	return 0;
}

/* The config's diff_ids must be exactly the image's layers. */
static int check_diff_ids(const oci_config *cfg, const img_rec *base, size_t n_base,
			  const struct cairn_image_new_layer *layers, size_t n, cairn_error **err)
{
	if (cfg->n_diff_ids != n_base + n)
		return cairn_error_set(err, -EINVAL, "image config lists %zu layers, not %zu",
				       cfg->n_diff_ids, n_base + n);
	for (size_t i = 0; i < n_base + n; i++) {
		const cairn_digest *d = i < n_base ? &base->layers[i].diff_id
						   : &layers[i - n_base].diff_id;
		if (memcmp(d, &cfg->diff_ids[i], sizeof(*d)) != 0)
			return cairn_error_set(err, -EINVAL, "image config: diff_id %zu differs",
					       i);
	}
	return 0;
}

static int create_stage(cairn_batch *b, const img_rec *base, size_t n_base, const char *config,
			size_t config_len, const struct cairn_image_new_layer *layers, size_t n,
			img_rec *rec, cairn_error **err)
{
	cairn_store *s = cairn_batch_store(b);
	oci_config cfg = {0};
	int r = oci_config_parse(config, config_len, "image config", &cfg, err);
	if (r >= 0)
		r = check_diff_ids(&cfg, base, n_base, layers, n, err);
	cairn_digest digest;
	if (r >= 0 && (r = blob_put_bytes(b, config, config_len, &digest)) < 0)
		cairn_error_from(err, r, "storing the image config");
	for (size_t i = 0; r >= 0 && i < n; i++) {
		diff_rec old;
		if (diff_get(s, &layers[i].diff_id, &old) >= 0)
			continue;
		diff_rec d = {.layer = layers[i].layer, .size = layers[i].diff_size};
		r = diff_put(b, &layers[i].diff_id, &d);
	}
	if (r >= 0)
		r = create_record(base, n_base, &cfg, &digest, config_len, layers, n, rec);
	if (r >= 0)
		r = img_put(b, rec);
	oci_config_clear(&cfg);
	return r;
}

int cairn_image_create(cairn_batch *b, const char *base, size_t n_base, const char *config,
		       size_t config_len, const struct cairn_image_new_layer *layers, size_t n,
		       const char *const *names, size_t n_names, char **ret_id, cairn_error **err)
{
	cairn_store *s = cairn_batch_store(b);
	img_rec parent = {0}, rec = {0};
	int r = 0;
	if (base && (r = image_get_named(s, base, &parent, err)) < 0)
		return r;
	if (base && parent.is_index)
		r = cairn_error_set(err, -EINVAL, "%s: a multi-platform image cannot be a base",
				    base);
	else if (n_base > (base ? parent.n_layers : 0))
		r = cairn_error_set(err, -EINVAL, "%s: it has fewer than %zu layers",
				    base ? base : "scratch", n_base);
	if (r >= 0)
		r = create_stage(b, &parent, n_base, config, config_len, layers, n, &rec, err);
	for (size_t i = 0; r >= 0 && i < n_names; i++) {
		_cleanup_free_ char *name = NULL;
		if ((r = ref_parse_string(names[i], &name, err)) < 0)
			break;
		if (strchr(name, '@'))
			r = cairn_error_set(err, CAIRN_E_FORMAT,
					    "\"%s\": an image name cannot contain a digest", names[i]);
		else
			r = tag_put(b, name, rec.id);
	}
	if (r >= 0 && ret_id && !(*ret_id = strdup(rec.id)))
		r = -ENOMEM;
	img_rec_clear(&parent);
	img_rec_clear(&rec);
	return r < 0 ? cairn_error_from(err, r, "creating the image") : 0;
}
