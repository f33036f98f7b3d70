/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_OCI_TEST_H
#define CAIRN_OCI_TEST_H

/* Helpers for the image tests: stores in the test's temporary directory,
 * small root filesystem tarballs, hand-written OCI layouts (blobs written
 * through cairn's stream writers), reading files back. */

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>

#include <cairn/image.h>
#include <cairn/layer.h>

#include "oci-internal.h"
#include "tap.h"

static inline char *tpath(const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", tap_tmpdir(), name) < 0)
		exit(99);
	return p;
}

static inline cairn_store *test_store(const char *name)
{
	char *path = tpath(name);
	cairn_store *s = NULL;
	cairn_error *err = NULL;
	if (cairn_store_open(path, NULL, &s, &err) < 0) {
		printf("Bail out! store: %s\n", err && err->msg ? err->msg : "?");
		exit(99);
	}
	free(path);
	return s;
}

/* ok() on r, printing the error message on failure; frees and clears *err. */
#define ok_err(r, err, ...)                                                                        \
	({                                                                                         \
		int _ok = ok((r) >= 0, __VA_ARGS__);                                               \
		if (!_ok)                                                                          \
			tap_diag("error %d: %s", (int) (r),                                        \
				 (err) && (err)->msg ? (err)->msg : "(no message)");               \
		cairn_error_free(err);                                                             \
		(err) = NULL;                                                                      \
		_ok;                                                                               \
	})

static inline int count_fn(const void *k, size_t kl, const void *v, size_t vl, void *ud)
{
	(*(size_t *) ud)++;
	return 0;
}

static inline size_t count_records(cairn_store *s, cairn_table t)
{
	size_t n = 0;
	cairn_store_foreach(s, t, count_fn, &n);
	return n;
}

static inline void fsck_line(const char *line, void *ud)
{
	printf("# fsck: %s\n", line);
	if (ud)
		(*(int *) ud)++;
}

static inline int fsck_count_flags(cairn_store *s, unsigned flags)
{
	cairn_error *err = NULL;
	int r = cairn_fsck(s, flags, fsck_line, NULL, NULL, &err);
	if (r < 0)
		tap_diag("fsck failed: %s", err && err->msg ? err->msg : "?");
	cairn_error_free(err);
	return r;
}

static inline int fsck_count(cairn_store *s)
{
	return fsck_count_flags(s, 0);
}

/* ---- files ---------------------------------------------------------------------- */

static inline void write_bytes(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write_all(fd, data, len) < 0) {
		printf("Bail out! writing %s\n", path);
		exit(99);
	}
	close(fd);
}

static inline char *slurp(const char *path, size_t *ret_len)
{
	char *data = NULL;
	size_t len = 0;
	if (read_file(path, 1u << 30, &data, &len) < 0 || !data)
		return NULL;
	if (ret_len)
		*ret_len = len;
	return data;
}

static inline bool same_file(const char *a, const char *b)
{
	size_t la = 0, lb = 0;
	char *da = slurp(a, &la), *db = slurp(b, &lb);
	bool same = da && db && la == lb && memcmp(da, db, la) == 0;
	free(da);
	free(db);
	return same;
}

static inline int run(const char *cmd)
{
	int r = system(cmd);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

/* ---- a root filesystem tarball ----------------------------------------------------- */

struct tfile {
	const char *path;
	char type;	  /* 'f' file, 'd' dir, 'l' symlink, 'h' hardlink */
	const char *data; /* content / link target */
	unsigned mode;
};

static const struct tfile test_rootfs[] = {
    {"etc", 'd', NULL, 0755},
    {"etc/hello.txt", 'f', "hello from cairn\n", 0644},
    {"etc/motd", 'l', "hello.txt", 0777},
    {"bin", 'd', NULL, 0755},
    {"bin/tool", 'f', "#!/bin/sh\necho tool\n", 04755},
    {"bin/tool-link", 'h', "bin/tool", 0},
    {"var", 'd', NULL, 0700},
    {"var/empty", 'f', "", 0600},
};

/* Writes a tarball of files to path with the compression filter
 * ("gzip", "zstd", NULL). */
static inline void make_tar(const char *path, const struct tfile *files, size_t n,
			    const char *filter)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax_restricted(a);
	if (filter)
		archive_write_add_filter_by_name(a, filter);
	if (archive_write_open_filename(a, path) != ARCHIVE_OK) {
		printf("Bail out! %s\n", archive_error_string(a));
		exit(99);
	}
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, files[i].path);
		archive_entry_set_mtime(e, 1600000000, 0);
		archive_entry_set_uid(e, 1000 + (unsigned) i);
		archive_entry_set_gid(e, 100);
		size_t len = files[i].type == 'f' ? strlen(files[i].data) : 0;
		switch (files[i].type) {
		case 'd':
			archive_entry_set_filetype(e, AE_IFDIR);
			break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, files[i].data);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, files[i].data);
			break;
		default:
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t) len);
		}
		archive_entry_set_perm(e, files[i].mode);
		archive_write_header(a, e);
		if (len)
			archive_write_data(a, files[i].data, len);
		archive_entry_free(e);
	}
	archive_write_close(a);
	archive_write_free(a);
}

/* ---- hand-written OCI layouts --------------------------------------------------------- */

static inline int buf_write_fn(void *userdata, const void *data, size_t len)
{
	return buf_append(userdata, data, len);
}

/* Compresses data with c at level (through cairn's writers). */
static inline bytebuf compress_bytes(const void *data, size_t len, cairn_compression c, int level)
{
	bytebuf out = {0};
	cairn_writer *sink = cairn_writer_fn(buf_write_fn, &out), *cw = NULL;
	if (c == CAIRN_COMPRESS_NONE) {
		buf_append(&out, data, len);
	} else if (cairn_writer_compress(sink, c, level, &cw) < 0 ||
		   cairn_writer_write(cw, data, len) < 0 || cairn_writer_close(cw) < 0) {
		printf("Bail out! compress\n");
		exit(99);
	}
	cairn_writer_free(cw);
	cairn_writer_free(sink);
	return out;
}

/* Writes DIR/blobs/sha256/<digest> and returns the digest string. */
static inline char *put_blob(const char *dir, const void *data, size_t len)
{
	cairn_digest d;
	char hex[65], *path = NULL, *bdir = NULL;
	cairn_sha256(data, len, &d);
	cairn_digest_hex(&d, hex);
	if (asprintf(&bdir, "%s/blobs/sha256", dir) < 0 || mkdir_p(bdir, 0755) < 0 ||
	    asprintf(&path, "%s/%s", bdir, hex) < 0)
		exit(99);
	write_bytes(path, data, len);
	free(path);
	free(bdir);
	return cairn_digest_string(&d);
}

static inline char *blob_file(const char *dir, const char *digest)
{
	char *p = NULL;
	if (asprintf(&p, "%s/blobs/sha256/%s", dir, digest + 7) < 0)
		exit(99);
	return p;
}

static inline char *sha256_string(const void *data, size_t len)
{
	cairn_digest d;
	cairn_sha256(data, len, &d);
	return cairn_digest_string(&d);
}

/* The layout's oci-layout and index.json (doc is the index JSON). */
static inline void put_layout(const char *dir, const char *index_json)
{
	char *p = NULL;
	mkdir_p(dir, 0755);
	if (asprintf(&p, "%s/oci-layout", dir) < 0)
		exit(99);
	write_bytes(p, "{\"imageLayoutVersion\": \"1.0.0\"}", 31);
	free(p);
	if (asprintf(&p, "%s/index.json", dir) < 0)
		exit(99);
	write_bytes(p, index_json, strlen(index_json));
	free(p);
}

/* Reads a file out of a tarball (NULL when missing). */
static inline char *tar_member(const char *tarfile, const char *name, size_t *ret_len)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	char *out = NULL;
	if (archive_read_open_filename(a, tarfile, 65536) != ARCHIVE_OK)
		goto done;
	struct archive_entry *e;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		if (strcmp(archive_entry_pathname(e), name) != 0)
			continue;
		size_t len = (size_t) archive_entry_size(e);
		out = malloc(len + 1);
		la_ssize_t n = archive_read_data(a, out, len);
		out[n > 0 ? n : 0] = 0;
		if (ret_len)
			*ret_len = n > 0 ? (size_t) n : 0;
		break;
	}
done:
	archive_read_free(a);
	return out;
}

/* index.json's first manifest digest in an OCI dir. */
static inline char *layout_top_digest(const char *dir, size_t i)
{
	char *p = NULL, *data;
	if (asprintf(&p, "%s/index.json", dir) < 0)
		exit(99);
	data = slurp(p, NULL);
	free(p);
	json_t *j = data ? json_loads(data, 0, NULL) : NULL;
	free(data);
	json_t *d = json_object_get(json_array_get(json_object_get(j, "manifests"), i), "digest");
	char *out = json_is_string(d) ? strdup(json_string_value(d)) : NULL;
	json_decref(j);
	return out;
}

/* ---- hand-written images ---- */

struct blayer {
	char *digest, *diff_id;
	size_t size;
	const char *mt;
};

static inline struct blayer build_layer(const char *dir, const char *tag, const struct tfile *files,
					size_t n, cairn_compression c, int level)
{
	char name[64];
	snprintf(name, sizeof(name), "layer-%s.tar", tag);
	char *tar = tpath(name);
	make_tar(tar, files, n, NULL);
	size_t len = 0;
	char *raw = slurp(tar, &len);
	bytebuf z = compress_bytes(raw, len, c, level);
	struct blayer l = {put_blob(dir, z.data, z.len), sha256_string(raw, len), z.len,
			   c == CAIRN_COMPRESS_ZSTD   ? MT_OCI_LAYER_ZSTD
			   : c == CAIRN_COMPRESS_GZIP ? MT_OCI_LAYER_GZIP
						      : MT_OCI_LAYER};
	buf_clear(&z);
	free(raw);
	free(tar);
	return l;
}

static inline void free_layer(struct blayer *l)
{
	free(l->digest);
	free(l->diff_id);
}

struct doc {
	char *digest;
	size_t size;
};

static inline struct doc put_doc(const char *dir, const char *json)
{
	return (struct doc){put_blob(dir, json, strlen(json)), strlen(json)};
}

static inline struct doc put_config(const char *dir, const char *arch, const struct blayer *ls,
				    size_t n)
{
	char diffs[1024] = "";
	for (size_t i = 0; i < n; i++)
		snprintf(diffs + strlen(diffs), sizeof(diffs) - strlen(diffs), "%s\n      \"%s\"",
			 i ? "," : "", ls[i].diff_id);
	char *c = NULL;
	if (asprintf(
		&c,
		"{\n  \"architecture\": \"%s\",\n  \"os\": \"linux\",\n"
		"  \"created\": \"2020-01-01T00:00:00.5+02:00\",\n"
		"  \"config\": {\"Env\": [\"PATH=/bin\"], \"Cmd\": [\"/bin/sh\"]},\n"
		"  \"rootfs\": {\n    \"type\": \"layers\",\n    \"diff_ids\": [%s\n    ]\n  },\n"
		"  \"history\": [{\"created_by\": \"hand\"}]\n}\n",
		arch, diffs) < 0)
		exit(99);
	struct doc d = put_doc(dir, c);
	free(c);
	return d;
}

static inline struct doc put_manifest(const char *dir, const char *mt, const char *cmt,
				      struct doc cfg, const struct blayer *ls, size_t n)
{
	char layers[2048] = "";
	for (size_t i = 0; i < n; i++)
		snprintf(layers + strlen(layers), sizeof(layers) - strlen(layers),
			 "%s\n    {\"mediaType\": \"%s\", \"size\": %zu, \"digest\": \"%s\"}",
			 i ? "," : "", ls[i].mt, ls[i].size, ls[i].digest);
	char *m = NULL;
	if (asprintf(
		&m,
		"{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"%s\",\n"
		"   \"config\": {\"mediaType\": \"%s\", \"size\": %zu, \"digest\": \"%s\"},\n"
		"   \"layers\": [%s\n   ],\n   \"annotations\": {\"org.example\": \"kept\"}\n}",
		mt, cmt, cfg.size, cfg.digest, layers) < 0)
		exit(99);
	struct doc d = put_doc(dir, m);
	free(m);
	return d;
}

struct loaded_list {
	size_t n;
	char names[8][256];
	char ids[8][80];
};

static inline void on_loaded(const char *name, const char *id, void *userdata)
{
	struct loaded_list *l = userdata;
	if (l->n >= 8)
		return;
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name ? name : "(none)");
	snprintf(l->ids[l->n], sizeof(l->ids[0]), "%s", id);
	l->n++;
}

#endif
