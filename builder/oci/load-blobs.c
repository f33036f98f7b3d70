/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Pass 2 of `load`: streams the planned blobs out of the source.  Layers
 * go through the layer importer; when the blob is new it keeps the raw
 * bytes of a compressed blob, or records a tar-split for an uncompressed
 * one (the split reproduces the blob from the layer's contents, so its
 * file data is not stored twice).  Blobs whose diff is already known are
 * only stored and verified; non-layer blobs are stored verbatim.  Every blob is checked
 * against its descriptor's digest and size and every layer against the
 * config's diff_id before anything is staged as a record.
 */
#include <cairn/image.h>

#include "load.h"

DEFINE_CLEANUP_FUNC(cairn_content_writer, cairn_content_writer_free)

#define READ_BUF (128u << 10)

static void hex12(const cairn_digest *d, char out[13])
{
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	cairn_digest_hex(d, hex);
	snprintf(out, 13, "%.12s", hex);
}

static int check_blob(struct load_ctx *c, const struct plan *p, const cairn_digest *got,
		      uint64_t got_size, cairn_error **err)
{
	if (!p->digest_known ||
	    (got_size == p->size && memcmp(got->b, p->digest.b, CAIRN_DIGEST_LEN) == 0))
		return 0;
	char want[13], have[13];
	hex12(&p->digest, want);
	hex12(got, have);
	return cairn_error_set(err, CAIRN_E_DIGEST,
			       "%s: %s: content does not match its descriptor (sha256:%s, %llu "
			       "bytes): it has sha256:%s, %llu bytes",
			       c->label, p->path, want, (unsigned long long) p->size, have,
			       (unsigned long long) got_size);
}

static int check_diff(struct load_ctx *c, const struct plan *p, const cairn_digest *got,
		      cairn_error **err)
{
	if (memcmp(got->b, p->diff_id.b, CAIRN_DIGEST_LEN) == 0)
		return 0;
	char want[13], have[13];
	hex12(&p->diff_id, want);
	hex12(got, have);
	return cairn_error_set(err, CAIRN_E_DIGEST,
			       "%s: %s: uncompressed content has sha256:%s, but the config's "
			       "diff_id is sha256:%s",
			       c->label, p->path, have, want);
}

/* Hashes what the importer reads, so that a blob the importer refuses
 * (bad compressed data) can still be reported as not matching its digest. */
struct hash_tee {
	cairn_read_fn rf;
	void *rud;
	cairn_writer *dw;
};

static ssize_t hash_read(void *userdata, void *data, size_t len)
{
	struct hash_tee *h = userdata;
	ssize_t n = h->rf(h->rud, data, len);
	if (n > 0) {
		int r = cairn_writer_write(h->dw, data, (size_t) n);
		if (r < 0)
			return r;
	}
	return n;
}

/* After a failed import: when the whole blob can be read and does not
 * match its descriptor, that is the error to report. */
static void import_failed(struct load_ctx *c, const struct plan *p, struct hash_tee *h,
			  cairn_error **err)
{
	_cleanup_free_ char *b = malloc(READ_BUF);
	ssize_t n = b ? 1 : -ENOMEM;
	while (n > 0)
		n = hash_read(h, b, READ_BUF);
	if (n < 0)
		return;
	cairn_digest got;
	uint64_t size;
	cairn_writer_digest_result(h->dw, &got, &size);
	if (size == p->size && memcmp(got.b, p->digest.b, CAIRN_DIGEST_LEN) == 0)
		return;
	if (err) {
		cairn_error_free(*err);
		*err = NULL;
	}
	check_blob(c, p, &got, size, err);
}

static int do_import(struct load_ctx *c, struct plan *p, cairn_read_fn rf, void *rud,
		     cairn_error **err)
{
	_cleanup_free_ char *name = NULL;
	_cleanup_(cairn_writer_freep) cairn_writer *dw = NULL;
	if (p->digest_known && !(dw = cairn_writer_digest(NULL)))
		return -ENOMEM;
	if (asprintf(&name, "%s: %s", c->label, p->path) < 0)
		return -ENOMEM;
	struct hash_tee h = {rf, rud, dw};
	struct cairn_tar_import_options o = {
	    .name = name, .keep_blob = p->keep_blob, .tar_split = p->keep_blob};
	int r = cairn_layer_import_tar(c->b, dw ? hash_read : rf, dw ? (void *) &h : rud, &o,
				       &p->res, err);
	if (r < 0) {
		if (dw)
			import_failed(c, p, &h, err);
		return cairn_error_from(err, err && *err ? (*err)->code : r, "%s", name);
	}
	r = check_blob(c, p, &p->res.blob_digest, p->res.blob_size, err);
	if (r >= 0)
		r = check_diff(c, p, &p->res.diff_id, err);
	p->got_digest = p->res.blob_digest;
	p->got_size = p->res.blob_size;
	p->content = p->res.blob_content; /* when res.has_blob_content */
	return r;
}

/* Tees the raw bytes into a content writer. */
struct tee {
	cairn_read_fn rf;
	void *rud;
	cairn_content_writer *w;
	cairn_writer *digest;
};

static ssize_t tee_read(void *userdata, void *data, size_t len)
{
	struct tee *t = userdata;
	ssize_t n = t->rf(t->rud, data, len);
	if (n > 0) {
		int r = cairn_content_write(t->w, data, (size_t) n);
		if (r >= 0)
			r = cairn_writer_write(t->digest, data, (size_t) n);
		if (r < 0)
			return r;
	}
	return n;
}

/* Reads the decompressed stream to the end; its digest goes to ret_plain. */
static int drain_plain(struct tee *t, cairn_digest *ret_plain, cairn_error **err, const char *name)
{
	_cleanup_(cairn_reader_freep) cairn_reader *rd = NULL;
	_cleanup_free_ char *b = malloc(READ_BUF);
	int r = b ? cairn_reader_new(tee_read, t, &rd) : -ENOMEM;
	ssize_t n = 1;
	while (r >= 0 && n > 0) {
		n = cairn_reader_read(rd, b, READ_BUF);
		if (n < 0)
			r = (int) n;
	}
	if (r < 0)
		return cairn_error_from(err, r, "%s: decompressing", name);
	uint64_t plain_size;
	cairn_reader_digests(rd, NULL, NULL, ret_plain, &plain_size);
	return 0;
}

static int drain_raw(struct tee *t, cairn_error **err, const char *name)
{
	_cleanup_free_ char *b = malloc(READ_BUF);
	if (!b)
		return -ENOMEM;
	for (;;) {
		ssize_t n = tee_read(t, b, READ_BUF);
		if (n < 0)
			return cairn_error_from(err, (int) n, "%s: reading", name);
		if (n == 0)
			return 0;
	}
}

static int do_blob(struct load_ctx *c, struct plan *p, cairn_read_fn rf, void *rud,
		   cairn_error **err)
{
	_cleanup_(cairn_content_writer_freep) cairn_content_writer *w = NULL;
	_cleanup_(cairn_writer_freep) cairn_writer *dw = cairn_writer_digest(NULL);
	_cleanup_free_ char *name = NULL;
	if (!dw || asprintf(&name, "%s: %s", c->label, p->path) < 0)
		return -ENOMEM;
	int r = cairn_content_writer_new(c->b, &w);
	if (r < 0)
		return cairn_error_from(err, r, "%s: storing", name);
	struct tee t = {rf, rud, w, dw};
	cairn_digest plain;
	r = p->act == ACT_BLOB ? drain_plain(&t, &plain, err, name) : 0;
	if (r >= 0) /* the rest (all of a raw blob; trailing bytes after a compressed stream) */
		r = drain_raw(&t, err, name);
	if (r < 0)
		return r;
	cairn_writer_digest_result(dw, &p->got_digest, &p->got_size);
	r = cairn_content_writer_finish(steal_pointer(&w), &p->content, NULL);
	if (r < 0)
		return cairn_error_from(err, r, "%s: storing", name);
	r = check_blob(c, p, &p->got_digest, p->got_size, err);
	if (r >= 0 && p->act == ACT_BLOB)
		r = check_diff(c, p, &plain, err);
	return r;
}

static int stream_one(const char *path, cairn_read_fn rf, void *rud, void *userdata,
		      cairn_error **err)
{
	struct load_ctx *c = userdata;
	struct plan *p = load_plan_find(c, path);
	if (!p || p->done || p->act == ACT_SKIP)
		return 0;
	int r = p->act == ACT_IMPORT ? do_import(c, p, rf, rud, err) : do_blob(c, p, rf, rud, err);
	if (r >= 0)
		p->done = true;
	return r;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

int load_stream(struct load_ctx *c, cairn_error **err)
{
	_cleanup_free_ char **paths = calloc(c->n_plans + 1, sizeof(char *));
	size_t n = 0;
	if (!paths)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_plans; i++)
		if (c->plans[i].act != ACT_SKIP)
			paths[n++] = c->plans[i].path;
	qsort(paths, n, sizeof(*paths), str_cmp);
	int r = src_stream(c->src, paths, n, stream_one, c, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < c->n_plans; i++)
		if (c->plans[i].act != ACT_SKIP && !c->plans[i].done)
			return cairn_error_set(err, CAIRN_E_NOTFOUND, "%s: %s: blob missing",
					       c->label, c->plans[i].path);
	return 0;
}

static int stage_diff(struct load_ctx *c, const struct plan *p)
{
	for (size_t i = 0; i < c->n_diffs; i++)
		if (memcmp(c->diffs[i].b, p->res.diff_id.b, CAIRN_DIGEST_LEN) == 0)
			return 0;
	if (cairn_store_has(c->s, CAIRN_T_DIFFS, p->res.diff_id.b, CAIRN_DIGEST_LEN) > 0)
		return 0;
	diff_rec d = {
	    .layer = p->res.layer,
	    .size = p->res.diff_size,
	    .from_blob = !p->res.has_tar_split,
	    .blob = p->res.blob_digest,
	    .blob_compression = p->res.compression,
	    .from_split = p->res.has_tar_split,
	    .split = p->res.tar_split,
	};
	int r = diff_put(c->b, &p->res.diff_id, &d);
	if (r < 0)
		return r;
	cairn_digest *n = realloc(c->diffs, (c->n_diffs + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	n[c->n_diffs++] = p->res.diff_id;
	c->diffs = n;
	return 0;
}

int load_stage_plans(struct load_ctx *c)
{
	for (size_t i = 0; i < c->n_plans; i++) {
		const struct plan *p = &c->plans[i];
		int r = 0;
		if (p->act == ACT_SKIP)
			continue;
		if (p->act != ACT_IMPORT || p->res.has_blob_content)
			r = blob_put(c->b, &p->got_digest, &p->content, p->got_size);
		if (r >= 0 && p->act == ACT_IMPORT)
			r = stage_diff(c, p);
		if (r < 0)
			return r;
	}
	return 0;
}
