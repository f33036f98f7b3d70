/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The compression pool: opts.threads workers per store, started on first
 * use, each with its own ZSTD_CCtx and output buffer.  A fixed set of job
 * slots (bundles of raw chunks, <= 256 KiB each) bounds the memory in
 * flight; submitters block while all slots are busy.  A worker compresses
 * each chunk of a bundle and stages it with the job's batch (batch.c),
 * which flushes full stages to LMDB.
 */
#include "store-internal.h"

#define POOL_SLOTS_MAX 64

struct job {
	cairn_batch *b;
	struct bundle bd;
	struct job *next;
};

struct store_pool {
	cairn_store *s;
	pthread_mutex_t mu;
	pthread_cond_t work_cv, slot_cv;
	struct job *slots;
	size_t n_slots;
	struct job *free_list, *head, *tail;
	pthread_t *threads;
	int n_threads;
	bool stop;
};

static void *pool_worker(void *userdata)
{
	struct store_pool *p = userdata;
	size_t cap = ZSTD_compressBound(CHUNK_MAX);
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	uint8_t *out = malloc(cap);

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->head && !p->stop)
			pthread_cond_wait(&p->work_cv, &p->mu);
		struct job *j = p->head;
		if (!j)
			break;
		p->head = j->next;
		if (!p->head)
			p->tail = NULL;
		pthread_mutex_unlock(&p->mu);

		int r = cctx && out ? 0 : -ENOMEM;
		for (unsigned i = 0; r >= 0 && i < j->bd.n; i++) {
			const struct bundle_item *it = &j->bd.items[i];
			uint8_t fmt;
			ssize_t n = store_chunk_compress(
			    cctx, p->s->zstd_level, j->bd.data + it->off, it->len, out, cap, &fmt);
			r = n < 0 ? (int) n
				  : store_batch_stage_chunk(j->b, &it->id, fmt, out, (size_t) n);
		}
		cairn_batch *b = j->b;
		unsigned done = j->bd.n;

		pthread_mutex_lock(&p->mu);
		j->next = p->free_list;
		p->free_list = j;
		pthread_cond_signal(&p->slot_cv);
		pthread_mutex_unlock(&p->mu);
		store_batch_chunks_done(b, done, r); /* b may be gone after this */
		pthread_mutex_lock(&p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	ZSTD_freeCCtx(cctx);
	free(out);
	return NULL;
}

void store_pool_free(struct store_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->work_cv);
	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	for (size_t i = 0; i < p->n_slots; i++)
		free(p->slots[i].bd.data);
	free(p->slots);
	free(p->threads);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work_cv);
	pthread_cond_destroy(&p->slot_cv);
	free(p);
}

static int pool_new(cairn_store *s, struct store_pool **ret)
{
	struct store_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->s = s;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work_cv, NULL);
	pthread_cond_init(&p->slot_cv, NULL);
	p->n_slots = MIN((size_t) s->threads * 4 + 4, POOL_SLOTS_MAX);
	p->slots = calloc(p->n_slots, sizeof(*p->slots));
	p->threads = calloc((size_t) s->threads, sizeof(*p->threads));
	if (!p->slots || !p->threads)
		goto fail;
	for (size_t i = 0; i < p->n_slots; i++) {
		p->slots[i].bd.data = malloc(CHUNK_MAX);
		if (!p->slots[i].bd.data)
			goto fail;
		p->slots[i].next = p->free_list;
		p->free_list = &p->slots[i];
	}
	for (int i = 0; i < s->threads; i++) {
		if (pthread_create(&p->threads[i], NULL, pool_worker, p) != 0)
			break;
		p->n_threads++;
	}
	if (p->n_threads == 0)
		goto fail;
	*ret = p;
	return 0;
fail:
	store_pool_free(p);
	return -ENOMEM;
}

static int pool_get(cairn_store *s, struct store_pool **ret)
{
	int r = 0;
	pthread_mutex_lock(&s->mu);
	if (!s->pool)
		r = pool_new(s, &s->pool);
	*ret = s->pool;
	pthread_mutex_unlock(&s->mu);
	return r;
}

int store_pool_submit(cairn_store *s, cairn_batch *b, struct bundle *bd)
{
	struct store_pool *p;
	if (bd->n == 0)
		return 0;
	int r = pool_get(s, &p);
	if (r < 0)
		return r;
	pthread_mutex_lock(&p->mu);
	while (!p->free_list)
		pthread_cond_wait(&p->slot_cv, &p->mu);
	struct job *j = p->free_list;
	p->free_list = j->next;
	pthread_mutex_unlock(&p->mu);

	/* the job takes the filled buffer, the bundle gets the job's empty one */
	uint8_t *spare = j->bd.data;
	j->bd.data = bd->data;
	j->bd.n = bd->n;
	j->bd.used = bd->used;
	memcpy(j->bd.items, bd->items, bd->n * sizeof(bd->items[0]));
	bd->data = spare;
	bd->n = 0;
	bd->used = 0;
	j->b = b;
	j->next = NULL;
	store_batch_chunks_submitted(b, j->bd.n);

	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->next = j;
	else
		p->head = j;
	p->tail = j;
	pthread_cond_signal(&p->work_cv);
	pthread_mutex_unlock(&p->mu);
	return 0;
}
