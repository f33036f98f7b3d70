/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `cairn load`: OCI layouts (directory or archive) and Docker archives.
 *
 * All of a load happens in one batch and becomes visible in one commit:
 *   1. open the source (archives: pass 1 lists entries, keeps small JSON);
 *   2. walk index.json (or manifest.json): every index, manifest and config
 *      is read, checked against its descriptor's digest and size, parsed
 *      and validated, and staged as a verbatim blob; layers become plans;
 *   3. pass 2 streams the planned layer blobs into the layer importer
 *      (verifying blob digest, size and diff_id);
 *   4. image records, diff and blob records and tags are staged; commit.
 * Any error before the commit abandons the batch: the store is unchanged.
 *
 * Images are named from the index.json descriptor annotations:
 * io.containerd.image.name (a full reference), else
 * org.opencontainers.image.ref.name parsed as a reference, so a bare tag
 * "v1" names docker.io/library/v1:latest (what `docker load` of such an
 * archive cannot do either; use `cairn tag` afterwards).  Docker archives
 * use RepoTags.  A top-level manifest becomes an image with the config
 * digest as id; a top-level index becomes an index image (id: the index
 * digest) whose children are its platform manifests.  Manifests whose
 * layers are not layer tars (attestations, artifacts) are kept verbatim
 * inside an index but are not images.
 */
#include <cairn/image.h>

#include "load.h"

void blob_path(const cairn_digest *d, char out[80])
{
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	cairn_digest_hex(d, hex);
	snprintf(out, 80, "blobs/sha256/%s", hex);
}

static bool digest_in(const cairn_digest *v, size_t n, const cairn_digest *d)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(v[i].b, d->b, CAIRN_DIGEST_LEN) == 0)
			return true;
	return false;
}

static int digest_push(cairn_digest **v, size_t *n, const cairn_digest *d)
{
	cairn_digest *nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	nv[(*n)++] = *d;
	*v = nv;
	return 0;
}

int load_stage_json(struct load_ctx *c, const cairn_digest *d, const char *data, size_t len)
{
	if (digest_in(c->staged, c->n_staged, d) ||
	    cairn_store_has(c->s, CAIRN_T_BLOBS, d->b, CAIRN_DIGEST_LEN) > 0)
		return 0;
	int r = blob_put_bytes(c->b, data, len, NULL);
	return r < 0 ? r : digest_push(&c->staged, &c->n_staged, d);
}

bool load_diff_known(struct load_ctx *c, const cairn_digest *diff_id)
{
	for (size_t i = 0; i < c->n_plans; i++)
		if (c->plans[i].act == ACT_IMPORT && c->plans[i].has_diff &&
		    memcmp(c->plans[i].diff_id.b, diff_id->b, CAIRN_DIGEST_LEN) == 0)
			return true;
	return cairn_store_has(c->s, CAIRN_T_DIFFS, diff_id->b, CAIRN_DIGEST_LEN) > 0;
}

struct plan *load_plan_find(struct load_ctx *c, const char *path)
{
	for (size_t i = 0; i < c->n_plans; i++)
		if (strcmp(c->plans[i].path, path) == 0)
			return &c->plans[i];
	return NULL;
}

int load_plan_add(struct load_ctx *c, const char *path, struct plan **ret)
{
	struct plan *n = realloc(c->plans, (c->n_plans + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->plans = n;
	n[c->n_plans] = (struct plan){.path = strdup(path)};
	if (!n[c->n_plans].path)
		return -ENOMEM;
	*ret = &n[c->n_plans++];
	return 0;
}

int load_add_image(struct load_ctx *c, img_rec *rec)
{
	for (size_t i = 0; i < c->n_imgs; i++) {
		if (strcmp(c->imgs[i].id, rec->id) != 0)
			continue;
		bool top = c->imgs[i].toplevel || rec->toplevel;
		if (rec->manifest.set || rec->is_index) {
			img_rec_clear(&c->imgs[i]);
			c->imgs[i] = *rec;
		} else {
			img_rec_clear(rec);
		}
		c->imgs[i].toplevel = top;
		*rec = (img_rec){0};
		return 0;
	}
	img_rec *n = realloc(c->imgs, (c->n_imgs + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->imgs = n;
	n[c->n_imgs++] = *rec;
	*rec = (img_rec){0};
	return 0;
}

int load_add_top(struct load_ctx *c, const char *norm, const char *id)
{
	struct loaded *n = realloc(c->tops, (c->n_tops + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->tops = n;
	struct loaded *t = &n[c->n_tops];
	*t = (struct loaded){0};
	snprintf(t->id, sizeof(t->id), "%s", id);
	if (norm) {
		cairn_ref ref;
		if (cairn_ref_parse(norm, &ref, NULL) < 0)
			return CAIRN_E_FORMAT;
		t->familiar = cairn_ref_familiar(&ref);
		t->norm = strdup(norm);
		cairn_ref_clear(&ref);
		if (!t->familiar || !t->norm) {
			free(t->familiar);
			free(t->norm);
			return -ENOMEM;
		}
	}
	c->n_tops++;
	return 0;
}

/* ---- verified documents --------------------------------------------------------------- */

static int verify_bytes(struct load_ctx *c, const char *path, const oci_desc *d, const char *data,
			size_t len, cairn_error **err)
{
	cairn_digest got;
	cairn_sha256(data, len, &got);
	if (len == d->size && memcmp(got.b, d->digest.b, CAIRN_DIGEST_LEN) == 0)
		return 0;
	char want[2 * CAIRN_DIGEST_LEN + 1], have[2 * CAIRN_DIGEST_LEN + 1];
	cairn_digest_hex(&d->digest, want);
	cairn_digest_hex(&got, have);
	return cairn_error_set(err, CAIRN_E_DIGEST,
			       "%s: %s: content does not match its descriptor (sha256:%.12s, %llu "
			       "bytes): it has sha256:%.12s, %zu bytes",
			       c->label, path, want, (unsigned long long) d->size, have, len);
}

/* Reads the blob of a descriptor, verifies it and stages it verbatim. */
static int read_desc_json(struct load_ctx *c, const oci_desc *d, char **ret, size_t *ret_len,
			  char path[80], cairn_error **err)
{
	blob_path(&d->digest, path);
	if (d->size > OCI_JSON_MAX)
		return cairn_error_set(err, CAIRN_E_FORMAT,
				       "%s: %s: %llu bytes, too large for a %s", c->label, path,
				       (unsigned long long) d->size, d->media_type);
	_cleanup_free_ char *data = NULL;
	size_t len;
	int r = src_read_json(c->src, path, &data, &len, err);
	if (r == CAIRN_E_NOTFOUND && err && *err) {
		free((*err)->msg);
		(*err)->msg = NULL;
		if (asprintf(&(*err)->msg, "%s: %s: blob missing (%s)", c->label, path,
			     d->media_type) < 0)
			(*err)->msg = NULL;
	}
	if (r < 0)
		return r;
	r = verify_bytes(c, path, d, data, len, err);
	if (r >= 0)
		r = load_stage_json(c, &d->digest, data, len);
	if (r < 0)
		return r;
	*ret = steal_pointer(&data);
	*ret_len = len;
	return 0;
}

static int plan_need(struct load_ctx *c, const char *path, const char *what, cairn_error **err)
{
	if (src_has(c->src, path))
		return 0;
	return cairn_error_set(err, CAIRN_E_NOTFOUND, "%s: %s: blob missing (%s)", c->label, path,
			       what);
}

/* A blob kept verbatim without looking inside. */
static int plan_raw(struct load_ctx *c, const oci_desc *d, img_rec *closure, cairn_error **err)
{
	char path[80];
	struct plan *p;
	blob_path(&d->digest, path);
	if (closure && img_rec_add_blob(closure, &d->digest) < 0)
		return -ENOMEM;
	if (load_plan_find(c, path) || digest_in(c->staged, c->n_staged, &d->digest) ||
	    cairn_store_has(c->s, CAIRN_T_BLOBS, d->digest.b, CAIRN_DIGEST_LEN) > 0)
		return 0;
	int r = plan_need(c, path, d->media_type, err);
	if (r >= 0)
		r = load_plan_add(c, path, &p);
	if (r < 0)
		return r;
	p->act = ACT_RAW;
	p->digest_known = true;
	p->digest = d->digest;
	p->size = d->size;
	return 0;
}

static int plan_layer(struct load_ctx *c, const oci_desc *d, const cairn_digest *diff_id,
		      cairn_error **err)
{
	char path[80];
	blob_path(&d->digest, path);
	struct plan *p = load_plan_find(c, path);
	if (p && p->has_diff) {
		if (memcmp(p->diff_id.b, diff_id->b, CAIRN_DIGEST_LEN) == 0)
			return 0;
		return cairn_error_set(err, CAIRN_E_DIGEST,
				       "%s: %s: one blob listed with two different diff_ids",
				       c->label, path);
	}
	bool blob_known = cairn_store_has(c->s, CAIRN_T_BLOBS, d->digest.b, CAIRN_DIGEST_LEN) > 0;
	bool diff_known = load_diff_known(c, diff_id);
	const struct oci_media *mt = oci_media_lookup(d->media_type);
	if (c->defer_unpack && !diff_known && mt && mt->compression != CAIRN_COMPRESS_NONE) {
		/* kept as the verified blob; unpacked when first used */
		return plan_raw(c, d, NULL, err);
	}
	/* an uncompressed blob is its diff: a known diff reproduces it */
	if (diff_known && memcmp(d->digest.b, diff_id->b, CAIRN_DIGEST_LEN) == 0)
		blob_known = true;
	if (blob_known && diff_known)
		return 0;
	int r = plan_need(c, path, d->media_type, err);
	if (r >= 0 && !p)
		r = load_plan_add(c, path, &p);
	if (r < 0)
		return r;
	p->act = diff_known ? ACT_BLOB : ACT_IMPORT;
	p->keep_blob = !blob_known;
	p->digest_known = true;
	p->digest = d->digest;
	p->size = d->size;
	p->has_diff = true;
	p->diff_id = *diff_id;
	return 0;
}

/* ---- manifests and indexes ----------------------------------------------------------------- */

static bool manifest_is_image(const oci_manifest *m)
{
	if (oci_media_kind(m->config.media_type) != OCI_K_CONFIG)
		return false;
	for (size_t i = 0; i < m->n_layers; i++)
		if (oci_media_kind(m->layers[i].media_type) != OCI_K_LAYER)
			return false;
	return true;
}

static int manifest_opaque(struct load_ctx *c, const oci_manifest *m, img_rec *closure,
			   cairn_error **err)
{
	int r = plan_raw(c, &m->config, closure, err);
	for (size_t i = 0; r >= 0 && i < m->n_layers; i++)
		r = plan_raw(c, &m->layers[i], closure, err);
	return r;
}

static int image_from(struct load_ctx *c, const oci_desc *d, const oci_manifest *m,
		      const oci_config *cfg, img_rec *ret, cairn_error **err)
{
	img_rec rec = {0};
	image_id_from_digest(&m->config.digest, rec.id);
	rec.created = cfg->created;
	const oci_platform *p =
	    cfg->platform.os || !d->has_platform ? &cfg->platform : &d->platform;
	int r = oci_platform_copy(p, &rec.platform);
	if (r >= 0)
		r = img_desc_set(&rec.config, m->config.media_type, &m->config.digest,
				 m->config.size);
	if (r >= 0)
		r = img_desc_set(&rec.manifest, d->media_type, &d->digest, d->size);
	if (r >= 0 && !(rec.layers = calloc(m->n_layers + 1, sizeof(*rec.layers))))
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i < m->n_layers; i++) {
		const oci_desc *l = &m->layers[i];
		rec.n_layers = i + 1;
		rec.layers[i].diff_id = cfg->diff_ids[i];
		r = img_desc_set(&rec.layers[i].blob, l->media_type, &l->digest, l->size);
		if (r >= 0)
			r = plan_layer(c, l, &cfg->diff_ids[i], err);
	}
	if (r < 0) {
		img_rec_clear(&rec);
		return r;
	}
	*ret = rec;
	return 0;
}

/* Loads a manifest: an image record (id in ret_id) or, for non-image
 * manifests, verbatim blobs only (ret_id[0] == 0). */
static int load_manifest(struct load_ctx *c, const oci_desc *d, bool top, img_rec *closure,
			 char ret_id[IMAGE_ID_LEN + 1], cairn_error **err)
{
	_cleanup_free_ char *mbuf = NULL, *cbuf = NULL;
	size_t mlen, clen;
	char mpath[80], cpath[80];
	oci_manifest m = {0};
	oci_config cfg = {0};
	img_rec rec = {0};
	ret_id[0] = 0;
	int r = read_desc_json(c, d, &mbuf, &mlen, mpath, err);
	if (r >= 0 && (r = oci_manifest_parse(mbuf, mlen, mpath, &m, err)) < 0)
		cairn_error_prefix(err, "%s", c->label);
	if (r >= 0 && closure)
		r = img_rec_add_blob(closure, &d->digest);
	if (r >= 0 && !manifest_is_image(&m)) {
		r = manifest_opaque(c, &m, closure, err);
		oci_manifest_clear(&m);
		return r;
	}
	if (r >= 0)
		r = read_desc_json(c, &m.config, &cbuf, &clen, cpath, err);
	if (r >= 0 && (r = oci_config_parse(cbuf, clen, cpath, &cfg, err)) < 0)
		cairn_error_prefix(err, "%s", c->label);
	if (r >= 0 && cfg.n_diff_ids != m.n_layers)
		r = cairn_error_set(err, CAIRN_E_FORMAT,
				    "%s: %s: config lists %zu diff_ids for %zu layers", c->label,
				    mpath, cfg.n_diff_ids, m.n_layers);
	if (r >= 0)
		r = image_from(c, d, &m, &cfg, &rec, err);
	for (size_t i = 0; r >= 0 && closure && i < rec.n_layers; i++)
		r = img_rec_add_blob(closure, &rec.layers[i].blob.digest);
	if (r >= 0 && closure)
		r = img_rec_add_blob(closure, &m.config.digest);
	if (r >= 0) {
		rec.toplevel = top;
		memcpy(ret_id, rec.id, IMAGE_ID_LEN + 1);
		r = load_add_image(c, &rec);
	}
	img_rec_clear(&rec);
	oci_manifest_clear(&m);
	oci_config_clear(&cfg);
	return r;
}

static int add_child(img_rec *idx, const char *id)
{
	for (size_t i = 0; i < idx->n_children; i++)
		if (strcmp(idx->children[i], id) == 0)
			return 0;
	char **n = realloc(idx->children, (idx->n_children + 2) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	idx->children = n;
	if (!(n[idx->n_children] = strdup(id)))
		return -ENOMEM;
	n[++idx->n_children] = NULL;
	return 0;
}

static oci_kind desc_kind(struct load_ctx *c, const oci_desc *d)
{
	oci_kind k = oci_media_kind(d->media_type);
	if (k != OCI_K_UNKNOWN)
		return k;
	char path[80];
	_cleanup_free_ char *data = NULL;
	size_t len;
	blob_path(&d->digest, path);
	if (d->size <= OCI_JSON_MAX && src_read_json(c->src, path, &data, &len, NULL) >= 0)
		return oci_json_sniff(data, len);
	return OCI_K_UNKNOWN;
}

/* Walks an index: its platform manifests become children of idx. */
static int load_index(struct load_ctx *c, const oci_desc *d, int depth, img_rec *idx,
		      cairn_error **err)
{
	_cleanup_free_ char *data = NULL;
	size_t len;
	char path[80], id[IMAGE_ID_LEN + 1];
	oci_index x = {0};
	if (depth > OCI_MAX_DEPTH)
		return cairn_error_set(err, CAIRN_E_FORMAT, "%s: indexes nested too deep",
				       c->label);
	int r = read_desc_json(c, d, &data, &len, path, err);
	if (r >= 0 && (r = oci_index_parse(data, len, path, &x, err)) < 0)
		cairn_error_prefix(err, "%s", c->label);
	if (r >= 0)
		r = img_rec_add_blob(idx, &d->digest);
	for (size_t i = 0; r >= 0 && i < x.n; i++) {
		const oci_desc *m = &x.manifests[i];
		switch (desc_kind(c, m)) {
		case OCI_K_MANIFEST:
			r = load_manifest(c, m, false, idx, id, err);
			if (r >= 0 && id[0])
				r = add_child(idx, id);
			break;
		case OCI_K_INDEX:
			r = load_index(c, m, depth + 1, idx, err);
			break;
		default:
			r = plan_raw(c, m, idx, err);
		}
	}
	oci_index_clear(&x);
	return r;
}

/* ---- index.json ------------------------------------------------------------------------------ */

/* The name of a top-level descriptor (normalized) or NULL. */
static char *desc_name(const oci_desc *d)
{
	const char *keys[] = {ANNOT_CONTAINERD_NAME, ANNOT_REF_NAME};
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		const char *v = oci_desc_annotation(d, keys[i]);
		cairn_ref ref;
		if (!v || cairn_ref_parse(v, &ref, NULL) < 0)
			continue;
		char *out = NULL;
		if (ref.tag) {
			free(ref.digest);
			ref.digest = NULL;
			out = cairn_ref_string(&ref);
		}
		cairn_ref_clear(&ref);
		if (out)
			return out;
	}
	return NULL;
}

static int load_top(struct load_ctx *c, const oci_desc *d, cairn_error **err)
{
	char id[IMAGE_ID_LEN + 1];
	int r = 0;
	switch (desc_kind(c, d)) {
	case OCI_K_MANIFEST:
		r = load_manifest(c, d, true, NULL, id, err);
		break;
	case OCI_K_INDEX: {
		img_rec idx = {.is_index = true, .toplevel = true};
		image_id_from_digest(&d->digest, idx.id);
		memcpy(id, idx.id, sizeof(id));
		r = img_desc_set(&idx.index, d->media_type, &d->digest, d->size);
		if (r >= 0)
			r = load_index(c, d, 0, &idx, err);
		if (r >= 0 && idx.n_children == 0)
			id[0] = 0; /* nothing runnable inside */
		if (r >= 0 && id[0])
			r = load_add_image(c, &idx);
		img_rec_clear(&idx);
		break;
	}
	default:
		return 0; /* not an image: ignored */
	}
	if (r < 0 || !id[0])
		return r;
	_cleanup_free_ char *name = desc_name(d);
	return load_add_top(c, name, id);
}

static int load_oci(struct load_ctx *c, cairn_error **err)
{
	_cleanup_free_ char *layout = NULL, *index = NULL;
	size_t llen, ilen;
	oci_index x = {0};
	int r = src_read_json(c->src, "oci-layout", &layout, &llen, err);
	if (r >= 0 && (r = oci_layout_check(layout, llen, "oci-layout", err)) < 0)
		cairn_error_prefix(err, "%s", c->label);
	if (r >= 0)
		r = src_read_json(c->src, "index.json", &index, &ilen, err);
	if (r >= 0 && (r = oci_index_parse(index, ilen, "index.json", &x, err)) < 0)
		cairn_error_prefix(err, "%s", c->label);
	for (size_t i = 0; r >= 0 && i < x.n; i++)
		r = load_top(c, &x.manifests[i], err);
	oci_index_clear(&x);
	if (r >= 0 && c->n_tops == 0)
		r = cairn_error_set(err, CAIRN_E_FORMAT, "%s: index.json lists no image", c->label);
	return r;
}

/* ---- records and commit --------------------------------------------------------------------- */

static int stage_images(struct load_ctx *c)
{
	for (size_t i = 0; i < c->n_imgs; i++) {
		img_rec *rec = &c->imgs[i], old;
		if (img_get(c->s, rec->id, &old) >= 0) {
			rec->toplevel = rec->toplevel || old.toplevel;
			if (!rec->is_index && !rec->manifest.set && old.manifest.set) {
				old.toplevel = rec->toplevel;
				img_rec_clear(rec);
				*rec = old; /* keep the verbatim manifest we had */
			} else {
				img_rec_clear(&old);
			}
		}
		int r = img_put(c->b, rec);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < c->n_tops; i++) {
		if (!c->tops[i].norm)
			continue;
		int r = tag_put(c->b, c->tops[i].norm, c->tops[i].id);
		if (r < 0)
			return r;
	}
	return 0;
}

static void load_ctx_clear(struct load_ctx *c)
{
	for (size_t i = 0; i < c->n_plans; i++)
		free(c->plans[i].path);
	free(c->plans);
	for (size_t i = 0; i < c->n_imgs; i++)
		img_rec_clear(&c->imgs[i]);
	free(c->imgs);
	for (size_t i = 0; i < c->n_tops; i++) {
		free(c->tops[i].norm);
		free(c->tops[i].familiar);
	}
	free(c->tops);
	free(c->staged);
	free(c->diffs);
	cairn_batch_free(c->b);
	src_free(c->src);
}

static int load_detect(struct load_ctx *c, bool *ret_docker, cairn_error **err)
{
	bool oci = src_has(c->src, "index.json") && src_has(c->src, "oci-layout");
	bool docker = !src_is_dir(c->src) && src_has(c->src, "manifest.json");
	if (oci) {
		*ret_docker = false;
		return 0;
	}
	if (docker) {
		*ret_docker = true;
		return 0;
	}
	return cairn_error_set(err, CAIRN_E_FORMAT,
			       src_is_dir(c->src)
				   ? "%s: not an OCI layout (no oci-layout and index.json)"
				   : "%s: not an OCI or Docker image archive (no index.json or "
				     "manifest.json)",
			       c->label);
}

int cairn_image_load(cairn_store *s, const char *path, cairn_loaded_fn fn, void *userdata,
		     cairn_error **err)
{
	return load_path(s, path, false, fn, userdata, err);
}

int load_path(cairn_store *s, const char *path, bool defer_unpack, cairn_loaded_fn fn,
	      void *userdata, cairn_error **err)
{
	struct load_ctx c = {.s = s, .defer_unpack = defer_unpack};
	bool docker = false;
	int r = src_open(s, path, &c.src, err);
	if (r >= 0) {
		c.label = src_label(c.src);
		r = load_detect(&c, &docker, err);
	}
	if (r >= 0 && (r = cairn_batch_new(s, &c.b)) < 0)
		cairn_error_from(err, r, "starting a batch");
	if (r >= 0)
		r = docker ? load_docker(&c, err) : load_oci(&c, err);
	if (r >= 0)
		r = load_stream(&c, err);
	if (r >= 0 && (r = load_stage_plans(&c)) < 0)
		cairn_error_from(err, r, "%s: staging records", c.label);
	if (r >= 0 && (r = stage_images(&c)) < 0)
		cairn_error_from(err, r, "%s: staging image records", c.label);
	if (r >= 0)
		r = cairn_batch_commit(c.b, err);
	for (size_t i = 0; r >= 0 && fn && i < c.n_tops; i++)
		fn(c.tops[i].familiar, c.tops[i].id, userdata);
	load_ctx_clear(&c);
	return r < 0 ? cairn_error_from(err, r, "loading %s", path) : 0;
}
