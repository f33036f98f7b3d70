/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writing a batch: chunk stages (in key order, so that each B-tree page is
 * copied once per transaction) and the commit transaction, which applies
 * the new content records with their refcount increments (aggregated per
 * chunk and applied in key order) and then the record puts and deletes in
 * call order.  Everything is read from the batch's memory, so the
 * transaction can be replayed after the map grows.
 */
#include "store-internal.h"

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, CAIRN_ID_LEN);
}

/* Entries of a stage buffer: id[16], be32 value length, value. */
static int stage_cmp(const void *a, const void *b, void *userdata)
{
	const uint8_t *base = userdata;
	return memcmp(base + *(const size_t *) a, base + *(const size_t *) b, CAIRN_ID_LEN);
}

int store_batch_write_stage(cairn_store *s, MDB_txn *txn, void *userdata)
{
	const bytebuf *st = userdata;
	size_t n = 0, cap = 0, *offs = NULL;
	for (size_t off = 0; off < st->len;
	     off += CAIRN_ID_LEN + 4 + get_be32(st->data + off + CAIRN_ID_LEN)) {
		if (ARRAY_RESERVE(offs, cap, n + 1, 256) < 0) {
			free(offs);
			return -ENOMEM;
		}
		offs[n++] = off;
	}
	if (n > 1)
		qsort_r(offs, n, sizeof(*offs), stage_cmp, st->data);
	int r = 0;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		const uint8_t *e = st->data + offs[i];
		MDB_val k = mdb_val(e, CAIRN_ID_LEN);
		MDB_val v = mdb_val(e + CAIRN_ID_LEN + 4, get_be32(e + CAIRN_ID_LEN));
		int rc = mdb_put(txn, s->dbi_chunks, &k, &v, MDB_NOOVERWRITE);
		if (rc != 0 && rc != MDB_KEYEXIST)
			r = store_mdb_err(rc);
		store_touched(s, PAGE_TOUCH, true);
	}
	free(offs);
	return r;
}

/* One chunk reference of a fresh content. */
struct chunk_ref {
	cairn_id id;
	size_t content; /* index into the batch's contents */
};

struct commit_ctx {
	cairn_batch *b;
	const cairn_id *content; /* a content referencing a missing chunk */
	cairn_id missing;
	/* per run of the transaction */
	size_t *fresh; /* indexes of contents to put */
	size_t n_fresh;
	struct chunk_ref *refs; /* sorted by id before they are applied */
	size_t n_refs, cap_refs;
};

static void commit_ctx_reset(struct commit_ctx *c)
{
	free(c->fresh);
	free(c->refs);
	c->fresh = NULL;
	c->refs = NULL;
	c->n_fresh = c->n_refs = c->cap_refs = 0;
	c->content = NULL;
}

/* Picks the staged contents not in the store yet (each id once: the first
 * staging of it, which b->staged records) and lists their chunk
 * references. */
static int collect_contents(MDB_txn *txn, struct commit_ctx *c)
{
	cairn_batch *b = c->b;
	if (b->n_contents && !(c->fresh = malloc(b->n_contents * sizeof(*c->fresh))))
		return -ENOMEM;
	for (size_t i = 0; i < b->n_contents; i++) {
		const struct staged_content *sc = &b->contents[i];
		const struct idmap_entry *first = store_idmap_get(&b->staged, &sc->id);
		if (!first || first->a != i + 1)
			continue;
		MDB_val k = mdb_val(sc->id.b, CAIRN_ID_LEN), v;
		int r = store_mdb_err(mdb_get(txn, b->s->dbi_contents, &k, &v));
		store_touched(b->s, PAGE_TOUCH, true);
		if (r == 0)
			continue; /* present already */
		if (r != -ENOENT)
			return r;
		c->fresh[c->n_fresh++] = i;

		struct record_iter it;
		struct segment seg;
		r = store_record_iter_init(&it, b->recdata.data + sc->off, sc->len);
		while (r >= 0 && (r = store_record_iter_next(&it, &seg)) > 0) {
			if (seg.hole)
				continue;
			if (ARRAY_RESERVE(c->refs, c->cap_refs, c->n_refs + 1, 256) < 0)
				return -ENOMEM;
			c->refs[c->n_refs++] = (struct chunk_ref){seg.id, i};
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* Checks that every referenced chunk exists and adds the references, one
 * increment per chunk, in key order. */
static int apply_refs(MDB_txn *txn, struct commit_ctx *c)
{
	cairn_store *s = c->b->s;
	if (c->n_refs > 1)
		qsort(c->refs, c->n_refs, sizeof(*c->refs), cmp_id);
	for (size_t i = 0, j; i < c->n_refs; i = j) {
		for (j = i + 1; j < c->n_refs && cmp_id(&c->refs[i].id, &c->refs[j].id) == 0; j++)
			;
		int r = store_chunk_exists(txn, s, &c->refs[i].id);
		if (r == 0) {
			c->content = &c->b->contents[c->refs[i].content].id;
			c->missing = c->refs[i].id;
			return CAIRN_E_CORRUPT;
		}
		if (r > 0)
			r = store_refs_add(txn, s, &c->refs[i].id, (int64_t) (j - i));
		store_touched(s, 2 * PAGE_TOUCH, true);
		if (r < 0)
			return r;
	}
	return 0;
}

static int fresh_cmp(const void *a, const void *b, void *userdata)
{
	const struct staged_content *contents = userdata;
	return memcmp(&contents[*(const size_t *) a].id, &contents[*(const size_t *) b].id,
		      CAIRN_ID_LEN);
}

static int put_contents(MDB_txn *txn, struct commit_ctx *c)
{
	cairn_batch *b = c->b;
	if (c->n_fresh > 1)
		qsort_r(c->fresh, c->n_fresh, sizeof(*c->fresh), fresh_cmp, b->contents);
	for (size_t i = 0; i < c->n_fresh; i++) {
		const struct staged_content *sc = &b->contents[c->fresh[i]];
		MDB_val k = mdb_val(sc->id.b, CAIRN_ID_LEN);
		MDB_val v = mdb_val(b->recdata.data + sc->off, sc->len);
		int r = store_mdb_err(mdb_put(txn, b->s->dbi_contents, &k, &v, 0));
		if (r < 0)
			return r;
		store_touched(b->s, PAGE_TOUCH, true);
	}
	return 0;
}

static int apply_ops(MDB_txn *txn, cairn_batch *b)
{
	int r = 0;
	for (size_t i = 0; r >= 0 && i < b->n_ops; i++) {
		const struct staged_op *op = &b->ops[i];
		MDB_val k = mdb_val(b->opdata.data + op->off, op->klen);
		MDB_val v = mdb_val(b->opdata.data + op->off + op->klen, op->vlen);
		if (op->del) {
			r = store_mdb_err(mdb_del(txn, b->s->dbi_table[op->table], &k, NULL));
			if (r == -ENOENT)
				r = 0;
		} else {
			r = store_mdb_err(mdb_put(txn, b->s->dbi_table[op->table], &k, &v, 0));
		}
	}
	return r;
}

static int batch_apply(cairn_store *s, MDB_txn *txn, void *userdata)
{
	struct commit_ctx *c = userdata;
	cairn_batch *b = c->b;
	commit_ctx_reset(c);

	int r = store_batch_write_stage(s, txn, &b->stage[b->cur]);
	if (r >= 0)
		r = collect_contents(txn, c);
	if (r >= 0)
		r = apply_refs(txn, c);
	if (r >= 0)
		r = put_contents(txn, c);
	if (r >= 0)
		r = apply_ops(txn, b);
	return r;
}

int cairn_batch_commit(cairn_batch *b, cairn_error **err)
{
	int r = store_batch_bundle_submit(b);
	if (r < 0)
		store_batch_set_error(b, r);
	store_batch_drain(b);
	if (b->error)
		return cairn_error_from(err, b->error, "store: writing chunks");
	/* Every chunk of the batch is in the store or in the last stage now:
	 * the map that kept them from being staged twice is not needed any
	 * more (a chunk added later is looked up in the store). */
	store_idmap_clear(&b->chunks);
	if (b->n_ops == 0 && b->n_contents == 0 && b->stage[b->cur].len == 0)
		return 0; /* nothing to apply */

	struct commit_ctx c = {.b = b};
	r = store_write(b->s, 0, batch_apply, &c);
	if (r < 0 && c.content) {
		char hc[2 * CAIRN_ID_LEN + 1], hm[2 * CAIRN_ID_LEN + 1];
		cairn_id_hex(c.content, hc);
		cairn_id_hex(&c.missing, hm);
		r = cairn_error_set(err, r, "store: content %s: references missing chunk %s", hc,
				    hm);
	} else if (r < 0) {
		r = cairn_error_from(err, r, "store: committing batch");
	}
	commit_ctx_reset(&c);
	if (r < 0)
		return r;
	/* Everything staged is visible now; the batch may be used again. */
	b->stage[b->cur].len = 0;
	b->opdata.len = b->recdata.len = 0;
	b->n_ops = b->n_contents = 0;
	store_idmap_clear(&b->staged);
	return 0;
}
