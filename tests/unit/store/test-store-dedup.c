/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Deduplication and compression, measured with cairn_store_usage. */
#include <stdlib.h>
#include <string.h>

#include <cairn/store.h>

#include "store-test.h"
#include "tap.h"

static cairn_id put(cairn_store *s, const uint8_t *data, size_t n, size_t piece)
{
	cairn_batch *b;
	cairn_content_writer *w;
	cairn_error *err = NULL;
	cairn_id id = {{0}};
	cairn_batch_new(s, &b);
	cairn_content_writer_new(b, &w);
	for (size_t off = 0; off < n; off += piece)
		cairn_content_write(w, data + off, MIN(piece, n - off));
	cairn_content_writer_finish(w, &id, NULL);
	if (cairn_batch_commit(b, &err) < 0)
		ok(0, "commit: %s", err->msg);
	cairn_batch_free(b);
	cairn_error_free(err);
	return id;
}

static bool content_equals(cairn_store *s, const cairn_id *id, const uint8_t *data, size_t n)
{
	cairn_content *c;
	if (cairn_content_open(s, id, &c) < 0)
		return false;
	uint8_t *got = malloc(n + 1);
	ssize_t r = cairn_content_read(c, got, n + 1);
	bool same = r == (ssize_t) n && memcmp(got, data, n) == 0 && cairn_content_size(c) == n;
	free(got);
	cairn_content_free(c);
	return same;
}

int main(void)
{
	cairn_store *s;
	char root[4200];
	struct cairn_store_usage u0, u1, u2, u3;
	snprintf(root, sizeof(root), "%s/store", tap_tmpdir());
	if (cairn_store_open(root, NULL, &s, NULL) < 0)
		return ok(0, "open"), tap_done();

	size_t n = 8u << 20;
	uint8_t *a = test_random(n, 11);
	cairn_store_usage(s, &u0);
	cairn_id ida = put(s, a, n, 65536);
	cairn_store_usage(s, &u1);
	ok(u1.chunk_bytes - u0.chunk_bytes == n, "8 MiB random stored once (%llu bytes)",
	   (unsigned long long) (u1.chunk_bytes - u0.chunk_bytes));
	ok(u1.stored_bytes - u0.stored_bytes <= n + n / 100, "incompressible data stored raw");
	is_int(u1.contents - u0.contents, 1, "one content");
	is_int(u1.logical_bytes - u0.logical_bytes, n, "logical bytes");

	/* same bytes again: nothing new */
	cairn_id again = put(s, a, n, 1000);
	cairn_store_usage(s, &u2);
	ok(memcmp(&again, &ida, sizeof(ida)) == 0, "same content, same id");
	is_int(u2.chunks, u1.chunks, "no new chunks");
	is_int(u2.contents, u1.contents, "no new content");

	/* 64 KiB changed in the middle */
	uint8_t *b = malloc(n);
	memcpy(b, a, n);
	uint8_t *patch = test_random(65536, 12);
	memcpy(b + n / 2, patch, 65536);
	cairn_id idb = put(s, b, n, 100000);
	cairn_store_usage(s, &u3);
	uint64_t new_chunks = u3.chunks - u2.chunks;
	ok(new_chunks >= 1 && new_chunks <= 4, "64 KiB change adds a few chunks (%llu)",
	   (unsigned long long) new_chunks);
	ok(u3.stored_bytes - u2.stored_bytes <= 4 * 256 * 1024, "and at most ~1 MiB (%llu bytes)",
	   (unsigned long long) (u3.stored_bytes - u2.stored_bytes));
	is_int(u3.logical_bytes - u2.logical_bytes, n, "logical bytes count each content");
	ok(content_equals(s, &ida, a, n), "first content reads back");
	ok(content_equals(s, &idb, b, n), "second content reads back");

	/* compressible data is compressed */
	uint8_t *t = test_text(4u << 20, 13);
	struct cairn_store_usage v0, v1;
	cairn_store_usage(s, &v0);
	cairn_id idt = put(s, t, 4u << 20, 4u << 20);
	cairn_store_usage(s, &v1);
	ok((v1.stored_bytes - v0.stored_bytes) * 3 < (v1.chunk_bytes - v0.chunk_bytes),
	   "text compresses (%llu -> %llu)", (unsigned long long) (v1.chunk_bytes - v0.chunk_bytes),
	   (unsigned long long) (v1.stored_bytes - v0.stored_bytes));
	ok(content_equals(s, &idt, t, 4u << 20), "text reads back");
	ok(v1.file_bytes > 0, "file size reported");

	/* two writers with the same data in one batch: one content, chunks once */
	cairn_batch *bt;
	cairn_id x1, x2;
	uint8_t *c = test_random(1u << 20, 14);
	cairn_store_usage(s, &v0);
	cairn_batch_new(s, &bt);
	cairn_batch_put_content(bt, c, 1u << 20, &x1);
	cairn_batch_put_content(bt, c, 1u << 20, &x2);
	is_int(cairn_batch_commit(bt, NULL), 0, "commit duplicate contents");
	cairn_batch_free(bt);
	cairn_store_usage(s, &v1);
	is_int(v1.contents - v0.contents, 1, "one content record");
	is_int(v1.chunk_bytes - v0.chunk_bytes, 1u << 20, "chunks stored once");

	struct cairn_fsck_stats st;
	is_int(cairn_store_fsck(s, test_report, NULL, &st), 0, "fsck clean");
	is_int(st.garbage_chunks, 0, "no garbage");
	free(a);
	free(b);
	free(c);
	free(t);
	free(patch);
	cairn_store_free(s);
	return tap_done();
}
