/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Store-wide walks: usage figures, the content id walk, and sweep (the
 * garbage collector behind prune).
 */
#include "store-internal.h"

#include <sys/stat.h>

#define SCAN_SLICE 4096
#define DELETE_SLICE 1024

/* ---- usage ---- */

struct usage_ctx {
	cairn_store *s;
	struct cairn_store_usage u;
};

static int usage_chunk(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *userdata)
{
	struct usage_ctx *c = userdata;
	ssize_t raw = store_chunk_raw_len(v->mv_data, v->mv_size);
	store_touched(c->s, PAGE_TOUCH, true); /* the frame header's page */
	c->u.chunks++;
	c->u.stored_bytes += v->mv_size;
	if (raw > 0)
		c->u.chunk_bytes += (uint64_t) raw;
	return 0;
}

static int usage_content(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *userdata)
{
	struct usage_ctx *c = userdata;
	struct record_iter it;
	struct segment seg;
	c->u.contents++;
	int r = store_record_iter_init(&it, v->mv_data, v->mv_size);
	while (r >= 0 && (r = store_record_iter_next(&it, &seg)) > 0)
		if (!seg.hole)
			c->u.logical_bytes += seg.len;
	return 0; /* damaged records are fsck's business */
}

int cairn_store_usage(cairn_store *s, struct cairn_store_usage *ret)
{
	struct usage_ctx c = {.s = s};
	int r = store_scan(s, s->dbi_chunks, SCAN_SLICE, usage_chunk, &c);
	if (r >= 0)
		r = store_scan(s, s->dbi_contents, SCAN_SLICE, usage_content, &c);
	if (r < 0)
		return r;
	_cleanup_free_ char *path = NULL;
	struct stat st;
	if (asprintf(&path, "%s/store.mdb", s->root) < 0)
		return -ENOMEM;
	if (stat(path, &st) == 0)
		c.u.file_bytes = (uint64_t) st.st_size;
	*ret = c.u;
	return 0;
}

/* ---- content ids ---- */

struct idlist {
	cairn_id *ids;
	size_t n, cap;
};

static int idlist_add(struct idlist *l, const void *id)
{
	if (ARRAY_RESERVE(l->ids, l->cap, l->n + 1, 256) < 0)
		return -ENOMEM;
	memcpy(l->ids[l->n++].b, id, CAIRN_ID_LEN);
	return 0;
}

static int collect_id(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *userdata)
{
	return k->mv_size == CAIRN_ID_LEN ? idlist_add(userdata, k->mv_data) : 0;
}

/* The ids are collected first, so fn runs outside any transaction. */
int cairn_store_foreach_content(cairn_store *s, cairn_id_fn fn, void *userdata)
{
	struct idlist l = {0};
	int r = store_scan(s, s->dbi_contents, SCAN_SLICE, collect_id, &l);
	for (size_t i = 0; r == 0 && i < l.n; i++)
		r = fn(&l.ids[i], userdata);
	free(l.ids);
	return r;
}

/* ---- sweep ---- */

struct sweep_ctx {
	cairn_store *s;
	const cairn_idset *live;
	struct idlist dead;
	const cairn_id *ids; /* the slice a delete transaction works on */
	size_t n;
	struct cairn_sweep_stats txn_stats; /* of the running transaction */
};

static int collect_dead_content(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *userdata)
{
	struct sweep_ctx *c = userdata;
	cairn_id id;
	if (k->mv_size != CAIRN_ID_LEN)
		return 0;
	memcpy(id.b, k->mv_data, CAIRN_ID_LEN);
	return c->live && cairn_idset_has(c->live, &id) ? 0 : idlist_add(&c->dead, &id);
}

static int delete_contents(cairn_store *s, MDB_txn *txn, void *userdata)
{
	struct sweep_ctx *c = userdata;
	c->txn_stats = (struct cairn_sweep_stats){0};
	for (size_t i = 0; i < c->n; i++) {
		MDB_val k = mdb_val(c->ids[i].b, CAIRN_ID_LEN), v;
		struct record_iter it;
		struct segment seg;
		int r = store_mdb_err(mdb_get(txn, s->dbi_contents, &k, &v));
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		/* A damaged record drops what it can; fsck reports the rest. */
		r = store_record_iter_init(&it, v.mv_data, v.mv_size);
		while (r >= 0 && (r = store_record_iter_next(&it, &seg)) > 0) {
			if (!seg.hole) {
				int q = store_refs_add(txn, s, &seg.id, -1);
				if (q < 0 && q != CAIRN_E_CORRUPT)
					return q;
			}
		}
		r = store_mdb_err(mdb_del(txn, s->dbi_contents, &k, NULL));
		if (r < 0)
			return r;
		c->txn_stats.contents_removed++;
		store_touched(s, 4 * PAGE_TOUCH, true);
	}
	return 0;
}

static int delete_chunks(cairn_store *s, MDB_txn *txn, void *userdata)
{
	struct sweep_ctx *c = userdata;
	c->txn_stats = (struct cairn_sweep_stats){0};
	for (size_t i = 0; i < c->n; i++) {
		MDB_val k = mdb_val(c->ids[i].b, CAIRN_ID_LEN), v;
		uint64_t refs;
		int r = store_refs_get(txn, s, &c->ids[i], &refs);
		if (r == CAIRN_E_CORRUPT)
			continue; /* a damaged refcount: keep the chunk, fsck reports it */
		if (r < 0)
			return r;
		if (refs > 0)
			continue;
		r = store_mdb_err(mdb_get(txn, s->dbi_chunks, &k, &v));
		if (r == -ENOENT)
			continue;
		if (r < 0)
			return r;
		c->txn_stats.bytes_freed += v.mv_size;
		r = store_mdb_err(mdb_del(txn, s->dbi_chunks, &k, NULL));
		if (r < 0)
			return r;
		if (store_refs_get(txn, s, &c->ids[i], &refs) == 1) /* a stale zero row */
			mdb_del(txn, s->dbi_refs, &k, NULL);
		c->txn_stats.chunks_removed++;
		store_touched(s, 2 * PAGE_TOUCH, true);
	}
	return 0;
}

/* Runs fn over c->dead in transactions of DELETE_SLICE ids. */
static int sweep_delete(cairn_store *s, struct sweep_ctx *c, store_write_fn fn,
			struct cairn_sweep_stats *st)
{
	for (size_t off = 0; off < c->dead.n; off += DELETE_SLICE) {
		c->ids = c->dead.ids + off;
		c->n = MIN(DELETE_SLICE, c->dead.n - off);
		int r = store_write(s, MDB_NOMETASYNC, fn, c);
		if (r < 0)
			return r;
		st->contents_removed += c->txn_stats.contents_removed;
		st->chunks_removed += c->txn_stats.chunks_removed;
		st->bytes_freed += c->txn_stats.bytes_freed;
	}
	c->dead.n = 0;
	return 0;
}

static int unreferenced_chunk(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *userdata)
{
	struct sweep_ctx *c = userdata;
	cairn_id id;
	uint64_t refs;
	if (k->mv_size != CAIRN_ID_LEN)
		return 0;
	memcpy(id.b, k->mv_data, CAIRN_ID_LEN);
	int r = store_refs_get(txn, c->s, &id, &refs);
	if (r < 0)
		return r == CAIRN_E_CORRUPT ? 0 : r;
	return refs ? 0 : idlist_add(&c->dead, &id);
}

static int sweep_locked(cairn_store *s, const cairn_idset *live, struct cairn_sweep_stats *st)
{
	struct sweep_ctx c = {.s = s, .live = live};
	int r = store_scan(s, s->dbi_contents, SCAN_SLICE, collect_dead_content, &c);
	if (r >= 0)
		r = sweep_delete(s, &c, delete_contents, st);
	/* delete_chunks checks the refcount again in its own transaction. */
	if (r >= 0)
		r = store_scan(s, s->dbi_chunks, SCAN_SLICE, unreferenced_chunk, &c);
	if (r >= 0)
		r = sweep_delete(s, &c, delete_chunks, st);
	free(c.dead.ids);
	if (r >= 0)
		r = store_mdb_err(mdb_env_sync(s->env, 1));
	return r;
}

int cairn_store_sweep(cairn_store *s, const cairn_idset *live, struct cairn_sweep_stats *ret_stats)
{
	struct cairn_sweep_stats st = {0};
	bool took = false;
	int r = 0;
	if (!store_excl_held_by_me(s)) {
		r = cairn_store_lock_exclusive(s);
		took = r >= 0;
	}
	if (r >= 0)
		r = sweep_locked(s, live, &st);
	if (took)
		cairn_store_unlock_exclusive(s);
	if (r < 0)
		return r;
	if (ret_stats)
		*ret_stats = st;
	return 0;
}
