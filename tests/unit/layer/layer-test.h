/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_LAYER_TEST_H
#define CAIRN_LAYER_TEST_H

/* Helpers for the layer tests: a store in a temporary directory, tars
 * built with libarchive in memory, imports from and exports to memory. */

#include <archive.h>
#include <archive_entry.h>
#include <cairn/layer.h>
#include <cairn/store.h>
#include <cairn/stream.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "tap.h"
#include "util.h"

/* ---- memory streams ------------------------------------------------------ */

struct mem_in {
	const uint8_t *p;
	size_t len, pos, chunk; /* chunk: max bytes per read (0 = any) */
};

static inline ssize_t mem_read(void *userdata, void *data, size_t len)
{
	struct mem_in *m = userdata;
	size_t n = MIN(len, m->len - m->pos);
	if (m->chunk)
		n = MIN(n, m->chunk);
	memcpy(data, m->p + m->pos, n);
	m->pos += n;
	return (ssize_t) n;
}

static inline int mem_write(void *userdata, const void *data, size_t len)
{
	return buf_append(userdata, data, len);
}

/* ---- store ------------------------------------------------------------------ */

static inline cairn_store *test_store(const char *name)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/%s", tap_tmpdir(), name);
	cairn_store *s = NULL;
	cairn_error *err = NULL;
	if (cairn_store_open(path, NULL, &s, &err) < 0) {
		printf("Bail out! store: %s\n", err && err->msg ? err->msg : "?");
		exit(99);
	}
	return s;
}

static inline int count_records_fn(const void *k, size_t kl, const void *v, size_t vl, void *ud)
{
	(*(size_t *) ud)++;
	return 0;
}

static inline size_t count_records(cairn_store *s, cairn_table t)
{
	size_t n = 0;
	cairn_store_foreach(s, t, count_records_fn, &n);
	return n;
}

static inline void report_line(const char *line, void *ud)
{
	printf("# fsck: %s\n", line);
}

static inline int fsck_problems(cairn_store *s)
{
	struct cairn_fsck_stats st;
	int r = cairn_store_fsck(s, report_line, NULL, &st);
	return r < 0 ? r : (int) st.problems;
}

/* Imports tar bytes in one committed batch.  Returns the import's result
 * code; the error message (if any) goes to *ret_msg (malloc'd). */
static inline int import_mem(cairn_store *s, const void *data, size_t len, size_t chunk,
			     struct cairn_tar_import_result *ret, char **ret_msg)
{
	cairn_batch *b = NULL;
	cairn_error *err = NULL;
	struct mem_in in = {data, len, 0, chunk};
	struct cairn_tar_import_options o = {.name = "test.tar"};
	struct cairn_tar_import_result res;
	int r = cairn_batch_new(s, &b);
	if (r < 0)
		return r;
	r = cairn_layer_import_tar(b, mem_read, &in, &o, &res, &err);
	if (r >= 0)
		r = cairn_batch_commit(b, &err);
	cairn_batch_free(b);
	if (ret_msg)
		*ret_msg = err && err->msg ? strdup(err->msg) : NULL;
	cairn_error_free(err);
	if (r >= 0 && ret)
		*ret = res;
	return r;
}

static inline int export_mem(cairn_store *s, const cairn_id *layer, int64_t sde, bytebuf *out)
{
	cairn_error *err = NULL;
	cairn_writer *w = cairn_writer_fn(mem_write, out);
	struct cairn_tar_export_options o = {.source_date_epoch = sde};
	int r = cairn_layer_export_tar(s, layer, &o, w, &err);
	if (r < 0)
		printf("# export: %s\n", err && err->msg ? err->msg : cairn_strerror(r));
	cairn_error_free(err);
	cairn_writer_free(w);
	return r;
}

/* ---- tars built with libarchive ---------------------------------------------- */

struct tb_entry {
	const char *path;
	unsigned type; /* AE_IF*, 0 = hardlink */
	unsigned mode;
	int64_t uid, gid;
	int64_t mtime;
	long nsec;
	const void *data;
	size_t len;
	const char *link; /* symlink target or hardlink target */
	unsigned major, minor;
	const char *xattr_name[4];
	const void *xattr_value[4];
	size_t xattr_len[4];
	int64_t size; /* != 0: header size without data (hostile) */
};

struct tb {
	struct archive *a;
	bytebuf out;
};

static inline la_ssize_t tb_write_cb(struct archive *a, void *ud, const void *data, size_t len)
{
	return buf_append(ud, data, len) < 0 ? -1 : (la_ssize_t) len;
}

static inline void tb_open(struct tb *t, int format)
{
	t->out = (bytebuf){0};
	t->a = archive_write_new();
	archive_write_set_format(t->a, format);
	archive_write_set_bytes_per_block(t->a, 512);
	archive_write_open(t->a, &t->out, NULL, tb_write_cb, NULL);
}

static inline void tb_add(struct tb *t, const struct tb_entry *te)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, te->path);
	archive_entry_set_perm(e, te->mode ? te->mode : 0644);
	archive_entry_set_uid(e, te->uid);
	archive_entry_set_gid(e, te->gid);
	archive_entry_set_mtime(e, te->mtime, te->nsec);
	if (te->type == 0) {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_hardlink(e, te->link);
	} else {
		archive_entry_set_filetype(e, te->type);
	}
	if (te->type == AE_IFLNK)
		archive_entry_set_symlink(e, te->link);
	if (te->type == AE_IFCHR || te->type == AE_IFBLK) {
		archive_entry_set_rdevmajor(e, te->major);
		archive_entry_set_rdevminor(e, te->minor);
	}
	for (int i = 0; i < 4 && te->xattr_name[i]; i++)
		archive_entry_xattr_add_entry(e, te->xattr_name[i], te->xattr_value[i],
					      te->xattr_len[i]);
	archive_entry_set_size(e, te->size		 ? te->size
				  : te->type == AE_IFREG ? (int64_t) te->len
							 : 0);
	if (archive_write_header(t->a, e) < ARCHIVE_WARN)
		printf("# tb_add %s: %s\n", te->path, archive_error_string(t->a));
	if (te->len)
		archive_write_data(t->a, te->data, te->len);
	archive_entry_free(e);
}

/* A sparse file of logical size `size` with data (fill byte) at the given
 * (offset, length) pairs. */
static inline void tb_sparse(struct tb *t, const char *path, uint64_t size, const uint64_t *map,
			     size_t n, uint8_t fill)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t) size);
	for (size_t i = 0; i < n; i++)
		archive_entry_sparse_add_entry(e, (la_int64_t) map[2 * i],
					       (la_int64_t) map[2 * i + 1]);
	archive_write_header(t->a, e);
	static uint8_t block[1 << 20];
	uint64_t pos = 0;
	while (pos < size) {
		size_t len = (size_t) MIN((uint64_t) sizeof(block), size - pos);
		memset(block, 0, len);
		for (size_t i = 0; i < n; i++) {
			uint64_t a = MAX(map[2 * i], pos),
				 b = MIN(map[2 * i] + map[2 * i + 1], pos + len);
			if (a < b)
				memset(block + (a - pos), fill, b - a);
		}
		archive_write_data(t->a, block, len);
		pos += len;
	}
	archive_entry_free(e);
}

static inline void tb_close(struct tb *t)
{
	archive_write_close(t->a);
	archive_write_free(t->a);
}

/* Writes bytes to a file in the test directory; returns its path (static). */
static inline const char *test_file(const char *name, const void *data, size_t len)
{
	static char path[4200];
	snprintf(path, sizeof(path), "%s/%s", tap_tmpdir(), name);
	if (write_file_atomic(path, data, len, 0644) < 0)
		return NULL;
	return path;
}

/* Runs a shell command; stdout+stderr to *ret_out (malloc'd); exit status. */
static inline int run_cmd(const char *cmd, char **ret_out)
{
	char path[4200];
	char *full = NULL;
	snprintf(path, sizeof(path), "%s/cmd.out", tap_tmpdir());
	if (asprintf(&full, "(%s) >'%s' 2>&1", cmd, path) < 0)
		return -1;
	int st = system(full);
	free(full);
	size_t len;
	if (read_file(path, 16 << 20, ret_out, &len) < 0)
		*ret_out = strdup("");
	while (len > 0 && (*ret_out)[len - 1] == '\n')
		(*ret_out)[--len] = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif
