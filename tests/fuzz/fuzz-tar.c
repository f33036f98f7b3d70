/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the tar importer.  Each input is imported into one
 * store (created once under a temporary directory) with a tar-split; an
 * input that imports must replay from its split to exactly its plain
 * (decompressed) bytes (or, with keep_blob and compressed input, keep
 * exactly its raw bytes), and is exported: the export must import to the
 * same layer and export to the same bytes again.  Errors must come with a one-line
 * message.  Layers are dropped after each run and the store is swept
 * every 64 runs, so it does not grow.
 */
#include <cairn/layer.h>
#include <cairn/stream.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cairn_store *store;
static char store_dir[4096];
static unsigned runs;

static void store_cleanup(void)
{
	char cmd[4200];
	cairn_store_free(store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", store_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", store_dir);
}

static cairn_store *get_store(void)
{
	if (store)
		return store;
	const char *tmp = getenv("TMPDIR");
	snprintf(store_dir, sizeof(store_dir), "%s/cairn-fuzz-tar-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(store_dir) || cairn_store_open(store_dir, NULL, &store, NULL) < 0)
		abort();
	atexit(store_cleanup);
	return store;
}

struct mem {
	const uint8_t *p;
	size_t len, pos;
};

static ssize_t mem_read(void *userdata, void *out, size_t len)
{
	struct mem *m = userdata;
	size_t n = MIN(len, m->len - m->pos);
	memcpy(out, m->p + m->pos, n);
	m->pos += n;
	return (ssize_t) n;
}

static int mem_append(void *userdata, const void *p, size_t len)
{
	return buf_append(userdata, p, len);
}

/* The decompressed bytes of an input that imported (so it decompresses). */
static void plain_of(const uint8_t *data, size_t size, bytebuf *out)
{
	struct mem m = {data, size, 0};
	cairn_reader *rd = NULL;
	uint8_t buf[65536];
	if (cairn_reader_new(mem_read, &m, &rd) < 0)
		abort();
	for (;;) {
		ssize_t n = cairn_reader_read(rd, buf, sizeof(buf));
		if (n < 0)
			abort();
		if (n == 0)
			break;
		if (buf_append(out, buf, (size_t) n) < 0)
			abort();
	}
	cairn_reader_free(rd);
}

static bool content_is(const cairn_id *id, const void *data, size_t len)
{
	void *got = NULL;
	size_t got_len = 0;
	bool same = cairn_content_read_all(store, id, &got, &got_len) >= 0 && got_len == len &&
		    memcmp(got, data, len) == 0;
	free(got);
	return same;
}

/* What the import kept reproduces the input: the split its plain bytes,
 * the blob its raw bytes. */
static void check_kept(const uint8_t *data, size_t size, const struct cairn_tar_import_result *res,
		       bool keep_blob)
{
	if (keep_blob && res->has_tar_split == res->has_blob_content)
		abort(); /* exactly one of them */
	if (!keep_blob && (!res->has_tar_split || res->has_blob_content))
		abort();
	if (res->has_blob_content && !content_is(&res->blob_content, data, size))
		abort();
	if (!res->has_tar_split)
		return;
	bytebuf plain = {0}, out = {0};
	plain_of(data, size, &plain);
	cairn_writer *w = cairn_writer_fn(mem_append, &out);
	if (!w || cairn_tar_split_write(store, &res->tar_split, w, NULL) < 0)
		abort(); /* a stored split always replays */
	cairn_writer_free(w);
	if (out.len != plain.len || (out.len && memcmp(out.data, plain.data, out.len) != 0) ||
	    plain.len != res->diff_size)
		abort(); /* replay == the plain input */
	if (cairn_tar_split_check(store, &res->tar_split, NULL, NULL, NULL) != 0)
		abort();
	buf_clear(&plain);
	buf_clear(&out);
}

/* Imports and commits; returns the import's result. */
static int import(const uint8_t *data, size_t size, cairn_id *ret)
{
	struct mem m = {data, size, 0};
	struct cairn_tar_import_options o = {
	    .name = "fuzz.tar", .keep_blob = size & 1, .tar_split = true};
	struct cairn_tar_import_result res;
	cairn_batch *b = NULL;
	cairn_error *err = NULL;
	int r = cairn_batch_new(store, &b);
	if (r < 0)
		abort();
	r = cairn_layer_import_tar(b, mem_read, &m, &o, &res, &err);
	if (r < 0 && (!err || !err->msg || strchr(err->msg, '\n')))
		abort(); /* every refusal says why, on one line */
	if (r >= 0 && cairn_batch_commit(b, NULL) < 0)
		abort();
	cairn_batch_free(b); /* abandons a failed import */
	cairn_error_free(err);
	if (r >= 0)
		check_kept(data, size, &res, o.keep_blob);
	if (r >= 0)
		*ret = res.layer;
	return r;
}

static void export(const cairn_id *layer, bytebuf *out)
{
	cairn_writer *w = cairn_writer_fn(mem_append, out);
	if (!w || cairn_layer_export_tar(store, layer, NULL, w, NULL) < 0)
		abort(); /* a stored layer always exports */
	cairn_writer_free(w);
}

static void forget(const cairn_id *layer)
{
	cairn_batch *batch = NULL;
	if (cairn_batch_new(store, &batch) < 0)
		abort();
	cairn_batch_del(batch, CAIRN_T_LAYERS, layer->b, CAIRN_ID_LEN);
	cairn_batch_commit(batch, NULL);
	cairn_batch_free(batch);
}

/* Chunks of failed imports and of forgotten layers go every 64 runs. */
static void maybe_sweep(void)
{
	if (++runs % 64 == 0) {
		cairn_idset *none = cairn_idset_new();
		cairn_store_lock_exclusive(store);
		cairn_store_sweep(store, none, NULL);
		cairn_store_unlock_exclusive(store);
		cairn_idset_free(none);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	get_store();
	cairn_id layer, again;
	if (import(data, size, &layer) < 0) {
		maybe_sweep();
		return 0;
	}
	bytebuf e1 = {0}, e2 = {0};
	export(&layer, &e1);
	if (import(e1.data, e1.len, &again) < 0 || memcmp(&layer, &again, sizeof(layer)) != 0)
		abort(); /* import(export(layer)) == layer */
	export(&again, &e2);
	if (e1.len != e2.len || memcmp(e1.data, e2.data, e1.len) != 0)
		abort(); /* deterministic export */
	buf_clear(&e1);
	buf_clear(&e2);
	forget(&layer);
	maybe_sweep();
	return 0;
}
