/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tar importer's path map: every path seen so far (entries and the
 * directories they imply) -> kind and entry index.  Open addressing with
 * linear probing; keys point into the builder's arena.
 */
#include <xxhash.h>

#include "layer-internal.h"

static uint64_t path_hash(const char *key, size_t len)
{
	return XXH3_64bits(key, len);
}

static pathmap_slot *probe(pathmap_slot *slots, size_t cap, const char *key, size_t len, uint64_t h)
{
	size_t mask = cap - 1;
	for (size_t i = (size_t) h & mask;; i = (i + 1) & mask) {
		pathmap_slot *s = &slots[i];
		if (!s->key || (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0))
			return s;
	}
}

pathmap_slot *pathmap_get(pathmap *m, const char *key, size_t len)
{
	if (!m->cap)
		return NULL;
	pathmap_slot *s = probe(m->slots, m->cap, key, len, path_hash(key, len));
	return s->key ? s : NULL;
}

static int grow(pathmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 1024;
	pathmap_slot *slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		pathmap_slot *o = &m->slots[i];
		if (o->key)
			*probe(slots, cap, o->key, o->len, o->hash) = *o;
	}
	free(m->slots);
	m->slots = slots;
	m->cap = cap;
	return 0;
}

int pathmap_put(pathmap *m, const char *key, size_t len, uint8_t kind, uint32_t index,
		pathmap_slot **ret)
{
	if (len > UINT32_MAX)
		return -ENAMETOOLONG;
	if ((m->used + 1) * 10 > m->cap * 7) {
		int r = grow(m);
		if (r < 0)
			return r;
	}
	uint64_t h = path_hash(key, len);
	pathmap_slot *s = probe(m->slots, m->cap, key, len, h);
	if (!s->key)
		m->used++;
	*s = (pathmap_slot){key, (uint32_t) len, index, kind, h};
	if (ret)
		*ret = s;
	return 0;
}

void pathmap_free(pathmap *m)
{
	free(m->slots);
	*m = (pathmap){0};
}
