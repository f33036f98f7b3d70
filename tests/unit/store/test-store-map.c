/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Map growth: a 1 MiB initial map (CAIRN_MAP_SIZE) takes 64 MiB of contents
 * and thousands of records, in one batch and in many. */
#include <stdlib.h>
#include <string.h>

#include <cairn/store.h>

#include "store-test.h"
#include "tap.h"

int main(void)
{
	cairn_store *s;
	cairn_batch *b;
	cairn_error *err = NULL;
	char root[4200];
	struct cairn_fsck_stats st;
	snprintf(root, sizeof(root), "%s/store", tap_tmpdir());
	setenv("CAIRN_MAP_SIZE", "1048576", 1);
	if (cairn_store_open(root, NULL, &s, &err) < 0)
		return ok(0, "open: %s", err ? err->msg : "?"), tap_done();

	/* 64 MiB in one batch: chunk transactions and the commit grow the map */
	size_t n = 64u << 20;
	uint8_t *data = test_random(n, 51);
	cairn_id id;
	cairn_batch_new(s, &b);
	is_int(cairn_batch_put_content(b, data, n, &id), 0, "write 64 MiB");
	for (int i = 0; i < 5000; i++) {
		char k[32], v[200];
		int kl = snprintf(k, sizeof(k), "layer-%d", i);
		memset(v, 'a' + i % 26, sizeof(v));
		cairn_batch_put(b, CAIRN_T_LAYERS, k, (size_t) kl, v, sizeof(v));
	}
	int r = cairn_batch_commit(b, &err);
	is_int(r, 0, "commit with a 1 MiB initial map%s%s", err ? ": " : "", err ? err->msg : "");
	cairn_batch_free(b);

	void *all;
	size_t len;
	ok(cairn_content_read_all(s, &id, &all, &len) == 0 && len == n && memcmp(all, data, n) == 0,
	   "64 MiB reads back");
	free(all);
	struct count_walk w = {0};
	cairn_store_foreach(s, CAIRN_T_LAYERS, count_rec, &w);
	is_int(w.n, 5000, "5000 records");
	struct cairn_store_usage u;
	cairn_store_usage(s, &u);
	ok(u.file_bytes > n, "data file grew past 64 MiB (%llu)",
	   (unsigned long long) u.file_bytes);
	cairn_store_free(s);

	/* reopen with the small setting: the map must cover the file */
	if (cairn_store_open(root, NULL, &s, &err) < 0)
		return ok(0, "reopen: %s", err ? err->msg : "?"), tap_done();
	uint8_t *more = test_random(8u << 20, 52);
	for (int i = 0; i < 8; i++) {
		cairn_id x;
		cairn_batch_new(s, &b);
		cairn_batch_put_content(b, more + (size_t) i * (1u << 20), 1u << 20, &x);
		is_int(cairn_batch_commit(b, NULL), 0, "small batch %d after reopen", i);
		cairn_batch_free(b);
	}
	is_int(cairn_store_fsck(s, test_report, NULL, &st), 0, "fsck clean");
	is_int(st.garbage_chunks, 0, "no garbage");
	cairn_store_free(s);
	free(more);
	free(data);
	cairn_error_free(err);
	return tap_done();
}
