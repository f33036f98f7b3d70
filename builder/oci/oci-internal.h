/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_OCI_INTERNAL_H
#define CAIRN_OCI_INTERNAL_H

/*
 * builder/oci internals: media types, parsed OCI/Docker JSON documents,
 * store records of the image layer (BLOBS, DIFFS, IMAGES, TAGS), the
 * deterministic tar writer and the layer blob producer shared by save and
 * inspect.  Record formats are described at the top of records.c.
 */

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <cairn/error.h>
#include <cairn/image.h>
#include <cairn/layer.h>
#include <cairn/store.h>
#include <cairn/stream.h>

#include "util.h"

DEFINE_CLEANUP_FUNC(cairn_writer, cairn_writer_free)
DEFINE_CLEANUP_FUNC(cairn_content, cairn_content_free)
DEFINE_CLEANUP_FUNC(cairn_reader, cairn_reader_free)
DEFINE_CLEANUP_FUNC(cairn_batch, cairn_batch_free)
DEFINE_CLEANUP_FUNC(cairn_layer, cairn_layer_free)
DEFINE_CLEANUP_FUNC(cairn_idset, cairn_idset_free)
#define _cleanup_json_ _cleanup_(json_decrefp)

/* ---- media types (oci-json.c) ------------------------------------------ */

#define MT_OCI_LAYOUT_VERSION "1.0.0"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

#define ANNOT_REF_NAME "org.opencontainers.image.ref.name"
#define ANNOT_CONTAINERD_NAME "io.containerd.image.name"

/* Largest JSON document (index, manifest, config) we read into memory. */
#define OCI_JSON_MAX (4u << 20)
/* Index nesting we follow. */
#define OCI_MAX_DEPTH 8

typedef enum oci_kind {
	OCI_K_UNKNOWN = 0,
	OCI_K_INDEX,
	OCI_K_MANIFEST,
	OCI_K_CONFIG,
	OCI_K_LAYER,
} oci_kind;

struct oci_media {
	const char *type;
	oci_kind kind;
	cairn_compression compression; /* layers */
};
/* NULL for media types we do not know. */
const struct oci_media *oci_media_lookup(const char *type);
oci_kind oci_media_kind(const char *type);
/* The OCI layer media type for a compression. */
const char *oci_layer_media_type(cairn_compression c);

/* ---- parsed documents (oci-json.c) -------------------------------------- */

typedef struct oci_platform {
	char *os, *arch, *variant; /* variant may be NULL */
} oci_platform;

typedef struct oci_desc {
	char *media_type;
	cairn_digest digest;
	uint64_t size;
	bool has_platform;
	oci_platform platform;
	json_t *annotations; /* object or NULL (owned reference) */
} oci_desc;

typedef struct oci_index {
	char *media_type; /* may be NULL (optional in OCI) */
	size_t n;
	oci_desc *manifests;
} oci_index;

typedef struct oci_manifest {
	char *media_type;
	oci_desc config;
	size_t n_layers;
	oci_desc *layers;
} oci_manifest;

typedef struct oci_config {
	oci_platform platform;
	int64_t created; /* seconds since the epoch, 0 when absent */
	size_t n_diff_ids;
	cairn_digest *diff_ids;
} oci_config;

typedef struct docker_image {
	char *config;  /* archive path of the config */
	size_t n_tags; /* RepoTags */
	char **tags;
	size_t n_layers;
	char **layers; /* archive paths of the layer tars */
} docker_image;

typedef struct docker_manifest {
	size_t n;
	docker_image *images;
} docker_manifest;

/* Each parser validates the document against the spec's structure and
 * fails with CAIRN_E_FORMAT and a message starting with `name: `
 * ("index.json: line 3: ..." for syntax errors, "index.json:
 * manifests[0].digest: ..." for structure).  Clear functions free the
 * members (the struct itself is the caller's). */
int oci_json_parse(const void *data, size_t len, const char *name, json_t **ret, cairn_error **err);
int oci_layout_check(const void *data, size_t len, const char *name, cairn_error **err);
int oci_index_parse(const void *data, size_t len, const char *name, oci_index *ret,
		    cairn_error **err);
int oci_manifest_parse(const void *data, size_t len, const char *name, oci_manifest *ret,
		       cairn_error **err);
int oci_config_parse(const void *data, size_t len, const char *name, oci_config *ret,
		     cairn_error **err);
int docker_manifest_parse(const void *data, size_t len, const char *name, docker_manifest *ret,
			  cairn_error **err);
/* Sniffs a document's kind from its mediaType field or its members. */
oci_kind oci_json_sniff(const void *data, size_t len);

void oci_platform_clear(oci_platform *p);
int oci_platform_copy(const oci_platform *src, oci_platform *dst);
/* "linux/arm64/v8" (malloc'd) */
char *oci_platform_string(const oci_platform *p);
/* Parses "os/arch[/variant]", normalizing architecture aliases. */
int oci_platform_parse(const char *s, oci_platform *ret);
/* The platform of this machine (uname). */
int oci_platform_host(oci_platform *ret);
bool oci_platform_equal(const oci_platform *a, const oci_platform *b);
void oci_desc_clear(oci_desc *d);
void oci_index_clear(oci_index *x);
void oci_manifest_clear(oci_manifest *m);
void oci_config_clear(oci_config *c);
void docker_manifest_clear(docker_manifest *m);
/* Value of a string annotation, or NULL. */
const char *oci_desc_annotation(const oci_desc *d, const char *key);
/* {"mediaType", "digest", "size"} in that order (OCI/BuildKit field order). */
json_t *oci_desc_json(const char *media_type, const cairn_digest *d, uint64_t size);
/* Parses RFC 3339 ("2024-01-02T03:04:05.123Z", offsets allowed). */
int oci_time_parse(const char *s, int64_t *ret);
/* The creation time of new images: SOURCE_DATE_EPOCH when set, else now. */
int64_t oci_created_time(void);
/* "2024-01-02T03:04:05Z" into buf. */
void oci_time_format(int64_t t, char out[32]);
/* Serializes compactly, keys in insertion order (deterministic). */
int oci_json_dump(const json_t *j, char **ret_buf, size_t *ret_len);

/* ---- references (ref.c) --------------------------------------------------- */

/* Full normalized reference of r, or of its repository with only the tag. */
int ref_parse_string(const char *s, char **ret_normalized, cairn_error **err);
/* True when s is 64 lowercase hex characters. */
bool ref_is_hex(const char *s, size_t len);

/* ---- records (records.c) ----------------------------------------------------- */

/* A descriptor kept in an image record. */
typedef struct img_desc {
	bool set;
	char *media_type;
	cairn_digest digest;
	uint64_t size;
} img_desc;

typedef struct img_layer {
	cairn_digest diff_id;
	img_desc blob; /* the verbatim blob, when the layer came from outside */
} img_layer;

#define IMAGE_ID_LEN 71 /* "sha256:" + 64 hex */

typedef struct img_rec {
	char id[IMAGE_ID_LEN + 1];
	bool is_index;
	bool toplevel; /* loaded/imported as an image of its own (not only as a child) */
	/* manifest kind */
	int64_t created;
	oci_platform platform;
	img_desc config;
	img_desc manifest; /* verbatim manifest (loaded images) */
	size_t n_layers;
	img_layer *layers;
	/* index kind */
	img_desc index;
	size_t n_children;
	char **children; /* image ids */
	size_t n_blobs;
	cairn_digest *blobs; /* every blob the verbatim index reaches */
} img_rec;

typedef struct diff_cache {
	bool set;
	cairn_digest digest;
	uint64_t size;
} diff_cache;

typedef struct diff_rec {
	cairn_id layer;
	uint64_t size;	 /* bytes of the uncompressed tar */
	bool from_blob;	 /* the decompressed BLOBS entry `blob` has this diff_id */
	bool from_split; /* the tar-split content `split` replays to it */
	/* neither: the layer's canonical export has this diff_id */
	cairn_digest blob;
	cairn_compression blob_compression;
	cairn_id split;
	diff_cache gzip, zstd; /* cairn's own compressed forms */
} diff_rec;

diff_cache *diff_rec_cache(diff_rec *d, cairn_compression c);

int blob_rec_encode(const cairn_id *content, uint64_t size, bytebuf *out);
int blob_rec_decode(const void *val, size_t len, cairn_id *ret_content, uint64_t *ret_size);
int blob_get(cairn_store *s, const cairn_digest *d, cairn_id *ret_content, uint64_t *ret_size);
int blob_put(cairn_batch *b, const cairn_digest *d, const cairn_id *content, uint64_t size);
/* Stores bytes as a content and stages the BLOBS record (digest computed). */
int blob_put_bytes(cairn_batch *b, const void *data, size_t len, cairn_digest *ret_digest);
/* Reads a small blob, verifying its digest. */
int blob_read(cairn_store *s, const cairn_digest *d, size_t max, char **ret_buf, size_t *ret_len,
	      cairn_error **err);

int diff_rec_encode(const diff_rec *d, char **ret_buf, size_t *ret_len);
int diff_rec_decode(const void *val, size_t len, diff_rec *ret);
int diff_get(cairn_store *s, const cairn_digest *diff_id, diff_rec *ret);
int diff_put(cairn_batch *b, const cairn_digest *diff_id, const diff_rec *d);

int img_rec_encode(const img_rec *r, char **ret_buf, size_t *ret_len);
int img_rec_decode(const char *id, const void *val, size_t len, img_rec *ret);
void img_rec_clear(img_rec *r);
int img_get(cairn_store *s, const char *id, img_rec *ret);
int img_put(cairn_batch *b, const img_rec *r);
int img_desc_set(img_desc *d, const char *media_type, const cairn_digest *digest, uint64_t size);
void img_desc_clear(img_desc *d);
/* Adds a digest to r->blobs unless present. */
int img_rec_add_blob(img_rec *r, const cairn_digest *d);
void image_id_from_digest(const cairn_digest *d, char out[IMAGE_ID_LEN + 1]);

/* TAGS: normalized reference -> image id. */
int tag_get(cairn_store *s, const char *ref, char ret_id[IMAGE_ID_LEN + 1]);
int tag_put(cairn_batch *b, const char *ref, const char *id);
int tag_del(cairn_batch *b, const char *ref);
/* Normalized references pointing at id, sorted, NULL-terminated. */
int tags_of(cairn_store *s, const char *id, char ***ret_refs, size_t *ret_n);
void strv_free(char **v);

/* ---- layer blobs for save and inspect (layerblob.c) ------------------------- */

typedef enum lb_kind {
	LB_STORED = 0, /* a BLOBS content, written verbatim */
	LB_REGEN,      /* regenerated from the diff (digest known: cached or diff_id) */
	LB_TMPFILE,    /* regenerated into a temporary file */
	LB_MEM,	       /* bytes in memory (JSON documents) */
} lb_kind;

typedef struct layer_blob {
	lb_kind kind;
	cairn_digest digest;
	uint64_t size;
	const char *media_type; /* static, or mt_owned */
	char *mt_owned;
	cairn_id content;     /* LB_STORED */
	cairn_digest diff_id; /* LB_REGEN */
	diff_rec diff;
	cairn_compression comp;
	int fd;	   /* LB_TMPFILE */
	char *mem; /* LB_MEM */
} layer_blob;

/* Cached compressed digests found while planning, written back later. */
typedef struct lb_updates {
	size_t n;
	struct lb_update {
		cairn_digest diff_id;
		cairn_compression comp;
		diff_cache cache;
	} * u;
} lb_updates;

/* Decides where the blob for layer l comes from.  compression -1 keeps
 * the verbatim blob when there is one (else gzip).  With need_bytes false
 * only the digest and size are wanted (inspect): nothing is spooled. */
int layer_blob_plan(cairn_store *s, const img_layer *l, int compression, bool need_bytes,
		    layer_blob *ret, lb_updates *u, cairn_error **err);
/* A stored blob (BLOBS) as a layer_blob. */
int layer_blob_stored(cairn_store *s, const cairn_digest *digest, const char *media_type,
		      layer_blob *ret, cairn_error **err);
/* In-memory bytes (taken over) as a layer_blob. */
void layer_blob_mem(char *data, size_t len, const char *media_type, layer_blob *ret);
int layer_blob_write(cairn_store *s, const layer_blob *lb, cairn_writer *out, cairn_error **err);
void layer_blob_clear(layer_blob *lb);
/* Writes the uncompressed tar with this diff_id (verified) to out. */
int diff_write_tar(cairn_store *s, const cairn_digest *diff_id, const diff_rec *d,
		   cairn_writer *out, cairn_error **err);
/* Stores the cached digests in DIFFS (best effort: a lost race is harmless). */
int lb_updates_commit(cairn_store *s, lb_updates *u);
void lb_updates_clear(lb_updates *u);
/* Copies a content to out. */
int content_copy(cairn_store *s, const cairn_id *id, cairn_writer *out);
/* An unnamed temporary file under ROOT/tmp. */
int oci_tmpfile(cairn_store *s, int *ret_fd);
/* A cairn_read_fn over a cairn_content. */
ssize_t content_read_fn(void *userdata, void *buf, size_t len);

/* ---- deterministic tar output (tarw.c) ----------------------------------------- */

typedef struct tarw {
	cairn_writer *out;
	int64_t mtime;
	uint64_t left; /* data bytes the current entry still expects */
	uint64_t pad;
} tarw;
int tarw_dir(tarw *t, const char *name);
int tarw_file(tarw *t, const char *name, uint64_t size);
int tarw_data(tarw *t, const void *data, size_t len);
int tarw_file_end(tarw *t);
int tarw_finish(tarw *t);
/* A cairn_write_fn feeding the current entry (userdata: tarw). */
int tarw_write_fn(void *userdata, const void *data, size_t len);

/* ---- generated manifests (manifest.c) ------------------------------------------- */

/* Builds the OCI manifest of a manifest-kind image with its layers in
 * compression (-1: verbatim blobs where there are some, else gzip).  When
 * lbs is not NULL it receives the r->n_layers planned layer blobs (caller
 * clears them).  The config is referenced as stored. */
int manifest_build(cairn_store *s, const img_rec *r, int compression, bool need_bytes,
		   layer_blob *lbs, lb_updates *u, char **ret_json, size_t *ret_len,
		   cairn_error **err);
/* The manifest `save` writes by default (what `inspect` reports as Digest):
 * the verbatim one of a loaded image, else the generated one with gzip
 * layers, whose digests are computed once and cached in DIFFS.  ret_json
 * may be NULL when only the digest is wanted. */
int manifest_default(cairn_store *s, const img_rec *r, char **ret_json, size_t *ret_len,
		     cairn_digest *ret_digest, cairn_error **err);
/* The manifest JSON over already planned layer blobs (one per layer). */
int manifest_json(const img_rec *r, const layer_blob *const *lbs, char **ret_json, size_t *ret_len);
/* Builds an OCI index over child descriptors with their platforms. */
int index_build(const oci_desc *children, size_t n, char **ret_json, size_t *ret_len);

/* ---- image helpers (image.c) ------------------------------------------------------ */

/* All TAGS in memory (sorted by reference). */
typedef struct tag_list {
	size_t n;
	struct tag_ent {
		char *ref;
		char id[IMAGE_ID_LEN + 1];
	} * t;
} tag_list;
int tag_list_load(cairn_store *s, tag_list *ret);
void tag_list_clear(tag_list *t);
/* Familiar names of id, NULL-terminated (never NULL on success). */
int tag_list_names(const tag_list *t, const char *id, bool familiar, char ***ret);
/* Sum of the file bytes of the image's layers (index: of every child); a layer
 * a pull has not unpacked yet counts with its compressed size. */
uint64_t image_size(cairn_store *s, const img_rec *r);
/* Opens the record of a resolved name, with a message when it is missing. */
int image_get_named(cairn_store *s, const char *name, img_rec *ret, cairn_error **err);
/* The child of an index for a platform (NULL: the host's, else the first). */
int index_pick_child(cairn_store *s, const img_rec *idx, const oci_platform *want, img_rec *ret,
		     cairn_error **err);

/* ---- load (load.c) and unpacking on first use (unpack.c) ------------------------- */

/* cairn_image_load; with defer_unpack (pull), compressed layers whose diff
 * is not in the store are kept as their verified blob only. */
int load_path(cairn_store *s, const char *path, bool defer_unpack, cairn_loaded_fn fn,
	      void *userdata, cairn_error **err);
/* diff_get for a layer of an image; a layer that a pull kept as its
 * compressed blob only is unpacked first (own batch, committed).  -ENOENT
 * when neither the diff nor the blob is in the store. */
int diff_get_unpack(cairn_store *s, const img_layer *l, diff_rec *ret, cairn_error **err);
/* Calls a pull's or push's progress callback (fn may be NULL) under lock,
 * so that the transferring threads report one at a time (pull.c). */
void xfer_emit(cairn_xfer_fn fn, void *userdata, pthread_mutex_t *lock,
	       enum cairn_xfer_event ev, const char *what, const cairn_digest *d, uint64_t done,
	       uint64_t total);
/* The manifest of an index that fits a platform best (pull.c), or NULL:
 * os and architecture must match; an exact variant beats an unspecified
 * one (arm64 is v8 either way). */
const oci_desc *oci_index_pick(const oci_index *x, const oci_platform *want);
/* Whether the layer is waiting to be unpacked (no diff, blob stored). */
bool layer_pending(cairn_store *s, const img_layer *l);

/* ---- load sources (load-src.c) ------------------------------------------------- */

/* An OCI layout directory or an archive (OCI or Docker).  Archives are
 * read twice: pass 1 (at open) lists every entry and keeps small JSON
 * documents in memory, pass 2 (src_stream) streams the wanted entries. */
typedef struct load_src load_src;
int src_open(cairn_store *s, const char *path, load_src **ret, cairn_error **err);
void src_free(load_src *src);
/* "image.tar", "stdin", or the directory: the prefix of every message. */
const char *src_label(const load_src *src);
bool src_is_dir(const load_src *src);
/* Whether the source holds a (regular) file at path, links followed. */
bool src_has(load_src *src, const char *path);
/* Reads a small JSON document (<= OCI_JSON_MAX). */
int src_read_json(load_src *src, const char *path, char **ret, size_t *ret_len, cairn_error **err);
/* Calls fn for each of the n wanted paths (sorted, unique, links resolved
 * with src_resolve) as it reaches them; fn gets a reader for the bytes. */
typedef int (*src_stream_fn)(const char *path, cairn_read_fn rf, void *rud, void *userdata,
			     cairn_error **err);
int src_stream(load_src *src, char *const *paths, size_t n, src_stream_fn fn, void *userdata,
	       cairn_error **err);
/* The path of the regular file a path leads to (links followed), or NULL. */
const char *src_resolve(load_src *src, const char *path);

/* ---- OCI layout directories as output (ocidir.c) ------------------------------------ */

/* Writes the blobs into DIR/blobs/sha256 and merges the index.json entries. */
int save_oci_dir(cairn_store *s, const char *dir, const layer_blob *blobs, size_t n,
		 json_t *manifests, cairn_error **err);

/* ---- store-wide walks (gc.c, fsck.c) ------------------------------------------------ */

/* Every record of a table, copied into memory (key order). */
typedef struct rec_list {
	size_t n;
	struct rec_item {
		void *key, *val;
		size_t klen, vlen;
	} * r;
} rec_list;
int rec_list_load(cairn_store *s, cairn_table t, rec_list *ret);
void rec_list_clear(rec_list *l);

/* A sorted set of sha256 digests. */
typedef struct digest_set {
	size_t n, cap;
	cairn_digest *d;
	bool sorted;
} digest_set;
int digest_set_add(digest_set *set, const cairn_digest *d);
bool digest_set_has(digest_set *set, const cairn_digest *d);
void digest_set_clear(digest_set *set);

#endif
