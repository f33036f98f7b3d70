/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Docker archives (`docker save` format): manifest.json lists, per image,
 * the config file, the layer tars in order and the RepoTags.  The config
 * digest is the image id.  There is no verbatim manifest; layer tars are
 * imported with a tar-split that reproduces them (the diff_id of an
 * uncompressed layer is its blob digest), or, when a layer file is
 * compressed, with its raw bytes kept as the diff's source blob; when the
 * store already has the diff_id the bytes are not read at all.
 */
#include <cairn/image.h>

#include "load.h"

static int docker_plan_layer(struct load_ctx *c, const char *path, const cairn_digest *diff_id,
			     cairn_error **err)
{
	const char *real = src_resolve(c->src, path);
	if (!real)
		return cairn_error_set(err, CAIRN_E_NOTFOUND, "%s: %s: layer missing", c->label,
				       path);
	struct plan *p = load_plan_find(c, real);
	if (p) {
		if (memcmp(p->diff_id.b, diff_id->b, CAIRN_DIGEST_LEN) == 0)
			return 0;
		return cairn_error_set(err, CAIRN_E_DIGEST,
				       "%s: %s: one layer file listed with two different diff_ids",
				       c->label, path);
	}
	if (load_diff_known(c, diff_id))
		return 0;
	int r = load_plan_add(c, real, &p);
	if (r < 0)
		return r;
	p->act = ACT_IMPORT;
	p->keep_blob = true;
	p->has_diff = true;
	p->diff_id = *diff_id;
	return 0;
}

static int docker_names(struct load_ctx *c, const docker_image *di, const char *id,
			cairn_error **err)
{
	if (di->n_tags == 0)
		return load_add_top(c, NULL, id);
	for (size_t i = 0; i < di->n_tags; i++) {
		_cleanup_free_ char *norm = NULL;
		int r = ref_parse_string(di->tags[i], &norm, err);
		if (r < 0)
			return cairn_error_prefix(err, "%s: manifest.json: RepoTags", c->label);
		r = load_add_top(c, norm, id);
		if (r < 0)
			return r;
	}
	return 0;
}

static int docker_image_load(struct load_ctx *c, const docker_image *di, cairn_error **err)
{
	_cleanup_free_ char *cbuf = NULL;
	size_t clen;
	oci_config cfg = {0};
	img_rec rec = {.toplevel = true};
	cairn_digest cd;
	int r = src_read_json(c->src, di->config, &cbuf, &clen, err);
	if (r >= 0 && (r = oci_config_parse(cbuf, clen, di->config, &cfg, err)) < 0)
		cairn_error_prefix(err, "%s", c->label);
	if (r >= 0 && cfg.n_diff_ids != di->n_layers)
		r = cairn_error_set(err, CAIRN_E_FORMAT,
				    "%s: manifest.json: %zu layers, but %s lists %zu diff_ids",
				    c->label, di->n_layers, di->config, cfg.n_diff_ids);
	if (r < 0)
		goto out;
	cairn_sha256(cbuf, clen, &cd);
	image_id_from_digest(&cd, rec.id);
	rec.created = cfg.created;
	r = load_stage_json(c, &cd, cbuf, clen);
	if (r >= 0)
		r = oci_platform_copy(&cfg.platform, &rec.platform);
	if (r >= 0)
		r = img_desc_set(&rec.config, MT_DOCKER_CONFIG, &cd, clen);
	if (r >= 0 && !(rec.layers = calloc(di->n_layers + 1, sizeof(*rec.layers))))
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i < di->n_layers; i++) {
		rec.layers[i].diff_id = cfg.diff_ids[i];
		rec.n_layers = i + 1;
		r = docker_plan_layer(c, di->layers[i], &cfg.diff_ids[i], err);
	}
	if (r >= 0)
		r = docker_names(c, di, rec.id, err);
	if (r >= 0)
		r = load_add_image(c, &rec);
out:
	img_rec_clear(&rec);
	oci_config_clear(&cfg);
	return r;
}

int load_docker(struct load_ctx *c, cairn_error **err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	docker_manifest m = {0};
	int r = src_read_json(c->src, "manifest.json", &data, &len, err);
	if (r >= 0 && (r = docker_manifest_parse(data, len, "manifest.json", &m, err)) < 0)
		cairn_error_prefix(err, "%s", c->label);
	for (size_t i = 0; r >= 0 && i < m.n; i++)
		r = docker_image_load(c, &m.images[i], err);
	if (r >= 0 && m.n == 0)
		r = cairn_error_set(err, CAIRN_E_FORMAT, "%s: manifest.json lists no image",
				    c->label);
	docker_manifest_clear(&m);
	return r;
}
