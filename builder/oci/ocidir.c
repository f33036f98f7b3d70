/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Saving into an OCI layout directory.  The directory is created when
 * missing; an existing layout is added to, as skopeo does: blobs already
 * present (same name and size) are kept, index.json entries with the same
 * org.opencontainers.image.ref.name as a saved image (or the same
 * descriptor without a name) are replaced, the others are kept.  Blobs
 * are written to blobs/sha256/.<hex>.tmp, verified and renamed;
 * index.json is replaced atomically last, so a reader never sees an entry
 * whose blobs are not complete.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "oci-internal.h"

static int write_blob(cairn_store *s, const char *dir, const layer_blob *lb, cairn_error **err)
{
	char hex[2 * CAIRN_DIGEST_LEN + 1];
	cairn_digest_hex(&lb->digest, hex);
	_cleanup_free_ char *path = NULL, *tmp = NULL;
	if (asprintf(&path, "%s/blobs/sha256/%s", dir, hex) < 0 ||
	    asprintf(&tmp, "%s/blobs/sha256/.%s.tmp", dir, hex) < 0)
		return -ENOMEM;
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t) st.st_size == lb->size)
		return 0;
	_cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return cairn_error_set(err, -errno, "%s: %s", tmp, strerror(errno));
	_cleanup_(cairn_writer_freep) cairn_writer *fw = cairn_writer_fd(fd);
	_cleanup_(cairn_writer_freep) cairn_writer *dw = fw ? cairn_writer_digest(fw) : NULL;
	int r = dw ? layer_blob_write(s, lb, dw, err) : -ENOMEM;
	cairn_digest got;
	uint64_t size = 0;
	if (dw)
		cairn_writer_digest_result(dw, &got, &size);
	if (r >= 0 && (size != lb->size || memcmp(got.b, lb->digest.b, CAIRN_DIGEST_LEN) != 0))
		r = cairn_error_set(err, CAIRN_E_DIGEST, "%s: written bytes do not match sha256:%s",
				    tmp, hex);
	if (r >= 0 && fsync(fd) < 0)
		r = cairn_error_set(err, -errno, "%s: %s", tmp, strerror(errno));
	if (r >= 0 && rename(tmp, path) < 0)
		r = cairn_error_set(err, -errno, "%s: %s", path, strerror(errno));
	if (r < 0)
		unlink(tmp);
	return r;
}

static const char *entry_ref_name(json_t *e)
{
	json_t *v = json_object_get(json_object_get(e, "annotations"), ANNOT_REF_NAME);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Whether an existing index.json entry is replaced by one of ours. */
static bool superseded(json_t *old, json_t *ours)
{
	const char *oname = entry_ref_name(old);
	size_t i;
	json_t *e;
	json_array_foreach(ours, i, e)
	{
		const char *name = entry_ref_name(e);
		if (oname && name && strcmp(oname, name) == 0)
			return true;
		if (!oname && !name &&
		    json_equal(json_object_get(old, "digest"), json_object_get(e, "digest")))
			return true;
	}
	return false;
}

/* The existing index.json (validated) or a new one. */
static int index_open(const char *dir, json_t **ret, cairn_error **err)
{
	_cleanup_free_ char *path = NULL, *data = NULL;
	size_t len;
	if (asprintf(&path, "%s/index.json", dir) < 0)
		return -ENOMEM;
	int r = read_file(path, OCI_JSON_MAX, &data, &len);
	if (r == -ENOENT) {
		*ret = json_pack("{s:i, s:s, s:[]}", "schemaVersion", 2, "mediaType", MT_OCI_INDEX,
				 "manifests");
		return *ret ? 0 : -ENOMEM;
	}
	if (r < 0)
		return cairn_error_set(err, r, "%s: %s", path, strerror(-r));
	oci_index x;
	r = oci_index_parse(data, len, path, &x, err);
	if (r < 0)
		return r;
	oci_index_clear(&x);
	return oci_json_parse(data, len, path, ret, err);
}

static int index_merge(json_t *index, json_t *ours)
{
	json_t *old = json_object_get(index, "manifests");
	_cleanup_json_ json_t *merged = json_array();
	size_t i;
	json_t *e;
	if (!merged)
		return -ENOMEM;
	json_array_foreach(old, i, e) if (!superseded(e, ours) &&
					  json_array_append(merged, e) < 0) return -ENOMEM;
	if (json_array_extend(merged, ours) < 0)
		return -ENOMEM;
	return json_object_set(index, "manifests", merged) < 0 ? -ENOMEM : 0;
}

static int layout_file(const char *dir, cairn_error **err)
{
	static const char doc[] = "{\"imageLayoutVersion\":\"" MT_OCI_LAYOUT_VERSION "\"}";
	_cleanup_free_ char *path = NULL, *data = NULL;
	size_t len;
	if (asprintf(&path, "%s/oci-layout", dir) < 0)
		return -ENOMEM;
	int r = read_file(path, OCI_JSON_MAX, &data, &len);
	if (r >= 0)
		return oci_layout_check(data, len, path, err);
	if (r != -ENOENT)
		return cairn_error_set(err, r, "%s: %s", path, strerror(-r));
	r = write_file_atomic(path, doc, strlen(doc), 0644);
	return r < 0 ? cairn_error_set(err, r, "%s: %s", path, strerror(-r)) : 0;
}

int save_oci_dir(cairn_store *s, const char *dir, const layer_blob *blobs, size_t n,
		 json_t *manifests, cairn_error **err)
{
	_cleanup_free_ char *bdir = NULL, *ipath = NULL, *data = NULL;
	_cleanup_json_ json_t *index = NULL;
	size_t len;
	if (asprintf(&bdir, "%s/blobs/sha256", dir) < 0 ||
	    asprintf(&ipath, "%s/index.json", dir) < 0)
		return -ENOMEM;
	int r = mkdir_p(bdir, 0755);
	if (r < 0)
		return cairn_error_set(err, r, "%s: %s", bdir, strerror(-r));
	r = index_open(dir, &index, err);
	if (r >= 0)
		r = layout_file(dir, err);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = write_blob(s, dir, &blobs[i], err);
	if (r >= 0)
		r = index_merge(index, manifests);
	if (r >= 0)
		r = oci_json_dump(index, &data, &len);
	if (r >= 0 && (r = write_file_atomic(ipath, data, len, 0644)) < 0)
		cairn_error_set(err, r, "%s: %s", ipath, strerror(-r));
	return r;
}
