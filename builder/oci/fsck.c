/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `cairn fsck`: the store-level check (chunks, contents, refcounts) plus
 * every reference of the image layer: tags -> images, images -> blobs,
 * diffs and children, blobs -> contents that re-hash (sha256) to their
 * key, diffs -> layers (which must parse) and source blobs or tar-splits
 * (which must parse and whose literal and file contents must exist with
 * their sizes), layers -> file contents.  An uncompressed layer blob may
 * have no BLOBS entry when a diff with its digest reproduces it.  With
 * CAIRN_FSCK_REPLAY every tar-split is also replayed and must hash to its
 * diff_id (reads all layer data: slow).  One line per
 * problem; the result is the number of problems.
 */
#include <stdarg.h>

#include <cairn/image.h>

#include <cairn/snapshot.h>

#include "oci-internal.h"

#define HASH_BUF (256u << 10)

struct fsck_ctx {
	cairn_store *s;
	cairn_report_fn report;
	void *userdata;
	unsigned flags;
	uint64_t problems;
};

static void problem(struct fsck_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct fsck_ctx *c, const char *fmt, ...)
{
	_cleanup_free_ char *line = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&line, fmt, ap);
	va_end(ap);
	c->problems++;
	if (c->report)
		c->report(n >= 0 ? line : "(out of memory formatting a problem)", c->userdata);
}

static void hexof(const void *digest, char out[2 * CAIRN_DIGEST_LEN + 1])
{
	cairn_digest_hex(digest, out);
}

static void check_tags(struct fsck_ctx *c)
{
	rec_list tags = {0};
	if (rec_list_load(c->s, CAIRN_T_TAGS, &tags) < 0) {
		problem(c, "tags: cannot be read");
		return;
	}
	for (size_t i = 0; i < tags.n; i++) {
		const char *ref = tags.r[i].key, *id = tags.r[i].val;
		cairn_digest d;
		if (tags.r[i].vlen != IMAGE_ID_LEN || cairn_digest_parse(id, false, &d) < 0)
			problem(c, "tag %s: damaged record", ref);
		else if (cairn_store_has(c->s, CAIRN_T_IMAGES, id, IMAGE_ID_LEN) <= 0)
			problem(c, "tag %s: image %s missing", ref, id);
	}
	rec_list_clear(&tags);
}

static void need_blob(struct fsck_ctx *c, const char *id, const cairn_digest *d, const char *what)
{
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	if (cairn_store_has(c->s, CAIRN_T_BLOBS, d->b, CAIRN_DIGEST_LEN) > 0)
		return;
	/* an uncompressed layer blob: the diff with its digest reproduces it */
	if (strcmp(what, "config") != 0 && strcmp(what, "manifest") != 0 &&
	    cairn_store_has(c->s, CAIRN_T_DIFFS, d->b, CAIRN_DIGEST_LEN) > 0)
		return;
	hexof(d, hex);
	problem(c, "image %s: %s blob sha256:%s missing", id, what, hex);
}

static void check_image(struct fsck_ctx *c, const img_rec *r)
{
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	if (r->config.set)
		need_blob(c, r->id, &r->config.digest, "config");
	if (r->manifest.set)
		need_blob(c, r->id, &r->manifest.digest, "manifest");
	if (r->index.set)
		need_blob(c, r->id, &r->index.digest, "index");
	for (size_t i = 0; i < r->n_blobs; i++)
		need_blob(c, r->id, &r->blobs[i], "index");
	for (size_t i = 0; i < r->n_layers; i++) {
		if (r->layers[i].blob.set)
			need_blob(c, r->id, &r->layers[i].blob.digest, "layer");
		if (cairn_store_has(c->s, CAIRN_T_DIFFS, r->layers[i].diff_id.b, CAIRN_DIGEST_LEN) >
			0 ||
		    layer_pending(c->s, &r->layers[i])) /* pulled, unpacked on first use */
			continue;
		hexof(&r->layers[i].diff_id, hex);
		problem(c, "image %s: layer sha256:%s missing", r->id, hex);
	}
	for (size_t i = 0; i < r->n_children; i++)
		if (cairn_store_has(c->s, CAIRN_T_IMAGES, r->children[i], strlen(r->children[i])) <=
		    0)
			problem(c, "image %s: platform image %s missing", r->id, r->children[i]);
}

static void check_images(struct fsck_ctx *c)
{
	rec_list imgs = {0};
	if (rec_list_load(c->s, CAIRN_T_IMAGES, &imgs) < 0) {
		problem(c, "images: cannot be read");
		return;
	}
	for (size_t i = 0; i < imgs.n; i++) {
		img_rec r;
		if (img_rec_decode(imgs.r[i].key, imgs.r[i].val, imgs.r[i].vlen, &r) < 0) {
			problem(c, "image %s: damaged record", (char *) imgs.r[i].key);
			continue;
		}
		check_image(c, &r);
		img_rec_clear(&r);
	}
	rec_list_clear(&imgs);
}

/* sha256 of a content, streamed. */
static int content_sha256(cairn_store *s, const cairn_id *id, cairn_digest *ret, uint64_t *ret_size)
{
	_cleanup_(cairn_content_freep) cairn_content *ct = NULL;
	_cleanup_(cairn_writer_freep) cairn_writer *dw = cairn_writer_digest(NULL);
	_cleanup_free_ char *b = malloc(HASH_BUF);
	int r = dw && b ? cairn_content_open(s, id, &ct) : -ENOMEM;
	while (r >= 0) {
		ssize_t n = cairn_content_read(ct, b, HASH_BUF);
		if (n <= 0) {
			r = (int) n;
			break;
		}
		r = cairn_writer_write(dw, b, (size_t) n);
	}
	if (r < 0)
		return r;
	cairn_writer_digest_result(dw, ret, ret_size);
	return 0;
}

static void check_blobs(struct fsck_ctx *c)
{
	rec_list blobs = {0};
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	if (rec_list_load(c->s, CAIRN_T_BLOBS, &blobs) < 0) {
		problem(c, "blobs: cannot be read");
		return;
	}
	for (size_t i = 0; i < blobs.n; i++) {
		struct rec_item *it = &blobs.r[i];
		cairn_id content;
		cairn_digest got;
		uint64_t size, got_size;
		if (it->klen != CAIRN_DIGEST_LEN) {
			problem(c, "blobs: damaged key");
			continue;
		}
		hexof(it->key, hex);
		if (blob_rec_decode(it->val, it->vlen, &content, &size) < 0) {
			problem(c, "blob sha256:%s: damaged record", hex);
			continue;
		}
		int r = content_sha256(c->s, &content, &got, &got_size);
		if (r < 0)
			problem(c, "blob sha256:%s: content unreadable: %s", hex,
				cairn_strerror(r));
		else if (got_size != size || memcmp(got.b, it->key, CAIRN_DIGEST_LEN) != 0)
			problem(c, "blob sha256:%s: content does not match its digest", hex);
	}
	rec_list_clear(&blobs);
}

struct split_report {
	struct fsck_ctx *c;
	const char *hex;
};

static void split_line(const char *line, void *userdata)
{
	struct split_report *sr = userdata;
	if (sr->c->report) {
		_cleanup_free_ char *l = NULL;
		if (asprintf(&l, "diff sha256:%s: %s", sr->hex, line) >= 0)
			sr->c->report(l, sr->c->userdata);
	}
}

/* Replays a split and compares it with its diff_id. */
static void replay_split(struct fsck_ctx *c, const cairn_digest *diff_id, const diff_rec *d,
			 const char *hex)
{
	_cleanup_(cairn_error_freep) cairn_error *e = NULL;
	int r = diff_write_tar(c->s, diff_id, d, NULL, &e);
	if (r < 0)
		problem(c, "diff sha256:%s: replaying the tar-split: %s", hex,
			e && e->msg ? e->msg : cairn_strerror(r));
}

static void check_split(struct fsck_ctx *c, const void *key, const diff_rec *d)
{
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	hexof(key, hex);
	struct split_report sr = {c, hex};
	struct cairn_tar_split_info info;
	int n = cairn_tar_split_check(c->s, &d->split, split_line, &sr, &info);
	if (n < 0) {
		problem(c, "diff sha256:%s: tar-split unreadable: %s", hex, cairn_strerror(n));
		return;
	}
	c->problems += (uint64_t) n;
	if (n == 0 && info.size != d->size)
		problem(c, "diff sha256:%s: tar-split has %llu bytes, the diff %llu", hex,
			(unsigned long long) info.size, (unsigned long long) d->size);
	if (n == 0 && (c->flags & CAIRN_FSCK_REPLAY)) {
		cairn_digest id;
		memcpy(id.b, key, CAIRN_DIGEST_LEN);
		replay_split(c, &id, d, hex);
	}
}

static void check_diffs(struct fsck_ctx *c)
{
	rec_list diffs = {0};
	char hex[2 * CAIRN_DIGEST_LEN + 1], lhex[2 * CAIRN_ID_LEN + 1];
	if (rec_list_load(c->s, CAIRN_T_DIFFS, &diffs) < 0) {
		problem(c, "diffs: cannot be read");
		return;
	}
	for (size_t i = 0; i < diffs.n; i++) {
		struct rec_item *it = &diffs.r[i];
		diff_rec d;
		if (it->klen != CAIRN_DIGEST_LEN) {
			problem(c, "diffs: damaged key");
			continue;
		}
		hexof(it->key, hex);
		if (diff_rec_decode(it->val, it->vlen, &d) < 0) {
			problem(c, "diff sha256:%s: damaged record", hex);
			continue;
		}
		cairn_id_hex(&d.layer, lhex);
		if (cairn_store_has(c->s, CAIRN_T_LAYERS, d.layer.b, CAIRN_ID_LEN) <= 0)
			problem(c, "diff sha256:%s: layer %s missing", hex, lhex);
		if (d.from_blob &&
		    cairn_store_has(c->s, CAIRN_T_BLOBS, d.blob.b, CAIRN_DIGEST_LEN) <= 0)
			problem(c, "diff sha256:%s: source blob missing", hex);
		if (d.from_split)
			check_split(c, it->key, &d);
	}
	rec_list_clear(&diffs);
}

static void check_layer(struct fsck_ctx *c, const cairn_id *id)
{
	char hex[2 * CAIRN_ID_LEN + 1], chex[2 * CAIRN_ID_LEN + 1];
	cairn_id_hex(id, hex);
	_cleanup_(cairn_layer_freep) cairn_layer *l = NULL;
	_cleanup_(cairn_error_freep) cairn_error *e = NULL;
	int r = cairn_layer_open(c->s, id, &l, &e);
	if (r < 0) {
		problem(c, "layer %s: %s", hex, e && e->msg ? e->msg : cairn_strerror(r));
		return;
	}
	for (size_t i = 0; i < cairn_layer_count(l); i++) {
		const cairn_entry *en = cairn_layer_entry(l, i);
		if (!en->has_content || cairn_content_exists(c->s, &en->content) > 0)
			continue;
		cairn_id_hex(&en->content, chex);
		problem(c, "layer %s: \"%s\": content %s missing", hex, en->path, chex);
	}
}

static void check_layers(struct fsck_ctx *c)
{
	rec_list layers = {0};
	if (rec_list_load(c->s, CAIRN_T_LAYERS, &layers) < 0) {
		problem(c, "layers: cannot be read");
		return;
	}
	for (size_t i = 0; i < layers.n; i++) {
		if (layers.r[i].klen != CAIRN_ID_LEN)
			problem(c, "layers: damaged key");
		else
			check_layer(c, layers.r[i].key);
	}
	rec_list_clear(&layers);
}

int cairn_fsck(cairn_store *s, unsigned flags, cairn_report_fn report, void *userdata,
	       struct cairn_fsck_stats *ret, cairn_error **err)
{
	struct cairn_fsck_stats st = {0};
	int r = cairn_store_fsck(s, report, userdata, &st);
	if (r < 0)
		return cairn_error_from(err, r, "checking the store");
	struct fsck_ctx c = {.s = s,
			     .flags = flags,
			     .report = report,
			     .userdata = userdata,
			     .problems = MAX(st.problems, (uint64_t) r)};
	check_tags(&c);
	check_images(&c);
	check_blobs(&c);
	check_diffs(&c);
	check_layers(&c);
	int k = cairn_snapshot_check(s, report, userdata, err);
	if (k < 0)
		return k;
	c.problems += (uint64_t) k;
	st.problems = c.problems;
	if (ret)
		*ret = st;
	return (int) MIN(c.problems, (uint64_t) INT32_MAX);
}
