/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

/*
 * The cairn store: a content-addressed chunk store in LMDB plus a small
 * transactional record space for the layers above it.
 *
 *   chunk    XXH3-128 of the raw bytes -> zstd frame (or raw bytes), refcount
 *   content  a byte stream (file contents, layer tables, image blobs):
 *            content id -> list of data chunks and holes
 *   records  key/value records in named tables owned by higher layers
 *            (layers, diffs, blobs, images, tags, ...)
 *
 * Content is cut with FastCDC (min/avg/max 16/64/256 KiB); chunks are
 * compressed on worker threads.  A cairn_batch collects one change set:
 * chunks are written while contents stream in (in their own LMDB
 * transactions), everything else (content records, chunk refcounts,
 * records) becomes visible in a single write transaction at
 * cairn_batch_commit(), or not at all.  Chunks written by a batch that
 * never commits are unreferenced garbage that prune reclaims and fsck
 * reports as such (not as damage).
 *
 * Concurrency: any number of processes and threads may use one store.
 * Batches hold a shared lock on the store from _new to _free; prune and
 * sweep take it exclusively, so garbage collection never deletes chunks a
 * live batch is about to reference.  Readers use LMDB read transactions
 * and never block.
 *
 * Threads: a cairn_store is shared by any number of threads.  A batch and
 * its content writers are used by one thread at a time; different batches
 * may be filled on different threads at once.  cairn_content readers are
 * independent of each other.  After fork() a child must open its own
 * store (the child's copies of the store lock are closed automatically).
 *
 * The on-disk format is described at the top of fs/store/store.c.
 *
 * All functions return >= 0 on success and -errno or CAIRN_E_* on error.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cairn/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_ID_LEN 16
#define CAIRN_DIGEST_LEN 32

/* XXH3-128 identity of a chunk or a content, canonical (big-endian) bytes. */
typedef struct cairn_id {
	uint8_t b[CAIRN_ID_LEN];
} cairn_id;

/* A sha256 digest (OCI identity). */
typedef struct cairn_digest {
	uint8_t b[CAIRN_DIGEST_LEN];
} cairn_digest;

typedef struct cairn_store cairn_store;
typedef struct cairn_batch cairn_batch;
typedef struct cairn_content_writer cairn_content_writer;
typedef struct cairn_content cairn_content;

/* Record tables.  The store treats values as opaque bytes. */
typedef enum cairn_table {
	CAIRN_T_META = 0,  /* store-wide settings and format version */
	CAIRN_T_LAYERS,	   /* layer id -> layer record (fs/layer) */
	CAIRN_T_DIFFS,	   /* diff_id (sha256 of uncompressed tar) -> diff record (builder/oci) */
	CAIRN_T_BLOBS,	   /* sha256 -> verbatim blob record (builder/oci) */
	CAIRN_T_IMAGES,	   /* image id -> image record (builder/oci) */
	CAIRN_T_TAGS,	   /* normalized reference -> image id (builder/oci) */
	CAIRN_T_SNAPSHOTS, /* snapshot key -> snapshot record (fs/fuse, later) */
	CAIRN_T_CACHE,	   /* build cache keys (builder, later) */
	CAIRN_T_COUNT_,
} cairn_table;

/* ---- store ---------------------------------------------------------- */

struct cairn_store_options {
	int zstd_level;	   /* 0 = default (2, see docs/STORE.md) */
	int threads;	   /* compression workers, 0 = number of CPUs */
	uint64_t map_size; /* initial LMDB map size, 0 = default; env CAIRN_MAP_SIZE overrides */
};

/* The default root: $CAIRN_ROOT, else /var/lib/cairn for root, else
 * $XDG_DATA_HOME/cairn (~/.local/share/cairn).  Caller frees. */
int cairn_store_default_root(char **ret_root);

/* Opens (and creates on first use, mode 0700) the store at root, with
 * ROOT/tmp/ as scratch space for other modules.  opts may be NULL. */
int cairn_store_open(const char *root, const struct cairn_store_options *opts,
		     cairn_store **ret_store, cairn_error **err);
/* Every batch of s must have been freed. */
void cairn_store_free(cairn_store *s);
const char *cairn_store_root(cairn_store *s);

/* ---- batches (write side) --------------------------------------------- */

/* Starts a change set; takes the shared store lock (blocks while a prune runs). */
int cairn_batch_new(cairn_store *s, cairn_batch **ret_batch);
/* Applies everything staged in one durable LMDB write transaction.  On
 * failure nothing is visible (a content that references a missing chunk
 * fails with CAIRN_E_CORRUPT).  The batch must still be freed; after a
 * successful commit it is empty and may stage more. */
int cairn_batch_commit(cairn_batch *b, cairn_error **err);
/* Frees the batch; an uncommitted batch is abandoned. */
void cairn_batch_free(cairn_batch *b);
cairn_store *cairn_batch_store(cairn_batch *b);

/* Stage a record put / delete (applied at commit, in call order). */
int cairn_batch_put(cairn_batch *b, cairn_table t, const void *key, size_t klen, const void *val,
		    size_t vlen);
int cairn_batch_del(cairn_batch *b, cairn_table t, const void *key, size_t klen);

/* Stream a content into the store.  Data is chunked, hashed and
 * compressed as it arrives; memory use does not grow with its size.
 * Holes (sparse regions) are recorded as holes, not data. */
int cairn_content_writer_new(cairn_batch *b, cairn_content_writer **ret_w);
int cairn_content_write(cairn_content_writer *w, const void *buf, size_t len);
int cairn_content_hole(cairn_content_writer *w, uint64_t len);
/* Finishes the content and frees w.  The content record is staged in
 * the batch; ret_id/ret_size are set on success.  Either may be NULL. */
int cairn_content_writer_finish(cairn_content_writer *w, cairn_id *ret_id, uint64_t *ret_size);
/* Abandons a content stream and frees w. */
void cairn_content_writer_free(cairn_content_writer *w);
/* Reads a content through a batch: contents the batch has staged (not
 * committed yet) are readable here, others come from the store.  For
 * computing digests of what a batch is about to commit (e.g. a layer's
 * export) within the same atomic change.  Call from the thread that
 * writes the batch's contents. */
int cairn_batch_content_open(cairn_batch *b, const cairn_id *id, cairn_content **ret_c);
int cairn_batch_content_read_all(cairn_batch *b, const cairn_id *id, void **ret_buf,
				 size_t *ret_len);
/* Convenience: the whole content from one buffer. */
int cairn_batch_put_content(cairn_batch *b, const void *buf, size_t len, cairn_id *ret_id);

/* ---- reading ---------------------------------------------------------- */

/* Reads a record; *ret_val is malloc'd (caller frees) and NUL-terminated
 * for convenience (the NUL is not counted).  -ENOENT if absent.
 * Records staged in an uncommitted batch are not visible. */
int cairn_store_get(cairn_store *s, cairn_table t, const void *key, size_t klen, void **ret_val,
		    size_t *ret_len);
/* 1 if present, 0 if not, < 0 on error. */
int cairn_store_has(cairn_store *s, cairn_table t, const void *key, size_t klen);
/* Calls fn for every record of t in key order; key/val are valid only
 * during the call.  A non-zero return from fn stops the walk and is
 * returned.  Records are read in slices and fn runs outside any
 * transaction, so fn may use the store freely (even commit batches); a
 * walk concurrent with commits may or may not see their changes. */
typedef int (*cairn_record_fn)(const void *key, size_t klen, const void *val, size_t vlen,
			       void *userdata);
int cairn_store_foreach(cairn_store *s, cairn_table t, cairn_record_fn fn, void *userdata);

/* 1 if the content is in the store, 0 if not, < 0 on error. */
int cairn_content_exists(cairn_store *s, const cairn_id *id);
/* Opens a content for reading (CAIRN_E_NOTFOUND if absent).  Reads are
 * sequential or positioned; holes read as zeros; a damaged or missing
 * chunk fails the read with CAIRN_E_CORRUPT. */
int cairn_content_open(cairn_store *s, const cairn_id *id, cairn_content **ret_c);
void cairn_content_free(cairn_content *c);
uint64_t cairn_content_size(cairn_content *c);
/* Sequential read; returns bytes read (0 at end) or a negative error. */
ssize_t cairn_content_read(cairn_content *c, void *buf, size_t len);
ssize_t cairn_content_pread(cairn_content *c, void *buf, size_t len, uint64_t off);
/* Walks the extents: fn(offset, length, is_hole), in order, alternating:
 * adjacent holes are merged, and so are adjacent data chunks (one call per
 * maximal data run).  A non-zero return from fn stops the walk. */
typedef int (*cairn_extent_fn)(uint64_t off, uint64_t len, bool hole, void *userdata);
int cairn_content_extents(cairn_content *c, cairn_extent_fn fn, void *userdata);
/* Reads a whole (small) content into a malloc'd buffer, NUL-terminated for
 * convenience (the NUL is not counted in *ret_len). */
int cairn_content_read_all(cairn_store *s, const cairn_id *id, void **ret_buf, size_t *ret_len);

/* ---- garbage collection and checking ---------------------------------- */

/* A set of content ids (the live set handed to sweep). */
typedef struct cairn_idset cairn_idset;
cairn_idset *cairn_idset_new(void);
void cairn_idset_free(cairn_idset *set);
int cairn_idset_add(cairn_idset *set, const cairn_id *id); /* 1 if new, 0 if present */
bool cairn_idset_has(const cairn_idset *set, const cairn_id *id);
size_t cairn_idset_count(const cairn_idset *set);

/* Prune protocol (used by builder/oci's prune):
 *   cairn_store_lock_exclusive(s)      -- waits for every batch to finish
 *   ... compute the live contents, delete dead records in a batch that is
 *       committed with cairn_batch_commit (allowed while holding the lock) ...
 *   cairn_store_sweep(s, live, &stats) -- deletes every content not in live,
 *       drops its chunk references, deletes chunks no content references
 *   cairn_store_unlock_exclusive(s) */
/* -EDEADLK if the calling thread holds a live batch (made without the
 * exclusive lock) or holds the exclusive lock already.  Batches created by
 * the holding thread skip the shared lock. */
int cairn_store_lock_exclusive(cairn_store *s);
void cairn_store_unlock_exclusive(cairn_store *s);
struct cairn_sweep_stats {
	uint64_t contents_removed;
	uint64_t chunks_removed;
	uint64_t bytes_freed; /* stored (compressed) bytes of removed chunks */
};
/* Takes the exclusive lock itself when the calling thread does not hold
 * it.  live == NULL means nothing is live.  Works in bounded transactions;
 * chunks also go when no refcount row exists (abandoned batches). */
int cairn_store_sweep(cairn_store *s, const cairn_idset *live, struct cairn_sweep_stats *ret_stats);

/* Store-level check: every chunk decompresses and re-hashes to its key,
 * every content's chunks exist with the recorded lengths, every chunk's
 * refcount equals the number of content references.  Problems are passed
 * to report (one line each, e.g. "chunk 1f2e...: hash mismatch").
 * Unreferenced chunks with refcount 0 (left by an interrupted batch) are
 * counted in ret->garbage_chunks, not reported as damage.
 * Returns the number of problems (0 = clean) or a negative error.  The
 * check runs in one read transaction (a consistent snapshot); report is
 * called inside it and must not write to the store.  Messages:
 *   chunk <id>: stored data hashes to <id>      (or: does not decode)
 *   content <id>: references missing chunk <id>
 *   content <id>: chunk <id> has N bytes, the record says M
 *   content <id>: record hashes to <id>
 *   chunk <id>: refcount N, referenced M times
 *   chunk <id>: refcount N, but the chunk is missing */
typedef void (*cairn_report_fn)(const char *line, void *userdata);
struct cairn_fsck_stats {
	uint64_t chunks, contents, garbage_chunks;
	uint64_t problems;
};
int cairn_store_fsck(cairn_store *s, cairn_report_fn report, void *userdata,
		     struct cairn_fsck_stats *ret_stats);

/* Calls fn for every content id in the store (for image-level checks),
 * outside any transaction. */
typedef int (*cairn_id_fn)(const cairn_id *id, void *userdata);
int cairn_store_foreach_content(cairn_store *s, cairn_id_fn fn, void *userdata);

struct cairn_store_usage {
	uint64_t chunks;	/* number of chunks */
	uint64_t stored_bytes;	/* bytes of chunk values (compressed, + 1 format byte each) */
	uint64_t chunk_bytes;	/* uncompressed bytes of all chunks (each counted once) */
	uint64_t contents;	/* number of contents */
	uint64_t logical_bytes; /* sum of content sizes (holes excluded), each content once */
	uint64_t file_bytes;	/* size of the LMDB data file on disk */
};
int cairn_store_usage(cairn_store *s, struct cairn_store_usage *ret);
/* Size of a content (holes included) and its data bytes (holes
 * excluded) without reading its data.  CAIRN_E_NOTFOUND if absent. */
int cairn_content_stat(cairn_store *s, const cairn_id *id, uint64_t *ret_size,
		       uint64_t *ret_data_bytes);

/* ---- helpers ---------------------------------------------------------- */

/* Hex forms: 32 chars for ids, 64 for digests; buf must hold len*2+1. */
void cairn_id_hex(const cairn_id *id, char buf[2 * CAIRN_ID_LEN + 1]);
int cairn_id_parse(const char *hex, cairn_id *ret);
void cairn_digest_hex(const cairn_digest *d, char buf[2 * CAIRN_DIGEST_LEN + 1]);
/* Parses "sha256:<64 hex>" (or bare hex when allow_bare). */
int cairn_digest_parse(const char *s, bool allow_bare, cairn_digest *ret);
/* "sha256:<hex>", malloc'd. */
char *cairn_digest_string(const cairn_digest *d);
bool cairn_id_is_zero(const cairn_id *id);

#ifdef __cplusplus
}
#endif
#endif
