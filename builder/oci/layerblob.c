/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Layer blobs for save and inspect: where the bytes of a layer in a wanted
 * compression come from (a verbatim stored blob, the layer's canonical
 * export, the replay of the tar-split it was imported with, or a stored
 * blob decompressed), with their digest and size known before a tar
 * header is written.  Uncompressed tar bytes made from a diff are always
 * checked against the diff_id while they stream out.  An uncompressed
 * layer blob needs no BLOBS entry: its digest is a diff_id, and the diff
 * reproduces it.  Unknown compressed digests are
 * computed once (spooled to ROOT/tmp when the bytes are needed) and cached
 * in the DIFFS record.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "oci-internal.h"

#define COPY_BUF (128u << 10)

int oci_tmpfile(cairn_store *s, int *ret_fd)
{
	_cleanup_free_ char *dir = NULL, *path = NULL;
	if (asprintf(&dir, "%s/tmp", cairn_store_root(s)) < 0)
		return -ENOMEM;
	int r = mkdir_p(dir, 0700);
	if (r < 0)
		return r;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0) {
		*ret_fd = fd;
		return 0;
	}
	if (asprintf(&path, "%s/spool-XXXXXX", dir) < 0)
		return -ENOMEM;
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	*ret_fd = fd;
	return 0;
}

ssize_t content_read_fn(void *userdata, void *data, size_t len)
{
	return cairn_content_read(userdata, data, len);
}

int content_copy(cairn_store *s, const cairn_id *id, cairn_writer *out)
{
	_cleanup_(cairn_content_freep) cairn_content *c = NULL;
	int r = cairn_content_open(s, id, &c);
	if (r < 0)
		return r;
	_cleanup_free_ char *b = malloc(COPY_BUF);
	if (!b)
		return -ENOMEM;
	for (;;) {
		ssize_t n = cairn_content_read(c, b, COPY_BUF);
		if (n <= 0)
			return (int) n;
		r = cairn_writer_write(out, b, (size_t) n);
		if (r < 0)
			return r;
	}
}

static int fd_copy(int fd, cairn_writer *out)
{
	_cleanup_free_ char *b = malloc(COPY_BUF);
	if (!b)
		return -ENOMEM;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	for (;;) {
		ssize_t n = read_full(fd, b, COPY_BUF);
		if (n <= 0)
			return (int) n;
		int r = cairn_writer_write(out, b, (size_t) n);
		if (r < 0)
			return r;
	}
}

/* The decompressed bytes of a stored blob into out. */
static int blob_decompress(cairn_store *s, const cairn_digest *blob, cairn_writer *out,
			   cairn_error **err)
{
	cairn_id id;
	uint64_t size;
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	cairn_digest_hex(blob, hex);
	int r = blob_get(s, blob, &id, &size);
	if (r < 0)
		return cairn_error_from(err, r, "blob sha256:%s", hex);
	_cleanup_(cairn_content_freep) cairn_content *c = NULL;
	_cleanup_(cairn_reader_freep) cairn_reader *rd = NULL;
	r = cairn_content_open(s, &id, &c);
	if (r >= 0)
		r = cairn_reader_new(content_read_fn, c, &rd);
	if (r < 0)
		return cairn_error_from(err, r, "blob sha256:%s: opening", hex);
	_cleanup_free_ char *b = malloc(COPY_BUF);
	if (!b)
		return -ENOMEM;
	for (;;) {
		ssize_t n = cairn_reader_read(rd, b, COPY_BUF);
		if (n < 0)
			return cairn_error_from(err, (int) n, "blob sha256:%s: decompressing", hex);
		if (n == 0)
			return 0;
		r = cairn_writer_write(out, b, (size_t) n);
		if (r < 0)
			return cairn_error_from(err, r, "writing layer sha256:%s", hex);
	}
}

int diff_write_tar(cairn_store *s, const cairn_digest *diff_id, const diff_rec *d,
		   cairn_writer *out, cairn_error **err)
{
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	cairn_digest_hex(diff_id, hex);
	_cleanup_(cairn_writer_freep) cairn_writer *dw = cairn_writer_digest(out);
	if (!dw)
		return -ENOMEM;
	int r;
	if (d->from_blob) {
		r = blob_decompress(s, &d->blob, dw, err);
	} else if (d->from_split) {
		r = cairn_tar_split_write(s, &d->split, dw, err);
	} else {
		struct cairn_tar_export_options eo = {.source_date_epoch = -1};
		r = cairn_layer_export_tar(s, &d->layer, &eo, dw, err);
	}
	if (r < 0 && err && *err)
		return cairn_error_prefix(err, "layer sha256:%s", hex);
	if (r < 0)
		return cairn_error_from(err, r, "layer sha256:%s", hex);
	cairn_digest got;
	uint64_t size;
	cairn_writer_digest_result(dw, &got, &size);
	if (memcmp(got.b, diff_id->b, CAIRN_DIGEST_LEN) != 0 || size != d->size)
		return cairn_error_set(err, d->from_split ? CAIRN_E_CORRUPT : CAIRN_E_DIGEST,
				       "layer sha256:%s: %s does not match its diff_id%s", hex,
				       d->from_split ? "the tar replayed from its tar-split"
						     : "regenerated tar",
				       d->from_split ? " (store damaged; run `cairn fsck`)" : "");
	return 0;
}

/* Regenerates the diff compressed with c into sink (may be NULL); returns
 * the compressed digest and size. */
static int diff_compress(cairn_store *s, const cairn_digest *diff_id, const diff_rec *d,
			 cairn_compression c, cairn_writer *sink, diff_cache *ret,
			 cairn_error **err)
{
	_cleanup_(cairn_writer_freep) cairn_writer *dw = cairn_writer_digest(sink);
	_cleanup_(cairn_writer_freep) cairn_writer *cw = NULL;
	if (!dw)
		return -ENOMEM;
	int r = cairn_writer_compress(dw, c, 0, &cw);
	if (r < 0)
		return cairn_error_from(err, r, "starting %s compression",
					cairn_compression_name(c));
	r = diff_write_tar(s, diff_id, d, cw, err);
	if (r >= 0)
		r = cairn_writer_close(cw);
	if (r < 0)
		return cairn_error_from(err, r, "compressing layer");
	*ret = (diff_cache){.set = true};
	cairn_writer_digest_result(dw, &ret->digest, &ret->size);
	return 0;
}

static int updates_add(lb_updates *u, const cairn_digest *diff_id, cairn_compression c,
		       const diff_cache *cache)
{
	if (!u)
		return 0;
	struct lb_update *n = realloc(u->u, (u->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	u->u = n;
	n[u->n++] = (struct lb_update){*diff_id, c, *cache};
	return 0;
}

void layer_blob_mem(char *data, size_t len, const char *media_type, layer_blob *ret)
{
	*ret = (layer_blob){
	    .kind = LB_MEM, .size = len, .media_type = media_type, .fd = -1, .mem = data};
	cairn_sha256(data, len, &ret->digest);
}

static int plan_regen(cairn_store *s, const cairn_digest *diff_id, diff_rec *d, cairn_compression c,
		      bool need_bytes, layer_blob *ret, lb_updates *u, cairn_error **err);

/* An uncompressed layer blob without a BLOBS entry: the diff with its
 * digest as diff_id reproduces it (-ENOENT when there is none). */
static int blob_from_diff(cairn_store *s, const cairn_digest *digest, const char *media_type,
			  layer_blob *ret, cairn_error **err)
{
	diff_rec d;
	int r = diff_get(s, digest, &d);
	if (r < 0)
		return r;
	r = plan_regen(s, digest, &d, CAIRN_COMPRESS_NONE, false, ret, NULL, err);
	if (r >= 0 && !(ret->media_type = ret->mt_owned = strdup(media_type ? media_type : "")))
		r = -ENOMEM;
	return r;
}

int layer_blob_stored(cairn_store *s, const cairn_digest *digest, const char *media_type,
		      layer_blob *ret, cairn_error **err)
{
	*ret = (layer_blob){.fd = -1};
	uint64_t size;
	int r = blob_get(s, digest, &ret->content, &size);
	if (r == -ENOENT && blob_from_diff(s, digest, media_type, ret, err) >= 0)
		return 0;
	if (r < 0) {
		char hex[2 * CAIRN_DIGEST_LEN + 1];
		cairn_digest_hex(digest, hex);
		return cairn_error_set(err, r == -ENOENT ? CAIRN_E_NOTFOUND : r,
				       "blob sha256:%s: not in the store", hex);
	}
	ret->kind = LB_STORED;
	ret->digest = *digest;
	ret->size = size;
	ret->mt_owned = strdup(media_type ? media_type : "");
	ret->media_type = ret->mt_owned;
	return ret->mt_owned ? 0 : -ENOMEM;
}

static int plan_regen(cairn_store *s, const cairn_digest *diff_id, diff_rec *d, cairn_compression c,
		      bool need_bytes, layer_blob *ret, lb_updates *u, cairn_error **err)
{
	ret->diff_id = *diff_id;
	ret->diff = *d;
	ret->comp = c;
	ret->media_type = oci_layer_media_type(c);
	diff_cache *cache = diff_rec_cache(d, c);
	if (!cache) { /* uncompressed: the diff itself */
		ret->kind = LB_REGEN;
		ret->digest = *diff_id;
		ret->size = d->size;
		return 0;
	}
	if (cache->set) {
		ret->kind = LB_REGEN;
		ret->digest = cache->digest;
		ret->size = cache->size;
		return 0;
	}
	_cleanup_close_ int fd = -1;
	_cleanup_(cairn_writer_freep) cairn_writer *fw = NULL;
	if (need_bytes) {
		int r = oci_tmpfile(s, &fd);
		if (r < 0)
			return cairn_error_from(err, r, "creating a temporary file in %s/tmp",
						cairn_store_root(s));
		if (!(fw = cairn_writer_fd(fd)))
			return -ENOMEM;
	}
	diff_cache got;
	int r = diff_compress(s, diff_id, d, c, fw, &got, err);
	if (r < 0)
		return r;
	r = updates_add(u, diff_id, c, &got);
	if (r < 0)
		return r;
	ret->kind = need_bytes ? LB_TMPFILE : LB_REGEN;
	ret->fd = steal_fd(&fd);
	ret->digest = got.digest;
	ret->size = got.size;
	return 0;
}

int layer_blob_plan(cairn_store *s, const img_layer *l, int compression, bool need_bytes,
		    layer_blob *ret, lb_updates *u, cairn_error **err)
{
	layer_blob lb = {.fd = -1};
	if (compression < 0 && l->blob.set) {
		int r = layer_blob_stored(s, &l->blob.digest, l->blob.media_type, &lb, err);
		if (r >= 0)
			*ret = lb;
		return r;
	}
	cairn_compression c =
	    compression < 0 ? CAIRN_COMPRESS_GZIP : (cairn_compression) compression;
	diff_rec d;
	int r = diff_get_unpack(s, l, &d, err);
	if (r < 0 && err && *err)
		return r;
	if (r < 0) {
		char hex[2 * CAIRN_DIGEST_LEN + 1];
		cairn_digest_hex(&l->diff_id, hex);
		return cairn_error_set(err, r == -ENOENT ? CAIRN_E_NOTFOUND : r,
				       "layer sha256:%s: %s", hex,
				       r == -ENOENT ? "not in the store" : "damaged diff record");
	}
	if (d.from_blob && d.blob_compression == c)
		r = layer_blob_stored(s, &d.blob, oci_layer_media_type(c), &lb, err);
	else
		r = plan_regen(s, &l->diff_id, &d, c, need_bytes, &lb, u, err);
	if (r >= 0)
		*ret = lb;
	return r;
}

static int regen_write(cairn_store *s, const layer_blob *lb, cairn_writer *out, cairn_error **err)
{
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	cairn_digest_hex(&lb->digest, hex);
	if (!diff_rec_cache((diff_rec *) &lb->diff, lb->comp))
		return diff_write_tar(s, &lb->diff_id, &lb->diff, out, err);
	diff_cache got;
	int r = diff_compress(s, &lb->diff_id, &lb->diff, lb->comp, out, &got, err);
	if (r < 0)
		return r;
	if (got.size != lb->size || memcmp(got.digest.b, lb->digest.b, CAIRN_DIGEST_LEN) != 0)
		return cairn_error_set(err, CAIRN_E_DIGEST,
				       "layer blob sha256:%s: %s output differs from the cached "
				       "digest (compressor changed?); run `cairn prune` and retry",
				       hex, cairn_compression_name(lb->comp));
	return 0;
}

int layer_blob_write(cairn_store *s, const layer_blob *lb, cairn_writer *out, cairn_error **err)
{
	int r;
	switch (lb->kind) {
	case LB_STORED:
		r = content_copy(s, &lb->content, out);
		break;
	case LB_TMPFILE:
		r = fd_copy(lb->fd, out);
		break;
	case LB_MEM:
		r = cairn_writer_write(out, lb->mem, lb->size);
		break;
	case LB_REGEN:
		return regen_write(s, lb, out, err);
	default:
		r = -EINVAL;
	}
	if (r < 0) {
		char hex[2 * CAIRN_DIGEST_LEN + 1];
		cairn_digest_hex(&lb->digest, hex);
		return cairn_error_from(err, r, "writing blob sha256:%s", hex);
	}
	return 0;
}

void layer_blob_clear(layer_blob *lb)
{
	if (lb->kind == LB_TMPFILE && lb->fd >= 0)
		close(lb->fd);
	if (lb->kind == LB_MEM)
		free(lb->mem);
	free(lb->mt_owned);
	*lb = (layer_blob){.fd = -1};
}

int lb_updates_commit(cairn_store *s, lb_updates *u)
{
	if (!u->n)
		return 0;
	_cleanup_(cairn_batch_freep) cairn_batch *b = NULL;
	int r = cairn_batch_new(s, &b);
	if (r < 0)
		return r;
	for (size_t i = 0; i < u->n; i++) {
		diff_rec d;
		if (diff_get(s, &u->u[i].diff_id, &d) < 0)
			continue;
		*diff_rec_cache(&d, u->u[i].comp) = u->u[i].cache;
		r = diff_put(b, &u->u[i].diff_id, &d);
		if (r < 0)
			return r;
	}
	return cairn_batch_commit(b, NULL);
}

void lb_updates_clear(lb_updates *u)
{
	free(u->u);
	*u = (lb_updates){0};
}
