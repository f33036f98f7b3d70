/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unpacking on first use.  A pull keeps a compressed layer it has not
 * seen before as its blob only: verified against the manifest's digest,
 * stored verbatim, listed in the image record with the config's diff_id,
 * but with no DIFFS record yet (the OCI layout a `skopeo copy` writes holds
 * no more).  The first user of the layer's files (mounting the image, a
 * build's FROM, a save that re-compresses) imports the stored blob here,
 * checks its uncompressed digest against the diff_id and records the
 * diff, in a batch of its own.  The verbatim blob stays, so a push or
 * save of the unchanged image keeps the registry's digests.
 */
#include <pthread.h>

#include "oci-internal.h"

static pthread_mutex_t unpack_lock = PTHREAD_MUTEX_INITIALIZER;

bool layer_pending(cairn_store *s, const img_layer *l)
{
	return l->blob.set &&
	       cairn_store_has(s, CAIRN_T_DIFFS, l->diff_id.b, CAIRN_DIGEST_LEN) <= 0 &&
	       cairn_store_has(s, CAIRN_T_BLOBS, l->blob.digest.b, CAIRN_DIGEST_LEN) > 0;
}

static int unpack(cairn_store *s, const img_layer *l, cairn_error **err)
{
	char bhex[2 * CAIRN_DIGEST_LEN + 1], dhex[2 * CAIRN_DIGEST_LEN + 1],
	    ghex[2 * CAIRN_DIGEST_LEN + 1];
	cairn_digest_hex(&l->blob.digest, bhex);
	cairn_digest_hex(&l->diff_id, dhex);
	cairn_id content;
	uint64_t size;
	int r = blob_get(s, &l->blob.digest, &content, &size);
	if (r < 0)
		return r;
	_cleanup_free_ char *name = NULL;
	if (asprintf(&name, "layer blob sha256:%.12s", bhex) < 0)
		return -ENOMEM;
	_cleanup_(cairn_content_freep) cairn_content *c = NULL;
	_cleanup_(cairn_batch_freep) cairn_batch *b = NULL;
	r = cairn_content_open(s, &content, &c);
	if (r >= 0)
		r = cairn_batch_new(s, &b);
	if (r < 0)
		return cairn_error_from(err, r, "%s: opening", name);
	struct cairn_tar_import_options o = {.name = name};
	struct cairn_tar_import_result res;
	r = cairn_layer_import_tar(b, content_read_fn, c, &o, &res, err);
	if (r < 0)
		return cairn_error_from(err, r, "%s: unpacking", name);
	if (res.blob_size != size || memcmp(res.blob_digest.b, l->blob.digest.b, CAIRN_DIGEST_LEN))
		return cairn_error_set(err, CAIRN_E_CORRUPT,
				       "%s: stored bytes do not match the blob's digest", name);
	if (memcmp(res.diff_id.b, l->diff_id.b, CAIRN_DIGEST_LEN) != 0) {
		cairn_digest_hex(&res.diff_id, ghex);
		return cairn_error_set(err, CAIRN_E_DIGEST,
				       "%s: uncompressed content has sha256:%.12s, but the config's "
				       "diff_id is sha256:%.12s",
				       name, ghex, dhex);
	}
	diff_rec d = {
	    .layer = res.layer,
	    .size = res.diff_size,
	    .from_blob = true,
	    .blob = l->blob.digest,
	    .blob_compression = res.compression,
	};
	r = diff_put(b, &l->diff_id, &d);
	if (r < 0)
		return cairn_error_from(err, r, "%s: staging the diff record", name);
	return cairn_batch_commit(b, err);
}

int diff_get_unpack(cairn_store *s, const img_layer *l, diff_rec *ret, cairn_error **err)
{
	int r = diff_get(s, &l->diff_id, ret);
	if (r != -ENOENT || !l->blob.set)
		return r;
	/* one unpack of a layer at a time in this process; another process
	 * racing us commits an equal record (the loser's layer is garbage
	 * that prune reclaims) */
	pthread_mutex_lock(&unpack_lock);
	r = diff_get(s, &l->diff_id, ret);
	if (r == -ENOENT && cairn_store_has(s, CAIRN_T_BLOBS, l->blob.digest.b,
					    CAIRN_DIGEST_LEN) > 0) {
		r = unpack(s, l, err);
		if (r >= 0)
			r = diff_get(s, &l->diff_id, ret);
	}
	pthread_mutex_unlock(&unpack_lock);
	return r;
}
