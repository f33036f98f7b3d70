/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_LAYER_INTERNAL_H
#define CAIRN_LAYER_INTERNAL_H

/* Internals of fs/layer: arena, entry rules, table and record codecs, the
 * builder's state, the path map of the tar importer, the tar encoder. */

#include <cairn/layer.h>

#include "util.h"

#define LAYER_PATH_MAX 32768 /* bytes of an entry path */
#define LAYER_NAME_MAX 255   /* bytes of one path component */
#define LAYER_LINK_MAX 4095  /* bytes of a symlink target */
#define LAYER_XATTR_NAME_MAX 255
#define LAYER_XATTR_VALUE_MAX 65536
#define LAYER_XATTRS_MAX 1024 /* per entry */

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

/* ---- entries (entry.c) -------------------------------------------------- */

/* Canonical order of (path, is-whiteout) pairs: see layer.h. */
int layer_order(const char *a, bool a_whiteout, const char *b, bool b_whiteout);
/* NULL if path (len bytes, no NUL inside) is a normalized entry path, else why not. */
const char *layer_path_invalid(const char *path, size_t len);
/* NULL if e is a valid entry (path, type, fields for its type, xattrs
 * sorted and unique), else why not. */
const char *layer_entry_invalid(const cairn_entry *e);
/* Deep copy into arena memory. */
int layer_entry_copy(arena *a, cairn_entry *dst, const cairn_entry *src);
/* Same type, metadata, link, content and xattrs (everything but path and group). */
bool layer_entry_same_inode(const cairn_entry *a, const cairn_entry *b);
static inline bool entry_is_whiteout(const cairn_entry *e)
{
	return e->type == CAIRN_ENTRY_WHITEOUT;
}
/* Binary search in canonically sorted entries; NULL if absent. */
const cairn_entry *layer_find(const cairn_entry *entries, size_t n, const char *path);
const cairn_entry *layer_find_exact(const cairn_entry *entries, size_t n, const char *path,
				    bool whiteout);

/* ---- table and record codecs (table.c) ---------------------------------- */

#define LAYER_TABLE_VERSION 1
#define LAYER_RECORD_VERSION 1

/* entries must be canonical (sorted, valid, groups numbered 1.. in order). */
int layer_table_encode(const cairn_entry *entries, size_t n, bytebuf *out);
/* Parses and validates; strings and arrays live in a.  CAIRN_E_CORRUPT
 * with *ret_why set on any defect. */
int layer_table_decode(const void *data, size_t len, arena *a, cairn_entry **ret_entries,
		       size_t *ret_n, const char **ret_why);
int layer_record_encode(const struct cairn_layer_info *info, bytebuf *out);
int layer_record_decode(const void *data, size_t len, struct cairn_layer_info *ret);

/* ---- builder (layer.c) -------------------------------------------------- */

struct cairn_layer_builder {
	cairn_batch *batch;
	arena arena;
	cairn_entry *entries;
	size_t n, cap;
};
/* Makes room for n entries in all (push otherwise doubles the array). */
int layer_builder_reserve(cairn_layer_builder *lb, size_t n);
/* A new zeroed entry at the end (the importer fills it in place, strings
 * in lb->arena).  Index stays valid, the pointer only until the next push. */
int layer_builder_push(cairn_layer_builder *lb, size_t *ret_index);
/* Sorts, checks and renumbers hardlink groups in place; sets *ret_why on error. */
int layer_builder_canonicalize(cairn_layer_builder *lb, const char **ret_why,
			       const char **ret_path);

/* ---- path map of the importer (pathmap.c) ------------------------------- */

enum { PATHMAP_IMPLIED = 0, PATHMAP_ENTRY = 1 };
typedef struct pathmap_slot {
	const char *key; /* not owned; NULL = free slot */
	uint32_t len;
	uint32_t index; /* entry index (PATHMAP_ENTRY) */
	uint8_t kind;
	uint64_t hash;
} pathmap_slot;
typedef struct pathmap {
	pathmap_slot *slots;
	size_t cap, used;
} pathmap;
pathmap_slot *pathmap_get(pathmap *m, const char *key, size_t len);
/* Inserts (key must stay valid); returns the slot. */
int pathmap_put(pathmap *m, const char *key, size_t len, uint8_t kind, uint32_t index,
		pathmap_slot **ret);
void pathmap_free(pathmap *m);

/* ---- ACLs (acl.c) ------------------------------------------------------- */

struct archive_entry;
/* Converts libarchive's parsed POSIX ACLs (SCHILY.acl.*) of ae into
 * system.posix_acl_access / _default xattr values (malloc'd, NULL and
 * *len 0 when absent).  With an access mask, *mode's group bits are set
 * from it.  -ENOENT: an ACL entry names a user or group without a numeric
 * id; CAIRN_E_FORMAT: unusable ACL. */
/* With a text ACL whose binary xattr form the entry already has: only the
 * mode fix-up (the mask is the mode's group bits). */
void layer_acl_mask_mode(struct archive_entry *ae, uint32_t *mode);
int layer_acl_to_xattrs(struct archive_entry *ae, uint32_t *mode, void **ret_access,
			size_t *ret_access_len, void **ret_default, size_t *ret_default_len);

/* ---- tar-split recorder (tar-split.c) ------------------------------------ */

/* Records the plain stream of a tar import.  Every plain byte is fed in
 * order; positions are absolute stream offsets.  Bytes are literal unless
 * they fall in a file range (declared with tar_split_file_begin before the
 * range's bytes are consumed); literal bytes are written to the literal
 * content as soon as they are below the consumed position, file bytes are
 * dropped as they arrive, so memory does not grow with file size.  Errors:
 * CAIRN_E_FORMAT (positions inconsistent; tar_split_why() says what),
 * -ENOMEM, store errors. */
typedef struct tar_split tar_split;
int tar_split_new(cairn_batch *b, tar_split **ret);
void tar_split_free(tar_split *ts);
int tar_split_feed(tar_split *ts, const void *p, size_t n);
/* Everything below consumed that is not file data is literal. */
int tar_split_flush(tar_split *ts, uint64_t consumed);
/* [data_pos, data_pos + size) is the data of a regular file whose header
 * starts at header_pos; its content id comes with tar_split_file_end. */
int tar_split_file_begin(tar_split *ts, uint64_t header_pos, uint64_t data_pos, uint64_t size);
/* consumed: the position after the entry (data and padding) was read. */
int tar_split_file_end(tar_split *ts, const cairn_id *content, uint64_t size, uint64_t consumed);
/* After the last byte was fed: total must be the stream's size.  Stores
 * the split (and the literal content) in the batch. */
int tar_split_finish(tar_split *ts, uint64_t total, cairn_id *ret_split);
const char *tar_split_why(const tar_split *ts);

/* ---- tar encoder (tar-write.c) ------------------------------------------ */

typedef struct tar_out {
	cairn_writer *w;
	size_t len;
	uint8_t buf[64 * 1024];
} tar_out;
int tar_out_write(tar_out *o, const void *p, size_t len);
int tar_out_zeros(tar_out *o, uint64_t len);
int tar_out_flush(tar_out *o);

struct tar_header {
	const char *name; /* archive name: "dir/", "file", "./" */
	const char *link; /* linkname for '1' and '2', else NULL */
	char type;	  /* '0' '1' '2' '3' '4' '5' '6' */
	uint32_t mode, uid, gid;
	int64_t mtime;
	uint32_t mtime_nsec;
	uint64_t size; /* bytes stored after the header */
	uint32_t devmajor, devminor;
	const cairn_xattr *xattrs;
	size_t n_xattrs;
	uint64_t sparse_realsize; /* != 0 or sparse: GNU sparse 1.0 */
	bool sparse;
};
/* Writes the ustar header, preceded by a PAX header when needed. */
int tar_write_header(tar_out *o, const struct tar_header *h, bytebuf *scratch);
int tar_write_pad(tar_out *o, uint64_t size);
int tar_write_end(tar_out *o);

/* ---- tar export, one entry at a time (tar-export.c) ----------------------- */

/* Where the data of a regular file comes from: extents in order, and reads. */
struct tar_src {
	int (*extents)(void *userdata, cairn_extent_fn fn, void *fn_userdata);
	ssize_t (*pread)(void *userdata, void *buf, size_t len, uint64_t off);
	void *userdata;
};
typedef struct tar_export tar_export;
/* Contents are read from b (when not NULL) or s; sde >= 0 clamps mtimes. */
int tar_export_new(cairn_store *s, cairn_batch *b, int64_t source_date_epoch, cairn_writer *out,
		   cairn_error **err, tar_export **ret);
/* Writes e (entries in canonical order; e->path must stay valid until
 * tar_export_free).  A regular file's data comes from src, or from
 * e->content when src is NULL. */
int tar_export_entry(tar_export *x, const cairn_entry *e, const struct tar_src *src);
int tar_export_finish(tar_export *x);
void tar_export_free(tar_export *x);

#endif
