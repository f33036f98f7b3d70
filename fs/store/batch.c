/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Batches: one change set.  Chunk values are staged as the workers
 * produce them and written in their own transactions every STAGE_LIMIT
 * bytes; content records (with their chunk refcounts) and record puts and
 * deletes are kept in memory and applied in one durable write transaction
 * by cairn_batch_commit (commit.c).  Because everything stays in memory
 * until that transaction commits, it can be replayed after the map grows.
 */
#include "store-internal.h"

#include <sys/file.h>

bool store_batch_list_has_locked_owner(cairn_store *s, pthread_t self)
{
	for (cairn_batch *b = s->batches; b; b = b->next)
		if (b->lock.fd >= 0 && pthread_equal(b->owner, self))
			return true;
	return false;
}

int cairn_batch_new(cairn_store *s, cairn_batch **ret_batch)
{
	cairn_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->s = s;
	b->owner = pthread_self();
	b->lock.fd = -1;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	pthread_cond_init(&b->flush_cv, NULL);
	if (!store_excl_held_by_me(s)) {
		int r = store_lockfd_open(s, LOCK_SH, &b->lock);
		if (r < 0) {
			cairn_batch_free(b);
			return r;
		}
	}
	pthread_mutex_lock(&s->mu);
	b->next = s->batches;
	s->batches = b;
	pthread_mutex_unlock(&s->mu);
	*ret_batch = b;
	return 0;
}

/* Waits until no chunk of this batch is with the workers or being flushed. */
void store_batch_drain(cairn_batch *b)
{
	pthread_mutex_lock(&b->mu);
	while (b->pending > 0 || b->flushing)
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
}

static void batch_unlink(cairn_batch *b)
{
	cairn_store *s = b->s;
	pthread_mutex_lock(&s->mu);
	for (cairn_batch **p = &s->batches; *p; p = &(*p)->next) {
		if (*p == b) {
			*p = b->next;
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
}

void cairn_batch_free(cairn_batch *b)
{
	if (!b)
		return;
	store_batch_drain(b);
	if (b->flusher_on) {
		pthread_mutex_lock(&b->mu);
		b->stopping = true;
		pthread_cond_signal(&b->flush_cv);
		pthread_mutex_unlock(&b->mu);
		pthread_join(b->flusher, NULL);
	}
	batch_unlink(b);
	store_lockfd_close(&b->lock); /* releases the shared lock */
	buf_clear(&b->opdata);
	buf_clear(&b->recdata);
	buf_clear(&b->stage[0]);
	buf_clear(&b->stage[1]);
	free(b->ops);
	free(b->contents);
	store_idmap_clear(&b->chunks);
	store_idmap_clear(&b->staged);
	free(b->pend_cache);
	free(b->bundle.data); /* chunks still here are abandoned with the batch */
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	pthread_cond_destroy(&b->flush_cv);
	free(b);
}

cairn_store *cairn_batch_store(cairn_batch *b)
{
	return b->s;
}

/* ---- records ---- */

static int batch_stage_op(cairn_batch *b, cairn_table t, bool del, const void *key, size_t klen,
			  const void *val, size_t vlen)
{
	if ((unsigned) t >= CAIRN_T_COUNT_ || !key || klen == 0 || klen > 511 || (vlen && !val))
		return -EINVAL;
	if (ARRAY_RESERVE(b->ops, b->cap_ops, b->n_ops + 1, 16) < 0)
		return -ENOMEM;
	size_t off = b->opdata.len;
	int r = buf_reserve(&b->opdata, klen + vlen);
	if (r < 0)
		return r;
	buf_append(&b->opdata, key, klen);
	buf_append(&b->opdata, val, vlen);
	b->ops[b->n_ops++] = (struct staged_op){t, del, off, klen, vlen};
	return 0;
}

int cairn_batch_put(cairn_batch *b, cairn_table t, const void *key, size_t klen, const void *val,
		    size_t vlen)
{
	return batch_stage_op(b, t, false, key, klen, val, vlen);
}

int cairn_batch_del(cairn_batch *b, cairn_table t, const void *key, size_t klen)
{
	return batch_stage_op(b, t, true, key, klen, NULL, 0);
}

int store_batch_stage_content(cairn_batch *b, const cairn_id *id, const void *rec, size_t len)
{
	if (ARRAY_RESERVE(b->contents, b->cap_contents, b->n_contents + 1, 16) < 0)
		return -ENOMEM;
	size_t off = b->recdata.len;
	int r = buf_append(&b->recdata, rec, len);
	if (r < 0)
		return r;
	struct idmap_entry *ie;
	bool is_new;
	r = store_idmap_upsert(&b->staged, id, &ie, &is_new);
	if (r < 0)
		return r;
	if (is_new)
		ie->a = b->n_contents + 1;
	b->contents[b->n_contents++] = (struct staged_content){*id, off, len};
	return 0;
}

/* Writes stage[!cur], which is flushing, in its own transaction; called
 * with b->mu held, which it drops meanwhile. */
static void batch_write_stage(cairn_batch *b)
{
	bytebuf *st = &b->stage[b->cur ^ 1];
	pthread_mutex_unlock(&b->mu);
	int r = store_write(b->s, MDB_NOMETASYNC, store_batch_write_stage, st);
	pthread_mutex_lock(&b->mu);
	st->len = 0;
	b->flushing = false;
	if (r < 0 && !b->error)
		b->error = r;
	pthread_cond_broadcast(&b->cv);
}

static void *batch_flusher(void *userdata)
{
	cairn_batch *b = userdata;
	pthread_mutex_lock(&b->mu);
	for (;;) {
		while (!b->flush_queued && !b->stopping)
			pthread_cond_wait(&b->flush_cv, &b->mu);
		if (!b->flush_queued)
			break;
		b->flush_queued = false;
		batch_write_stage(b);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

/* stage[cur] is full and nothing is flushing: swaps the stages and has
 * the flusher write the full one (the caller, if it cannot start). */
static void batch_hand_off(cairn_batch *b)
{
	b->flushing = true;
	b->cur ^= 1;
	if (!b->flusher_on)
		b->flusher_on = pthread_create(&b->flusher, NULL, batch_flusher, b) == 0;
	if (!b->flusher_on) {
		batch_write_stage(b);
		return;
	}
	b->flush_queued = true;
	pthread_cond_signal(&b->flush_cv);
}

int store_batch_flush(cairn_batch *b)
{
	int r = store_batch_bundle_submit(b);
	if (r < 0)
		return r;
	store_batch_drain(b);
	pthread_mutex_lock(&b->mu);
	if (b->error >= 0 && b->stage[b->cur].len > 0) {
		b->flushing = true;
		b->cur ^= 1;
		batch_write_stage(b);
	}
	r = b->error;
	pthread_mutex_unlock(&b->mu);
	return r;
}

/* ---- chunks ---- */

uint8_t *store_batch_take_buffer(cairn_batch *b)
{
	uint8_t *p = b->pend_cache;
	b->pend_cache = NULL;
	return p ? p : malloc(CHUNK_MAX);
}

void store_batch_return_buffer(cairn_batch *b, uint8_t *p)
{
	if (!b->pend_cache)
		b->pend_cache = p;
	else
		free(p);
}

void store_batch_set_error(cairn_batch *b, int r)
{
	pthread_mutex_lock(&b->mu);
	if (r < 0 && !b->error)
		b->error = r;
	pthread_mutex_unlock(&b->mu);
}

/* Drops the bundle's chunks that are in the store already (one read
 * transaction for the whole bundle). */
static int bundle_drop_present(cairn_batch *b, struct bundle *bd)
{
	MDB_txn *txn;
	unsigned k = 0;
	int r = store_rtxn_begin(b->s, &txn);
	if (r < 0)
		return r;
	for (unsigned i = 0; r >= 0 && i < bd->n; i++) {
		r = store_chunk_exists(txn, b->s, &bd->items[i].id);
		store_touched(b->s, PAGE_TOUCH, true);
		if (r == 0)
			bd->items[k++] = bd->items[i];
	}
	store_rtxn_end(b->s, txn);
	if (r < 0)
		return r;
	bd->n = k;
	if (k == 0)
		bd->used = 0;
	return 0;
}

int store_batch_bundle_submit(cairn_batch *b)
{
	int r = bundle_drop_present(b, &b->bundle);
	if (r >= 0)
		r = store_pool_submit(b->s, b, &b->bundle);
	return r;
}

/* Appends a new chunk to the batch's bundle; full bundles go to the workers. */
static int batch_bundle_add(cairn_batch *b, const cairn_id *id, const void *data, size_t len)
{
	struct bundle *bd = &b->bundle;
	if (len == 0 || len > CHUNK_MAX)
		return -EINVAL;
	if (!bundle_fits(bd, len)) {
		int r = store_batch_bundle_submit(b);
		if (r < 0)
			return r;
	}
	if (!bd->data && !(bd->data = malloc(CHUNK_MAX)))
		return -ENOMEM;
	memcpy(bd->data + bd->used, data, len);
	bd->items[bd->n++] = (struct bundle_item){*id, (uint32_t) bd->used, (uint32_t) len};
	bd->used += len;
	return bd->used >= BUNDLE_TARGET ? store_batch_bundle_submit(b) : 0;
}

/* A chunk the writer cut: new to this batch, it joins the bundle (whose
 * chunks are looked up in the store when it is submitted). */
int store_batch_add_chunk(cairn_batch *b, const cairn_id *id, const void *data, size_t len)
{
	struct idmap_entry *e;
	bool fresh;
	int r = store_idmap_upsert(&b->chunks, id, &e, &fresh);
	if (r < 0 || !fresh)
		return r;
	r = batch_bundle_add(b, id, data, len);
	if (r >= 0 && b->chunks.n >= CHUNKS_SEEN_MAX) {
		/* Once the workers are done and the stage is written, every chunk
		 * seen so far is found in the store: the map starts again, so
		 * that its memory does not grow with the batch. */
		r = store_batch_flush(b);
		if (r >= 0)
			store_idmap_clear(&b->chunks);
	}
	if (r < 0)
		store_batch_set_error(b, r); /* the chunk is marked known: fail the commit */
	return r < 0 ? r : 0;
}

void store_batch_chunks_submitted(cairn_batch *b, unsigned n)
{
	pthread_mutex_lock(&b->mu);
	b->pending += n;
	pthread_mutex_unlock(&b->mu);
}

void store_batch_chunks_done(cairn_batch *b, unsigned n, int r)
{
	pthread_mutex_lock(&b->mu);
	if (r < 0 && !b->error)
		b->error = r;
	b->pending -= n;
	if (b->pending == 0)
		pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

int store_batch_stage_chunk(cairn_batch *b, const cairn_id *id, uint8_t fmt, const void *data,
			    size_t len)
{
	uint8_t hdr[CAIRN_ID_LEN + 5];
	memcpy(hdr, id->b, CAIRN_ID_LEN);
	put_be32(hdr + CAIRN_ID_LEN, (uint32_t) len + 1);
	hdr[CAIRN_ID_LEN + 4] = fmt;

	pthread_mutex_lock(&b->mu);
	while (b->stage[b->cur].len >= STAGE_LIMIT && b->flushing)
		pthread_cond_wait(&b->cv, &b->mu);
	bytebuf *st = &b->stage[b->cur];
	int r = st->cap ? 0 : buf_reserve(st, STAGE_CAP);
	if (r >= 0)
		r = buf_reserve(st, sizeof(hdr) + len);
	if (r >= 0) {
		buf_append(st, hdr, sizeof(hdr));
		buf_append(st, data, len);
	}
	if (r >= 0 && st->len >= STAGE_LIMIT && !b->flushing)
		batch_hand_off(b);
	pthread_mutex_unlock(&b->mu);
	return r;
}
