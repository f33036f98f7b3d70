/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_STORE_TEST_H
#define CAIRN_STORE_TEST_H

/* Helpers shared by the store unit tests. */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

static inline uint64_t test_rng(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* n pseudo-random (incompressible) bytes from seed. */
static inline uint8_t *test_random(size_t n, uint64_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = test_rng(&seed);
		memcpy(p + i, &v, n - i < 8 ? n - i : 8);
	}
	return p;
}

/* n compressible bytes: random words from a small vocabulary. */
static inline uint8_t *test_text(size_t n, uint64_t seed)
{
	static const char *const words[] = {"store ",	"chunk ", "layer ", "image ", "cairn ",
					    "content ", "hash ",  "zstd ",  "\n",     "lmdb "};
	uint8_t *p = malloc(n ? n : 1);
	size_t i = 0;
	while (i < n) {
		const char *w = words[test_rng(&seed) % 10];
		size_t l = strlen(w);
		if (l > n - i)
			l = n - i;
		memcpy(p + i, w, l);
		i += l;
	}
	return p;
}

static inline bool test_all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static inline void test_report(const char *line, void *userdata)
{
	printf("# fsck: %s\n", line);
	if (userdata) {
		char *acc = userdata; /* 4096-byte accumulator */
		size_t l = strlen(acc);
		snprintf(acc + l, 4096 - l, "%s\n", line);
	}
}

struct count_walk {
	int n;
	bool sorted;
	char last[64];
};

static inline int count_rec(const void *key, size_t klen, const void *val, size_t vlen,
			    void *userdata)
{
	struct count_walk *w = userdata;
	char k[64];
	snprintf(k, sizeof(k), "%.*s", (int) klen, (const char *) key);
	if (w->n == 0)
		w->sorted = true;
	else if (strcmp(w->last, k) >= 0)
		w->sorted = false;
	strcpy(w->last, k);
	w->n++;
	return 0;
}

#endif
