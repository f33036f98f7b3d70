/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Store-level check.  In one read transaction (one consistent snapshot):
 * every chunk is decoded and re-hashed; every content record is parsed,
 * re-hashed and its chunks looked up with their lengths; every refcount
 * row is compared with the references counted.  Chunks nobody references
 * and whose refcount is 0 are garbage, not damage.
 */
#include "store-internal.h"

#include <limits.h>
#include <stdarg.h>

/* idmap_entry use: a = raw length, b = references counted; flags in a's
 * high bits. */
#define F_BAD (1ull << 62) /* chunk could not be decoded */
#define F_ROW (1ull << 61) /* a refcount row was seen */
#define LEN_MASK ((1ull << 40) - 1)

struct fsck_ctx {
	cairn_store *s;
	MDB_txn *txn;
	cairn_report_fn report;
	void *userdata;
	struct cairn_fsck_stats st;
	idmap chunks;
	ZSTD_DCtx *dctx;
	uint8_t *raw;
};

static void problem(struct fsck_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct fsck_ctx *c, const char *fmt, ...)
{
	c->st.problems++;
	if (!c->report)
		return;
	char *line = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n >= 0) {
		c->report(line, c->userdata);
		free(line);
	}
}

static void hex_key(const MDB_val *k, char out[2 * CAIRN_ID_LEN + 1])
{
	cairn_id id = {{0}};
	memcpy(id.b, k->mv_data, MIN(k->mv_size, (size_t) CAIRN_ID_LEN));
	cairn_id_hex(&id, out);
}

static int check_chunk(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *userdata)
{
	struct fsck_ctx *c = userdata;
	char hk[2 * CAIRN_ID_LEN + 1], hh[2 * CAIRN_ID_LEN + 1];
	struct idmap_entry *e;
	cairn_id id, got;

	c->st.chunks++;
	hex_key(k, hk);
	if (k->mv_size != CAIRN_ID_LEN) {
		problem(c, "chunk %s: key has %zu bytes, expected %d", hk, k->mv_size,
			CAIRN_ID_LEN);
		return 0;
	}
	memcpy(id.b, k->mv_data, CAIRN_ID_LEN);
	int r = store_idmap_upsert(&c->chunks, &id, &e, NULL);
	if (r < 0)
		return r;
	ssize_t n = store_chunk_decode(c->dctx, v->mv_data, v->mv_size, c->raw, CHUNK_MAX);
	store_touched(c->s, v->mv_size + PAGE_TOUCH, true);
	if (n <= 0) {
		problem(c, "chunk %s: stored data does not decode", hk);
		e->a = F_BAD;
		return 0;
	}
	store_chunk_id(c->raw, (size_t) n, &got);
	if (memcmp(&got, &id, sizeof(id)) != 0) {
		cairn_id_hex(&got, hh);
		problem(c, "chunk %s: stored data hashes to %s", hk, hh);
		e->a = F_BAD;
		return 0;
	}
	e->a = (uint64_t) n;
	return 0;
}

static void check_segment(struct fsck_ctx *c, const char *hc, const struct segment *seg)
{
	char hs[2 * CAIRN_ID_LEN + 1];
	struct idmap_entry *e = store_idmap_get(&c->chunks, &seg->id);
	if (!e) {
		cairn_id_hex(&seg->id, hs);
		problem(c, "content %s: references missing chunk %s", hc, hs);
		return;
	}
	e->b++;
	if (!(e->a & F_BAD) && (e->a & LEN_MASK) != seg->len) {
		cairn_id_hex(&seg->id, hs);
		problem(c, "content %s: chunk %s has %llu bytes, the record says %llu", hc, hs,
			(unsigned long long) (e->a & LEN_MASK), (unsigned long long) seg->len);
	}
}

static int check_content(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *userdata)
{
	struct fsck_ctx *c = userdata;
	char hc[2 * CAIRN_ID_LEN + 1], hh[2 * CAIRN_ID_LEN + 1];
	struct record_iter it;
	struct segment seg;
	cairn_id got;

	c->st.contents++;
	store_touched(c->s, PAGE_TOUCH, true);
	hex_key(k, hc);
	if (k->mv_size != CAIRN_ID_LEN) {
		problem(c, "content %s: key has %zu bytes, expected %d", hc, k->mv_size,
			CAIRN_ID_LEN);
		return 0;
	}
	store_chunk_id(v->mv_data, v->mv_size, &got);
	if (memcmp(got.b, k->mv_data, CAIRN_ID_LEN) != 0) {
		cairn_id_hex(&got, hh);
		problem(c, "content %s: record hashes to %s", hc, hh);
	}
	int r = store_record_iter_init(&it, v->mv_data, v->mv_size);
	while (r >= 0 && (r = store_record_iter_next(&it, &seg)) > 0)
		if (!seg.hole)
			check_segment(c, hc, &seg);
	if (r < 0)
		problem(c, "content %s: malformed record (sizes do not add up or bad segment)", hc);
	return 0;
}

static int check_refcount(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *userdata)
{
	struct fsck_ctx *c = userdata;
	char hk[2 * CAIRN_ID_LEN + 1];
	cairn_id id;

	hex_key(k, hk);
	if (k->mv_size != CAIRN_ID_LEN || v->mv_size != 8) {
		problem(c, "refcount %s: malformed row", hk);
		return 0;
	}
	memcpy(id.b, k->mv_data, CAIRN_ID_LEN);
	uint64_t count = get_be64(v->mv_data);
	struct idmap_entry *e = store_idmap_get(&c->chunks, &id);
	if (!e) {
		if (count > 0)
			problem(c, "chunk %s: refcount %llu, but the chunk is missing", hk,
				(unsigned long long) count);
		return 0;
	}
	e->a |= F_ROW;
	if (count != e->b)
		problem(c, "chunk %s: refcount %llu, referenced %llu times", hk,
			(unsigned long long) count, (unsigned long long) e->b);
	return 0;
}

/* Chunks without a refcount row: garbage, or damage when referenced. */
static void check_rowless(struct fsck_ctx *c)
{
	char hk[2 * CAIRN_ID_LEN + 1];
	struct idmap_entry *e;
	size_t i = 0;
	while ((e = store_idmap_next(&c->chunks, &i))) {
		if (e->a & F_ROW) {
			if (e->b == 0)
				c->st.garbage_chunks++; /* a zero row: garbage too */
			continue;
		}
		if (e->b == 0) {
			c->st.garbage_chunks++;
			continue;
		}
		cairn_id_hex(&e->id, hk);
		problem(c, "chunk %s: refcount 0, referenced %llu times", hk,
			(unsigned long long) e->b);
	}
}

static int walk(MDB_txn *txn, MDB_dbi dbi, store_scan_fn fn, void *userdata)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0)
		return store_mdb_err(rc);
	int r = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		r = fn(txn, &k, &v, userdata);
	mdb_cursor_close(cur);
	if (r == 0 && rc != MDB_NOTFOUND)
		r = store_mdb_err(rc);
	return r;
}

int cairn_store_fsck(cairn_store *s, cairn_report_fn report, void *userdata,
		     struct cairn_fsck_stats *ret_stats)
{
	struct fsck_ctx c = {.s = s, .report = report, .userdata = userdata};
	MDB_txn *txn;
	c.dctx = ZSTD_createDCtx();
	c.raw = malloc(CHUNK_MAX);
	int r = c.dctx && c.raw ? store_rtxn_begin(s, &txn) : -ENOMEM;
	if (r >= 0) {
		r = walk(txn, s->dbi_chunks, check_chunk, &c);
		if (r >= 0)
			r = walk(txn, s->dbi_contents, check_content, &c);
		if (r >= 0)
			r = walk(txn, s->dbi_refs, check_refcount, &c);
		store_rtxn_end(s, txn);
	}
	if (r >= 0)
		check_rowless(&c);
	store_idmap_clear(&c.chunks);
	ZSTD_freeDCtx(c.dctx);
	free(c.raw);
	if (r < 0)
		return r;
	if (ret_stats)
		*ret_stats = c.st;
	return (int) MIN(c.st.problems, (uint64_t) INT_MAX);
}
