/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Ids and digests: hex forms, parsing, and hash sets/maps keyed by
 * cairn_id (open addressing; the ids are hashes already, so their first
 * eight bytes are the slot hash).
 */
#include "store-internal.h"

static const char hexdigits[] = "0123456789abcdef";

static void hex_encode(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdigits[p[i] >> 4];
		out[2 * i + 1] = hexdigits[p[i] & 15];
	}
	out[2 * n] = 0;
}

static int hex_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 2n hex digits, nothing after them. */
static int hex_decode(const char *s, uint8_t *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_nibble(s[2 * i]), lo = hex_nibble(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t) (hi << 4 | lo);
	}
	return 0;
}

void cairn_id_hex(const cairn_id *id, char out[2 * CAIRN_ID_LEN + 1])
{
	hex_encode(id->b, CAIRN_ID_LEN, out);
}

int cairn_id_parse(const char *hex, cairn_id *ret)
{
	cairn_id id;
	int r = hex_decode(hex, id.b, CAIRN_ID_LEN);
	if (r < 0)
		return r;
	*ret = id;
	return 0;
}

void cairn_digest_hex(const cairn_digest *d, char out[2 * CAIRN_DIGEST_LEN + 1])
{
	hex_encode(d->b, CAIRN_DIGEST_LEN, out);
}

int cairn_digest_parse(const char *s, bool allow_bare, cairn_digest *ret)
{
	cairn_digest d;
	if (!s)
		return -EINVAL;
	if (strncmp(s, "sha256:", 7) == 0)
		s += 7;
	else if (!allow_bare)
		return -EINVAL;
	int r = hex_decode(s, d.b, CAIRN_DIGEST_LEN);
	if (r < 0)
		return r;
	*ret = d;
	return 0;
}

char *cairn_digest_string(const cairn_digest *d)
{
	char *s = malloc(7 + 2 * CAIRN_DIGEST_LEN + 1);
	if (!s)
		return NULL;
	memcpy(s, "sha256:", 7);
	hex_encode(d->b, CAIRN_DIGEST_LEN, s + 7);
	return s;
}

bool cairn_id_is_zero(const cairn_id *id)
{
	static const cairn_id zero;
	return memcmp(id, &zero, sizeof(zero)) == 0;
}

/* ---- idmap ---- */

static size_t id_slot(const cairn_id *id, size_t cap)
{
	uint64_t h;
	memcpy(&h, id->b, sizeof(h));
	return (size_t) (h * 0x9E3779B97F4A7C15ull >> 17) & (cap - 1);
}

static inline bool id_zero(const cairn_id *id)
{
	uint64_t a, b;
	memcpy(&a, id->b, 8);
	memcpy(&b, id->b + 8, 8);
	return (a | b) == 0;
}

static struct idmap_entry *idmap_find(struct idmap_entry *e, size_t cap, const cairn_id *id)
{
	for (size_t i = id_slot(id, cap);; i = (i + 1) & (cap - 1))
		if (id_zero(&e[i].id) || memcmp(&e[i].id, id, sizeof(*id)) == 0)
			return &e[i];
}

static int idmap_grow(idmap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 64;
	struct idmap_entry *e = calloc(cap, sizeof(*e));
	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++)
		if (!id_zero(&m->e[i].id))
			*idmap_find(e, cap, &m->e[i].id) = m->e[i];
	free(m->e);
	m->e = e;
	m->cap = cap;
	return 0;
}

int store_idmap_upsert(idmap *m, const cairn_id *id, struct idmap_entry **ret, bool *ret_new)
{
	if (id_zero(id)) {
		bool fresh = !m->has_zero;
		if (fresh)
			m->zero = (struct idmap_entry){.id = *id};
		m->has_zero = true;
		*ret = &m->zero;
		if (ret_new)
			*ret_new = fresh;
		return 0;
	}
	if ((m->n + 1) * 2 > m->cap) {
		int r = idmap_grow(m);
		if (r < 0)
			return r;
	}
	struct idmap_entry *e = idmap_find(m->e, m->cap, id);
	bool fresh = id_zero(&e->id);
	if (fresh) {
		*e = (struct idmap_entry){.id = *id};
		m->n++;
	}
	*ret = e;
	if (ret_new)
		*ret_new = fresh;
	return 0;
}

struct idmap_entry *store_idmap_get(const idmap *m, const cairn_id *id)
{
	if (id_zero(id))
		return m->has_zero ? (struct idmap_entry *) &m->zero : NULL;
	if (!m->cap)
		return NULL;
	struct idmap_entry *e = idmap_find(m->e, m->cap, id);
	return id_zero(&e->id) ? NULL : e;
}

struct idmap_entry *store_idmap_next(idmap *m, size_t *i)
{
	while (*i < m->cap) {
		struct idmap_entry *e = &m->e[(*i)++];
		if (!id_zero(&e->id))
			return e;
	}
	if (*i == m->cap && m->has_zero) {
		(*i)++;
		return &m->zero;
	}
	return NULL;
}

void store_idmap_clear(idmap *m)
{
	free(m->e);
	*m = (idmap){0};
}

/* ---- public idset ---- */

struct cairn_idset {
	idmap m;
};

cairn_idset *cairn_idset_new(void)
{
	return calloc(1, sizeof(cairn_idset));
}

void cairn_idset_free(cairn_idset *set)
{
	if (!set)
		return;
	store_idmap_clear(&set->m);
	free(set);
}

int cairn_idset_add(cairn_idset *set, const cairn_id *id)
{
	struct idmap_entry *e;
	bool fresh;
	int r = store_idmap_upsert(&set->m, id, &e, &fresh);
	return r < 0 ? r : fresh ? 1 : 0;
}

bool cairn_idset_has(const cairn_idset *set, const cairn_id *id)
{
	return store_idmap_get(&set->m, id) != NULL;
}

size_t cairn_idset_count(const cairn_idset *set)
{
	return set->m.n + (set->m.has_zero ? 1 : 0);
}
