/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Directories: entries in insertion order, each numbered by a sequence
 * that only grows (readdir offsets are these numbers, so they stay valid
 * whatever happens to the others) and, past a few entries, an
 * open-addressing hash index by name.  A removed entry leaves a hole,
 * which keeps its number; holes are compacted away at a change once they
 * outnumber the entries (merge.c holds compaction off while it walks).
 */
#include <xxhash.h>

#include "fs-internal.h"

#define SMALL_DIR 8
#define HT_DELETED UINT32_MAX

static uint32_t name_hash(const char *name, size_t len)
{
	return (uint32_t) XXH3_64bits(name, len);
}

int dir_attach(struct node *n)
{
	n->dir = calloc(1, sizeof(*n->dir));
	return n->dir ? 0 : -ENOMEM;
}

void dir_free(struct dir *d)
{
	for (uint32_t i = 0; i < d->n; i++)
		if (d->ents[i].node && d->ents[i].own)
			free(d->ents[i].name);
	free(d->ents);
	free(d->ht);
	free(d);
}

static bool dent_is(const struct dent *de, const char *name, size_t len, uint32_t h)
{
	return de->node && de->hash == h && de->len == len && memcmp(de->name, name, len) == 0;
}

static void ht_insert(struct dir *d, uint32_t slot)
{
	uint32_t mask = d->ht_cap - 1;
	for (uint32_t i = d->ents[slot].hash & mask;; i = (i + 1) & mask) {
		if (d->ht[i] == 0 || d->ht[i] == HT_DELETED) {
			d->ht_used += d->ht[i] == 0;
			d->ht[i] = slot + 1;
			return;
		}
	}
}

/* (Re)builds the index with room for twice the live entries. */
static int ht_rebuild(struct dir *d)
{
	uint32_t cap = 16;
	while (cap < 2 * (d->live + 1))
		cap *= 2;
	uint32_t *ht = calloc(cap, sizeof(*ht));
	if (!ht)
		return -ENOMEM;
	free(d->ht);
	d->ht = ht;
	d->ht_cap = cap;
	d->ht_used = 0;
	for (uint32_t i = 0; i < d->n; i++)
		if (d->ents[i].node)
			ht_insert(d, i);
	return 0;
}

static void ht_drop(struct dir *d)
{
	free(d->ht);
	d->ht = NULL;
	d->ht_cap = d->ht_used = 0;
}

static uint32_t *ht_find(struct dir *d, const char *name, size_t len, uint32_t h)
{
	uint32_t mask = d->ht_cap - 1;
	for (uint32_t i = h & mask;; i = (i + 1) & mask) {
		uint32_t v = d->ht[i];
		if (v == 0)
			return NULL;
		if (v != HT_DELETED && dent_is(&d->ents[v - 1], name, len, h))
			return &d->ht[i];
	}
}

struct dent *dir_lookup(struct dir *d, const char *name, size_t len)
{
	uint32_t h = name_hash(name, len);
	if (d->ht) {
		uint32_t *p = ht_find(d, name, len, h);
		return p ? &d->ents[*p - 1] : NULL;
	}
	for (uint32_t i = 0; i < d->n; i++)
		if (dent_is(&d->ents[i], name, len, h))
			return &d->ents[i];
	return NULL;
}

bool dir_name_valid(const char *name, size_t len)
{
	return len > 0 && len <= 255 && memchr(name, '/', len) == NULL &&
	       !(len == 1 && name[0] == '.') && !(len == 2 && name[0] == '.' && name[1] == '.');
}

int dir_add(struct node *dirn, const char *name, size_t len, bool own, struct node *child)
{
	struct dir *d = dirn->dir;
	if (d->n == UINT32_MAX - 1 || d->next_seq == UINT32_MAX)
		return -ENOSPC;
	if (d->n == d->cap) {
		uint32_t cap = d->cap ? d->cap * 2 : 4;
		struct dent *e = realloc(d->ents, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		d->ents = e;
		d->cap = cap;
	}
	char *nm = (char *) name;
	if (own && !(nm = strndup(name, len)))
		return -ENOMEM;
	d->ents[d->n] = (struct dent){.node = child,
				      .name = nm,
				      .len = (uint32_t) len,
				      .hash = name_hash(name, len),
				      .seq = d->next_seq++,
				      .own = own};
	d->n++;
	d->live++;
	if (d->ht && 2 * (d->ht_used + 1) <= d->ht_cap)
		ht_insert(d, d->n - 1);
	else if (d->live <= SMALL_DIR || ht_rebuild(d) < 0)
		ht_drop(d); /* without an index lookups scan: slower, still correct */
	child->nlink++;
	if (node_is_dir(child)) {
		d->subdirs++;
		child->dir->parent = dirn;
	}
	return 0;
}

void dir_remove(struct node *dirn, struct dent *de)
{
	struct dir *d = dirn->dir;
	if (d->ht) {
		uint32_t *p = ht_find(d, de->name, de->len, de->hash);
		if (p)
			*p = HT_DELETED;
	}
	struct node *child = de->node;
	if (de->own)
		free(de->name);
	*de = (struct dent){.seq = de->seq};
	d->live--;
	child->nlink--;
	if (node_is_dir(child)) {
		d->subdirs--;
		child->nlink = 0;
		child->dir->parent = NULL;
	}
	dir_maybe_compact(dirn);
}

void dir_maybe_compact(struct node *dirn)
{
	struct dir *d = dirn->dir;
	if (dirn->opens || d->n < 32 || d->n - d->live < d->live)
		return;
	uint32_t j = 0;
	for (uint32_t i = 0; i < d->n; i++)
		if (d->ents[i].node)
			d->ents[j++] = d->ents[i];
	d->n = j;
	if (d->live <= SMALL_DIR || ht_rebuild(d) < 0)
		ht_drop(d);
}

uint32_t dir_seek(const struct dir *d, uint64_t seq)
{
	uint32_t lo = 0, hi = d->n;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (d->ents[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct dent *dir_slot(struct dir *d, uint32_t *i)
{
	while (*i < d->n && !d->ents[*i].node)
		(*i)++;
	return *i < d->n ? &d->ents[*i] : NULL;
}

static int dent_cmp(const void *a, const void *b)
{
	const struct dent *x = *(struct dent *const *) a, *y = *(struct dent *const *) b;
	int c = memcmp(x->name, y->name, MIN(x->len, y->len));
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

int dir_sorted(struct dir *d, struct dent ***ret, size_t *ret_n)
{
	struct dent **v = malloc((d->live ? d->live : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	size_t n = 0;
	for (uint32_t i = 0; i < d->n; i++)
		if (d->ents[i].node)
			v[n++] = &d->ents[i];
	qsort(v, n, sizeof(*v), dent_cmp);
	*ret = v;
	*ret_n = n;
	return 0;
}
