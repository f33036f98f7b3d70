/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The build cache, in the store's CAIRN_T_CACHE table:
 *
 *   'S' + key (32 bytes)  -> step result: layer id, diff_id, diff size,
 *                            when it was made, its file bytes (JSON)
 *   'M' + key (32 bytes)  -> the content checksum of what a COPY --from
 *                            selects, by the source stage's key
 *   'F' + dev + ino (16)  -> a context file's content hash as of its
 *                            (size, mtime, ctime): 8+8+8+8+16 bytes
 *
 * Step keys are sha256 over a canonical stream of (field, value) pairs,
 * each length-prefixed, starting with the parent's key and the step
 * kind: nothing can be confused with anything else.  File hashes are
 * XXH3-128 of the bytes; the stat record only decides whether a file
 * must be read again (a touched file is re-read, and hashes the same).
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <cairn/build.h>
#include <cairn/layer.h>

#include "copy.h"
#include "solve.h"

struct keyhash {
	EVP_MD_CTX *ctx;
};

static void key_field(keyhash *k, const void *data, size_t len)
{
	uint64_t l = len;
	EVP_DigestUpdate(k->ctx, &l, sizeof(l));
	EVP_DigestUpdate(k->ctx, data, len);
}

keyhash *key_new(const uint8_t parent[32], const char *kind)
{
	keyhash *k = malloc(sizeof(*k));
	if (!k)
		abort(); /* a few bytes; see the callers: keys are computed before anything else */
	k->ctx = EVP_MD_CTX_new();
	if (!k->ctx || EVP_DigestInit_ex(k->ctx, EVP_sha256(), NULL) != 1)
		abort();
	key_field(k, "cairn-build-v1", 14);
	static const uint8_t zero[32];
	key_field(k, parent ? parent : zero, 32);
	key_field(k, kind, strlen(kind));
	return k;
}

void key_str(keyhash *k, const char *field, const char *value)
{
	key_field(k, field, strlen(field));
	key_field(k, value ? value : "", value ? strlen(value) : 0);
	uint8_t null = value == NULL;
	EVP_DigestUpdate(k->ctx, &null, 1);
}

void key_strv(keyhash *k, const char *field, char *const *v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	key_field(k, field, strlen(field));
	uint64_t nn = n;
	EVP_DigestUpdate(k->ctx, &nn, sizeof(nn));
	for (size_t i = 0; i < n; i++)
		key_field(k, v[i], strlen(v[i]));
}

void key_bytes(keyhash *k, const char *field, const void *data, size_t len)
{
	key_field(k, field, strlen(field));
	key_field(k, data, len);
}

void key_finish(keyhash *k, uint8_t out[32])
{
	unsigned len = 32;
	EVP_DigestFinal_ex(k->ctx, out, &len);
	EVP_MD_CTX_free(k->ctx);
	free(k);
}

void hex32(const uint8_t in[32], char out[65])
{
	static const char x[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = x[in[i] >> 4];
		out[2 * i + 1] = x[in[i] & 15];
	}
	out[64] = 0;
}

/* ---- step records --------------------------------------------------------------------- */

static void step_key(const uint8_t key[32], uint8_t out[33])
{
	out[0] = 'S';
	memcpy(out + 1, key, 32);
}

int cache_get(cairn_store *s, const uint8_t key[32], struct cache_rec *ret)
{
	uint8_t k[33];
	step_key(key, k);
	_cleanup_free_ void *val = NULL;
	size_t len;
	int r = cairn_store_get(s, CAIRN_T_CACHE, k, sizeof(k), &val, &len);
	if (r < 0)
		return r;
	json_error_t je;
	_cleanup_json_ json_t *j = json_loadb(val, len, 0, &je);
	const char *layer = NULL, *diff = NULL;
	json_int_t size = 0, created = 0, bytes = 0;
	if (!j || json_unpack(j, "{s:s, s:s, s:I, s:I, s?I}", "layer", &layer, "diff_id", &diff,
			      "size", &size, "created", &created, "file_bytes", &bytes) < 0)
		return CAIRN_E_CORRUPT;
	struct cache_rec c = {.created = created, .file_bytes = (uint64_t) bytes};
	c.l.diff_size = (uint64_t) size;
	if (cairn_id_parse(layer, &c.l.layer) < 0 || cairn_digest_parse(diff, false, &c.l.diff_id) < 0)
		return CAIRN_E_CORRUPT;
	/* the layer must still be there (prune may have taken it) */
	struct cairn_layer_info info;
	if (cairn_layer_info(s, &c.l.layer, &info) < 0)
		return CAIRN_E_NOTFOUND;
	*ret = c;
	return 0;
}

int cache_put(cairn_batch *batch, const uint8_t key[32], const struct cache_rec *c)
{
	char layer[2 * CAIRN_ID_LEN + 1];
	cairn_id_hex(&c->l.layer, layer);
	_cleanup_free_ char *diff = cairn_digest_string(&c->l.diff_id);
	_cleanup_json_ json_t *j =
	    diff ? json_pack("{s:s, s:s, s:I, s:I, s:I}", "layer", layer, "diff_id", diff, "size",
			     (json_int_t) c->l.diff_size, "created", (json_int_t) c->created,
			     "file_bytes", (json_int_t) c->file_bytes)
		 : NULL;
	_cleanup_free_ char *s = j ? json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (!s)
		return -ENOMEM;
	uint8_t k[33];
	step_key(key, k);
	return cairn_batch_put(batch, CAIRN_T_CACHE, k, sizeof(k), s, strlen(s));
}

static int mark_one(const void *key, size_t klen, const void *val, size_t vlen, void *userdata)
{
	cairn_idset *layers = userdata;
	if (klen != 33 || ((const uint8_t *) key)[0] != 'S')
		return 0;
	json_error_t je;
	_cleanup_json_ json_t *j = json_loadb(val, vlen, 0, &je);
	const char *layer = json_string_value(json_object_get(j, "layer"));
	cairn_id id;
	if (layer && cairn_id_parse(layer, &id) >= 0 && cairn_idset_add(layers, &id) < 0)
		return -ENOMEM;
	return 0;
}

int cairn_build_cache_mark(cairn_store *s, cairn_idset *layers, cairn_error **err)
{
	int r = cairn_store_foreach(s, CAIRN_T_CACHE, mark_one, layers);
	return r < 0 ? cairn_error_from(err, r, "reading the build cache") : 0;
}

/* ---- memo records ---------------------------------------------------------------------- */

int memo_get(cairn_store *s, const uint8_t key[32], uint8_t out[32])
{
	uint8_t k[33] = {'M'};
	memcpy(k + 1, key, 32);
	_cleanup_free_ void *val = NULL;
	size_t len;
	int r = cairn_store_get(s, CAIRN_T_CACHE, k, sizeof(k), &val, &len);
	if (r < 0)
		return r;
	if (len != 32)
		return CAIRN_E_CORRUPT;
	memcpy(out, val, 32);
	return 0;
}

void memo_put(cairn_store *s, const uint8_t key[32], const uint8_t sum[32])
{
	uint8_t k[33] = {'M'};
	memcpy(k + 1, key, 32);
	cairn_batch *b = NULL;
	if (cairn_batch_new(s, &b) < 0)
		return;
	if (cairn_batch_put(b, CAIRN_T_CACHE, k, sizeof(k), sum, 32) >= 0)
		cairn_batch_commit(b, NULL);
	cairn_batch_free(b);
}

/* ---- context file hashes ------------------------------------------------------------- */

struct file_rec {
	uint64_t size;
	int64_t mtime_ns, ctime_ns;
	uint64_t pad;
	uint8_t hash[16];
};

static void file_key(const struct stat *st, uint8_t k[17])
{
	uint64_t dev = st->st_dev, ino = st->st_ino;
	k[0] = 'F';
	memcpy(k + 1, &dev, 8);
	memcpy(k + 9, &ino, 8);
}

static struct file_rec file_rec_of(const struct stat *st)
{
	return (struct file_rec){
	    .size = (uint64_t) st->st_size,
	    .mtime_ns = st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec,
	    .ctime_ns = st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec,
	};
}

int context_hash_file(void *userdata, int dirfd, const char *name, const struct stat *st,
		      uint8_t out[16])
{
	struct build *b = userdata;
	uint8_t k[17];
	file_key(st, k);
	struct file_rec now = file_rec_of(st), old;
	_cleanup_free_ void *val = NULL;
	size_t len;
	if (cairn_store_get(b->store, CAIRN_T_CACHE, k, sizeof(k), &val, &len) >= 0 &&
	    len == sizeof(old)) {
		memcpy(&old, val, sizeof(old));
		if (old.size == now.size && old.mtime_ns == now.mtime_ns &&
		    old.ctime_ns == now.ctime_ns) {
			memcpy(out, old.hash, 16);
			return 0;
		}
	}
	int r = copy_hash_file_default(NULL, dirfd, name, st, now.hash);
	if (r < 0)
		return r;
	memcpy(out, now.hash, 16);
	/* A file changed in the same second it was hashed could change again
	 * without a visible mtime change: only remember settled files. */
	if (st->st_mtim.tv_sec >= b->now - 1 || st->st_ctim.tv_sec >= b->now - 1)
		return 0;
	pthread_mutex_lock(&b->lock);
	if (b->file_batch || cairn_batch_new(b->store, &b->file_batch) >= 0)
		(void) cairn_batch_put(b->file_batch, CAIRN_T_CACHE, k, sizeof(k), &now,
				       sizeof(now));
	pthread_mutex_unlock(&b->lock);
	return 0;
}
