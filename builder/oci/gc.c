/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Store-wide: `cairn prune` and `cairn du`.
 *
 * Liveness: every image record is a root, except a platform image that
 * was only loaded as part of an index which is gone, and that has no name
 * (an orphan; prune deletes it).  A live image keeps its config, manifest,
 * index and layer blobs and the blobs its verbatim index reaches, and its
 * diffs (and the diff of an uncompressed layer blob, which reproduces it);
 * a live diff keeps its layer and its source blob or its tar-split (the
 * split content, its literal bytes and the file contents it references:
 * cairn_tar_split_mark); a live blob keeps its content; a live layer keeps
 * its table and file contents (cairn_layer_mark).  Snapshots and running
 * workspaces keep their layers (cairn_snapshot_mark).  Prune deletes dead
 * records in one batch while holding the exclusive store lock, then sweeps
 * unreferenced contents and chunks, content-cache files of dead contents
 * and upper directories of filesystems that are gone.
 */
#include <cairn/fs.h>
#include <cairn/image.h>
#include <cairn/snapshot.h>

#include <cairn/build.h>

#include "oci-internal.h"

/* ---- helpers ------------------------------------------------------------------------- */

static int rec_list_one(const void *key, size_t klen, const void *val, size_t vlen, void *userdata)
{
	rec_list *l = userdata;
	struct rec_item *n = realloc(l->r, (l->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	l->r = n;
	struct rec_item *it = &n[l->n];
	it->key = malloc(klen + 1);
	it->val = malloc(vlen + 1);
	if (!it->key || !it->val) {
		free(it->key);
		free(it->val);
		return -ENOMEM;
	}
	memcpy(it->key, key, klen);
	((char *) it->key)[klen] = 0;
	memcpy(it->val, val, vlen);
	((char *) it->val)[vlen] = 0;
	it->klen = klen;
	it->vlen = vlen;
	l->n++;
	return 0;
}

int rec_list_load(cairn_store *s, cairn_table t, rec_list *ret)
{
	rec_list l = {0};
	int r = cairn_store_foreach(s, t, rec_list_one, &l);
	if (r < 0) {
		rec_list_clear(&l);
		return r;
	}
	*ret = l;
	return 0;
}

void rec_list_clear(rec_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->r[i].key);
		free(l->r[i].val);
	}
	free(l->r);
	*l = (rec_list){0};
}

static int digest_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CAIRN_DIGEST_LEN);
}

int digest_set_add(digest_set *set, const cairn_digest *d)
{
	if (set->n == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 64;
		cairn_digest *n = realloc(set->d, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		set->d = n;
		set->cap = cap;
	}
	set->d[set->n++] = *d;
	set->sorted = false;
	return 0;
}

bool digest_set_has(digest_set *set, const cairn_digest *d)
{
	if (set->n == 0)
		return false;
	if (!set->sorted) {
		qsort(set->d, set->n, sizeof(*set->d), digest_cmp);
		set->sorted = true;
	}
	return bsearch(d, set->d, set->n, sizeof(*set->d), digest_cmp) != NULL;
}

void digest_set_clear(digest_set *set)
{
	free(set->d);
	*set = (digest_set){0};
}

static bool id_digest(const char *id, size_t len, cairn_digest *ret)
{
	char buf_[IMAGE_ID_LEN + 1];
	if (len != IMAGE_ID_LEN)
		return false;
	memcpy(buf_, id, len);
	buf_[len] = 0;
	return cairn_digest_parse(buf_, false, ret) >= 0;
}

/* ---- marking ----------------------------------------------------------------------------- */

struct live {
	digest_set blobs, diffs;
	cairn_idset *layers, *contents;
	rec_list images, diffs_t, blobs_t, layers_t;
	digest_set orphans; /* image ids */
};

static void live_clear(struct live *l)
{
	digest_set_clear(&l->blobs);
	digest_set_clear(&l->diffs);
	digest_set_clear(&l->orphans);
	cairn_idset_free(l->layers);
	cairn_idset_free(l->contents);
	rec_list_clear(&l->images);
	rec_list_clear(&l->diffs_t);
	rec_list_clear(&l->blobs_t);
	rec_list_clear(&l->layers_t);
}

static int mark_image(struct live *l, const img_rec *r)
{
	const img_desc *ds[] = {&r->config, &r->manifest, &r->index};
	int k = 0;
	for (size_t i = 0; k >= 0 && i < ARRAY_SIZE(ds); i++)
		if (ds[i]->set)
			k = digest_set_add(&l->blobs, &ds[i]->digest);
	/* a blob digest may be a diff_id (uncompressed layers without a BLOBS entry) */
	for (size_t i = 0; k >= 0 && i < r->n_blobs; i++) {
		k = digest_set_add(&l->blobs, &r->blobs[i]);
		if (k >= 0)
			k = digest_set_add(&l->diffs, &r->blobs[i]);
	}
	for (size_t i = 0; k >= 0 && i < r->n_layers; i++) {
		k = digest_set_add(&l->diffs, &r->layers[i].diff_id);
		if (k >= 0 && r->layers[i].blob.set)
			k = digest_set_add(&l->blobs, &r->layers[i].blob.digest);
	}
	return k;
}

/* Names and index children: what keeps a non-top-level image alive. */
static int mark_referenced(cairn_store *s, struct live *l, digest_set *ret)
{
	rec_list tags = {0};
	cairn_digest d;
	int k = rec_list_load(s, CAIRN_T_TAGS, &tags);
	for (size_t i = 0; k >= 0 && i < tags.n; i++)
		if (id_digest(tags.r[i].val, tags.r[i].vlen, &d))
			k = digest_set_add(ret, &d);
	rec_list_clear(&tags);
	for (size_t i = 0; k >= 0 && i < l->images.n; i++) {
		img_rec r;
		if (img_rec_decode(l->images.r[i].key, l->images.r[i].val, l->images.r[i].vlen,
				   &r) < 0)
			continue;
		for (size_t c = 0; k >= 0 && c < r.n_children; c++)
			if (cairn_digest_parse(r.children[c], false, &d) >= 0)
				k = digest_set_add(ret, &d);
		img_rec_clear(&r);
	}
	return k;
}

static int mark_images(cairn_store *s, struct live *l, cairn_error **err)
{
	digest_set referenced = {0};
	int k = rec_list_load(s, CAIRN_T_IMAGES, &l->images);
	if (k >= 0)
		k = mark_referenced(s, l, &referenced);
	for (size_t i = 0; k >= 0 && i < l->images.n; i++) {
		struct rec_item *it = &l->images.r[i];
		img_rec r;
		cairn_digest id;
		if (img_rec_decode(it->key, it->val, it->vlen, &r) < 0) {
			k = cairn_error_set(err, CAIRN_E_CORRUPT,
					    "image %s: damaged record; run `cairn fsck`",
					    (char *) it->key);
			break;
		}
		id_digest(it->key, it->klen, &id);
		if (!r.toplevel && !digest_set_has(&referenced, &id))
			k = digest_set_add(&l->orphans, &id);
		else
			k = mark_image(l, &r);
		img_rec_clear(&r);
	}
	digest_set_clear(&referenced);
	return k;
}

static int mark_diffs(cairn_store *s, struct live *l, cairn_error **err)
{
	int k = rec_list_load(s, CAIRN_T_DIFFS, &l->diffs_t);
	for (size_t i = 0; k >= 0 && i < l->diffs_t.n; i++) {
		struct rec_item *it = &l->diffs_t.r[i];
		diff_rec d;
		if (it->klen != CAIRN_DIGEST_LEN || !digest_set_has(&l->diffs, it->key))
			continue;
		if (diff_rec_decode(it->val, it->vlen, &d) < 0) {
			char hex[2 * CAIRN_DIGEST_LEN + 1];
			cairn_digest_hex(it->key, hex);
			return cairn_error_set(err, CAIRN_E_CORRUPT,
					       "diff sha256:%s: damaged record; run `cairn fsck`",
					       hex);
		}
		k = cairn_idset_add(l->layers, &d.layer);
		if (k >= 0 && d.from_blob)
			k = digest_set_add(&l->blobs, &d.blob);
		if (k >= 0 && d.from_split)
			k = cairn_tar_split_mark(s, &d.split, l->contents, err);
	}
	return k;
}

static int mark_blobs(cairn_store *s, struct live *l)
{
	int k = rec_list_load(s, CAIRN_T_BLOBS, &l->blobs_t);
	for (size_t i = 0; k >= 0 && i < l->blobs_t.n; i++) {
		struct rec_item *it = &l->blobs_t.r[i];
		cairn_id content;
		uint64_t size;
		if (it->klen != CAIRN_DIGEST_LEN || !digest_set_has(&l->blobs, it->key) ||
		    blob_rec_decode(it->val, it->vlen, &content, &size) < 0)
			continue;
		k = cairn_idset_add(l->contents, &content);
	}
	return k;
}

static int mark_layers(cairn_store *s, struct live *l, cairn_error **err)
{
	int k = rec_list_load(s, CAIRN_T_LAYERS, &l->layers_t);
	for (size_t i = 0; k >= 0 && i < l->layers_t.n; i++) {
		struct rec_item *it = &l->layers_t.r[i];
		if (it->klen != CAIRN_ID_LEN || !cairn_idset_has(l->layers, it->key))
			continue;
		k = cairn_layer_mark(s, it->key, l->contents, err);
	}
	return k;
}

static int live_compute(cairn_store *s, struct live *l, cairn_error **err)
{
	l->layers = cairn_idset_new();
	l->contents = cairn_idset_new();
	if (!l->layers || !l->contents)
		return -ENOMEM;
	int k = mark_images(s, l, err);
	if (k >= 0)
		k = cairn_snapshot_mark(s, l->layers, err);
	if (k >= 0)
		k = cairn_build_cache_mark(s, l->layers, err);
	if (k >= 0)
		k = mark_diffs(s, l, err);
	if (k >= 0)
		k = mark_blobs(s, l);
	if (k >= 0)
		k = mark_layers(s, l, err);
	return k < 0 ? cairn_error_from(err, k, "computing what is in use") : 0;
}

/* ---- prune ---------------------------------------------------------------------------------- */

static int prune_records(cairn_store *s, struct live *l, struct cairn_prune_stats *st)
{
	_cleanup_(cairn_batch_freep) cairn_batch *b = NULL;
	int k = cairn_batch_new(s, &b);
	for (size_t i = 0; k >= 0 && i < l->images.n; i++) {
		cairn_digest id;
		if (id_digest(l->images.r[i].key, l->images.r[i].klen, &id) &&
		    digest_set_has(&l->orphans, &id) && ++st->images)
			k = cairn_batch_del(b, CAIRN_T_IMAGES, l->images.r[i].key,
					    l->images.r[i].klen);
	}
	for (size_t i = 0; k >= 0 && i < l->diffs_t.n; i++)
		if (l->diffs_t.r[i].klen != CAIRN_DIGEST_LEN ||
		    !digest_set_has(&l->diffs, l->diffs_t.r[i].key))
			k = cairn_batch_del(b, CAIRN_T_DIFFS, l->diffs_t.r[i].key,
					    l->diffs_t.r[i].klen);
	for (size_t i = 0; k >= 0 && i < l->blobs_t.n; i++)
		if ((l->blobs_t.r[i].klen != CAIRN_DIGEST_LEN ||
		     !digest_set_has(&l->blobs, l->blobs_t.r[i].key)) &&
		    ++st->blobs)
			k = cairn_batch_del(b, CAIRN_T_BLOBS, l->blobs_t.r[i].key,
					    l->blobs_t.r[i].klen);
	for (size_t i = 0; k >= 0 && i < l->layers_t.n; i++)
		if ((l->layers_t.r[i].klen != CAIRN_ID_LEN ||
		     !cairn_idset_has(l->layers, l->layers_t.r[i].key)) &&
		    ++st->layers)
			k = cairn_batch_del(b, CAIRN_T_LAYERS, l->layers_t.r[i].key,
					    l->layers_t.r[i].klen);
	if (k >= 0)
		k = cairn_batch_commit(b, NULL);
	return k;
}

int cairn_prune(cairn_store *s, struct cairn_prune_stats *ret, cairn_error **err)
{
	struct cairn_prune_stats st = {0};
	struct live l = {0};
	int r = cairn_store_lock_exclusive(s);
	if (r < 0)
		return cairn_error_from(err, r, "locking the store");
	r = live_compute(s, &l, err);
	if (r >= 0 && (r = prune_records(s, &l, &st)) < 0)
		cairn_error_from(err, r, "deleting unused records");
	struct cairn_sweep_stats sw = {0};
	if (r >= 0 && (r = cairn_store_sweep(s, l.contents, &sw)) < 0)
		cairn_error_from(err, r, "sweeping unused contents");
	if (r >= 0) {
		int64_t freed = cairn_fs_cache_prune(s, l.contents);
		if (freed > 0)
			st.cache_bytes = (uint64_t) freed;
		cairn_fs_cleanup_stale(s);
	}
	cairn_store_unlock_exclusive(s);
	live_clear(&l);
	if (r < 0)
		return r;
	st.contents = sw.contents_removed;
	st.chunks = sw.chunks_removed;
	st.bytes_freed = sw.bytes_freed;
	if (ret)
		*ret = st;
	return 0;
}

/* ---- du ------------------------------------------------------------------------------------- */

static uint64_t image_logical(cairn_store *s, const img_rec *r)
{
	uint64_t n = r->config.size + r->manifest.size + r->index.size;
	for (size_t i = 0; i < r->n_layers; i++) {
		diff_rec d;
		struct cairn_layer_info info;
		n += r->layers[i].blob.size;
		if (diff_get(s, &r->layers[i].diff_id, &d) >= 0 &&
		    cairn_layer_info(s, &d.layer, &info) >= 0)
			n += info.file_bytes;
	}
	return n;
}

struct reclaim_ctx {
	const cairn_idset *live;
	uint64_t n;
};

static int count_dead(const cairn_id *id, void *userdata)
{
	struct reclaim_ctx *c = userdata;
	if (!cairn_idset_has(c->live, id))
		c->n++;
	return 0;
}

int cairn_du(cairn_store *s, struct cairn_du *ret, cairn_error **err)
{
	struct cairn_du du = {0};
	struct cairn_store_usage u;
	struct live l = {0};
	int r = live_compute(s, &l, err);
	if (r >= 0 && (r = cairn_store_usage(s, &u)) < 0)
		cairn_error_from(err, r, "reading store usage");
	struct reclaim_ctx rc = {.live = l.contents};
	if (r >= 0 && (r = cairn_store_foreach_content(s, count_dead, &rc)) < 0)
		cairn_error_from(err, r, "walking contents");
	for (size_t i = 0; r >= 0 && i < l.images.n; i++) {
		img_rec rec;
		if (img_rec_decode(l.images.r[i].key, l.images.r[i].val, l.images.r[i].vlen, &rec) <
		    0)
			continue;
		du.logical_bytes += image_logical(s, &rec);
		img_rec_clear(&rec);
	}
	if (r >= 0) {
		du.images = l.images.n;
		du.layers = l.layers_t.n;
		du.blobs = l.blobs_t.n;
		du.contents = u.contents;
		du.chunks = u.chunks;
		du.unique_bytes = u.logical_bytes;
		du.chunk_bytes = u.chunk_bytes;
		du.stored_bytes = u.stored_bytes;
		du.file_bytes = u.file_bytes;
		du.reclaimable_contents = rc.n;
		*ret = du;
	}
	live_clear(&l);
	return r;
}
