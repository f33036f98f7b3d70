/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tar import: every entry type and attribute lands in the layer; sparse
 * files stay sparse (also GNU tar's sparse formats); compressed input
 * gives the same layer and diff_id; keep_blob keeps the raw bytes. */
#include "tar-fixture.h"

static cairn_store *s;

static const cairn_entry *get(cairn_layer *l, const char *path)
{
	const cairn_entry *e = cairn_layer_lookup(l, path);
	if (!e)
		tap_diag("no entry \"%s\"", path);
	return e;
}

static bool has_xattr(const cairn_entry *e, const char *name, const void *v, size_t len)
{
	for (size_t i = 0; e && i < e->n_xattrs; i++)
		if (strcmp(e->xattrs[i].name, name) == 0)
			return e->xattrs[i].len == len && memcmp(e->xattrs[i].value, v, len) == 0;
	return false;
}

static bool content_is(const cairn_entry *e, const void *data, size_t len)
{
	void *got = NULL;
	size_t glen = 0;
	if (!e || !e->has_content || cairn_content_read_all(s, &e->content, &got, &glen) < 0)
		return false;
	bool same = glen == len && memcmp(got, data, len) == 0;
	free(got);
	return same;
}

static void check_types(cairn_layer *l)
{
	const cairn_entry *e = get(l, "");
	ok(e && e->type == CAIRN_ENTRY_DIR && e->mtime_sec == 1700000000 &&
	       e->mtime_nsec == 123456789,
	   "root from \"./\" with nanosecond mtime");
	e = get(l, "etc/hello");
	ok(e && e->type == CAIRN_ENTRY_REG && e->mode == 0644 && e->uid == 1000 && e->gid == 1000 &&
	       e->size == 13 && e->mtime_nsec == 5 && content_is(e, "hello, world\n", 13),
	   "regular file: metadata and content");
	const cairn_entry *h1 = get(l, "etc/hard"), *h2 = get(l, "etc/hard2");
	ok(e && h1 && h2 && e->nlink_group && h1->nlink_group == e->nlink_group &&
	       h2->nlink_group == e->nlink_group && h2->has_content &&
	       memcmp(&h2->content, &e->content, sizeof(e->content)) == 0,
	   "hardlink and hardlink-to-hardlink share the group and content");
	e = get(l, "etc/link");
	ok(e && e->type == CAIRN_ENTRY_SYMLINK && strcmp(e->link, "hello") == 0, "symlink");
	e = get(l, "etc/shadow");
	ok(e && e->type == CAIRN_ENTRY_WHITEOUT && e->mtime_sec == 42, "whiteout etc/shadow");
	e = get(l, "etc/empty");
	ok(e && e->type == CAIRN_ENTRY_REG && !e->has_content && e->size == 0 && e->mode == 0600,
	   "empty file has no content");
	e = get(l, "dev/null");
	ok(e && e->type == CAIRN_ENTRY_CHR && e->rdev == makedev(1, 3) && e->mode == 0666,
	   "character device");
	e = get(l, "dev/sda");
	ok(e && e->type == CAIRN_ENTRY_BLK && e->rdev == makedev(8, 0) && e->gid == 6,
	   "block device");
	e = get(l, "run/fifo");
	ok(e && e->type == CAIRN_ENTRY_FIFO && e->mode == 0600, "fifo");
	e = get(l, "tmp");
	ok(e && e->mode == 01777 && e->mtime_sec == -1, "sticky directory, negative mtime");
	e = get(l, "usr/bin/sgid");
	ok(e && e->mode == 02711 && e->uid == 4000000000u && e->gid == 3000000000u,
	   "setgid, 32-bit ids");
}

static void check_attrs(cairn_layer *l)
{
	const cairn_entry *e = get(l, "usr/bin/ping");
	ok(e && e->mode == 04755 && has_xattr(e, "security.capability", fx_cap, sizeof(fx_cap)),
	   "setuid with security.capability");
	ok(has_xattr(e, "user.note", "a\nb\0c", 5), "binary xattr value");
	ok(e && e->n_xattrs == 2 && strcmp(e->xattrs[0].name, "security.capability") == 0,
	   "xattrs sorted, duplicates of libarchive's two forms merged");
	e = get(l, "usr/share/acl");
	ok(has_xattr(e, "system.posix_acl_access", fx_acl, sizeof(fx_acl)), "POSIX ACL xattr");
	ok(get(l, "names/caf\xc3\xa9 na\xc3\xafve.txt") != NULL, "UTF-8 and spaces in a name");
	ok(get(l, "names/new\nline") != NULL, "newline in a name");
	ok(get(l, "names/bad\xff") != NULL, "invalid UTF-8 in a name");
	e = get(l, "names/with space");
	ok(e && e->type == CAIRN_ENTRY_DIR && e->mode == 0700, "directory with a space");
	e = get(l, fx_long_name());
	ok(e && content_is(e, "x", 1), "255-byte name");
	e = get(l, fx_deep_path());
	ok(e && content_is(e, "deep", 4), "path of %zu bytes", strlen(fx_deep_path()));
	e = get(l, "big");
	ok(e && e->size == FX_BIG_LEN && content_is(e, fx_big(), FX_BIG_LEN), "1 MiB file content");
	e = get(l, "var/cache");
	ok(e && e->opaque && e->mtime_sec == 77, "opaque directory (marker before the dir)");
	ok(get(l, "var/cache/new") != NULL, "entry inside the opaque dir");
	e = get(l, "var/lib");
	ok(e && e->opaque && e->type == CAIRN_ENTRY_DIR && e->mode == 0755 && e->mtime_sec == 0,
	   "opaque marker without a dir entry: synthesized dir");
	ok(!cairn_layer_lookup(l, "var/cache/.wh..wh..opq"), "no entry for the marker itself");
	e = get(l, "etc");
	ok(e && !e->opaque, "plain directory is not opaque");
}

static void check_sparse(cairn_layer *l)
{
	const cairn_entry *e = get(l, "sparse");
	ok(e && e->size == FX_SPARSE_SIZE, "sparse: logical size 1 GiB");
	if (!e || !e->has_content)
		return;
	uint64_t size = 0, data = 0;
	cairn_content_stat(s, &e->content, &size, &data);
	ok(size == FX_SPARSE_SIZE && data == 8192, "sparse: 8 KiB of data stored (%llu)",
	   (unsigned long long) data);
	cairn_content *c = NULL;
	uint8_t b[4096];
	cairn_content_open(s, &e->content, &c);
	bool good = c && cairn_content_pread(c, b, 4096, 512 << 20) == 4096 && b[0] == 's' &&
		    b[4095] == 's' && cairn_content_pread(c, b, 4096, 4096) == 4096 && b[0] == 0;
	ok(good, "sparse: data where it was, zeros in the hole");
	cairn_content_free(c);
}

static void test_fixture(void)
{
	bytebuf tar;
	fx_build(&tar, true);
	struct cairn_tar_import_result res;
	char *msg = NULL;
	struct cairn_store_usage u0, u1;
	cairn_store_usage(s, &u0);
	int r = import_mem(s, tar.data, tar.len, 0, &res, &msg);
	is_int(r, 0, "import the fixture: %s", msg ? msg : "ok");
	free(msg);
	cairn_store_usage(s, &u1);
	ok(u1.chunk_bytes - u0.chunk_bytes < 2 * FX_BIG_LEN,
	   "store grew by %llu bytes for a 1 GiB sparse file and 1 MiB of data",
	   (unsigned long long) (u1.chunk_bytes - u0.chunk_bytes));
	cairn_digest d;
	cairn_sha256(tar.data, tar.len, &d);
	ok(memcmp(&d, &res.diff_id, sizeof(d)) == 0 && res.diff_size == tar.len, "diff_id");
	ok(memcmp(&d, &res.blob_digest, sizeof(d)) == 0 && res.compression == CAIRN_COMPRESS_NONE,
	   "blob digest of a plain tar is its diff_id");
	cairn_layer *l = NULL;
	if (r < 0 || cairn_layer_open(s, &res.layer, &l, NULL) < 0) {
		buf_clear(&tar);
		return;
	}
	is_int(cairn_layer_count(l), FX_ENTRIES(true), "entry count");
	check_types(l);
	check_attrs(l);
	check_sparse(l);
	cairn_layer_free(l);

	/* the same bytes read in 1-byte pieces: the same layer */
	struct cairn_tar_import_result res2;
	r = import_mem(s, tar.data, tar.len, 1, &res2, NULL);
	ok(r == 0 && memcmp(&res.layer, &res2.layer, sizeof(res.layer)) == 0,
	   "1-byte reads give the same layer");
	buf_clear(&tar);
}

static int compress_buf(cairn_compression c, const bytebuf *in, bytebuf *out)
{
	cairn_writer *sink = cairn_writer_fn(mem_write, out), *cw = NULL;
	int r = cairn_writer_compress(sink, c, 0, &cw);
	if (r >= 0)
		r = cairn_writer_write(cw, in->data, in->len);
	if (r >= 0)
		r = cairn_writer_close(cw);
	cairn_writer_free(cw);
	cairn_writer_free(sink);
	return r;
}

static void test_compressed(void)
{
	bytebuf tar;
	fx_build(&tar, false);
	struct cairn_tar_import_result plain, res;
	is_int(import_mem(s, tar.data, tar.len, 0, &plain, NULL), 0, "plain import");
	cairn_compression cs[] = {CAIRN_COMPRESS_GZIP, CAIRN_COMPRESS_ZSTD};
	for (size_t i = 0; i < ARRAY_SIZE(cs); i++) {
		const char *name = cairn_compression_name(cs[i]);
		bytebuf z = {0};
		compress_buf(cs[i], &tar, &z);
		cairn_batch *b;
		cairn_error *err = NULL;
		struct mem_in in = {z.data, z.len, 0, 1000};
		struct cairn_tar_import_options o = {.name = "layer.tar.z", .keep_blob = true};
		cairn_batch_new(s, &b);
		int r = cairn_layer_import_tar(b, mem_read, &in, &o, &res, &err);
		if (r >= 0)
			r = cairn_batch_commit(b, &err);
		cairn_batch_free(b);
		is_int(r, 0, "%s import: %s", name, err ? err->msg : "ok");
		cairn_error_free(err);
		ok(memcmp(&res.layer, &plain.layer, sizeof(res.layer)) == 0,
		   "%s: same layer id as the plain tar", name);
		ok(memcmp(&res.diff_id, &plain.diff_id, sizeof(res.diff_id)) == 0 &&
		       res.diff_size == tar.len,
		   "%s: same diff_id", name);
		cairn_digest d;
		cairn_sha256(z.data, z.len, &d);
		ok(memcmp(&d, &res.blob_digest, sizeof(d)) == 0 && res.blob_size == z.len,
		   "%s: blob digest is the compressed bytes' sha256", name);
		is_int(res.compression, cs[i], "%s: compression detected", name);
		void *blob = NULL;
		size_t blen = 0;
		cairn_content_read_all(s, &res.blob_content, &blob, &blen);
		ok(blen == z.len && memcmp(blob, z.data, blen) == 0, "%s: kept blob is the input",
		   name);
		free(blob);
		buf_clear(&z);
	}
	buf_clear(&tar);
}

/* GNU tar's own sparse formats: old GNU, PAX 0.0, 0.1 and 1.0. */
static void test_gnu_sparse(void)
{
	char *out = NULL;
	if (run_cmd("tar --version", &out) != 0) {
		free(out);
		ok(1, "# SKIP no GNU tar");
		return;
	}
	free(out);
	char cmd[8192];
	const char *dir = tap_tmpdir();
	snprintf(cmd, sizeof(cmd),
		 "mkdir -p '%s/sp' && cd '%s/sp' && truncate -s 64M f && "
		 "printf 'first' | dd of=f conv=notrunc status=none && "
		 "printf 'middle' | dd of=f bs=1 seek=33554432 conv=notrunc status=none",
		 dir, dir);
	if (run_cmd(cmd, &out) != 0) {
		tap_diag("%s", out);
		free(out);
		ok(0, "making a sparse file");
		return;
	}
	free(out);
	const char *formats[] = {"--format=gnu", "--format=posix --sparse-version=0.0",
				 "--format=posix --sparse-version=0.1",
				 "--format=posix --sparse-version=1.0"};
	cairn_id first = {{0}};
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
		snprintf(cmd, sizeof(cmd), "cd '%s/sp' && tar --sparse %s -cf ../sp.tar f", dir,
			 formats[i]);
		char *data = NULL;
		size_t len = 0;
		char path[4200];
		snprintf(path, sizeof(path), "%s/sp.tar", dir);
		if (run_cmd(cmd, &out) != 0 || read_file(path, 1 << 26, &data, &len) < 0) {
			ok(0, "tar %s: %s", formats[i], out);
			free(out);
			continue;
		}
		free(out);
		struct cairn_tar_import_result res;
		char *msg = NULL;
		int r = import_mem(s, data, len, 0, &res, &msg);
		is_int(r, 0, "import tar %s (%zu bytes): %s", formats[i], len, msg ? msg : "ok");
		free(msg);
		free(data);
		cairn_layer *l = NULL;
		if (r < 0 || cairn_layer_open(s, &res.layer, &l, NULL) < 0)
			continue;
		const cairn_entry *e = cairn_layer_lookup(l, "f");
		uint64_t size = 0, dbytes = 0;
		if (e && e->has_content)
			cairn_content_stat(s, &e->content, &size, &dbytes);
		ok(e && e->size == 64 << 20 && size == 64 << 20 && dbytes <= 65536,
		   "%s: 64 MiB file, %llu data bytes", formats[i], (unsigned long long) dbytes);
		uint8_t b[8] = {0};
		cairn_content *c = NULL;
		if (e && e->has_content && cairn_content_open(s, &e->content, &c) >= 0) {
			cairn_content_pread(c, b, 6, 33554432);
			cairn_content_free(c);
		}
		ok(memcmp(b, "middle", 6) == 0, "%s: data in the middle", formats[i]);
		if (i == 0)
			first = e ? e->content : first;
		else
			ok(e && memcmp(&first, &e->content, sizeof(first)) == 0,
			   "%s: same content id as the GNU format", formats[i]);
		cairn_layer_free(l);
	}
}

/* OCI: a whiteout only hides what is below, so with an entry of the same
 * path in the same archive the two merge. */
static void test_merges(void)
{
	struct tb t;
	tb_open(&t, ARCHIVE_FORMAT_TAR_USTAR);
	struct tb_entry list[] = {
	    {.path = ".wh.a", .type = AE_IFREG},
	    {.path = "a/", .type = AE_IFDIR, .mode = 0750},
	    {.path = "b", .type = AE_IFREG, .data = "b", .len = 1},
	    {.path = ".wh.b", .type = AE_IFREG},
	    {.path = "c/x", .type = AE_IFREG},
	    {.path = ".wh.c", .type = AE_IFREG},
	    {.path = "./.wh..wh..opq", .type = AE_IFREG},
	};
	for (size_t i = 0; i < ARRAY_SIZE(list); i++)
		tb_add(&t, &list[i]);
	tb_close(&t);
	struct cairn_tar_import_result res;
	char *msg = NULL;
	int r = import_mem(s, t.out.data, t.out.len, 0, &res, &msg);
	is_int(r, 0, "import whiteouts next to entries: %s", msg ? msg : "ok");
	free(msg);
	buf_clear(&t.out);
	cairn_layer *l = NULL;
	if (r < 0 || cairn_layer_open(s, &res.layer, &l, NULL) < 0)
		return;
	const cairn_entry *e = get(l, "a");
	ok(e && e->type == CAIRN_ENTRY_DIR && e->opaque && e->mode == 0750,
	   "whiteout + directory = opaque directory");
	e = get(l, "b");
	ok(e && e->type == CAIRN_ENTRY_REG, "entry + whiteout = the entry");
	e = get(l, "c");
	ok(e && e->type == CAIRN_ENTRY_DIR && e->opaque, "whiteout over new children = opaque dir");
	e = get(l, "");
	ok(e && e->opaque && e->type == CAIRN_ENTRY_DIR, "opaque root");
	is_int(cairn_layer_count(l), 5, "five entries");
	cairn_layer_free(l);
}

static void test_empty_inputs(void)
{
	struct cairn_tar_import_result res;
	char *msg = NULL;
	is_int(import_mem(s, "", 0, 0, &res, &msg), 0, "empty input is an empty layer");
	free(msg);
	struct cairn_layer_info info;
	ok(cairn_layer_info(s, &res.layer, &info) == 0 && info.entries == 0, "no entries");
	static uint8_t zeros[10240];
	is_int(import_mem(s, zeros, sizeof(zeros), 0, &res, &msg), 0,
	       "end-of-archive blocks only: %s", msg ? msg : "ok");
	free(msg);
	is_int(res.diff_size, sizeof(zeros), "record padding counted in diff_size");
}

/* The root directory itself written as "/" (umoci insert SRC /), "/.",
 * "//" or "./" is the root entry; the canonical export names it "./". */
static void test_root_names(void)
{
	static const char *const roots[] = {"/", "/.", "//", "/./", "./", "."};
	for (size_t i = 0; i < ARRAY_SIZE(roots); i++) {
		struct tb t;
		tb_open(&t, i % 2 ? ARCHIVE_FORMAT_TAR_PAX_RESTRICTED : ARCHIVE_FORMAT_TAR_USTAR);
		struct tb_entry list[] = {
		    {.path = roots[i], .type = AE_IFDIR, .mode = 0710, .uid = 7, .mtime = 1234},
		    {.path = "etc/", .type = AE_IFDIR, .mode = 0755},
		    {.path = "etc/x", .type = AE_IFREG, .data = "hi\n", .len = 3},
		};
		for (size_t k = 0; k < ARRAY_SIZE(list); k++)
			tb_add(&t, &list[k]);
		tb_close(&t);
		struct cairn_tar_import_result res;
		char *msg = NULL;
		int r = import_mem(s, t.out.data, t.out.len, 0, &res, &msg);
		is_int(r, 0, "root written as \"%s\" imports: %s", roots[i], msg ? msg : "ok");
		free(msg);
		buf_clear(&t.out);
		cairn_layer *l = NULL;
		if (r < 0 || cairn_layer_open(s, &res.layer, &l, NULL) < 0)
			continue;
		const cairn_entry *e = get(l, "");
		ok(e && e->type == CAIRN_ENTRY_DIR && e->mode == 0710 && e->uid == 7 &&
		       e->mtime_sec == 1234,
		   "\"%s\": the root entry with its metadata", roots[i]);
		is_int(cairn_layer_count(l), 3, "\"%s\": three entries", roots[i]);
		cairn_layer_free(l);
		bytebuf out = {0};
		struct archive *a = archive_read_new();
		struct archive_entry *ae;
		archive_read_support_format_tar(a);
		ok(export_mem(s, &res.layer, -1, &out) >= 0 &&
		       archive_read_open_memory(a, out.data, out.len) == ARCHIVE_OK &&
		       archive_read_next_header(a, &ae) == ARCHIVE_OK &&
		       strcmp(archive_entry_pathname(ae), "./") == 0 &&
		       archive_entry_filetype(ae) == AE_IFDIR && archive_entry_perm(ae) == 0710,
		   "\"%s\": the canonical export names the root \"./\"", roots[i]);
		archive_read_free(a);
		buf_clear(&out);
	}
}

int main(void)
{
	s = test_store("store");
	test_fixture();
	test_compressed();
	test_gnu_sparse();
	test_merges();
	test_root_names();
	test_empty_inputs();
	is_int(fsck_problems(s), 0, "fsck clean");
	cairn_store_free(s);
	return tap_done();
}
