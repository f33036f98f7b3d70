/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_IMAGE_H
#define CAIRN_IMAGE_H

/*
 * Images: references, image records, and moving images in and out of the
 * store as OCI layouts/archives and Docker archives.
 *
 * Model (records in the store, see docs/STORE.md):
 *   CAIRN_T_BLOBS   sha256 -> verbatim bytes (a content): configs,
 *                   manifests, indexes, and the original blobs of layers
 *                   that came from outside, so that an image loaded and
 *                   saved unchanged keeps every digest.
 *   CAIRN_T_DIFFS   diff_id -> layer id, where its uncompressed tar comes
 *                   from (the layer's canonical export, or a stored blob),
 *                   and cached compressed digests (gzip, zstd).
 *   CAIRN_T_IMAGES  image id ("sha256:<hex>" of the config, or of the index
 *                   for multi-platform images) -> image record (JSON).
 *   CAIRN_T_TAGS    normalized reference ("docker.io/library/busybox:latest")
 *                   -> image id.
 */

#include <stdbool.h>
#include <stdint.h>

#include <cairn/error.h>
#include <cairn/store.h>
#include <cairn/stream.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- references (Docker's grammar) ------------------------------------ */

typedef struct cairn_ref {
	char *domain; /* "docker.io", "localhost:5000" */
	char *path;   /* "library/busybox" */
	char *tag;    /* NULL when only a digest was given */
	char *digest; /* "sha256:..." or NULL */
} cairn_ref;

/* Parses and normalizes ("busybox" -> docker.io/library/busybox:latest).
 * A tag of "latest" is added when neither tag nor digest is given. */
int cairn_ref_parse(const char *s, cairn_ref *ret, cairn_error **err);
void cairn_ref_clear(cairn_ref *r);
/* "docker.io/library/busybox:latest" (malloc'd) */
char *cairn_ref_string(const cairn_ref *r);
/* "busybox:latest" (Docker's familiar form, malloc'd) */
char *cairn_ref_familiar(const cairn_ref *r);
/* "docker.io/library/busybox" */
char *cairn_ref_repository(const cairn_ref *r);

/* ---- images ----------------------------------------------------------- */

typedef struct cairn_image cairn_image;

/* Resolves a name, NAME@sha256:DIGEST (image id, manifest or index digest),
 * a full or short (>= 4 hex) image id, or "sha256:<id>". */
int cairn_image_resolve(cairn_store *s, const char *name, char **ret_id, cairn_error **err);
/* Opens an image by name or id (anything cairn_image_resolve takes).  A
 * multi-platform image opens as its child for the host's platform (else
 * its first child). */
int cairn_image_open(cairn_store *s, const char *id, cairn_image **ret, cairn_error **err);
/* The same for a platform ("linux/arm64", "linux/arm/v7"; NULL = host):
 * an index opens as that child, a single image must match it. */
int cairn_image_open_platform(cairn_store *s, const char *name, const char *platform,
			      cairn_image **ret, cairn_error **err);
void cairn_image_free(cairn_image *img);
/* "sha256:<config digest>" of the opened (single-platform) image. */
const char *cairn_image_id(const cairn_image *img);
/* The image config JSON, verbatim (valid while img lives). */
const char *cairn_image_config(const cairn_image *img, size_t *ret_len);
/* Layers bottom first: the layer id (for cairn_layer_open) and diff_id. */
size_t cairn_image_layer_count(const cairn_image *img);
int cairn_image_layer(const cairn_image *img, size_t i, cairn_id *ret_layer,
		      cairn_digest *ret_diff_id);

struct cairn_image_summary {
	char *id;	 /* sha256:... */
	char **names;	 /* familiar references, NULL-terminated */
	int64_t created; /* seconds since epoch from the config, or 0 */
	uint64_t size;	 /* sum of layer file bytes */
	char *platform;	 /* "linux/amd64", or "linux/amd64,linux/arm64" for an index */
	unsigned layers;
};
typedef int (*cairn_image_fn)(const struct cairn_image_summary *img, void *userdata);
int cairn_image_list(cairn_store *s, cairn_image_fn fn, void *userdata, cairn_error **err);

/* JSON for `cairn inspect` (one object, malloc'd): Id, RepoTags (familiar),
 * Names (normalized), Digest and MediaType of the manifest (or index) that
 * a default save writes, Architecture, Os, Variant, Created, Size, Layers
 * (diff_ids), Manifest (object), Config (object); for a multi-platform
 * image Manifest is the index and Images lists {Id, Platform, Digest}. */
int cairn_image_inspect_json(cairn_store *s, const char *name, char **ret_json, cairn_error **err);
int cairn_image_tag(cairn_store *s, const char *src, const char *dst, cairn_error **err);
/* Removes a name; the image record goes when no name is left (or when
 * given by id: all its names; more than one name needs force).  Data is
 * reclaimed by prune.  *ret_untagged_id (may be NULL) receives the id of
 * the image record that was deleted, or NULL when only a name went. */
int cairn_image_remove(cairn_store *s, const char *name, bool force, char **ret_untagged_id,
		       cairn_error **err);

/* ---- import / load / save --------------------------------------------- */

struct cairn_import_options {
	const char *name;     /* NAME[:TAG], may be NULL (untagged) */
	const char *platform; /* "linux/amd64"; NULL = the host's */
	const char **changes; /* not yet used, NULL */
	const char *message;  /* history comment */
};
/* `docker import`: a root filesystem tarball becomes a single-layer image. */
int cairn_image_import_tar(cairn_store *s, const char *file,
			   const struct cairn_import_options *opts, char **ret_id,
			   cairn_error **err);

/* `docker load`: OCI archive, OCI layout directory, or Docker archive
 * ("-" = stdin).  Calls fn, after the commit, for every top-level image it
 * loaded: name is the familiar reference ("busybox:latest") or NULL. */
typedef void (*cairn_loaded_fn)(const char *name, const char *id, void *userdata);
int cairn_image_load(cairn_store *s, const char *path, cairn_loaded_fn fn, void *userdata,
		     cairn_error **err);

typedef enum cairn_save_format {
	CAIRN_SAVE_OCI_ARCHIVE = 0,
	CAIRN_SAVE_OCI_DIR,
	CAIRN_SAVE_DOCKER,
} cairn_save_format;

struct cairn_save_options {
	cairn_save_format format;
	/* -1: keep the layers as they are (original blobs of loaded images,
	 * gzip for cairn's own); else re-compress every layer. */
	int compression;	   /* cairn_compression or -1 */
	int64_t source_date_epoch; /* -1 = unset */
};
/* Writes one or more images (names or ids) to path ("-" = stdout for
 * archives; archives are written to PATH.tmp and renamed).  An OCI
 * directory that exists is added to.  source_date_epoch sets the mtime of
 * the outer archive's entries (layer contents are never rewritten).  The
 * Docker format holds one platform: an index is saved as its child for the
 * host's platform. */
int cairn_image_save(cairn_store *s, const char *const *names, size_t n_names, const char *path,
		     const struct cairn_save_options *opts, cairn_error **err);

/* ---- registries (pull.c, push.c; transport in builder/registry) -------- */

struct reg_options; /* builder/registry/registry.h */

/* Progress of a pull or push, one event per blob state change (called
 * from the transferring threads, one call at a time). */
enum cairn_xfer_event {
	CAIRN_XFER_START = 0, /* a transfer begins (done: bytes already there) */
	CAIRN_XFER_PROGRESS,
	CAIRN_XFER_DONE,
	CAIRN_XFER_EXISTS,  /* not sent: already in the store / the registry */
	CAIRN_XFER_MOUNTED, /* push: mounted from another repository */
	CAIRN_XFER_STORE,   /* pull: everything fetched, committing to the store */
};
struct cairn_xfer {
	enum cairn_xfer_event event;
	const char *what; /* "layer", "config", "manifest", "index", "blob" */
	const cairn_digest *digest;
	uint64_t done, total;
};
typedef void (*cairn_xfer_fn)(const struct cairn_xfer *x, void *userdata);

struct cairn_pull_options {
	const char *platform; /* NULL: the host's */
	bool all_platforms;   /* an index is kept with every platform image */
	const struct reg_options *reg;
	unsigned jobs; /* parallel blob downloads, 0 = 4 */
	cairn_xfer_fn progress;
	void *userdata;
};
struct cairn_pull_result {
	char *id;	    /* image id (an index's id with all_platforms) */
	char *name;	    /* normalized reference tagged, NULL for a digest pull */
	char *digest;	    /* digest of the manifest (or index) the reference named */
	unsigned fetched;   /* blobs downloaded */
	unsigned present;   /* blobs the store already had */
	uint64_t bytes;	    /* bytes downloaded */
};
void cairn_pull_result_clear(struct cairn_pull_result *r);
/* `docker pull REF`: resolves REF at its registry, downloads what the store
 * lacks (in parallel, verified against the digests; blobs that an
 * interrupted pull completed are kept under ROOT/tmp/pull and not fetched
 * again) and commits the image in one batch, named REF.  Compressed layers
 * new to the store are kept as their blob and unpacked on first use. */
int cairn_image_pull(cairn_store *s, const char *ref, const struct cairn_pull_options *o,
		     struct cairn_pull_result *ret, cairn_error **err);

struct cairn_push_options {
	const struct reg_options *reg;
	int compression; /* cairn_compression for every layer, or -1: keep (see save) */
	bool chunked;	 /* chunked uploads instead of monolithic ones */
	unsigned jobs;	 /* parallel uploads, 0 = 4 */
	cairn_xfer_fn progress;
	void *userdata;
};
/* `docker push`: uploads image name (all platforms of an index) to dest
 * (a reference; NULL = name).  Blobs the registry has are not sent;
 * blobs of an image that came from another repository of the same registry
 * are mounted from there.  *ret_digest (may be NULL): the manifest's (or
 * index's) digest, "sha256:..." (malloc'd). */
int cairn_image_push(cairn_store *s, const char *name, const char *dest,
		     const struct cairn_push_options *o, char **ret_digest, cairn_error **err);

/* ---- new images from layers --------------------------------------------- */

struct cairn_image_commit_options {
	const char *name;	/* NAME[:TAG] for the new image, or NULL */
	const char *created_by; /* history entry; NULL: "cairn commit" */
	const char *comment;	/* history comment, or NULL */
	int64_t created;	/* < 0: SOURCE_DATE_EPOCH if set, else now */
};
/* Stages in batch b a new image: parent (a name or id; NULL = scratch)
 * plus one layer that b has staged (or that is in the store) with its
 * diff_id.  The config is the parent's with the diff_id and a history
 * entry appended.  *ret_id (may be NULL) gets the image id. */
int cairn_image_commit(cairn_batch *b, const char *parent, const cairn_id *layer,
		       const cairn_digest *diff_id, uint64_t diff_size,
		       const struct cairn_image_commit_options *opts, char **ret_id,
		       cairn_error **err);

struct cairn_image_new_layer {
	cairn_id layer;
	cairn_digest diff_id;
	uint64_t diff_size;
};
/* Stages in batch b an image made of the first n_base layers of base (a
 * name or id; NULL = none, n_base 0) and then layers[0..n), described by
 * config (the complete config JSON, stored verbatim: its rootfs.diff_ids
 * must list exactly those layers; platform and created are read from it).
 * Layers that came from base keep their original blobs.  names (familiar
 * or normalized references) are pointed at the new image. */
int cairn_image_create(cairn_batch *b, const char *base, size_t n_base, const char *config,
		       size_t config_len, const struct cairn_image_new_layer *layers, size_t n,
		       const char *const *names, size_t n_names, char **ret_id, cairn_error **err);

/* ---- store-wide ------------------------------------------------------- */

struct cairn_du {
	uint64_t images, layers, blobs, contents, chunks;
	uint64_t logical_bytes; /* bytes of all layer files and blobs as users see them (per
				   reference) */
	uint64_t unique_bytes;	/* bytes of distinct contents */
	uint64_t chunk_bytes;	/* uncompressed bytes of distinct chunks */
	uint64_t stored_bytes;	/* compressed bytes of chunks */
	uint64_t file_bytes;	/* LMDB file on disk */
	uint64_t reclaimable_contents;
};
int cairn_du(cairn_store *s, struct cairn_du *ret, cairn_error **err);

struct cairn_prune_stats {
	uint64_t images, layers, blobs, contents, chunks, bytes_freed;
	uint64_t cache_bytes; /* content-cache files removed */
};
/* Removes everything no image (or snapshot, build cache entry) references,
 * and platform images left without their index and without a name. */
int cairn_prune(cairn_store *s, struct cairn_prune_stats *ret, cairn_error **err);

/* Full check: store-level (chunks, contents, refcounts) plus every image,
 * blob, diff and layer reference.  Returns the number of problems. */
enum {
	CAIRN_FSCK_REPLAY = 1u << 0, /* also rebuild every tar-split and check its diff_id */
};
int cairn_fsck(cairn_store *s, unsigned flags, cairn_report_fn report, void *userdata,
	       struct cairn_fsck_stats *ret, cairn_error **err);

#ifdef __cplusplus
}
#endif
#endif
