/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `cairn push`: an image (all platforms of an index) to a registry.
 *
 * What is sent is what `cairn save` would write with the same compression:
 * with compression -1 an image that came with a manifest (pulled, loaded)
 * goes up verbatim, document by document from the stored blobs, so every
 * digest stays the registry's; other images get their generated OCI
 * manifest (gzip layers whose digests are cached in DIFFS).  Order: the
 * blobs of a manifest (layers in parallel, each HEAD first so nothing the
 * registry has is sent again, mounted from another repository of the same
 * registry when the image has a name there), its config, the manifest by
 * digest; an index after all its children; the tag last.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>

#include "oci-internal.h"
#include "registry.h"

#define PUSH_JOBS 4

struct push_ctx {
	cairn_store *s;
	const struct cairn_push_options *o;
	reg_client *rc;
	const char *repo;
	const char *label;
	/* blobs of images named in other repositories of the same registry:
	 * where each can be mounted from */
	size_t n_src;
	struct mount_src {
		cairn_digest digest;
		char *repo;
	} *src;
	lb_updates upd;
	pthread_mutex_t lock;
};

struct push_item {
	layer_blob lb;
	const char *what;
	int r;
	cairn_error *err;
};

struct push_batch {
	struct push_ctx *c;
	size_t n, next;
	struct push_item *items;
	bool failed;
};

static void xfer(struct push_ctx *c, enum cairn_xfer_event ev, const char *what,
		 const cairn_digest *d, uint64_t done, uint64_t total)
{
	xfer_emit(c->o->progress, c->o->userdata, &c->lock, ev, what, d, done, total);
}

struct up_progress {
	struct push_ctx *c;
	const char *what;
	const cairn_digest *d;
};

static void up_progress(void *userdata, uint64_t done, uint64_t total)
{
	struct up_progress *p = userdata;
	xfer(p->c, CAIRN_XFER_PROGRESS, p->what, p->d, done, total);
}

static const char *mount_source(struct push_ctx *c, const cairn_digest *d)
{
	for (size_t i = 0; i < c->n_src; i++)
		if (memcmp(c->src[i].digest.b, d->b, CAIRN_DIGEST_LEN) == 0)
			return c->src[i].repo;
	return NULL;
}

/* One blob: HEAD (inside reg_blob_push), then bytes into a file and up. */
static int push_blob(struct push_ctx *c, const layer_blob *lb, const char *what,
		     cairn_error **err)
{
	/* HEAD, and a mount, before any bytes are produced */
	enum reg_push_how how = REG_PUSH_UPLOADED;
	const char *from = mount_source(c, &lb->digest);
	int r = reg_blob_push(c->rc, c->repo, &lb->digest, lb->size, -1, from, 0, NULL, NULL, &how,
			      err);
	if (r >= 0) {
		xfer(c, how == REG_PUSH_MOUNTED ? CAIRN_XFER_MOUNTED : CAIRN_XFER_EXISTS, what,
		     &lb->digest, lb->size, lb->size);
		return 0;
	}
	if (r != -EAGAIN)
		return r;
	_cleanup_close_ int fd = -1;
	if (lb->kind == LB_TMPFILE) {
		fd = dup(lb->fd);
		if (fd < 0)
			return cairn_error_from(err, -errno, "duplicating a descriptor");
	} else {
		r = oci_tmpfile(c->s, &fd);
		if (r < 0)
			return cairn_error_from(err, r, "creating a temporary file in %s/tmp",
						cairn_store_root(c->s));
		_cleanup_(cairn_writer_freep) cairn_writer *w = cairn_writer_fd(fd);
		if (!w)
			return -ENOMEM;
		r = layer_blob_write(c->s, lb, w, err);
		if (r < 0)
			return r;
	}
	xfer(c, CAIRN_XFER_START, what, &lb->digest, 0, lb->size);
	struct up_progress p = {c, what, &lb->digest};
	r = reg_blob_push(c->rc, c->repo, &lb->digest, lb->size, fd, NULL,
			  c->o->chunked ? REG_PUSH_CHUNKED : 0, up_progress, &p, &how, err);
	if (r < 0)
		return r;
	xfer(c,
	     how == REG_PUSH_MOUNTED	? CAIRN_XFER_MOUNTED
	     : how == REG_PUSH_EXISTED ? CAIRN_XFER_EXISTS
				       : CAIRN_XFER_DONE,
	     what, &lb->digest, lb->size, lb->size);
	return 0;
}

static void *push_worker(void *userdata)
{
	struct push_batch *pb = userdata;
	for (;;) {
		pthread_mutex_lock(&pb->c->lock);
		struct push_item *it = !pb->failed && pb->next < pb->n ? &pb->items[pb->next++] : NULL;
		pthread_mutex_unlock(&pb->c->lock);
		if (!it)
			return NULL;
		it->r = push_blob(pb->c, &it->lb, it->what, &it->err);
		if (it->r < 0) {
			pthread_mutex_lock(&pb->c->lock);
			pb->failed = true;
			pthread_mutex_unlock(&pb->c->lock);
		}
	}
}

/* Pushes items (taken over) in parallel. */
static int push_items(struct push_ctx *c, struct push_item *items, size_t n, cairn_error **err)
{
	struct push_batch pb = {.c = c, .n = n, .items = items};
	pthread_t t[PUSH_JOBS * 4];
	unsigned jobs = c->o->jobs ? c->o->jobs : PUSH_JOBS, started = 0;
	if (jobs > ARRAY_SIZE(t))
		jobs = ARRAY_SIZE(t);
	if (jobs > n)
		jobs = (unsigned) n;
	for (; started < jobs; started++)
		if (pthread_create(&t[started], NULL, push_worker, &pb) != 0)
			break;
	if (n && !started)
		push_worker(&pb);
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	int r = 0;
	for (size_t i = 0; i < n; i++) {
		if (items[i].r < 0 && r >= 0) {
			r = items[i].r;
			if (err && !*err) {
				*err = items[i].err;
				items[i].err = NULL;
			}
		}
		cairn_error_free(items[i].err);
		layer_blob_clear(&items[i].lb);
	}
	return r;
}

/* A stored blob, or an uncompressed layer its diff reproduces. */
static int plan_desc(struct push_ctx *c, const cairn_digest *d, const char *mt, layer_blob *ret,
		     cairn_error **err)
{
	if (cairn_store_has(c->s, CAIRN_T_BLOBS, d->b, CAIRN_DIGEST_LEN) > 0)
		return layer_blob_stored(c->s, d, mt, ret, err);
	img_layer l = {.diff_id = *d};
	return layer_blob_plan(c->s, &l, CAIRN_COMPRESS_NONE, true, ret, &c->upd, err);
}

static int put_manifest(struct push_ctx *c, const char *ref, const char *mt, const char *body,
			size_t len, cairn_error **err)
{
	cairn_digest d;
	cairn_sha256(body, len, &d);
	int r = reg_manifest_put(c->rc, c->repo, ref, mt, body, len, err);
	if (r >= 0)
		xfer(c, CAIRN_XFER_DONE, "manifest", &d, len, len);
	return r;
}

/* A child manifest goes up by digest; the top one (top) only under its tag, at the end. */
static int put_by_digest(struct push_ctx *c, const char *mt, const char *body, size_t len,
			 bool top, cairn_error **err)
{
	if (top)
		return 0;
	cairn_digest d;
	cairn_sha256(body, len, &d);
	_cleanup_free_ char *ds = cairn_digest_string(&d);
	return ds ? put_manifest(c, ds, mt, body, len, err) : -ENOMEM;
}

/* ---- verbatim documents -------------------------------------------------------------------- */

static int push_doc(struct push_ctx *c, const oci_desc *d, int depth, char **ret_body,
		    size_t *ret_len, cairn_error **err);

static int push_verbatim_manifest(struct push_ctx *c, const oci_desc *d, const char *body,
				  size_t len, bool top, cairn_error **err)
{
	oci_manifest m = {0};
	int r = oci_manifest_parse(body, len, "manifest", &m, err);
	_cleanup_free_ struct push_item *items = calloc(m.n_layers + 1, sizeof(*items));
	size_t n = 0;
	if (r >= 0 && !items)
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i < m.n_layers; i++) {
		items[n].lb.fd = -1;
		items[n].what = "layer";
		r = plan_desc(c, &m.layers[i].digest, m.layers[i].media_type, &items[n].lb, err);
		if (r >= 0)
			n++;
	}
	if (r >= 0)
		r = push_items(c, items, n, err);
	else
		for (size_t i = 0; i < n; i++)
			layer_blob_clear(&items[i].lb);
	layer_blob cfg = {.fd = -1};
	if (r >= 0)
		r = plan_desc(c, &m.config.digest, m.config.media_type, &cfg, err);
	if (r >= 0)
		r = push_blob(c, &cfg, "config", err);
	layer_blob_clear(&cfg);
	if (r >= 0)
		r = put_by_digest(c, d->media_type, body, len, top, err);
	oci_manifest_clear(&m);
	return r;
}

static int push_verbatim_index(struct push_ctx *c, const oci_desc *d, const char *body,
			       size_t len, int depth, bool top, cairn_error **err)
{
	oci_index x = {0};
	int r = oci_index_parse(body, len, "index", &x, err);
	for (size_t i = 0; r >= 0 && i < x.n; i++) {
		oci_kind k = oci_media_kind(x.manifests[i].media_type);
		if (k == OCI_K_INDEX || k == OCI_K_MANIFEST) {
			r = push_doc(c, &x.manifests[i], depth + 1, NULL, NULL, err);
		} else {
			layer_blob lb = {.fd = -1};
			r = plan_desc(c, &x.manifests[i].digest, x.manifests[i].media_type, &lb, err);
			if (r >= 0)
				r = push_blob(c, &lb, "blob", err);
			layer_blob_clear(&lb);
		}
	}
	if (r >= 0)
		r = put_by_digest(c, d->media_type, body, len, top, err);
	oci_index_clear(&x);
	return r;
}

/* A manifest or index kept verbatim, with everything it references; its
 * bytes go to *ret_body when wanted. */
static int push_doc(struct push_ctx *c, const oci_desc *d, int depth, char **ret_body,
		    size_t *ret_len, cairn_error **err)
{
	if (depth > OCI_MAX_DEPTH)
		return cairn_error_set(err, CAIRN_E_FORMAT, "indexes nested too deep");
	_cleanup_free_ char *body = NULL;
	size_t len;
	int r = blob_read(c->s, &d->digest, OCI_JSON_MAX, &body, &len, err);
	if (r < 0)
		return r;
	oci_kind k = oci_media_kind(d->media_type);
	if (k != OCI_K_INDEX && k != OCI_K_MANIFEST)
		k = oci_json_sniff(body, len);
	r = k == OCI_K_INDEX ? push_verbatim_index(c, d, body, len, depth, ret_body != NULL, err)
			     : push_verbatim_manifest(c, d, body, len, ret_body != NULL, err);
	if (r >= 0 && ret_body) {
		*ret_body = steal_pointer(&body);
		*ret_len = len;
	}
	return r;
}

/* ---- generated manifests ------------------------------------------------------------------- */

/* Pushes a manifest-kind image; *ret describes its manifest, whose bytes
 * go to *ret_body when wanted. */
static int push_image(struct push_ctx *c, const img_rec *r, oci_desc *ret, char **ret_body,
		      size_t *ret_len, cairn_error **err)
{
	bool verbatim = c->o->compression < 0 && r->manifest.set;
	for (size_t i = 0; verbatim && i < r->n_layers; i++)
		verbatim = r->layers[i].blob.set;
	if (verbatim) {
		oci_desc d = {.media_type = r->manifest.media_type, .digest = r->manifest.digest,
			      .size = r->manifest.size};
		int k = push_doc(c, &d, 0, ret_body, ret_len, err);
		if (k >= 0 && !(ret->media_type = strdup(r->manifest.media_type)))
			k = -ENOMEM;
		ret->digest = r->manifest.digest;
		ret->size = r->manifest.size;
		return k;
	}
	_cleanup_free_ struct push_item *items = calloc(r->n_layers + 1, sizeof(*items));
	_cleanup_free_ layer_blob *lbs = calloc(r->n_layers + 1, sizeof(*lbs));
	_cleanup_free_ char *json = NULL;
	size_t len = 0;
	if (!items || !lbs)
		return -ENOMEM;
	int k = manifest_build(c->s, r, c->o->compression, true, lbs, &c->upd, &json, &len, err);
	if (k < 0)
		return k;
	for (size_t i = 0; i < r->n_layers; i++)
		items[i] = (struct push_item){.lb = lbs[i], .what = "layer"};
	k = push_items(c, items, r->n_layers, err);
	layer_blob cfg = {.fd = -1};
	if (k >= 0)
		k = layer_blob_stored(c->s, &r->config.digest, MT_OCI_CONFIG, &cfg, err);
	if (k >= 0)
		k = push_blob(c, &cfg, "config", err);
	layer_blob_clear(&cfg);
	if (k >= 0)
		k = put_by_digest(c, MT_OCI_MANIFEST, json, len, ret_body != NULL, err);
	if (k < 0)
		return cairn_error_prefix(err, "image %s", r->id);
	cairn_sha256(json, len, &ret->digest);
	ret->size = len;
	if (ret_body) {
		*ret_body = steal_pointer(&json);
		*ret_len = len;
	}
	return (ret->media_type = strdup(MT_OCI_MANIFEST)) ? 0 : -ENOMEM;
}

static int push_index(struct push_ctx *c, const img_rec *r, oci_desc *ret, char **ret_body,
		      size_t *ret_len, cairn_error **err)
{
	if (c->o->compression < 0 && r->index.set) {
		oci_desc d = {.media_type = r->index.media_type, .digest = r->index.digest,
			      .size = r->index.size};
		int k = push_doc(c, &d, 0, ret_body, ret_len, err);
		if (k >= 0 && !(ret->media_type = strdup(r->index.media_type)))
			k = -ENOMEM;
		ret->digest = r->index.digest;
		ret->size = r->index.size;
		return k;
	}
	_cleanup_free_ oci_desc *kids = calloc(r->n_children + 1, sizeof(*kids));
	int k = kids ? 0 : -ENOMEM;
	size_t n = 0;
	for (; k >= 0 && n < r->n_children; n++) {
		img_rec child;
		if (img_get(c->s, r->children[n], &child) < 0) {
			k = cairn_error_set(err, CAIRN_E_NOTFOUND,
					    "image %s: platform image %s missing", r->id,
					    r->children[n]);
			break;
		}
		k = push_image(c, &child, &kids[n], NULL, NULL, err);
		if (k >= 0) {
			kids[n].has_platform = true;
			k = oci_platform_copy(&child.platform, &kids[n].platform);
		}
		img_rec_clear(&child);
	}
	_cleanup_free_ char *json = NULL;
	size_t len = 0;
	if (k >= 0)
		k = index_build(kids, n, &json, &len);
	for (size_t i = 0; i < n; i++)
		oci_desc_clear(&kids[i]);
	if (k >= 0)
		k = put_by_digest(c, MT_OCI_INDEX, json, len, true, err);
	if (k < 0)
		return k;
	cairn_sha256(json, len, &ret->digest);
	ret->size = len;
	*ret_body = steal_pointer(&json);
	*ret_len = len;
	return (ret->media_type = strdup(MT_OCI_INDEX)) ? 0 : -ENOMEM;
}

/* ---- names ---------------------------------------------------------------------------------- */

static int src_add(struct push_ctx *c, const cairn_digest *d, const char *repo)
{
	if (mount_source(c, d))
		return 0;
	struct mount_src *n = realloc(c->src, (c->n_src + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->src = n;
	n[c->n_src].digest = *d;
	if (!(n[c->n_src].repo = strdup(repo)))
		return -ENOMEM;
	c->n_src++;
	return 0;
}

static int src_add_image(struct push_ctx *c, const char *id, const char *repo, int depth)
{
	img_rec r;
	if (depth > OCI_MAX_DEPTH || img_get(c->s, id, &r) < 0)
		return 0;
	int k = r.config.set ? src_add(c, &r.config.digest, repo) : 0;
	for (size_t i = 0; k >= 0 && i < r.n_layers; i++) {
		diff_rec d;
		if (r.layers[i].blob.set)
			k = src_add(c, &r.layers[i].blob.digest, repo);
		else if (diff_get(c->s, &r.layers[i].diff_id, &d) >= 0 && d.gzip.set)
			k = src_add(c, &d.gzip.digest, repo); /* cairn's own gzip blob */
	}
	for (size_t i = 0; k >= 0 && i < r.n_children; i++)
		k = src_add_image(c, r.children[i], repo, depth + 1);
	img_rec_clear(&r);
	return k;
}

/* Images named in other repositories of the destination's registry: their
 * blobs are probably there (pulled from or pushed to it) and can be mounted. */
static int find_mount_sources(struct push_ctx *c, const cairn_ref *dest)
{
	tag_list tl = {0};
	if (tag_list_load(c->s, &tl) < 0)
		return 0;
	int k = 0;
	for (size_t i = 0; k >= 0 && i < tl.n; i++) {
		cairn_ref x;
		if (cairn_ref_parse(tl.t[i].ref, &x, NULL) < 0)
			continue;
		if (strcmp(x.domain, dest->domain) == 0 && strcmp(x.path, dest->path) != 0)
			k = src_add_image(c, tl.t[i].id, x.path, 0);
		cairn_ref_clear(&x);
	}
	tag_list_clear(&tl);
	return k;
}

int cairn_image_push(cairn_store *s, const char *name, const char *dest,
		     const struct cairn_push_options *o, char **ret_digest, cairn_error **err)
{
	static const struct cairn_push_options defaults = {.compression = -1};
	struct push_ctx c = {.s = s, .o = o ? o : &defaults};
	pthread_mutex_init(&c.lock, NULL);
	const char *target = dest ? dest : name;
	if (strncmp(target, "docker://", 9) == 0)
		target += 9;
	c.label = target;
	img_rec rec = {0};
	cairn_ref ref = {0};
	oci_desc top = {0};
	int r = image_get_named(s, name, &rec, err);
	if (r >= 0)
		r = cairn_ref_parse(target, &ref, err);
	if (r >= 0 && !ref.tag)
		r = cairn_error_set(err, CAIRN_E_FORMAT,
				    "%s: a push needs a tag, not only a digest", target);
	if (r >= 0)
		r = reg_client_new(ref.domain, c.o->reg, &c.rc, err);
	c.repo = ref.path;
	if (r >= 0)
		r = find_mount_sources(&c, &ref);
	_cleanup_free_ char *body = NULL;
	size_t len = 0;
	if (r >= 0)
		r = rec.is_index ? push_index(&c, &rec, &top, &body, &len, err)
				 : push_image(&c, &rec, &top, &body, &len, err);
	if (r >= 0)
		r = put_manifest(&c, ref.tag, top.media_type, body, len, err);
	if (r >= 0 && ret_digest && !(*ret_digest = cairn_digest_string(&top.digest)))
		r = -ENOMEM;
	if (r >= 0)
		lb_updates_commit(s, &c.upd);
	if (r < 0)
		cairn_error_prefix(err, "pushing %s", target);
	lb_updates_clear(&c.upd);
	oci_desc_clear(&top);
	cairn_ref_clear(&ref);
	img_rec_clear(&rec);
	for (size_t i = 0; i < c.n_src; i++)
		free(c.src[i].repo);
	free(c.src);
	reg_client_free(c.rc);
	pthread_mutex_destroy(&c.lock);
	return r < 0 ? r : 0;
}
