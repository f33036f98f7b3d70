/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Chunks: identity (XXH3-128), value encoding (zstd or raw) and the
 * reference counts kept beside them.
 */
#include "store-internal.h"

#include <xxhash.h>

void store_chunk_id(const void *data, size_t len, cairn_id *ret)
{
	XXH128_hash_t h = XXH3_128bits(data, len);
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, h);
	_Static_assert(sizeof(c.digest) == CAIRN_ID_LEN, "id size");
	memcpy(ret->b, c.digest, CAIRN_ID_LEN);
}

ssize_t store_chunk_compress(ZSTD_CCtx *cctx, int level, const void *src, size_t len, void *dst,
			     size_t cap, uint8_t *ret_fmt)
{
	size_t n = ZSTD_compressCCtx(cctx, dst, cap, src, len, level);
	if (!ZSTD_isError(n) && n < len) {
		*ret_fmt = CHUNK_ZSTD;
		return (ssize_t) n;
	}
	if (cap < len)
		return -ENOBUFS;
	memcpy(dst, src, len);
	*ret_fmt = CHUNK_RAW;
	return (ssize_t) len;
}

ssize_t store_chunk_raw_len(const void *val, size_t vlen)
{
	const uint8_t *v = val;
	if (vlen < 2)
		return CAIRN_E_CORRUPT;
	if (v[0] == CHUNK_RAW)
		return (ssize_t) (vlen - 1);
	if (v[0] != CHUNK_ZSTD)
		return CAIRN_E_CORRUPT;
	unsigned long long n = ZSTD_getFrameContentSize(v + 1, vlen - 1);
	if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN || n == 0 || n > CHUNK_MAX)
		return CAIRN_E_CORRUPT;
	return (ssize_t) n;
}

ssize_t store_chunk_decode(ZSTD_DCtx *dctx, const void *val, size_t vlen, void *dst, size_t cap)
{
	ssize_t n = store_chunk_raw_len(val, vlen);
	if (n < 0)
		return n;
	if ((size_t) n > cap)
		return CAIRN_E_CORRUPT;
	const uint8_t *v = val;
	if (v[0] == CHUNK_RAW) {
		memcpy(dst, v + 1, (size_t) n);
		return n;
	}
	size_t got = ZSTD_decompressDCtx(dctx, dst, cap, v + 1, vlen - 1);
	if (ZSTD_isError(got) || got != (size_t) n)
		return CAIRN_E_CORRUPT;
	return n;
}

int store_chunk_exists(MDB_txn *txn, cairn_store *s, const cairn_id *id)
{
	MDB_val k = mdb_val(id->b, CAIRN_ID_LEN), v;
	int r = store_mdb_err(mdb_get(txn, s->dbi_chunks, &k, &v));
	return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

int store_refs_get(MDB_txn *txn, cairn_store *s, const cairn_id *id, uint64_t *ret)
{
	MDB_val k = mdb_val(id->b, CAIRN_ID_LEN), v;
	int r = store_mdb_err(mdb_get(txn, s->dbi_refs, &k, &v));
	if (r == -ENOENT) {
		*ret = 0;
		return 0;
	}
	if (r < 0)
		return r;
	if (v.mv_size != 8)
		return CAIRN_E_CORRUPT;
	*ret = get_be64(v.mv_data);
	return 1;
}

int store_refs_add(MDB_txn *txn, cairn_store *s, const cairn_id *id, int64_t delta)
{
	uint64_t n;
	int r = store_refs_get(txn, s, id, &n);
	if (r < 0)
		return r;
	MDB_val k = mdb_val(id->b, CAIRN_ID_LEN);
	if (delta < 0 && n <= (uint64_t) -delta) {
		if (r == 0)
			return 0;
		r = store_mdb_err(mdb_del(txn, s->dbi_refs, &k, NULL));
		return r == -ENOENT ? 0 : r;
	}
	uint8_t out[8];
	put_be64(out, n + (uint64_t) delta);
	MDB_val v = mdb_val(out, sizeof(out));
	return store_mdb_err(mdb_put(txn, s->dbi_refs, &k, &v, 0));
}
