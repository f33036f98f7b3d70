/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_OCI_LOAD_H
#define CAIRN_OCI_LOAD_H

/* State of one `load`, shared by load.c (OCI layouts and records),
 * load-docker.c (Docker archives) and load-blobs.c (layer blobs). */

#include "oci-internal.h"

typedef enum plan_act {
	ACT_SKIP = 0, /* the store has what is needed */
	ACT_IMPORT,   /* import the layer (keep_blob: and keep the blob, or for an
			 uncompressed blob a tar-split that reproduces it) */
	ACT_BLOB,     /* the diff is known: keep the verbatim blob, verify it */
	ACT_RAW,      /* not a layer (attestations, ...): keep verbatim, verify digest */
} plan_act;

/* One blob to read from the source in pass 2. */
struct plan {
	char *path; /* real path in the source */
	plan_act act;
	bool keep_blob;
	bool digest_known; /* OCI: from the descriptor; Docker: computed */
	cairn_digest digest;
	uint64_t size;
	bool has_diff;
	cairn_digest diff_id;
	bool done;
	/* results */
	struct cairn_tar_import_result res;
	cairn_id content;
	cairn_digest got_digest;
	uint64_t got_size;
};

/* A top-level image of the source and its name. */
struct loaded {
	char *norm;	/* normalized reference or NULL */
	char *familiar; /* for the callback */
	char id[IMAGE_ID_LEN + 1];
};

struct load_ctx {
	cairn_store *s;
	cairn_batch *b;
	load_src *src;
	const char *label;
	size_t n_plans;
	struct plan *plans;
	size_t n_imgs;
	img_rec *imgs;
	size_t n_staged;
	cairn_digest *staged; /* JSON blobs staged in this batch */
	size_t n_tops;
	struct loaded *tops;
	size_t n_diffs;
	cairn_digest *diffs; /* diff records staged in this batch */
	/* pull: compressed layers whose diff is not known are kept as their
	 * verified blob only and unpacked on first use (diff_get_unpack) */
	bool defer_unpack;
};

/* load.c */
int load_stage_json(struct load_ctx *c, const cairn_digest *d, const char *data, size_t len);
int load_add_image(struct load_ctx *c, img_rec *rec);
int load_add_top(struct load_ctx *c, const char *norm, const char *id);
bool load_diff_known(struct load_ctx *c, const cairn_digest *diff_id);
struct plan *load_plan_find(struct load_ctx *c, const char *path);
int load_plan_add(struct load_ctx *c, const char *path, struct plan **ret);
void blob_path(const cairn_digest *d, char out[80]);

/* load-docker.c */
int load_docker(struct load_ctx *c, cairn_error **err);

/* load-blobs.c: pass 2 and the records of what it read */
int load_stream(struct load_ctx *c, cairn_error **err);
int load_stage_plans(struct load_ctx *c);

#endif
