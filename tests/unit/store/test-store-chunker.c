/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* FastCDC: determinism, independence from write boundaries, size bounds,
 * shift resistance, and the pinned ids that make the format stable. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"
#include "store-test.h"
#include "tap.h"

struct cuts {
	size_t *len;
	size_t n, cap;
};

static void cuts_add(struct cuts *c, size_t len)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->len = realloc(c->len, c->cap * sizeof(*c->len));
	}
	c->len[c->n++] = len;
}

/* Feeds data in pieces of the sizes step() returns; records chunk lengths. */
static void chunk_all(const uint8_t *data, size_t n, size_t (*step)(uint64_t *), struct cuts *out)
{
	struct cdc cdc = {0};
	uint64_t rng = 99;
	size_t cur = 0;
	for (size_t off = 0; off < n;) {
		size_t piece = step(&rng);
		piece = MIN(piece, n - off);
		size_t done = 0;
		while (done < piece) {
			bool cut;
			size_t k = store_cdc_scan(&cdc, data + off + done, piece - done, &cut);
			done += k;
			cur += k;
			if (cut) {
				cuts_add(out, cur);
				cur = 0;
			}
		}
		off += piece;
	}
	if (cur)
		cuts_add(out, cur);
}

static size_t step_1(uint64_t *r)
{
	return 1;
}
static size_t step_4k(uint64_t *r)
{
	return 4096;
}
static size_t step_random(uint64_t *r)
{
	return 1 + test_rng(r) % 100000;
}
static size_t step_all(uint64_t *r)
{
	return SIZE_MAX;
}

static bool same_cuts(const struct cuts *a, const struct cuts *b)
{
	return a->n == b->n && memcmp(a->len, b->len, a->n * sizeof(*a->len)) == 0;
}

static void test_invariance(void)
{
	size_t n = 8u << 20;
	uint8_t *data = test_random(n, 1);
	struct cuts whole = {0}, one = {0}, four = {0}, rnd = {0};
	chunk_all(data, n, step_all, &whole);
	chunk_all(data, n, step_4k, &four);
	chunk_all(data, n, step_random, &rnd);
	chunk_all(data, 2u << 20, step_1, &one);
	ok(whole.n > 60 && whole.n < 250, "8 MiB gives a plausible number of chunks (%zu)",
	   whole.n);
	ok(same_cuts(&whole, &four), "4 KiB writes cut the same chunks");
	ok(same_cuts(&whole, &rnd), "random-size writes cut the same chunks");
	struct cuts head = {0};
	chunk_all(data, 2u << 20, step_all, &head);
	ok(same_cuts(&head, &one), "1-byte writes cut the same chunks (2 MiB)");
	free(whole.len);
	free(one.len);
	free(four.len);
	free(rnd.len);
	free(head.len);
	free(data);
}

static void test_bounds(void)
{
	size_t n = 64u << 20;
	uint8_t *data = test_random(n, 2);
	struct cuts c = {0};
	chunk_all(data, n, step_all, &c);
	size_t lo = SIZE_MAX, hi = 0, total = 0;
	for (size_t i = 0; i < c.n; i++) {
		total += c.len[i];
		if (i + 1 < c.n) {
			lo = MIN(lo, c.len[i]);
			hi = MAX(hi, c.len[i]);
		}
	}
	is_int(total, n, "chunks cover the input");
	ok(lo >= CHUNK_MIN, "no chunk below 16 KiB (min %zu)", lo);
	ok(hi <= CHUNK_MAX, "no chunk above 256 KiB (max %zu)", hi);
	size_t avg = n / c.n;
	ok(avg > 48 * 1024 && avg < 96 * 1024, "average near 64 KiB (%zu)", avg);
	free(c.len);
	free(data);

	/* zeros never match the masks' spread: every chunk is cut at the max */
	uint8_t *zero = calloc(1, 1u << 20);
	struct cuts z = {0};
	chunk_all(zero, 1u << 20, step_all, &z);
	ok(z.n >= 4 && z.len[0] <= CHUNK_MAX && z.len[0] >= CHUNK_MIN, "zeros: bounded chunks");
	free(z.len);
	free(zero);

	struct cuts small = {0};
	uint8_t *d = test_random(CHUNK_MIN - 1, 3);
	chunk_all(d, CHUNK_MIN - 1, step_all, &small);
	ok(small.n == 1 && small.len[0] == CHUNK_MIN - 1, "below min: one chunk");
	free(small.len);
	free(d);
}

static void test_shift(void)
{
	size_t n = 8u << 20;
	uint8_t *data = test_random(n + 100, 4);
	struct cuts a = {0}, b = {0};
	chunk_all(data + 100, n, step_all, &a);
	chunk_all(data, n + 100, step_all, &b); /* 100 bytes inserted in front */
	size_t same = 0;
	for (size_t i = 1; i <= MIN(a.n, b.n); i++)
		if (a.len[a.n - i] == b.len[b.n - i])
			same++;
	ok(same + 3 >= a.n,
	   "an insert at the front changes only the first chunks (%zu of %zu same)", same, a.n);
	free(a.len);
	free(b.len);
	free(data);
}

static void test_content_ids(cairn_store *s)
{
	size_t n = 3u << 20;
	uint8_t *data = test_random(n, 5);
	cairn_batch *b;
	cairn_id ids[3];
	cairn_batch_new(s, &b);
	for (int mode = 0; mode < 3; mode++) {
		cairn_content_writer *w;
		cairn_content_writer_new(b, &w);
		uint64_t rng = 7;
		for (size_t off = 0; off < n;) {
			size_t piece = mode == 0   ? n
				       : mode == 1 ? 4096
						   : 1 + test_rng(&rng) % 70000;
			piece = MIN(piece, n - off);
			cairn_content_write(w, data + off, piece);
			off += piece;
		}
		cairn_content_writer_finish(w, &ids[mode], NULL);
	}
	ok(memcmp(&ids[0], &ids[1], sizeof(ids[0])) == 0 &&
	       memcmp(&ids[0], &ids[2], sizeof(ids[0])) == 0,
	   "content id independent of write sizes");

	/* Pinned ids: a change here changes every id in existing stores. */
	char hex[33];
	cairn_id_hex(&ids[0], hex);
	is_str(hex, "e43c755f0ab34a8c9e34d59e70d1d99a", "3 MiB random content id is pinned");
	cairn_id e;
	cairn_batch_put_content(b, "", 0, &e);
	cairn_id_hex(&e, hex);
	is_str(hex, "4d6ac5b7d1a1655cab94ac0ace7276c0", "empty content id is pinned");
	cairn_batch_free(b);
	free(data);
}

int main(void)
{
	cairn_store *s;
	char root[4200];
	snprintf(root, sizeof(root), "%s/store", tap_tmpdir());
	test_invariance();
	test_bounds();
	test_shift();
	if (cairn_store_open(root, NULL, &s, NULL) < 0)
		return ok(0, "open"), tap_done();
	test_content_ids(s);
	cairn_store_free(s);
	return tap_done();
}
