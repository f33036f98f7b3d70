/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_STORE_INTERNAL_H
#define CAIRN_STORE_INTERNAL_H

/* Internals of fs/store shared between its files (not installed).  The
 * on-disk format is described at the top of store.c. */

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <zstd.h>

#include <cairn/store.h>

#include "util.h"

#define CHUNK_MIN (16u * 1024)
#define CHUNK_AVG (64u * 1024)
#define CHUNK_MAX (256u * 1024)

/* First byte of a chunk value. */
enum { CHUNK_RAW = 0, CHUNK_ZSTD = 1 };

/* Content record version (first byte of a content record). */
#define CONTENT_RECORD_V1 1

/* Chunk values waiting for a write transaction are flushed in their own
 * (non-durable) transaction once this many bytes are staged.  A stage
 * buffer is allocated once at STAGE_CAP, which holds STAGE_LIMIT plus one
 * largest chunk; LMDB copies every page a transaction writes into its own
 * memory (and keeps those pages for reuse), so this bounds that too. */
#define STAGE_CAP (2u << 20)
#define STAGE_LIMIT (STAGE_CAP - CHUNK_MAX - 4096)
/* A batch remembers this many chunks it staged (so that a chunk repeated
 * in the batch is compressed once) before it flushes and forgets them. */
#define CHUNKS_SEEN_MAX 16384

/* Keys and values of the store-wide settings in CAIRN_T_META. */
#define STORE_FORMAT_KEY "store.format"
#define STORE_FORMAT_VALUE "1"

struct store_pool;

/* A store lock file descriptor, owned by the process that opened it: a
 * forked child closes its copies (pthread_atfork) so that it never holds
 * its parent's flock, and never closes them again. */
struct lockfd {
	int fd;
	pid_t pid;
};

struct cairn_store {
	char *root;
	MDB_env *env;
	MDB_dbi dbi_chunks, dbi_refs, dbi_contents;
	MDB_dbi dbi_table[CAIRN_T_COUNT_];
	int zstd_level;
	int threads;

	/* Every user of a transaction holds maplock shared; resizing the map
	 * (which LMDB allows only without live transactions in the process)
	 * holds it exclusively.  map_size is written under the exclusive lock. */
	pthread_rwlock_t maplock;
	size_t map_size;
	/* bytes of the map touched since it was last trimmed (see store_touched) */
	uint64_t touched;
	void *map_addr; /* LMDB's mapping of the data file (under maplock) */
	size_t map_len;

	pthread_mutex_t mu; /* the fields below */
	MDB_txn **rtxns;    /* reset read transactions for reuse */
	size_t n_rtxns;
	struct lockfd excl; /* fd >= 0 while this process holds the exclusive lock */
	pthread_t excl_owner;
	struct cairn_batch *batches; /* live batches (for the lock self-check) */
	struct store_pool *pool;     /* compression workers, started on first use */
};

/* ---- store.c: transactions and locks ---- */

/* Maps an LMDB or errno result to -errno / CAIRN_E_*; MDB_MAP_FULL and
 * MDB_MAP_RESIZED pass through so transaction loops can retry. */
int store_mdb_err(int rc);
/* A read transaction (from a small pool); holds maplock shared until
 * store_rtxn_end().  Never keep one across calls that may write. */
int store_rtxn_begin(cairn_store *s, MDB_txn **ret_txn);
void store_rtxn_end(cairn_store *s, MDB_txn *txn);
/* Runs fn in a write transaction and commits it; on MDB_MAP_FULL the map
 * grows and fn runs again from the start, so fn must be replayable (it
 * only reads memory that stays valid until store_write returns).  fn
 * returns >= 0 to commit, < 0 to abort. */
typedef int (*store_write_fn)(cairn_store *s, MDB_txn *txn, void *userdata);
int store_write(cairn_store *s, unsigned txn_flags, store_write_fn fn, void *userdata);
/* Notes that about `bytes` of the map were read or copied; every
 * TRIM_BYTES the process's page table entries of the map are dropped
 * (madvise MADV_DONTNEED: the pages stay in the page cache), so that the
 * resident size does not grow with the store.  With has_lock the caller
 * holds maplock shared. */
#define TRIM_BYTES (2u << 20)
/* What one random page access maps: the kernel maps up to 16 cached pages
 * around a faulting one (fault-around). */
#define PAGE_TOUCH (64u * 1024)
void store_touched(cairn_store *s, uint64_t bytes, bool has_lock);

/* Iterates a DBI in key order.  fn runs inside the read transaction; it
 * returns 0 to go on, > 0 to stop (returned), < 0 on error.  With slice > 0
 * the walk releases the transaction every `slice` entries and continues
 * after the last key seen (so fn may not rely on one snapshot). */
typedef int (*store_scan_fn)(MDB_txn *txn, const MDB_val *key, const MDB_val *val, void *userdata);
int store_scan(cairn_store *s, MDB_dbi dbi, size_t slice, store_scan_fn fn, void *userdata);

/* ---- lock.c: the store lock ---- */

/* Opens ROOT/lock and, unless op is 0, flocks it (LOCK_SH / LOCK_EX). */
int store_lockfd_open(cairn_store *s, int op, struct lockfd *ret);
void store_lockfd_close(struct lockfd *l);
/* Whether this thread holds the exclusive store lock. */
bool store_excl_held_by_me(cairn_store *s);

static inline MDB_val mdb_val(const void *p, size_t len)
{
	return (MDB_val){.mv_size = len, .mv_data = (void *) p};
}

/* ---- chunker.c: FastCDC ---- */

struct cdc {
	uint64_t fp;
	size_t pos; /* bytes of the current chunk already scanned */
};
/* Scans p[0..n) as the continuation of the current chunk.  Returns the
 * number of bytes consumed; *ret_cut is set when those bytes end a chunk
 * (the scanner then starts a new one). */
size_t store_cdc_scan(struct cdc *c, const uint8_t *p, size_t n, bool *ret_cut);
static inline void cdc_reset(struct cdc *c)
{
	*c = (struct cdc){0};
}

/* ---- chunk.c: chunk values and refcounts ---- */

void store_chunk_id(const void *data, size_t len, cairn_id *ret);
/* Decodes a chunk value into dst (capacity CHUNK_MAX); returns the raw length. */
ssize_t store_chunk_decode(ZSTD_DCtx *dctx, const void *val, size_t vlen, void *dst, size_t cap);
/* Raw length of a chunk value without decoding it (zstd frame header). */
ssize_t store_chunk_raw_len(const void *val, size_t vlen);
int store_chunk_exists(MDB_txn *txn, cairn_store *s, const cairn_id *id);
int store_refs_get(MDB_txn *txn, cairn_store *s, const cairn_id *id, uint64_t *ret);
/* Adds delta to a chunk's refcount; a count reaching 0 removes the row. */
int store_refs_add(MDB_txn *txn, cairn_store *s, const cairn_id *id, int64_t delta);

/* ---- content.c: content records ---- */

struct segment {
	uint64_t len;
	bool hole;
	cairn_id id; /* data segments */
};
struct record_iter {
	cursor c;
	uint64_t size, seen;
};
/* Starts parsing a content record (checks version, reads the size). */
int store_record_iter_init(struct record_iter *it, const void *rec, size_t len);
/* 1 with *ret filled, 0 at the end (sizes checked), < 0 if malformed. */
int store_record_iter_next(struct record_iter *it, struct segment *ret);
int store_record_put_data(bytebuf *b, const cairn_id *id, uint32_t len);
int store_record_put_hole(bytebuf *b, uint64_t len);

/* ---- pool.c: compression workers ---- */

/* Chunks travel to the workers in bundles (one CHUNK_MAX buffer each), so
 * that a layer of small files costs one hand-off per ~128 KiB, not one
 * per file. */
#define BUNDLE_ITEMS 64
#define BUNDLE_TARGET (128u * 1024)
struct bundle_item {
	cairn_id id;
	uint32_t off, len;
};
struct bundle {
	uint8_t *data; /* CHUNK_MAX bytes */
	size_t used;
	unsigned n;
	struct bundle_item items[BUNDLE_ITEMS];
};
/* Whether len more bytes fit into bundle (then it is appended to directly). */
static inline bool bundle_fits(const struct bundle *bd, size_t len)
{
	return bd->n < BUNDLE_ITEMS && bd->used + len <= CHUNK_MAX;
}
/* Hands the bundle's chunks to the workers (its buffer is swapped with a
 * free job's, so bd is empty and reusable afterwards); they are compressed
 * and staged with b.  Blocks while all job slots are busy. */
int store_pool_submit(cairn_store *s, cairn_batch *b, struct bundle *bd);
void store_pool_free(struct store_pool *p);
/* Compresses src into dst (capacity >= ZSTD_compressBound(CHUNK_MAX)); sets
 * *ret_fmt and returns the value length, raw when zstd does not shrink it. */
ssize_t store_chunk_compress(ZSTD_CCtx *cctx, int level, const void *src, size_t len, void *dst,
			     size_t cap, uint8_t *ret_fmt);

/* ---- idset.c: id -> value maps ---- */

struct idmap_entry {
	cairn_id id;
	uint64_t a, b;
};
typedef struct idmap {
	struct idmap_entry *e;
	size_t n, cap; /* cap is a power of two; empty slots have a zero id */
	bool has_zero;
	struct idmap_entry zero;
} idmap;
/* Finds or inserts id; *ret_new says whether it was inserted (values 0). */
int store_idmap_upsert(idmap *m, const cairn_id *id, struct idmap_entry **ret, bool *ret_new);
struct idmap_entry *store_idmap_get(const idmap *m, const cairn_id *id);
void store_idmap_clear(idmap *m);
/* Iteration: i from 0; returns NULL at the end. */
struct idmap_entry *store_idmap_next(idmap *m, size_t *i);

/* ---- batch.c: staged chunks ---- */

struct staged_op {
	cairn_table table;
	bool del;
	size_t off, klen, vlen; /* key then value at opdata.data + off */
};

struct staged_content {
	cairn_id id;
	size_t off, len; /* record at recdata.data + off */
};

struct cairn_batch {
	cairn_store *s;
	cairn_batch *next; /* s->batches, under s->mu */
	pthread_t owner;
	struct lockfd lock; /* shared store lock, fd -1 when the exclusive holder made it */

	bytebuf opdata;
	struct staged_op *ops;
	size_t n_ops, cap_ops;
	bytebuf recdata;
	struct staged_content *contents;
	size_t n_contents, cap_contents;
	/* chunks handed to the workers since the last flush (used only by
	 * the thread that writes contents; at most CHUNKS_SEEN_MAX) */
	idmap chunks;
	/* staged content id -> index + 1 into contents (for batch reads) */
	idmap staged;

	/* shared with the compression workers */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bytebuf stage[2]; /* entries: id[16], be32 value length, value */
	int cur;	  /* stage[cur] collects, stage[!cur] may be flushing */
	bool flushing;
	/* the flusher thread writes full stages so that no worker waits for
	 * a transaction's sync (started with the first full stage) */
	pthread_t flusher;
	pthread_cond_t flush_cv; /* wakes the flusher */
	bool flusher_on, flush_queued, stopping;
	unsigned pending; /* chunks submitted, not yet staged */
	int error;	  /* first failure of a background step */

	uint8_t *pend_cache;  /* a writer's CHUNK_MAX buffer kept for the next one */
	struct bundle bundle; /* new chunks not yet handed to the workers */
};

void store_batch_set_error(cairn_batch *b, int r);
/* Waits until no chunk of this batch is with the workers or being flushed. */
void store_batch_drain(cairn_batch *b);
/* Looks up the bundle's chunks and hands the new ones to the workers. */
int store_batch_bundle_submit(cairn_batch *b);
/* store_write_fn writing a stage buffer's chunk values (commit.c). */
int store_batch_write_stage(cairn_store *s, MDB_txn *txn, void *userdata);

/* Stores a compressed (or raw) chunk value with the batch; it reaches the
 * store in a chunk transaction or at commit.  Thread-safe. */
int store_batch_stage_chunk(cairn_batch *b, const cairn_id *id, uint8_t fmt, const void *data,
			    size_t len);
/* Adds a chunk the writer produced: skips it when the batch or the store
 * has it already, else hands it to the compression workers. */
int store_batch_add_chunk(cairn_batch *b, const cairn_id *id, const void *data, size_t len);
/* A CHUNK_MAX buffer for a writer, recycled within the batch (writers of
 * one batch run on one thread at a time). */
uint8_t *store_batch_take_buffer(cairn_batch *b);
void store_batch_return_buffer(cairn_batch *b, uint8_t *p);
/* Writes every chunk the batch has so far (workers drained, stage flushed
 * in a chunk transaction) so that its staged contents can be read. */
int store_batch_flush(cairn_batch *b);
/* Stages a finished content record (copied). */
int store_batch_stage_content(cairn_batch *b, const cairn_id *id, const void *rec, size_t len);
/* Whether a live batch created by thread `self` holds the shared lock.
 * Caller holds s->mu. */
bool store_batch_list_has_locked_owner(cairn_store *s, pthread_t self);
/* Called by the pool when n submitted chunks have been staged (r < 0: failed). */
void store_batch_chunks_done(cairn_batch *b, unsigned n, int r);
/* Counts n chunks as handed to the workers (before store_pool_submit). */
void store_batch_chunks_submitted(cairn_batch *b, unsigned n);

#endif
