/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Images in the store: resolving names and ids, opening image records,
 * listing, tagging and removing (`cairn images`, `tag`, `rmi`).
 *
 * Resolution order (as Docker): a full id ("sha256:<hex>" or 64 hex), a
 * reference (tag, or name@digest matching an image id, manifest or index
 * digest: see resolve_digest), then a unique id prefix of at least 4 hex
 * digits.
 */
#include <cairn/image.h>

#include "oci-internal.h"

struct cairn_image {
	img_rec rec;
	char *config;
	size_t config_len;
	cairn_id *layer_ids; /* per layer, from DIFFS */
};

/* ---- tags in memory ------------------------------------------------------------- */

static int tag_list_one(const void *key, size_t klen, const void *val, size_t vlen, void *userdata)
{
	tag_list *t = userdata;
	if (vlen != IMAGE_ID_LEN)
		return 0; /* fsck reports it */
	struct tag_ent *n = realloc(t->t, (t->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	t->t = n;
	if (!(n[t->n].ref = strndup(key, klen)))
		return -ENOMEM;
	memcpy(n[t->n].id, val, IMAGE_ID_LEN);
	n[t->n].id[IMAGE_ID_LEN] = 0;
	t->n++;
	return 0;
}

int tag_list_load(cairn_store *s, tag_list *ret)
{
	tag_list t = {0};
	int r = cairn_store_foreach(s, CAIRN_T_TAGS, tag_list_one, &t);
	if (r < 0) {
		tag_list_clear(&t);
		return r;
	}
	*ret = t;
	return 0;
}

void tag_list_clear(tag_list *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->t[i].ref);
	free(t->t);
	*t = (tag_list){0};
}

static char *familiar_of(const char *normalized)
{
	cairn_ref ref;
	if (cairn_ref_parse(normalized, &ref, NULL) < 0)
		return strdup(normalized);
	char *f = cairn_ref_familiar(&ref);
	cairn_ref_clear(&ref);
	return f;
}

int tag_list_names(const tag_list *t, const char *id, bool familiar, char ***ret)
{
	size_t n = 0;
	char **v = calloc(t->n + 1, sizeof(char *));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		if (strcmp(t->t[i].id, id) != 0)
			continue;
		v[n] = familiar ? familiar_of(t->t[i].ref) : strdup(t->t[i].ref);
		if (!v[n++]) {
			strv_free(v);
			return -ENOMEM;
		}
	}
	*ret = v;
	return 0;
}

/* ---- resolving ------------------------------------------------------------------ */

struct list_ctx {
	size_t n;
	img_rec *recs;
};

static int list_collect(const void *key, size_t klen, const void *val, size_t vlen, void *userdata)
{
	struct list_ctx *c = userdata;
	char id[IMAGE_ID_LEN + 1];
	if (klen != IMAGE_ID_LEN)
		return 0;
	memcpy(id, key, IMAGE_ID_LEN);
	id[IMAGE_ID_LEN] = 0;
	img_rec *n = realloc(c->recs, (c->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->recs = n;
	if (img_rec_decode(id, val, vlen, &n[c->n]) >= 0)
		c->n++;
	return 0;
}

struct find_ctx {
	const char *prefix; /* hex prefix of an id */
	char found[IMAGE_ID_LEN + 1];
	unsigned matches;
};

static int find_one(const void *key, size_t klen, const void *val, size_t vlen, void *userdata)
{
	struct find_ctx *c = userdata;
	if (klen != IMAGE_ID_LEN)
		return 0;
	if (strncmp((const char *) key + 7, c->prefix, strlen(c->prefix)) == 0 &&
	    c->matches++ == 0) {
		memcpy(c->found, key, IMAGE_ID_LEN);
		c->found[IMAGE_ID_LEN] = 0;
	}
	return 0;
}

static bool is_hex(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int resolve_prefix(cairn_store *s, const char *name, const char *hex, char **ret_id,
			  cairn_error **err)
{
	struct find_ctx c = {.prefix = hex};
	int r = cairn_store_foreach(s, CAIRN_T_IMAGES, find_one, &c);
	if (r < 0)
		return cairn_error_from(err, r, "reading images");
	if (c.matches > 1)
		return cairn_error_set(err, CAIRN_E_EXISTS,
				       "image id prefix \"%s\" is ambiguous (%u images)", name,
				       c.matches);
	if (c.matches == 0)
		return cairn_error_set(err, CAIRN_E_NOTFOUND, "image \"%s\" not found", name);
	return (*ret_id = strdup(c.found)) ? 0 : -ENOMEM;
}

/* Whether repo (normalized "domain/path") may name the image id: it is
 * the repository of one of its names, or the image has no name at all. */
static bool repo_names(const tag_list *tags, const char *id, const char *repo)
{
	bool named = false;
	for (size_t i = 0; i < tags->n; i++) {
		if (strcmp(tags->t[i].id, id) != 0)
			continue;
		named = true;
		size_t n = strlen(repo);
		/* normalized tags are "domain/path:tag" */
		if (strncmp(tags->t[i].ref, repo, n) == 0 && tags->t[i].ref[n] == ':')
			return true;
	}
	return !named;
}

/* The digests an image answers to without computing anything: its id (the
 * config digest) and the verbatim manifest or index digest. */
static bool digest_known(const img_rec *r, const char *digest, const cairn_digest *d)
{
	const img_desc *m = r->is_index ? &r->index : &r->manifest;
	return strcmp(r->id, digest) == 0 ||
	       (m->set && memcmp(m->digest.b, d->b, CAIRN_DIGEST_LEN) == 0);
}

/* An image of cairn's own has no verbatim manifest: it answers to the
 * digest of the manifest a default save writes (what inspect shows).  One
 * whose manifest cannot be generated (a damaged layer: fsck reports it)
 * matches nothing rather than failing every digest lookup. */
static bool digest_generated(cairn_store *s, const img_rec *r, const cairn_digest *d)
{
	_cleanup_(cairn_error_freep) cairn_error *e = NULL;
	cairn_digest md;
	if (r->is_index || r->manifest.set || manifest_default(s, r, NULL, NULL, &md, &e) < 0)
		return false;
	return memcmp(md.b, d->b, CAIRN_DIGEST_LEN) == 0;
}

/*
 * NAME@sha256:... names the image whose id (config digest), manifest
 * digest (as inspect reports it) or index digest is the digest; a tag
 * next to the digest is ignored, as Docker does.  Docker only accepts the
 * digest under a repository the image is known by (its RepoDigests), so
 * the repository must be one of the image's names; an image without any
 * name (a platform image of an index, an unnamed load) is found under any
 * repository, since it has no name to check against.  Recorded digests
 * are tried first; generated manifests are only computed for the images
 * the repository admits (their layer digests are cached after the first).
 */
static int resolve_digest(cairn_store *s, const cairn_ref *ref, char **ret_id)
{
	cairn_digest d;
	if (cairn_digest_parse(ref->digest, false, &d) < 0)
		return -ENOENT;
	_cleanup_free_ char *repo = cairn_ref_repository(ref);
	struct list_ctx c = {0};
	tag_list tags = {0};
	int r = repo ? cairn_store_foreach(s, CAIRN_T_IMAGES, list_collect, &c) : -ENOMEM;
	if (r >= 0)
		r = tag_list_load(s, &tags);
	const img_rec *hit = NULL;
	for (size_t i = 0; r >= 0 && !hit && i < c.n; i++)
		if (digest_known(&c.recs[i], ref->digest, &d) &&
		    repo_names(&tags, c.recs[i].id, repo))
			hit = &c.recs[i];
	for (size_t i = 0; r >= 0 && !hit && i < c.n; i++)
		if (repo_names(&tags, c.recs[i].id, repo) && digest_generated(s, &c.recs[i], &d))
			hit = &c.recs[i];
	if (r >= 0)
		r = !hit ? -ENOENT : (*ret_id = strdup(hit->id)) ? 0 : -ENOMEM;
	for (size_t i = 0; i < c.n; i++)
		img_rec_clear(&c.recs[i]);
	free(c.recs);
	tag_list_clear(&tags);
	return r;
}

static int resolve_ref(cairn_store *s, const cairn_ref *ref, char **ret_id)
{
	if (ref->digest)
		return resolve_digest(s, ref, ret_id);
	_cleanup_free_ char *norm = cairn_ref_string(ref);
	char id[IMAGE_ID_LEN + 1];
	if (!norm)
		return -ENOMEM;
	int r = tag_get(s, norm, id);
	if (r < 0)
		return r;
	return (*ret_id = strdup(id)) ? 0 : -ENOMEM;
}

int cairn_image_resolve(cairn_store *s, const char *name, char **ret_id, cairn_error **err)
{
	const char *hex = strncmp(name, "sha256:", 7) == 0 ? name + 7 : NULL;
	if (is_hex(hex ? hex : name, 64, 64)) {
		char id[IMAGE_ID_LEN + 1];
		snprintf(id, sizeof(id), "sha256:%s", hex ? hex : name);
		if (cairn_store_has(s, CAIRN_T_IMAGES, id, IMAGE_ID_LEN) > 0)
			return (*ret_id = strdup(id)) ? 0 : -ENOMEM;
		return cairn_error_set(err, CAIRN_E_NOTFOUND, "image \"%s\" not found", name);
	}
	if (hex)
		return is_hex(hex, 4, 63)
			   ? resolve_prefix(s, name, hex, ret_id, err)
			   : cairn_error_set(err, CAIRN_E_FORMAT, "invalid image id \"%s\"", name);
	cairn_ref ref;
	_cleanup_(cairn_error_freep) cairn_error *perr = NULL;
	int r = cairn_ref_parse(name, &ref, &perr);
	if (r >= 0) {
		r = resolve_ref(s, &ref, ret_id);
		cairn_ref_clear(&ref);
		if (r != -ENOENT)
			return r < 0 ? cairn_error_from(err, r, "resolving \"%s\"", name) : 0;
	}
	if (is_hex(name, 4, 63))
		return resolve_prefix(s, name, name, ret_id, err);
	if (perr)
		return cairn_error_set(err, perr->code, "%s", perr->msg);
	return cairn_error_set(err, CAIRN_E_NOTFOUND, "image \"%s\" not found", name);
}

int image_get_named(cairn_store *s, const char *name, img_rec *ret, cairn_error **err)
{
	_cleanup_free_ char *id = NULL;
	int r = cairn_image_resolve(s, name, &id, err);
	if (r < 0)
		return r;
	r = img_get(s, id, ret);
	if (r == -ENOENT)
		return cairn_error_set(err, CAIRN_E_NOTFOUND, "image %s not found", id);
	if (r < 0)
		return cairn_error_set(err, r, "image %s: %s", id,
				       r == CAIRN_E_CORRUPT ? "damaged image record"
							    : cairn_strerror(r));
	return 0;
}

/* ---- opening ---------------------------------------------------------------------- */

int index_pick_child(cairn_store *s, const img_rec *idx, const oci_platform *want, img_rec *ret,
		     cairn_error **err)
{
	oci_platform host = {0};
	int r = want ? 0 : oci_platform_host(&host);
	if (r < 0)
		return r;
	const oci_platform *p = want ? want : &host;
	img_rec first = {0};
	bool have_first = false;
	for (size_t i = 0; i < idx->n_children; i++) {
		img_rec c;
		r = img_get(s, idx->children[i], &c);
		if (r < 0)
			continue;
		bool match = strcmp(c.platform.os ? c.platform.os : "", p->os) == 0 &&
			     strcmp(c.platform.arch ? c.platform.arch : "", p->arch) == 0 &&
			     (!p->variant ||
			      (c.platform.variant && strcmp(c.platform.variant, p->variant) == 0));
		if (match) {
			img_rec_clear(&first);
			oci_platform_clear(&host);
			*ret = c;
			return 0;
		}
		if (!have_first) {
			first = c;
			have_first = true;
		} else {
			img_rec_clear(&c);
		}
	}
	_cleanup_free_ char *ps = oci_platform_string(p);
	oci_platform_clear(&host);
	if (want || !have_first) {
		img_rec_clear(&first);
		return cairn_error_set(err, CAIRN_E_NOTFOUND, "image %s has no %s variant", idx->id,
				       ps ? ps : "matching");
	}
	*ret = first;
	return 0;
}

static int image_load_parts(cairn_store *s, cairn_image *img, cairn_error **err)
{
	int r =
	    blob_read(s, &img->rec.config.digest, 64u << 20, &img->config, &img->config_len, err);
	if (r < 0)
		return cairn_error_prefix(err, "image %s: config", img->rec.id);
	img->layer_ids = calloc(img->rec.n_layers + 1, sizeof(cairn_id));
	if (!img->layer_ids)
		return -ENOMEM;
	for (size_t i = 0; i < img->rec.n_layers; i++) {
		diff_rec d;
		r = diff_get_unpack(s, &img->rec.layers[i], &d, err);
		if (r < 0 && err && *err)
			return cairn_error_prefix(err, "image %s", img->rec.id);
		if (r < 0) {
			char hex[2 * CAIRN_DIGEST_LEN + 1];
			cairn_digest_hex(&img->rec.layers[i].diff_id, hex);
			return cairn_error_set(err, r == -ENOENT ? CAIRN_E_NOTFOUND : r,
					       "image %s: layer sha256:%s not in the store",
					       img->rec.id, hex);
		}
		img->layer_ids[i] = d.layer;
	}
	return 0;
}

int cairn_image_open_platform(cairn_store *s, const char *name, const char *platform,
			      cairn_image **ret, cairn_error **err)
{
	oci_platform want = {0};
	if (platform && oci_platform_parse(platform, &want) < 0)
		return cairn_error_set(err, CAIRN_E_FORMAT,
				       "invalid platform \"%s\" (want os/arch[/variant])",
				       platform);
	_cleanup_free_ cairn_image *img = calloc(1, sizeof(*img));
	img_rec rec;
	int r = img ? image_get_named(s, name, &rec, err) : -ENOMEM;
	if (r >= 0 && rec.is_index) {
		img_rec child;
		r = index_pick_child(s, &rec, platform ? &want : NULL, &child, err);
		img_rec_clear(&rec);
		rec = child;
	} else if (r >= 0 && platform && !oci_platform_equal(&rec.platform, &want) &&
		   !(want.variant == NULL && strcmp(rec.platform.os, want.os) == 0 &&
		     strcmp(rec.platform.arch, want.arch) == 0)) {
		img_rec_clear(&rec);
		r = cairn_error_set(err, CAIRN_E_NOTFOUND, "image \"%s\" is not for %s", name,
				    platform);
	}
	oci_platform_clear(&want);
	if (r < 0)
		return r;
	img->rec = rec;
	r = image_load_parts(s, img, err);
	if (r < 0) {
		cairn_image_free(steal_pointer(&img));
		return r;
	}
	*ret = steal_pointer(&img);
	return 0;
}

int cairn_image_open(cairn_store *s, const char *id, cairn_image **ret, cairn_error **err)
{
	return cairn_image_open_platform(s, id, NULL, ret, err);
}

void cairn_image_free(cairn_image *img)
{
	if (!img)
		return;
	img_rec_clear(&img->rec);
	free(img->config);
	free(img->layer_ids);
	free(img);
}

const char *cairn_image_id(const cairn_image *img)
{
	return img->rec.id;
}

const char *cairn_image_config(const cairn_image *img, size_t *ret_len)
{
	if (ret_len)
		*ret_len = img->config_len;
	return img->config;
}

size_t cairn_image_layer_count(const cairn_image *img)
{
	return img->rec.n_layers;
}

int cairn_image_layer(const cairn_image *img, size_t i, cairn_id *ret_layer,
		      cairn_digest *ret_diff_id)
{
	if (i >= img->rec.n_layers)
		return -ERANGE;
	if (ret_layer)
		*ret_layer = img->layer_ids[i];
	if (ret_diff_id)
		*ret_diff_id = img->rec.layers[i].diff_id;
	return 0;
}

/* ---- listing ---------------------------------------------------------------------- */

uint64_t image_size(cairn_store *s, const img_rec *r)
{
	uint64_t total = 0;
	for (size_t i = 0; i < r->n_children; i++) {
		img_rec c;
		if (img_get(s, r->children[i], &c) < 0)
			continue;
		total += image_size(s, &c);
		img_rec_clear(&c);
	}
	for (size_t i = 0; i < r->n_layers; i++) {
		diff_rec d;
		struct cairn_layer_info info;
		if (diff_get(s, &r->layers[i].diff_id, &d) >= 0 &&
		    cairn_layer_info(s, &d.layer, &info) >= 0)
			total += info.file_bytes;
		else if (r->layers[i].blob.set)
			total += r->layers[i].blob.size; /* pulled, not unpacked yet */
	}
	return total;
}

static int summary_fill(cairn_store *s, const img_rec *r, struct cairn_image_summary *sum)
{
	sum->size = image_size(s, r);
	if (!r->is_index) {
		sum->created = r->created;
		sum->layers = (unsigned) r->n_layers;
		sum->platform = oci_platform_string(&r->platform);
		return sum->platform ? 0 : -ENOMEM;
	}
	bytebuf out = {0};
	for (size_t i = 0; i < r->n_children; i++) {
		img_rec c;
		if (img_get(s, r->children[i], &c) < 0)
			continue;
		_cleanup_free_ char *p = oci_platform_string(&c.platform);
		sum->created = MAX(sum->created, c.created);
		sum->layers = MAX(sum->layers, (unsigned) c.n_layers);
		img_rec_clear(&c);
		if (!p || (out.len && buf_append(&out, ",", 1) < 0) ||
		    buf_append(&out, p, strlen(p)) < 0) {
			buf_clear(&out);
			return -ENOMEM;
		}
	}
	if (buf_append(&out, "", 1) < 0)
		return -ENOMEM;
	sum->platform = (char *) out.data;
	return 0;
}

static int list_emit(cairn_store *s, const tag_list *tags, const img_rec *r, cairn_image_fn fn,
		     void *userdata)
{
	struct cairn_image_summary sum = {.id = (char *) r->id};
	int k = tag_list_names(tags, r->id, true, &sum.names);
	if (k < 0)
		return k;
	if (!sum.names[0] && !r->toplevel) {
		strv_free(sum.names);
		return 0;
	}
	k = summary_fill(s, r, &sum);
	if (k >= 0)
		k = fn(&sum, userdata);
	strv_free(sum.names);
	free(sum.platform);
	return k;
}

int cairn_image_list(cairn_store *s, cairn_image_fn fn, void *userdata, cairn_error **err)
{
	struct list_ctx c = {0};
	tag_list tags = {0};
	int r = cairn_store_foreach(s, CAIRN_T_IMAGES, list_collect, &c);
	if (r >= 0)
		r = tag_list_load(s, &tags);
	for (size_t i = 0; r >= 0 && i < c.n; i++)
		r = list_emit(s, &tags, &c.recs[i], fn, userdata);
	for (size_t i = 0; i < c.n; i++)
		img_rec_clear(&c.recs[i]);
	free(c.recs);
	tag_list_clear(&tags);
	return r < 0 ? cairn_error_from(err, r, "listing images") : 0;
}

/* ---- tag and remove --------------------------------------------------------------- */

int cairn_image_tag(cairn_store *s, const char *src, const char *dst, cairn_error **err)
{
	_cleanup_free_ char *id = NULL, *norm = NULL;
	int r = cairn_image_resolve(s, src, &id, err);
	if (r < 0)
		return r;
	cairn_ref ref;
	r = cairn_ref_parse(dst, &ref, err);
	if (r < 0)
		return r;
	bool digest = ref.digest != NULL;
	norm = cairn_ref_string(&ref);
	cairn_ref_clear(&ref);
	if (digest)
		return cairn_error_set(err, CAIRN_E_FORMAT, "\"%s\": a tag cannot contain a digest",
				       dst);
	if (!norm)
		return -ENOMEM;
	_cleanup_(cairn_batch_freep) cairn_batch *b = NULL;
	r = cairn_batch_new(s, &b);
	if (r >= 0)
		r = tag_put(b, norm, id);
	if (r < 0)
		return cairn_error_from(err, r, "tagging %s", dst);
	return cairn_batch_commit(b, err);
}

/* Index records (other than `except`) that list id as a child. */
static int count_parents(cairn_store *s, const char *id, const char *except, unsigned *ret)
{
	struct list_ctx c = {0};
	int r = cairn_store_foreach(s, CAIRN_T_IMAGES, list_collect, &c);
	unsigned n = 0;
	for (size_t i = 0; i < c.n; i++) {
		for (size_t k = 0; c.recs[i].is_index && k < c.recs[i].n_children; k++)
			if (strcmp(c.recs[i].children[k], id) == 0 &&
			    (!except || strcmp(c.recs[i].id, except) != 0))
				n++;
		img_rec_clear(&c.recs[i]);
	}
	free(c.recs);
	*ret = n;
	return r;
}

/* Stages the deletion of an image record; an index takes its children along
 * when nothing else (a name, another index, a load of their own) keeps them. */
static int image_delete(cairn_store *s, cairn_batch *b, const tag_list *tags, const img_rec *r)
{
	int k = cairn_batch_del(b, CAIRN_T_IMAGES, r->id, strlen(r->id));
	for (size_t i = 0; k >= 0 && i < r->n_children; i++) {
		img_rec c;
		unsigned parents;
		bool named = false;
		for (size_t t = 0; t < tags->n; t++)
			named = named || strcmp(tags->t[t].id, r->children[i]) == 0;
		if (named || img_get(s, r->children[i], &c) < 0)
			continue;
		bool keep = c.toplevel;
		img_rec_clear(&c);
		k = count_parents(s, r->children[i], r->id, &parents);
		if (k >= 0 && !keep && parents == 0)
			k = cairn_batch_del(b, CAIRN_T_IMAGES, r->children[i], IMAGE_ID_LEN);
	}
	return k;
}

/* Untags `norm`; the record goes when it has no other name left. */
static int remove_by_name(cairn_store *s, cairn_batch *b, const tag_list *tags, const char *norm,
			  const img_rec *r, bool *ret_deleted)
{
	int k = tag_del(b, norm);
	unsigned others = 0, parents = 0;
	for (size_t i = 0; i < tags->n; i++)
		if (strcmp(tags->t[i].id, r->id) == 0 && strcmp(tags->t[i].ref, norm) != 0)
			others++;
	if (k < 0 || others)
		return k;
	k = count_parents(s, r->id, NULL, &parents);
	if (k < 0)
		return k;
	if (parents) { /* still needed by an index: keep it as a child only */
		img_rec copy = *r;
		copy.toplevel = false;
		return img_put(b, &copy);
	}
	*ret_deleted = true;
	return image_delete(s, b, tags, r);
}

static int remove_by_id(cairn_store *s, cairn_batch *b, const tag_list *tags, const img_rec *r,
			bool force, bool *ret_deleted, cairn_error **err)
{
	unsigned names = 0, parents = 0;
	for (size_t i = 0; i < tags->n; i++)
		names += strcmp(tags->t[i].id, r->id) == 0;
	if (names > 1 && !force)
		return cairn_error_set(err, CAIRN_E_EXISTS,
				       "image %.19s is referenced by %u names; remove them by name "
				       "or use --force",
				       r->id, names);
	int k = count_parents(s, r->id, NULL, &parents);
	if (k < 0)
		return k;
	if (parents)
		return cairn_error_set(
		    err, CAIRN_E_EXISTS,
		    "image %.19s is a platform of a multi-platform image; remove "
		    "that image instead",
		    r->id);
	for (size_t i = 0; k >= 0 && i < tags->n; i++)
		if (strcmp(tags->t[i].id, r->id) == 0)
			k = tag_del(b, tags->t[i].ref);
	if (k < 0)
		return k;
	*ret_deleted = true;
	return image_delete(s, b, tags, r);
}

int cairn_image_remove(cairn_store *s, const char *name, bool force, char **ret_untagged_id,
		       cairn_error **err)
{
	_cleanup_free_ char *norm = NULL;
	cairn_ref ref;
	img_rec rec = {0};
	char id[IMAGE_ID_LEN + 1];
	bool by_name = false, deleted = false;
	if (cairn_ref_parse(name, &ref, NULL) >= 0) {
		if (!ref.digest && (norm = cairn_ref_string(&ref)) && tag_get(s, norm, id) >= 0)
			by_name = true;
		cairn_ref_clear(&ref);
	}
	int r = by_name ? img_get(s, id, &rec) : image_get_named(s, name, &rec, err);
	if (r < 0)
		return by_name ? cairn_error_from(err, r, "image %s", id) : r;
	tag_list tags = {0};
	_cleanup_(cairn_batch_freep) cairn_batch *b = NULL;
	r = tag_list_load(s, &tags);
	if (r >= 0)
		r = cairn_batch_new(s, &b);
	if (r >= 0)
		r = by_name ? remove_by_name(s, b, &tags, norm, &rec, &deleted)
			    : remove_by_id(s, b, &tags, &rec, force, &deleted, err);
	if (r >= 0)
		r = cairn_batch_commit(b, err);
	tag_list_clear(&tags);
	if (r >= 0 && ret_untagged_id)
		*ret_untagged_id = deleted ? strdup(rec.id) : NULL;
	img_rec_clear(&rec);
	return r < 0 ? cairn_error_from(err, r, "removing %s", name) : 0;
}
