/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `cairn save`: OCI archive, OCI layout directory, Docker archive.
 *
 * Data first: every blob the output needs is planned (digest and size
 * known, compressed layers without a cached digest spooled to ROOT/tmp)
 * before a byte is written, then the output is emitted in one go:
 *   OCI archive   blobs/, blobs/sha256/, blobs/sha256/<hex>..., index.json,
 *                 oci-layout; written to FILE.tmp and renamed
 *   OCI directory blobs written as blobs/sha256/.<hex>.tmp and renamed,
 *                 then index.json (merged into an existing one: entries
 *                 with the same ref.name are replaced, as skopeo does)
 *   Docker        <config hex>.json, <diff_id hex>/layer.tar (uncompressed),
 *                 manifest.json, repositories
 * Archive entries are sorted, with owner 0:0, modes 0644/0755 and mtime 0
 * (or SOURCE_DATE_EPOCH).  Images with a verbatim manifest saved with
 * compression -1 keep every digest; others get a generated OCI manifest.
 * index.json descriptors carry io.containerd.image.name (full name) and
 * org.opencontainers.image.ref.name (the tag), as BuildKit writes them.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include <cairn/image.h>

#include "oci-internal.h"

struct done_layer {
	cairn_digest diff_id;
	int comp;
	size_t blob;
};

/* A tar entry of the output: a directory, a planned blob or a document. */
struct out_ent {
	char *name;
	bool dir;
	ssize_t blob; /* index into blobs, or -1 */
	char *doc;
	size_t doc_len;
};

struct save_ctx {
	cairn_store *s;
	const struct cairn_save_options *o;
	size_t n_blobs;
	layer_blob *blobs;
	size_t n_done;
	struct done_layer *done;
	lb_updates upd;
	json_t *manifests; /* index.json entries (OCI) */
	json_t *dmanifest; /* manifest.json (Docker) */
	json_t *repos;	   /* repositories (Docker) */
	size_t n_ents;
	struct out_ent *ents;
};

static ssize_t blob_find(struct save_ctx *c, const cairn_digest *d)
{
	for (size_t i = 0; i < c->n_blobs; i++)
		if (memcmp(c->blobs[i].digest.b, d->b, CAIRN_DIGEST_LEN) == 0)
			return (ssize_t) i;
	return -1;
}

/* Takes lb over; returns its index (an equal blob already planned wins). */
static ssize_t blob_add(struct save_ctx *c, layer_blob *lb)
{
	ssize_t i = blob_find(c, &lb->digest);
	if (i >= 0) {
		layer_blob_clear(lb);
		return i;
	}
	layer_blob *n = realloc(c->blobs, (c->n_blobs + 1) * sizeof(*n));
	if (!n) {
		layer_blob_clear(lb);
		return -ENOMEM;
	}
	c->blobs = n;
	n[c->n_blobs] = *lb;
	*lb = (layer_blob){.fd = -1};
	return (ssize_t) c->n_blobs++;
}

static ssize_t add_stored(struct save_ctx *c, const cairn_digest *d, const char *mt,
			  cairn_error **err)
{
	ssize_t i = blob_find(c, d);
	if (i >= 0)
		return i;
	layer_blob lb;
	int r = layer_blob_stored(c->s, d, mt, &lb, err);
	return r < 0 ? r : blob_add(c, &lb);
}

static ssize_t add_doc(struct save_ctx *c, char *data, size_t len, const char *mt)
{
	layer_blob lb;
	layer_blob_mem(data, len, mt, &lb);
	return blob_add(c, &lb);
}

/* One layer in a compression (-1: verbatim when possible), planned once per save. */
static ssize_t add_layer(struct save_ctx *c, const img_layer *l, int comp, cairn_error **err)
{
	if (comp < 0 && l->blob.set)
		return add_stored(c, &l->blob.digest, l->blob.media_type, err);
	for (size_t i = 0; i < c->n_done; i++)
		if (c->done[i].comp == comp &&
		    memcmp(c->done[i].diff_id.b, l->diff_id.b, CAIRN_DIGEST_LEN) == 0)
			return (ssize_t) c->done[i].blob;
	layer_blob lb;
	int r = layer_blob_plan(c->s, l, comp, true, &lb, &c->upd, err);
	if (r < 0)
		return r;
	ssize_t idx = blob_add(c, &lb);
	struct done_layer *n = idx < 0 ? NULL : realloc(c->done, (c->n_done + 1) * sizeof(*n));
	if (!n)
		return idx < 0 ? idx : -ENOMEM;
	c->done = n;
	n[c->n_done++] = (struct done_layer){l->diff_id, comp, (size_t) idx};
	return idx;
}

/* ---- OCI ---------------------------------------------------------------------------------- */

static int desc_of(struct save_ctx *c, ssize_t idx, const char *mt, oci_desc *ret)
{
	if (idx < 0)
		return (int) idx;
	*ret = (oci_desc){.digest = c->blobs[idx].digest, .size = c->blobs[idx].size};
	return (ret->media_type = strdup(mt)) ? 0 : -ENOMEM;
}

static int oci_generated(struct save_ctx *c, const img_rec *r, oci_desc *ret, cairn_error **err)
{
	_cleanup_free_ const layer_blob **lbs = calloc(r->n_layers + 1, sizeof(*lbs));
	_cleanup_free_ ssize_t *idx = calloc(r->n_layers + 1, sizeof(*idx));
	if (!lbs || !idx)
		return -ENOMEM;
	ssize_t k = add_stored(c, &r->config.digest, MT_OCI_CONFIG, err);
	for (size_t i = 0; k >= 0 && i < r->n_layers; i++)
		k = idx[i] = add_layer(c, &r->layers[i], c->o->compression, err);
	if (k < 0) {
		cairn_error_prefix(err, "image %s", r->id);
		return (int) k;
	}
	for (size_t i = 0; i < r->n_layers; i++)
		lbs[i] = &c->blobs[idx[i]]; /* c->blobs is stable from here on */
	char *json;
	size_t len;
	int rr = manifest_json(r, lbs, &json, &len);
	if (rr < 0)
		return rr;
	return desc_of(c, add_doc(c, json, len, MT_OCI_MANIFEST), MT_OCI_MANIFEST, ret);
}

static int save_image(struct save_ctx *c, const img_rec *r, oci_desc *ret, cairn_error **err);

static int save_index(struct save_ctx *c, const img_rec *r, oci_desc *ret, cairn_error **err)
{
	if (c->o->compression < 0) {
		ssize_t k = add_stored(c, &r->index.digest, r->index.media_type, err);
		for (size_t i = 0; k >= 0 && i < r->n_blobs; i++)
			k = add_stored(c, &r->blobs[i], "", err);
		if (k < 0) {
			cairn_error_prefix(err, "image %s", r->id);
			return (int) k;
		}
		return desc_of(c, blob_find(c, &r->index.digest), r->index.media_type, ret);
	}
	_cleanup_free_ oci_desc *kids = calloc(r->n_children + 1, sizeof(*kids));
	int k = kids ? 0 : -ENOMEM;
	size_t n = 0;
	for (; k >= 0 && n < r->n_children; n++) {
		img_rec child;
		k = img_get(c->s, r->children[n], &child);
		if (k < 0) {
			k = cairn_error_set(err, CAIRN_E_NOTFOUND,
					    "image %s: platform image %s missing", r->id,
					    r->children[n]);
			break;
		}
		k = save_image(c, &child, &kids[n], err);
		if (k >= 0) {
			kids[n].has_platform = true;
			k = oci_platform_copy(&child.platform, &kids[n].platform);
		}
		img_rec_clear(&child);
	}
	char *json = NULL;
	size_t len;
	if (k >= 0)
		k = index_build(kids, n, &json, &len);
	for (size_t i = 0; i < n; i++)
		oci_desc_clear(&kids[i]);
	if (k < 0)
		return k;
	return desc_of(c, add_doc(c, json, len, MT_OCI_INDEX), MT_OCI_INDEX, ret);
}

static int save_image(struct save_ctx *c, const img_rec *r, oci_desc *ret, cairn_error **err)
{
	if (r->is_index)
		return save_index(c, r, ret, err);
	bool verbatim = c->o->compression < 0 && r->manifest.set;
	for (size_t i = 0; verbatim && i < r->n_layers; i++)
		verbatim = r->layers[i].blob.set;
	if (!verbatim)
		return oci_generated(c, r, ret, err);
	ssize_t k = add_stored(c, &r->config.digest, r->config.media_type, err);
	for (size_t i = 0; k >= 0 && i < r->n_layers; i++)
		k = add_stored(c, &r->layers[i].blob.digest, r->layers[i].blob.media_type, err);
	if (k >= 0)
		k = add_stored(c, &r->manifest.digest, r->manifest.media_type, err);
	if (k < 0) {
		cairn_error_prefix(err, "image %s", r->id);
		return (int) k;
	}
	return desc_of(c, k, r->manifest.media_type, ret);
}

/* Adds the index.json entry for one saved name. */
static int oci_entry(struct save_ctx *c, const oci_desc *d, const cairn_ref *ref)
{
	json_t *e = oci_desc_json(d->media_type, &d->digest, d->size);
	if (!e || json_array_append_new(c->manifests, e) < 0)
		return -ENOMEM;
	if (!ref)
		return 0;
	_cleanup_free_ char *full = cairn_ref_string(ref);
	json_t *a =
	    full ? json_pack("{s:s, s:s}", ANNOT_CONTAINERD_NAME, full, ANNOT_REF_NAME, ref->tag)
		 : NULL;
	return a && json_object_set_new(e, "annotations", a) == 0 ? 0 : -ENOMEM;
}

/* ---- Docker ------------------------------------------------------------------------------- */

static int docker_entry(struct save_ctx *c, const img_rec *r, const cairn_ref *ref,
			cairn_error **err)
{
	char hex[2 * CAIRN_DIGEST_LEN + 1], cfg[2 * CAIRN_DIGEST_LEN + 8];
	cairn_digest_hex(&r->config.digest, hex);
	snprintf(cfg, sizeof(cfg), "%s.json", hex);
	ssize_t k = add_stored(c, &r->config.digest, MT_DOCKER_CONFIG, err);
	_cleanup_json_ json_t *layers = json_array();
	for (size_t i = 0; k >= 0 && i < r->n_layers; i++) {
		char lname[2 * CAIRN_DIGEST_LEN + 16];
		cairn_digest_hex(&r->layers[i].diff_id, hex);
		snprintf(lname, sizeof(lname), "%s/layer.tar", hex);
		k = add_layer(c, &r->layers[i], CAIRN_COMPRESS_NONE, err);
		if (k >= 0 && json_array_append_new(layers, json_string(lname)) < 0)
			k = -ENOMEM;
	}
	if (k < 0) {
		cairn_error_prefix(err, "image %s", r->id);
		return (int) k;
	}
	json_t *entry = NULL, *v;
	size_t i;
	json_array_foreach(c->dmanifest, i,
			   v) if (strcmp(json_string_value(json_object_get(v, "Config")), cfg) == 0)
	    entry = v;
	if (!entry) {
		entry = json_pack("{s:s, s:n, s:O}", "Config", cfg, "RepoTags", "Layers", layers);
		if (!entry || json_array_append_new(c->dmanifest, entry) < 0)
			return -ENOMEM;
	}
	if (!ref)
		return 0;
	_cleanup_free_ char *fam = cairn_ref_familiar(ref);
	cairn_ref repo_only = *ref;
	repo_only.tag = NULL;
	_cleanup_free_ char *repo = cairn_ref_familiar(&repo_only);
	json_t *tags = json_object_get(entry, "RepoTags");
	if (!json_is_array(tags)) {
		tags = json_array();
		if (!tags || json_object_set_new(entry, "RepoTags", tags) < 0)
			return -ENOMEM;
	}
	json_t *rep = json_object_get(c->repos, repo ? repo : "");
	if (!rep && (!repo || json_object_set_new(c->repos, repo, rep = json_object()) < 0))
		return -ENOMEM;
	cairn_digest_hex(&r->layers[r->n_layers ? r->n_layers - 1 : 0].diff_id, hex);
	if (!fam || json_array_append_new(tags, json_string(fam)) < 0 ||
	    (r->n_layers && json_object_set_new(rep, ref->tag, json_string(hex)) < 0))
		return -ENOMEM;
	return 0;
}

/* ---- names -------------------------------------------------------------------------------- */

/* The record for a name; ret_ref is set when the name is a tag. */
static int save_resolve(struct save_ctx *c, const char *name, img_rec *ret, cairn_ref *ret_ref,
			bool *ret_has_ref, cairn_error **err)
{
	cairn_ref ref;
	*ret_has_ref = false;
	if (cairn_ref_parse(name, &ref, NULL) >= 0) {
		_cleanup_free_ char *norm = ref.digest ? NULL : cairn_ref_string(&ref);
		char id[IMAGE_ID_LEN + 1];
		if (norm && tag_get(c->s, norm, id) >= 0) {
			*ret_ref = ref;
			*ret_has_ref = true;
			int r = img_get(c->s, id, ret);
			if (r < 0) {
				cairn_ref_clear(ret_ref);
				*ret_has_ref = false;
				return cairn_error_set(err, CAIRN_E_NOTFOUND,
						       "%s: image %s missing", name, id);
			}
			return 0;
		}
		cairn_ref_clear(&ref);
	}
	return image_get_named(c->s, name, ret, err);
}

static int save_one(struct save_ctx *c, const char *name, cairn_error **err)
{
	img_rec rec = {0};
	cairn_ref ref = {0};
	bool has_ref;
	int r = save_resolve(c, name, &rec, &ref, &has_ref, err);
	if (r >= 0 && c->o->format == CAIRN_SAVE_DOCKER) {
		img_rec child;
		if (rec.is_index && (r = index_pick_child(c->s, &rec, NULL, &child, err)) >= 0) {
			img_rec_clear(&rec);
			rec = child;
		}
		if (r >= 0)
			r = docker_entry(c, &rec, has_ref ? &ref : NULL, err);
	} else if (r >= 0) {
		oci_desc d = {0};
		r = save_image(c, &rec, &d, err);
		if (r >= 0)
			r = oci_entry(c, &d, has_ref ? &ref : NULL);
		oci_desc_clear(&d);
	}
	img_rec_clear(&rec);
	cairn_ref_clear(&ref);
	return r;
}

/* ---- output --------------------------------------------------------------------------------- */

static int ent_add(struct save_ctx *c, const char *name, bool dir, ssize_t blob, char *doc,
		   size_t len)
{
	struct out_ent *n = realloc(c->ents, (c->n_ents + 1) * sizeof(*n));
	if (!n) {
		free(doc);
		return -ENOMEM;
	}
	c->ents = n;
	n[c->n_ents] = (struct out_ent){strdup(name), dir, blob, doc, len};
	if (!n[c->n_ents].name) {
		free(doc);
		return -ENOMEM;
	}
	c->n_ents++;
	return 0;
}

static int ent_add_doc(struct save_ctx *c, const char *name, json_t *j)
{
	char *doc;
	size_t len;
	int r = oci_json_dump(j, &doc, &len);
	return r < 0 ? r : ent_add(c, name, false, -1, doc, len);
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct out_ent *) a)->name, ((const struct out_ent *) b)->name);
}

static json_t *index_json(struct save_ctx *c)
{
	return json_pack("{s:i, s:s, s:O}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
			 "manifests", c->manifests);
}

static const char oci_layout_doc[] = "{\"imageLayoutVersion\":\"" MT_OCI_LAYOUT_VERSION "\"}";

static int plan_archive(struct save_ctx *c)
{
	char hex[2 * CAIRN_DIGEST_LEN + 1], name[2 * CAIRN_DIGEST_LEN + 32];
	int r = 0;
	bool docker = c->o->format == CAIRN_SAVE_DOCKER;
	if (!docker) {
		_cleanup_json_ json_t *idx = index_json(c);
		char *layout = strdup(oci_layout_doc);
		r = ent_add(c, "blobs", true, -1, NULL, 0);
		if (r >= 0)
			r = ent_add(c, "blobs/sha256", true, -1, NULL, 0);
		if (r >= 0)
			r = idx ? ent_add_doc(c, "index.json", idx) : -ENOMEM;
		if (r >= 0)
			r = layout ? ent_add(c, "oci-layout", false, -1, layout, strlen(layout))
				   : -ENOMEM;
	} else {
		r = ent_add_doc(c, "manifest.json", c->dmanifest);
		if (r >= 0)
			r = ent_add_doc(c, "repositories", c->repos);
	}
	for (size_t i = 0; r >= 0 && i < c->n_blobs; i++) {
		cairn_digest_hex(&c->blobs[i].digest, hex);
		bool config = c->blobs[i].media_type &&
			      oci_media_kind(c->blobs[i].media_type) == OCI_K_CONFIG;
		if (!docker) {
			snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
		} else if (config) {
			snprintf(name, sizeof(name), "%s.json", hex);
		} else {
			r = ent_add(c, hex, true, -1, NULL, 0);
			snprintf(name, sizeof(name), "%s/layer.tar", hex);
		}
		if (r >= 0)
			r = ent_add(c, name, false, (ssize_t) i, NULL, 0);
	}
	qsort(c->ents, c->n_ents, sizeof(*c->ents), ent_cmp);
	return r;
}

static int write_ent(struct save_ctx *c, tarw *t, const struct out_ent *e, cairn_error **err)
{
	if (e->dir)
		return tarw_dir(t, e->name);
	uint64_t size = e->blob >= 0 ? c->blobs[e->blob].size : e->doc_len;
	int r = tarw_file(t, e->name, size);
	if (r >= 0 && e->blob < 0)
		r = tarw_data(t, e->doc, e->doc_len);
	if (r >= 0 && e->blob >= 0) {
		_cleanup_(cairn_writer_freep) cairn_writer *w = cairn_writer_fn(tarw_write_fn, t);
		r = w ? layer_blob_write(c->s, &c->blobs[e->blob], w, err) : -ENOMEM;
	}
	if (r >= 0)
		r = tarw_file_end(t);
	return r < 0 ? cairn_error_from(err, r, "writing %s", e->name) : 0;
}

static int write_archive(struct save_ctx *c, int fd, cairn_error **err)
{
	_cleanup_(cairn_writer_freep) cairn_writer *out = cairn_writer_fd(fd);
	if (!out)
		return -ENOMEM;
	tarw t = {.out = out, .mtime = c->o->source_date_epoch > 0 ? c->o->source_date_epoch : 0};
	int r = plan_archive(c);
	for (size_t i = 0; r >= 0 && i < c->n_ents; i++)
		r = write_ent(c, &t, &c->ents[i], err);
	if (r >= 0)
		r = tarw_finish(&t);
	return r < 0 ? cairn_error_from(err, r, "writing the archive") : 0;
}

static int save_archive(struct save_ctx *c, const char *path, cairn_error **err)
{
	if (strcmp(path, "-") == 0)
		return write_archive(c, STDOUT_FILENO, err);
	_cleanup_free_ char *tmp = NULL;
	if (asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return cairn_error_set(err, -errno, "%s: %s", tmp, strerror(errno));
	int r = write_archive(c, fd, err);
	if (r >= 0 && fsync(fd) < 0)
		r = cairn_error_set(err, -errno, "%s: %s", tmp, strerror(errno));
	if (r >= 0 && rename(tmp, path) < 0)
		r = cairn_error_set(err, -errno, "%s: %s", path, strerror(errno));
	if (r < 0)
		unlink(tmp);
	return r;
}

static void save_ctx_clear(struct save_ctx *c)
{
	for (size_t i = 0; i < c->n_blobs; i++)
		layer_blob_clear(&c->blobs[i]);
	free(c->blobs);
	free(c->done);
	for (size_t i = 0; i < c->n_ents; i++) {
		free(c->ents[i].name);
		free(c->ents[i].doc);
	}
	free(c->ents);
	lb_updates_clear(&c->upd);
	json_decref(c->manifests);
	json_decref(c->dmanifest);
	json_decref(c->repos);
}

int cairn_image_save(cairn_store *s, const char *const *names, size_t n_names, const char *path,
		     const struct cairn_save_options *opts, cairn_error **err)
{
	static const struct cairn_save_options defaults = {.compression = -1,
							   .source_date_epoch = -1};
	struct save_ctx c = {.s = s, .o = opts ? opts : &defaults};
	if (n_names == 0)
		return cairn_error_set(err, -EINVAL, "save: no image given");
	if (c.o->compression > CAIRN_COMPRESS_ZSTD)
		return cairn_error_set(err, -EINVAL,
				       "save: layers can be written as gzip, zstd or "
				       "uncompressed only");
	/* A batch that is never committed: its shared store lock keeps a
	 * concurrent prune from reclaiming what is being written out. */
	_cleanup_(cairn_batch_freep) cairn_batch *guard = NULL;
	int r = cairn_batch_new(s, &guard);
	if (r < 0)
		return cairn_error_from(err, r, "locking the store");
	c.manifests = json_array();
	c.dmanifest = json_array();
	c.repos = json_object();
	r = c.manifests && c.dmanifest && c.repos ? 0 : -ENOMEM;
	for (size_t i = 0; r >= 0 && i < n_names; i++)
		r = save_one(&c, names[i], err);
	if (r >= 0 && c.o->format == CAIRN_SAVE_OCI_DIR)
		r = save_oci_dir(s, path, c.blobs, c.n_blobs, c.manifests, err);
	else if (r >= 0)
		r = save_archive(&c, path, err);
	if (r >= 0)
		lb_updates_commit(s, &c.upd); /* a cache: failures do not matter */
	save_ctx_clear(&c);
	return r < 0 ? cairn_error_from(err, r, "saving to %s", path) : 0;
}
