/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Content records (parse/encode, see store.c for the format) and content
 * readers: positioned reads that decompress one chunk at a time and keep
 * the last one, holes read as zeros, extent walks.
 */
#include "store-internal.h"

/* ---- records ---- */

int store_record_iter_init(struct record_iter *it, const void *rec, size_t len)
{
	uint8_t version;
	*it = (struct record_iter){.c = {.p = rec, .end = (const uint8_t *) rec + len}};
	if (cur_u8(&it->c, &version) < 0 || version != CONTENT_RECORD_V1)
		return CAIRN_E_CORRUPT;
	if (cur_varint(&it->c, &it->size) < 0)
		return CAIRN_E_CORRUPT;
	return 0;
}

int store_record_iter_next(struct record_iter *it, struct segment *ret)
{
	uint64_t tag;
	const void *id;

	if (it->c.p == it->c.end)
		return it->seen == it->size ? 0 : CAIRN_E_CORRUPT;
	if (cur_varint(&it->c, &tag) < 0)
		return CAIRN_E_CORRUPT;
	struct segment seg = {.len = tag >> 1, .hole = tag & 1};
	if (seg.len == 0 || seg.len > it->size - it->seen)
		return CAIRN_E_CORRUPT;
	if (!seg.hole) {
		if (seg.len > CHUNK_MAX || cur_raw(&it->c, CAIRN_ID_LEN, &id) < 0)
			return CAIRN_E_CORRUPT;
		memcpy(seg.id.b, id, CAIRN_ID_LEN);
	}
	it->seen += seg.len;
	*ret = seg;
	return 1;
}

int store_record_put_data(bytebuf *b, const cairn_id *id, uint32_t len)
{
	int r = buf_put_varint(b, (uint64_t) len << 1);
	return r < 0 ? r : buf_append(b, id->b, CAIRN_ID_LEN);
}

int store_record_put_hole(bytebuf *b, uint64_t len)
{
	if (len >> 62)
		return -EFBIG;
	return buf_put_varint(b, len << 1 | 1);
}

/* Reads a content record inside txn; the value is valid during txn. */
static int record_get(MDB_txn *txn, cairn_store *s, const cairn_id *id, MDB_val *ret)
{
	MDB_val k = mdb_val(id->b, CAIRN_ID_LEN);
	return store_mdb_err(mdb_get(txn, s->dbi_contents, &k, ret));
}

int cairn_content_exists(cairn_store *s, const cairn_id *id)
{
	MDB_txn *txn;
	MDB_val v;
	int r = store_rtxn_begin(s, &txn);
	if (r < 0)
		return r;
	r = record_get(txn, s, id, &v);
	store_rtxn_end(s, txn);
	return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

int cairn_content_stat(cairn_store *s, const cairn_id *id, uint64_t *ret_size,
		       uint64_t *ret_data_bytes)
{
	struct record_iter it;
	struct segment seg;
	uint64_t data = 0;
	MDB_txn *txn;
	MDB_val v;

	int r = store_rtxn_begin(s, &txn);
	if (r < 0)
		return r;
	r = record_get(txn, s, id, &v);
	if (r >= 0)
		r = store_record_iter_init(&it, v.mv_data, v.mv_size);
	while (r >= 0 && (r = store_record_iter_next(&it, &seg)) > 0)
		if (!seg.hole)
			data += seg.len;
	store_rtxn_end(s, txn);
	if (r < 0)
		return r == -ENOENT ? CAIRN_E_NOTFOUND : r;
	if (ret_size)
		*ret_size = it.size;
	if (ret_data_bytes)
		*ret_data_bytes = data;
	return 0;
}

/* ---- readers ---- */

struct seg_ent {
	uint64_t off, len;
	cairn_id id;
	bool hole;
};

struct cairn_content {
	cairn_store *s;
	uint64_t size, pos;
	struct seg_ent *segs;
	size_t n;
	uint8_t *cache; /* raw bytes of chunk cache_id */
	size_t cache_cap;
	cairn_id cache_id;
	bool cached;
};

static int content_parse(cairn_content *c, const void *rec, size_t len)
{
	struct record_iter it;
	struct segment seg;
	size_t cap = 0;
	int r = store_record_iter_init(&it, rec, len);
	while (r >= 0 && (r = store_record_iter_next(&it, &seg)) > 0) {
		if (ARRAY_RESERVE(c->segs, cap, c->n + 1, 16) < 0)
			return -ENOMEM;
		c->segs[c->n++] = (struct seg_ent){
		    .off = it.seen - seg.len, .len = seg.len, .id = seg.id, .hole = seg.hole};
	}
	c->size = it.size;
	return r;
}

int cairn_content_open(cairn_store *s, const cairn_id *id, cairn_content **ret_c)
{
	cairn_content *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->s = s;
	MDB_txn *txn;
	MDB_val v;
	int r = store_rtxn_begin(s, &txn);
	if (r < 0) {
		free(c);
		return r;
	}
	r = record_get(txn, s, id, &v);
	if (r >= 0)
		r = content_parse(c, v.mv_data, v.mv_size);
	store_rtxn_end(s, txn);
	if (r < 0) {
		cairn_content_free(c);
		return r == -ENOENT ? CAIRN_E_NOTFOUND : r;
	}
	*ret_c = c;
	return 0;
}

void cairn_content_free(cairn_content *c)
{
	if (!c)
		return;
	free(c->cache);
	free(c->segs);
	free(c);
}

uint64_t cairn_content_size(cairn_content *c)
{
	return c->size;
}

/* Decompression contexts are per thread, not per content: a layer export
 * opens thousands of small contents and ZSTD_createDCtx is not cheap. */
static pthread_key_t dctx_key;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;

static void dctx_free(void *p)
{
	ZSTD_freeDCtx(p);
}

static void dctx_key_init(void)
{
	if (pthread_key_create(&dctx_key, dctx_free) != 0)
		abort();
}

static ZSTD_DCtx *thread_dctx(void)
{
	pthread_once(&dctx_once, dctx_key_init);
	ZSTD_DCtx *d = pthread_getspecific(dctx_key);
	if (!d && (d = ZSTD_createDCtx()) && pthread_setspecific(dctx_key, d) != 0) {
		ZSTD_freeDCtx(d);
		d = NULL;
	}
	return d;
}

static int content_load(cairn_content *c, const struct seg_ent *seg)
{
	if (c->cached && memcmp(&c->cache_id, &seg->id, sizeof(seg->id)) == 0)
		return 0;
	if (seg->len > CHUNK_MAX)
		return CAIRN_E_CORRUPT;
	/* Sized to the largest chunk seen: small files stay small. */
	if (seg->len > c->cache_cap) {
		uint8_t *n = realloc(c->cache, seg->len);
		if (!n)
			return -ENOMEM;
		c->cache = n;
		c->cache_cap = seg->len;
	}
	ZSTD_DCtx *dctx = thread_dctx();
	if (!dctx)
		return -ENOMEM;
	c->cached = false;
	MDB_txn *txn;
	MDB_val k = mdb_val(seg->id.b, CAIRN_ID_LEN), v;
	int r = store_rtxn_begin(c->s, &txn);
	if (r < 0)
		return r;
	r = store_mdb_err(mdb_get(txn, c->s->dbi_chunks, &k, &v));
	ssize_t n =
	    r < 0 ? r : store_chunk_decode(dctx, v.mv_data, v.mv_size, c->cache, c->cache_cap);
	if (r >= 0)
		store_touched(c->s, v.mv_size + PAGE_TOUCH, true);
	store_rtxn_end(c->s, txn);
	if (n == -ENOENT)
		return CAIRN_E_CORRUPT; /* a content references a chunk that is gone */
	if (n < 0)
		return (int) n;
	if ((uint64_t) n != seg->len)
		return CAIRN_E_CORRUPT;
	c->cache_id = seg->id;
	c->cached = true;
	return 0;
}

/* Index of the segment holding off (< size). */
static size_t content_find(const cairn_content *c, uint64_t off)
{
	size_t lo = 0, hi = c->n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->segs[mid].off <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

ssize_t cairn_content_pread(cairn_content *c, void *dst, size_t len, uint64_t off)
{
	if (off >= c->size || len == 0)
		return 0;
	len = (size_t) MIN((uint64_t) MIN(len, (size_t) SSIZE_MAX), c->size - off);
	uint8_t *out = dst;
	size_t done = 0;
	for (size_t i = content_find(c, off); done < len; i++) {
		const struct seg_ent *seg = &c->segs[i];
		uint64_t in = off + done - seg->off;
		size_t n = (size_t) MIN((uint64_t) (len - done), seg->len - in);
		if (seg->hole) {
			memset(out + done, 0, n);
		} else {
			int r = content_load(c, seg);
			if (r < 0)
				return r;
			memcpy(out + done, c->cache + in, n);
		}
		done += n;
	}
	return (ssize_t) done;
}

ssize_t cairn_content_read(cairn_content *c, void *dst, size_t len)
{
	ssize_t n = cairn_content_pread(c, dst, len, c->pos);
	if (n > 0)
		c->pos += (uint64_t) n;
	return n;
}

int cairn_content_extents(cairn_content *c, cairn_extent_fn fn, void *userdata)
{
	for (size_t i = 0; i < c->n;) {
		uint64_t off = c->segs[i].off, len = 0;
		bool hole = c->segs[i].hole;
		for (; i < c->n && c->segs[i].hole == hole; i++)
			len += c->segs[i].len;
		int r = fn(off, len, hole, userdata);
		if (r != 0)
			return r;
	}
	return 0;
}

/* Reads all of an open content into a NUL-terminated buffer; frees c. */
static int content_slurp(cairn_content *c, void **ret_buf, size_t *ret_len)
{
	if (c->size >= SSIZE_MAX) {
		cairn_content_free(c);
		return -EFBIG;
	}
	size_t len = (size_t) c->size;
	uint8_t *b = malloc(len + 1);
	ssize_t n = b ? cairn_content_pread(c, b, len, 0) : -ENOMEM;
	cairn_content_free(c);
	if (n >= 0 && (size_t) n != len)
		n = CAIRN_E_CORRUPT;
	if (n < 0) {
		free(b);
		return (int) n;
	}
	b[len] = 0;
	*ret_buf = b;
	if (ret_len)
		*ret_len = len;
	return 0;
}

int cairn_content_read_all(cairn_store *s, const cairn_id *id, void **ret_buf, size_t *ret_len)
{
	cairn_content *c;
	int r = cairn_content_open(s, id, &c);
	return r < 0 ? r : content_slurp(c, ret_buf, ret_len);
}

int cairn_batch_content_open(cairn_batch *b, const cairn_id *id, cairn_content **ret_c)
{
	struct idmap_entry *ie = store_idmap_get(&b->staged, id);
	if (!ie)
		return cairn_content_open(b->s, id, ret_c);
	/* The staged record names chunks that may still be with the workers
	 * or in the stage buffer: write them before reading. */
	int r = store_batch_flush(b);
	if (r < 0)
		return r;
	const struct staged_content *sc = &b->contents[ie->a - 1];
	cairn_content *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->s = b->s;
	r = content_parse(c, b->recdata.data + sc->off, sc->len);
	if (r < 0) {
		cairn_content_free(c);
		return r;
	}
	*ret_c = c;
	return 0;
}

int cairn_batch_content_read_all(cairn_batch *b, const cairn_id *id, void **ret_buf,
				 size_t *ret_len)
{
	cairn_content *c;
	int r = cairn_batch_content_open(b, id, &c);
	return r < 0 ? r : content_slurp(c, ret_buf, ret_len);
}
