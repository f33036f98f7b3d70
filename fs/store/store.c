/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The cairn store: LMDB environment, transactions and map growth, the
 * store lock, record tables.
 *
 * ON-DISK FORMAT (store format 1)
 *
 *   ROOT/store.mdb        the LMDB data file (opened with MDB_NOSUBDIR)
 *   ROOT/store.mdb-lock   LMDB's reader table
 *   ROOT/lock             flock(2) target: every batch holds LOCK_SH from
 *                         cairn_batch_new to _free, prune/sweep hold LOCK_EX
 *   ROOT/tmp/             scratch space for other modules (same file system)
 *
 * Named LMDB databases:
 *
 *   chunks     key   XXH3-128 of the raw chunk bytes, 16 bytes canonical
 *                    (big-endian) form
 *              value u8 format (0 = raw bytes, 1 = one zstd frame that
 *                    records its content size) followed by the data.  Raw
 *                    when zstd does not make it smaller.  1..256 KiB raw.
 *   refs       key   chunk id
 *              value u64 big-endian: number of references from content
 *                    records (with multiplicity).  No row means 0.
 *   contents   key   content id = XXH3-128 of the record below (so a content
 *                    id is a Merkle hash of its chunk list)
 *              value u8 version (1)
 *                    varint logical size (data and holes)
 *                    segments to the end of the value, each either
 *                      varint (len << 1) | 1               a hole of len bytes
 *                      varint (len << 1), 16-byte chunk id  len bytes of data
 *                    Varints are LEB128 (7 bits a byte, low bits first).
 *                    Segment lengths are > 0, data segments <= 256 KiB, the
 *                    writer merges adjacent holes, lengths add up to the size.
 *                    The empty content is "01 00".
 *   t.meta, t.layers, t.diffs, t.blobs, t.images, t.tags, t.snapshots,
 *   t.cache    the cairn_table record tables; opaque values.  t.meta holds
 *              "store.format" = "1".
 *
 * Chunks are compressed at zstd level 2 by default (opts.zstd_level): in
 * frames of at most 256 KiB level 3 gains ~2% in size for ~25% more CPU.
 *
 * Chunking is FastCDC (chunker.c): a gear rolling hash, cut points searched
 * from 16 KiB on with an 18-bit mask up to 64 KiB and a 14-bit mask after
 * it, forced at 256 KiB; a hole ends the current data run.
 *
 * Write path: the writer's thread cuts chunks (FastCDC) and hashes them
 * (XXH3-128); chunks new to the batch collect in a bundle (<= 256 KiB) that
 * is looked up in the store in one read transaction, and the missing ones
 * go to the compression workers (pool.c: opts.threads, bounded job slots).
 * Workers stage the values with the batch; every STAGE_LIMIT (~1.7 MiB) bytes
 * a stage is written, sorted by key, in its own write transaction without
 * a meta sync (MDB_NOMETASYNC: the data file stays consistent, a crash may
 * only lose it).  cairn_batch_commit applies the last stage, the new
 * content records with their refcount increments (aggregated per chunk;
 * every referenced chunk must exist) and the record puts/deletes in one
 * durable write transaction.  Chunks that no content references are
 * garbage left by abandoned batches: sweep deletes them, fsck counts them.
 *
 * Map size: CAIRN_MAP_SIZE (bytes) or the option, else max(1 GiB, twice the
 * data file); on MDB_MAP_FULL the map doubles and the transaction is
 * replayed from memory; MDB_MAP_RESIZED (another process grew it) adopts
 * the new size.  Transactions hold maplock shared, resizing holds it
 * exclusively (LMDB needs no live transaction in the process to remap).
 * The process's page table entries of the map are dropped now and then
 * (store_touched) so that the resident size does not grow with the store.
 */
#include "store-internal.h"

#include <pwd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

static const char *const table_names[CAIRN_T_COUNT_] = {
    [CAIRN_T_META] = "t.meta",		 [CAIRN_T_LAYERS] = "t.layers", [CAIRN_T_DIFFS] = "t.diffs",
    [CAIRN_T_BLOBS] = "t.blobs",	 [CAIRN_T_IMAGES] = "t.images", [CAIRN_T_TAGS] = "t.tags",
    [CAIRN_T_SNAPSHOTS] = "t.snapshots", [CAIRN_T_CACHE] = "t.cache",
};

#define RTXN_POOL_MAX 16 /* reset read transactions kept (each holds a reader slot) */
#define DEFAULT_MAP_SIZE (1ull << 30)

int store_mdb_err(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_MAP_FULL:
	case MDB_MAP_RESIZED:
		return rc;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_KEYEXIST:
		return -EEXIST;
	case MDB_READERS_FULL:
		return -EAGAIN;
	case MDB_TXN_FULL:
	case MDB_BAD_VALSIZE:
		return -E2BIG;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return CAIRN_E_CORRUPT;
	default:
		return rc > 0 ? -rc : -EIO;
	}
}

/* ---- map size ---- */

/* Finds LMDB's mapping of the data file in /proc/self/maps (LMDB does not
 * tell where it is); without it the map is just never trimmed. */
static void store_find_map(cairn_store *s)
{
	struct stat st;
	int fd;
	s->map_addr = NULL;
	s->map_len = 0;
	if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) < 0)
		return;
	_cleanup_fclose_ FILE *f = fopen("/proc/self/maps", "re");
	char line[4096];
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long start, end, off, ino;
		unsigned maj, min;
		if (sscanf(line, "%lx-%lx %*s %lx %x:%x %lu", &start, &end, &off, &maj, &min,
			   &ino) == 6 &&
		    ino == st.st_ino && off == 0 && makedev(maj, min) == st.st_dev) {
			s->map_addr = (void *) start;
			s->map_len = end - start;
			return;
		}
	}
}

static size_t env_map_size(cairn_store *s)
{
	MDB_envinfo info;
	mdb_env_info(s->env, &info);
	store_find_map(s);
	return info.me_mapsize;
}

/* Grows the map after MDB_MAP_FULL, unless another thread already did since
 * `seen` was read.  Caller holds no transaction. */
static int store_grow(cairn_store *s, size_t seen)
{
	int r = 0;
	pthread_rwlock_wrlock(&s->maplock);
	if (s->map_size == seen) {
		if (seen >= SIZE_MAX / 2) {
			r = -ENOSPC;
		} else {
			int rc = mdb_env_set_mapsize(s->env, seen * 2);
			if (rc != 0)
				r = rc == ENOMEM ? -ENOSPC : store_mdb_err(rc);
			s->map_size = env_map_size(s);
		}
	}
	pthread_rwlock_unlock(&s->maplock);
	return r;
}

/* Adopts the map size another process set (MDB_MAP_RESIZED). */
static int store_adopt_map(cairn_store *s)
{
	pthread_rwlock_wrlock(&s->maplock);
	int rc = mdb_env_set_mapsize(s->env, 0);
	s->map_size = env_map_size(s);
	pthread_rwlock_unlock(&s->maplock);
	return store_mdb_err(rc);
}

void store_touched(cairn_store *s, uint64_t bytes, bool has_lock)
{
	uint64_t t = __atomic_add_fetch(&s->touched, bytes, __ATOMIC_RELAXED);
	if (t < TRIM_BYTES || !__atomic_compare_exchange_n(&s->touched, &t, 0, false,
							   __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	if (!has_lock)
		pthread_rwlock_rdlock(&s->maplock);
	/* LMDB never writes through its map (no MDB_WRITEMAP): dropping the
	 * mappings loses nothing, readers fault the same pages back in. */
	if (s->map_addr)
		madvise(s->map_addr, s->map_len, MADV_DONTNEED);
	if (!has_lock)
		pthread_rwlock_unlock(&s->maplock);
}

/* ---- transactions ---- */

int store_rtxn_begin(cairn_store *s, MDB_txn **ret_txn)
{
	for (;;) {
		MDB_txn *txn = NULL;
		int rc;

		pthread_rwlock_rdlock(&s->maplock);
		pthread_mutex_lock(&s->mu);
		if (s->n_rtxns > 0)
			txn = s->rtxns[--s->n_rtxns];
		pthread_mutex_unlock(&s->mu);
		if (txn) {
			rc = mdb_txn_renew(txn);
			if (rc != 0)
				mdb_txn_abort(txn);
		} else {
			rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
		}
		if (rc == 0) {
			*ret_txn = txn;
			return 0;
		}
		pthread_rwlock_unlock(&s->maplock);
		if (rc != MDB_MAP_RESIZED)
			return store_mdb_err(rc);
		int r = store_adopt_map(s);
		if (r < 0)
			return r;
	}
}

void store_rtxn_end(cairn_store *s, MDB_txn *txn)
{
	if (!txn)
		return;
	mdb_txn_reset(txn);
	pthread_mutex_lock(&s->mu);
	if (s->n_rtxns < RTXN_POOL_MAX) {
		s->rtxns[s->n_rtxns++] = txn;
		txn = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	if (txn)
		mdb_txn_abort(txn);
	pthread_rwlock_unlock(&s->maplock);
}

int store_write(cairn_store *s, unsigned txn_flags, store_write_fn fn, void *userdata)
{
	for (;;) {
		MDB_txn *txn;
		int r;

		pthread_rwlock_rdlock(&s->maplock);
		size_t seen = s->map_size;
		int rc = mdb_txn_begin(s->env, NULL, txn_flags, &txn);
		if (rc == 0) {
			r = fn(s, txn, userdata);
			if (r >= 0) {
				rc = mdb_txn_commit(txn);
				if (rc != 0)
					r = store_mdb_err(rc);
			} else {
				mdb_txn_abort(txn);
			}
		} else {
			r = store_mdb_err(rc);
		}
		pthread_rwlock_unlock(&s->maplock);

		if (r == MDB_MAP_FULL)
			r = store_grow(s, seen);
		else if (r == MDB_MAP_RESIZED)
			r = store_adopt_map(s);
		else
			return r;
		if (r < 0)
			return r;
	}
}

struct scan_pos {
	bytebuf key; /* where the next slice starts */
	bool started, done;
};

/* One slice of a walk: up to max entries (0 = all) after pos. */
static int scan_slice(cairn_store *s, MDB_dbi dbi, struct scan_pos *pos, size_t max,
		      store_scan_fn fn, void *userdata)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_val k, v;
	int r = store_rtxn_begin(s, &txn);
	if (r < 0)
		return r;
	int rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0) {
		store_rtxn_end(s, txn);
		return store_mdb_err(rc);
	}
	if (!pos->started) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	} else {
		k = mdb_val(pos->key.data, pos->key.len);
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	pos->started = true;
	for (size_t n = 0; rc == 0; n++) {
		if (max && n == max) {
			pos->key.len = 0;
			r = buf_append(&pos->key, k.mv_data, k.mv_size);
			break;
		}
		r = fn(txn, &k, &v, userdata);
		if (r != 0)
			break;
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc == MDB_NOTFOUND)
		pos->done = true;
	else if (rc != 0 && r == 0)
		r = store_mdb_err(rc);
	mdb_cursor_close(cur);
	store_rtxn_end(s, txn);
	return r;
}

int store_scan(cairn_store *s, MDB_dbi dbi, size_t slice, store_scan_fn fn, void *userdata)
{
	struct scan_pos pos = {0};
	int r = 0;
	while (r == 0 && !pos.done)
		r = scan_slice(s, dbi, &pos, slice, fn, userdata);
	buf_clear(&pos.key);
	return r;
}

/* ---- opening ---- */

int cairn_store_default_root(char **ret_root)
{
	const char *e = getenv("CAIRN_ROOT");
	char *root = NULL;
	int n;

	if (e && *e) {
		root = strdup(e);
		n = root ? 0 : -1;
	} else if (geteuid() == 0) {
		root = strdup("/var/lib/cairn");
		n = root ? 0 : -1;
	} else if ((e = getenv("XDG_DATA_HOME")) && e[0] == '/') {
		n = asprintf(&root, "%s/cairn", e);
	} else {
		const char *home = getenv("HOME");
		if (!home || home[0] != '/') {
			struct passwd *pw = getpwuid(geteuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home)
			return -ENOENT;
		n = asprintf(&root, "%s/.local/share/cairn", home);
	}
	if (n < 0 || !root)
		return -ENOMEM;
	*ret_root = root;
	return 0;
}

static int open_dbis(cairn_store *s, MDB_txn *txn, void *userdata)
{
	static const char meta_key[] = STORE_FORMAT_KEY;
	struct {
		const char *name;
		MDB_dbi *dbi;
	} dbs[3 + CAIRN_T_COUNT_] = {
	    {"chunks", &s->dbi_chunks},
	    {"refs", &s->dbi_refs},
	    {"contents", &s->dbi_contents},
	};
	for (int t = 0; t < CAIRN_T_COUNT_; t++)
		dbs[3 + t] = (typeof(dbs[0])){table_names[t], &s->dbi_table[t]};

	for (size_t i = 0; i < ARRAY_SIZE(dbs); i++) {
		int rc = mdb_dbi_open(txn, dbs[i].name, MDB_CREATE, dbs[i].dbi);
		if (rc != 0)
			return store_mdb_err(rc);
	}
	MDB_val k = mdb_val(meta_key, sizeof(meta_key) - 1), v;
	int rc = mdb_get(txn, s->dbi_table[CAIRN_T_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		v = mdb_val(STORE_FORMAT_VALUE, strlen(STORE_FORMAT_VALUE));
		rc = mdb_put(txn, s->dbi_table[CAIRN_T_META], &k, &v, 0);
	} else if (rc == 0 && (v.mv_size != strlen(STORE_FORMAT_VALUE) ||
			       memcmp(v.mv_data, STORE_FORMAT_VALUE, v.mv_size) != 0)) {
		return -EPROTONOSUPPORT;
	}
	return store_mdb_err(rc);
}

static uint64_t initial_map_size(const char *path, const struct cairn_store_options *opts)
{
	const char *e = getenv("CAIRN_MAP_SIZE");
	uint64_t size = 0;
	if (e && *e) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(e, &end, 10);
		if (errno == 0 && *end == 0 && v > 0)
			size = v;
	}
	if (!size && opts && opts->map_size)
		size = opts->map_size;
	if (!size) {
		struct stat st;
		size = DEFAULT_MAP_SIZE;
		if (stat(path, &st) == 0 && (uint64_t) st.st_size * 2 > size)
			size = (uint64_t) st.st_size * 2;
	}
	/* A whole number of 64 KiB, at least 256 KiB. */
	size = MAX(size, 256 * 1024);
	return (size + 0xffff) & ~(uint64_t) 0xffff;
}

static int store_open_env(cairn_store *s, const struct cairn_store_options *opts, cairn_error **err)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/store.mdb", s->root) < 0)
		return -ENOMEM;
	int rc = mdb_env_create(&s->env);
	if (rc != 0)
		return cairn_error_from(err, store_mdb_err(rc), "%s: creating LMDB environment",
					path);
	mdb_env_set_maxdbs(s->env, 3 + CAIRN_T_COUNT_ + 4);
	mdb_env_set_maxreaders(s->env, 1022);
	mdb_env_set_mapsize(s->env, (size_t) initial_map_size(path, opts));
	rc = mdb_env_open(s->env, path, MDB_NOSUBDIR | MDB_NOTLS, 0600);
	if (rc != 0) {
		mdb_env_close(s->env);
		s->env = NULL;
		return cairn_error_from(err, store_mdb_err(rc), "%s: opening store", path);
	}
	s->map_size = env_map_size(s);
	int dead;
	mdb_reader_check(s->env, &dead); /* free reader slots of killed processes */
	int r = store_write(s, 0, open_dbis, NULL);
	if (r == -EPROTONOSUPPORT)
		return cairn_error_set(err, r,
				       "%s: unsupported store format (this cairn reads format %s)",
				       path, STORE_FORMAT_VALUE);
	if (r < 0)
		return cairn_error_from(err, r, "%s: opening store databases", path);
	return 0;
}

int cairn_store_open(const char *root, const struct cairn_store_options *opts,
		     cairn_store **ret_store, cairn_error **err)
{
	if (!root || !*root)
		return cairn_error_set(err, -EINVAL, "no store root given");
	cairn_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->excl = (struct lockfd){.fd = -1};
	pthread_rwlock_init(&s->maplock, NULL);
	pthread_mutex_init(&s->mu, NULL);
	s->zstd_level = opts && opts->zstd_level ? opts->zstd_level : 2;
	s->threads =
	    opts && opts->threads > 0 ? opts->threads : (int) sysconf(_SC_NPROCESSORS_ONLN);
	if (s->threads < 1)
		s->threads = 1;
	s->root = strdup(root);
	s->rtxns = calloc(RTXN_POOL_MAX, sizeof(*s->rtxns));
	if (!s->root || !s->rtxns) {
		cairn_store_free(s);
		return -ENOMEM;
	}

	_cleanup_free_ char *tmp = NULL;
	int r = mkdir_p(root, 0700);
	if (r < 0) {
		cairn_store_free(s);
		return cairn_error_from(err, r, "%s: creating store directory", root);
	}
	if (asprintf(&tmp, "%s/tmp", root) < 0) {
		cairn_store_free(s);
		return -ENOMEM;
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		cairn_store_free(s);
		return cairn_error_from(err, r, "%s: creating directory", tmp);
	}
	struct lockfd probe;
	r = store_lockfd_open(s, 0, &probe);
	if (r < 0) {
		cairn_store_free(s);
		return cairn_error_from(err, r, "%s/lock: opening store lock", root);
	}
	store_lockfd_close(&probe);
	r = store_open_env(s, opts, err);
	if (r < 0) {
		cairn_store_free(s);
		return r;
	}
	*ret_store = s;
	return 0;
}

void cairn_store_free(cairn_store *s)
{
	if (!s)
		return;
	store_pool_free(s->pool);
	for (size_t i = 0; i < s->n_rtxns; i++)
		mdb_txn_abort(s->rtxns[i]);
	if (s->env)
		mdb_env_close(s->env);
	store_lockfd_close(&s->excl);
	pthread_rwlock_destroy(&s->maplock);
	pthread_mutex_destroy(&s->mu);
	free(s->rtxns);
	free(s->root);
	free(s);
}

const char *cairn_store_root(cairn_store *s)
{
	return s->root;
}

/* ---- records ---- */

static bool valid_key(cairn_table t, const void *key, size_t klen)
{
	return (unsigned) t < CAIRN_T_COUNT_ && key && klen > 0 && klen <= 511;
}

int cairn_store_get(cairn_store *s, cairn_table t, const void *key, size_t klen, void **ret_val,
		    size_t *ret_len)
{
	if (!valid_key(t, key, klen))
		return -EINVAL;
	MDB_txn *txn;
	int r = store_rtxn_begin(s, &txn);
	if (r < 0)
		return r;
	MDB_val k = mdb_val(key, klen), v;
	r = store_mdb_err(mdb_get(txn, s->dbi_table[t], &k, &v));
	uint8_t *copy = NULL;
	if (r == 0) {
		copy = malloc(v.mv_size + 1);
		if (copy) {
			memcpy(copy, v.mv_data, v.mv_size);
			copy[v.mv_size] = 0;
		} else {
			r = -ENOMEM;
		}
	}
	store_rtxn_end(s, txn);
	if (r < 0)
		return r;
	*ret_val = copy;
	if (ret_len)
		*ret_len = v.mv_size;
	return 0;
}

int cairn_store_has(cairn_store *s, cairn_table t, const void *key, size_t klen)
{
	if (!valid_key(t, key, klen))
		return -EINVAL;
	MDB_txn *txn;
	int r = store_rtxn_begin(s, &txn);
	if (r < 0)
		return r;
	MDB_val k = mdb_val(key, klen), v;
	r = store_mdb_err(mdb_get(txn, s->dbi_table[t], &k, &v));
	store_rtxn_end(s, txn);
	return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

#define FOREACH_SLICE 256

static int collect_record(MDB_txn *txn, const MDB_val *k, const MDB_val *v, void *userdata)
{
	bytebuf *b = userdata;
	uint8_t hdr[16];
	put_be64(hdr, k->mv_size);
	put_be64(hdr + 8, v->mv_size);
	int r = buf_append(b, hdr, sizeof(hdr));
	if (r >= 0)
		r = buf_append(b, k->mv_data, k->mv_size);
	if (r >= 0)
		r = buf_append(b, v->mv_data, v->mv_size);
	return r;
}

/* Records are read in slices and handed to fn outside any transaction, so
 * fn may use the store freely (even commit batches). */
int cairn_store_foreach(cairn_store *s, cairn_table t, cairn_record_fn fn, void *userdata)
{
	if ((unsigned) t >= CAIRN_T_COUNT_ || !fn)
		return -EINVAL;
	struct scan_pos pos = {0};
	bytebuf recs = {0};
	int r = 0;
	while (r == 0 && !pos.done) {
		recs.len = 0;
		r = scan_slice(s, s->dbi_table[t], &pos, FOREACH_SLICE, collect_record, &recs);
		for (size_t off = 0; r == 0 && off < recs.len;) {
			size_t klen = get_be64(recs.data + off),
			       vlen = get_be64(recs.data + off + 8);
			const uint8_t *key = recs.data + off + 16;
			r = fn(key, klen, key + klen, vlen, userdata);
			off += 16 + klen + vlen;
		}
	}
	buf_clear(&recs);
	buf_clear(&pos.key);
	return r;
}
