/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_LAYER_H
#define CAIRN_LAYER_H

/*
 * Layers: the sorted set of changes one step made.
 *
 * A layer is a table of entries (path, type, metadata, xattrs, link
 * target, hardlink group, content id), including whiteouts and opaque
 * directories.  The table is serialized in canonical order and stored as a
 * content (so it is chunked and deduplicated like file data); the layer
 * id is the content id of that table.  A small record in CAIRN_T_LAYERS
 * (key: layer id) holds its summary.
 *
 * Canonical order: a tree walk; a directory comes before its children;
 * among siblings the opaque marker comes first, then whiteouts, then the
 * other entries, each group sorted bytewise by name.  Export to an OCI tar
 * follows that order and is deterministic: the same layer always gives the
 * same bytes.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cairn/error.h>
#include <cairn/store.h>
#include <cairn/stream.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cairn_entry_type {
	CAIRN_ENTRY_REG = 1,
	CAIRN_ENTRY_DIR,
	CAIRN_ENTRY_SYMLINK,
	CAIRN_ENTRY_CHR,
	CAIRN_ENTRY_BLK,
	CAIRN_ENTRY_FIFO,
	CAIRN_ENTRY_SOCK,
	CAIRN_ENTRY_WHITEOUT, /* deletes `path` from the layers below */
} cairn_entry_type;

typedef struct cairn_xattr {
	char *name;
	void *value;
	size_t len;
} cairn_xattr;

typedef struct cairn_entry {
	char *path;    /* relative, normalized, no leading "./" or "/", "" = the root; any bytes but
			  NUL */
	uint8_t type;  /* cairn_entry_type */
	bool opaque;   /* directory: hide everything below from the layers underneath */
	uint32_t mode; /* permission bits incl. setuid/setgid/sticky (07777) */
	uint32_t uid, gid;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	uint64_t size;	      /* regular files: logical size (holes included) */
	uint64_t rdev;	      /* devices: makedev(major, minor) */
	char *link;	      /* symlink target */
	uint32_t nlink_group; /* != 0: hardlink group within this layer (all members share
				 type, metadata and content) */
	bool has_content;     /* regular files with size > 0 */
	cairn_id content;
	size_t n_xattrs; /* sorted by name */
	cairn_xattr *xattrs;
} cairn_entry;

/* Frees the malloc'd fields of an entry the caller built (not entries
 * returned by cairn_layer_entry, which belong to the layer). */
void cairn_entry_clear(cairn_entry *e);
/* Canonical order comparison of two normalized paths (see above), both
 * taken as non-whiteouts: a tree walk, siblings bytewise. */
int cairn_path_compare(const char *a, const char *b);
/* Canonical order of entries: as cairn_path_compare, but among siblings
 * whiteouts sort before the other entries. */
int cairn_entry_compare(const cairn_entry *a, const cairn_entry *b);

/* ---- building a layer ------------------------------------------------- */

typedef struct cairn_layer_builder cairn_layer_builder;
int cairn_layer_builder_new(cairn_batch *b, cairn_layer_builder **ret);
/* Adds an entry (copied).  Duplicate paths are an error (-EEXIST) reported at finish. */
int cairn_layer_builder_add(cairn_layer_builder *lb, const cairn_entry *e);
/* Sorts, serializes and stores the table; stages the layer record in the
 * batch; returns the layer id.  Frees lb. */
int cairn_layer_builder_finish(cairn_layer_builder *lb, cairn_id *ret_layer, cairn_error **err);
void cairn_layer_builder_free(cairn_layer_builder *lb);

/* ---- reading a layer -------------------------------------------------- */

typedef struct cairn_layer cairn_layer;
int cairn_layer_open(cairn_store *s, const cairn_id *layer, cairn_layer **ret, cairn_error **err);
void cairn_layer_free(cairn_layer *l);
size_t cairn_layer_count(const cairn_layer *l);
const cairn_entry *cairn_layer_entry(const cairn_layer *l, size_t i); /* canonical order */
const cairn_entry *cairn_layer_lookup(const cairn_layer *l, const char *path);
/* Opens a layer that batch b has staged and not committed yet (e.g. to
 * compute its export digest inside the same atomic change). */
int cairn_layer_open_staged(cairn_batch *b, const cairn_id *layer, cairn_layer **ret,
			    cairn_error **err);
/* Summary kept in the layer record. */
struct cairn_layer_info {
	cairn_id table; /* content id of the serialized table (== layer id) */
	uint64_t entries;
	uint64_t file_bytes; /* sum of regular file sizes (a hardlink group once) */
};
int cairn_layer_info(cairn_store *s, const cairn_id *layer, struct cairn_layer_info *ret);
/* Adds the layer's table and every file content to set (for prune/fsck). */
int cairn_layer_mark(cairn_store *s, const cairn_id *layer, cairn_idset *set, cairn_error **err);

/* ---- tar import ------------------------------------------------------- */

struct cairn_tar_import_options {
	const char *name; /* for messages: "rootfs.tar.gz", "blobs/sha256/ab12..." */
	/* When set, the raw input bytes (as read from fn, before decompression)
	 * are also stored as a content; its id goes to ret->blob_content. */
	bool keep_blob;
	/* When set, the plain (decompressed) stream is recorded as a tar-split
	 * (see below) whose id goes to ret->tar_split: the stream can be
	 * reproduced byte for byte from the store.  With keep_blob as well,
	 * exactly one of the two is kept: the blob for compressed input, the
	 * tar-split for uncompressed input (whose bytes the split reproduces). */
	bool tar_split;
};
struct cairn_tar_import_result {
	cairn_id layer;
	cairn_digest diff_id; /* sha256 of the uncompressed tar */
	uint64_t diff_size;
	cairn_digest blob_digest; /* sha256 of the raw input */
	uint64_t blob_size;
	cairn_compression compression;
	cairn_id blob_content; /* when has_blob_content */
	cairn_id tar_split;    /* when has_tar_split */
	bool has_blob_content, has_tar_split;
};
/* Imports a tar stream (plain, gzip, zstd, xz, bzip2) as a layer in batch b.
 * OCI whiteouts (.wh.NAME) and opaque markers (.wh..wh..opq) become
 * whiteout entries and opaque flags.  Refuses (CAIRN_E_UNSAFE /
 * CAIRN_E_FORMAT, with a message naming opts->name and the entry):
 * absolute paths, ".." components, hardlinks to paths not earlier in the
 * archive, entries below a symlink of the same archive, duplicate
 * entries, truncated or corrupt archives.  Nothing is written outside the
 * store; on failure the batch must be abandoned.  A whiteout and an entry
 * of the same path in one archive merge (with a directory: an opaque
 * directory); an opaque marker whose directory has no entry gets one
 * (mode 0755, uid/gid 0, mtime 0).  Empty input is an empty layer. */
int cairn_layer_import_tar(cairn_batch *b, cairn_read_fn fn, void *userdata,
			   const struct cairn_tar_import_options *opts,
			   struct cairn_tar_import_result *ret, cairn_error **err);

/* ---- tar-split: an imported tar stream, reproducible ------------------ */

/* A tar-split records the plain stream of an import as segments: file
 * data (a reference to the file's content, whose bytes are exactly the
 * stream's bytes there) and literal bytes (tar headers, PAX and GNU
 * records, padding, end blocks, trailing bytes, the data of entries that
 * are not plain regular files, e.g. sparse ones), the latter kept together
 * in one content of their own.  The split is itself a content (format at
 * the top of fs/layer/tar-split.c); its id names it.  File data is stored
 * once, as the layer's chunked contents. */

/* Writes the recorded stream to out (not closed).  A damaged or missing
 * content fails with CAIRN_E_CORRUPT / CAIRN_E_NOTFOUND.  The caller
 * verifies the bytes (sha256 = diff_id) where it matters. */
int cairn_tar_split_write(cairn_store *s, const cairn_id *split, cairn_writer *out,
			  cairn_error **err);
/* The same for a split (and contents) staged in batch b, not committed yet. */
int cairn_tar_split_write_staged(cairn_batch *b, const cairn_id *split, cairn_writer *out,
				 cairn_error **err);
/* Adds the split, its literal content and every file content it
 * references to set (for prune/fsck). */
int cairn_tar_split_mark(cairn_store *s, const cairn_id *split, cairn_idset *set,
			 cairn_error **err);
struct cairn_tar_split_info {
	uint64_t size;		/* bytes of the stream */
	uint64_t literal_bytes; /* of which literal */
	uint64_t segments, files;
};
/* Checks a split without reading file data: it parses, its literal content
 * and every file content exist with the recorded sizes.  Problems go to
 * report (one line each, "tar-split <id>: ..."); returns their number, or a
 * negative error.  ret (may be NULL) gets the summary. */
int cairn_tar_split_check(cairn_store *s, const cairn_id *split, cairn_report_fn report,
			  void *userdata, struct cairn_tar_split_info *ret);

/* ---- tar export ------------------------------------------------------- */

struct cairn_tar_export_options {
	/* >= 0: clamp every mtime above it to this value (SOURCE_DATE_EPOCH). */
	int64_t source_date_epoch;
};
/* Writes the layer as an uncompressed OCI layer tar (canonical order,
 * ustar headers, PAX records only where needed: long names, big ids or
 * sizes, nanosecond mtimes, xattrs, sparse maps), whiteouts as .wh.NAME,
 * opaque directories as DIR/.wh..wh..opq.  opts may be NULL.  Ends with
 * two zero blocks and no record padding; out is not closed.  Sockets
 * (which tar cannot hold) are left out. */
int cairn_layer_export_tar(cairn_store *s, const cairn_id *layer,
			   const struct cairn_tar_export_options *opts, cairn_writer *out,
			   cairn_error **err);

/* The same for a layer staged in batch b and not committed yet. */
int cairn_layer_export_tar_staged(cairn_batch *b, const cairn_id *layer,
				  const struct cairn_tar_export_options *opts, cairn_writer *out,
				  cairn_error **err);

/* ---- streaming layer writer ------------------------------------------ */

/* A layer built entry by entry, in canonical order, whose export digest
 * (diff_id) is computed on the way: file data is read once, stored as
 * contents and written to the digest at the same time.  The result is
 * identical to building the layer with cairn_layer_builder and exporting
 * it with cairn_layer_export_tar. */

/* The data of one regular file: its extents (data and holes, in order,
 * covering the size) and positioned reads of the data extents. */
struct cairn_data_source {
	int (*extents)(void *userdata, cairn_extent_fn fn, void *fn_userdata);
	ssize_t (*pread)(void *userdata, void *buf, size_t len, uint64_t off);
	void *userdata;
};

typedef struct cairn_layer_writer cairn_layer_writer;
int cairn_layer_writer_new(cairn_batch *b, cairn_layer_writer **ret);
/* Optional: the number of entries that will be added (memory is sized for
 * them at once instead of doubling). */
int cairn_layer_writer_reserve(cairn_layer_writer *w, size_t n);
enum {
	/* src's data is stored as a new content (e->content is ignored) */
	CAIRN_LAYER_WRITE_DATA = 1u << 0,
};
/* Adds the next entry (entries strictly in cairn_entry_compare order).  A
 * regular file's data is read from src when given (and stored with
 * CAIRN_LAYER_WRITE_DATA), else from e->content in the store or the
 * batch.  Later members of a hardlink group take the first member's
 * content.  *ret_content (may be NULL) receives the file's content id. */
int cairn_layer_writer_add(cairn_layer_writer *w, const cairn_entry *e,
			   const struct cairn_data_source *src, unsigned flags, cairn_id *ret_content,
			   cairn_error **err);
/* Stages the table and the layer record in the batch; frees w. */
int cairn_layer_writer_finish(cairn_layer_writer *w, cairn_id *ret_layer, cairn_digest *ret_diff_id,
			      uint64_t *ret_diff_size, cairn_error **err);
void cairn_layer_writer_free(cairn_layer_writer *w);

#ifdef __cplusplus
}
#endif
#endif
