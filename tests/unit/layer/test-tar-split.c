/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tar-split: an imported tar stream comes back byte for byte from the
 * store.  Archives from GNU tar (every format, sparse, xattrs, ACLs, long
 * names, hardlinks, devices, FIFOs), bsdtar, Python's tarfile and
 * libarchive, with record padding, extra trailing bytes and compression,
 * read in odd slice sizes; a 64 MiB file with bounded memory; hostile
 * archives still refused; damaged splits detected; mark and check.
 */
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "layer-test.h"
#include "tar-fixture.h"

static cairn_store *s;
static bool is_root;

/* ---- helpers ---------------------------------------------------------------- */

static int replay(const cairn_id *split, bytebuf *out, cairn_error **err)
{
	cairn_writer *w = cairn_writer_fn(mem_write, out);
	int r = w ? cairn_tar_split_write(s, split, w, err) : -ENOMEM;
	cairn_writer_free(w);
	return r;
}

/* Imports with a tar-split (slices of `chunk` bytes), checks the replay
 * before and after the commit.  plain: the uncompressed stream (NULL: the
 * input itself). */
static bool split_roundtrip(const char *what, const void *data, size_t len, size_t chunk,
			    const void *plain, size_t plain_len,
			    struct cairn_tar_import_result *ret)
{
	cairn_batch *b = NULL;
	cairn_error *err = NULL;
	struct mem_in in = {data, len, 0, chunk};
	struct cairn_tar_import_options o = {.name = what, .tar_split = true};
	struct cairn_tar_import_result res = {0};
	bytebuf staged = {0}, out = {0};
	if (!plain) {
		plain = data;
		plain_len = len;
	}
	int r = cairn_batch_new(s, &b);
	if (r >= 0)
		r = cairn_layer_import_tar(b, mem_read, &in, &o, &res, &err);
	if (r >= 0 && res.has_tar_split) {
		cairn_writer *w = cairn_writer_fn(mem_write, &staged);
		r = cairn_tar_split_write_staged(b, &res.tar_split, w, &err);
		cairn_writer_free(w);
	}
	if (r >= 0)
		r = cairn_batch_commit(b, &err);
	cairn_batch_free(b);
	if (r >= 0)
		r = replay(&res.tar_split, &out, &err);
	bool good = r >= 0 && res.has_tar_split && !res.has_blob_content && out.len == plain_len &&
		    staged.len == out.len && res.diff_size == plain_len &&
		    (plain_len == 0 || (memcmp(out.data, plain, plain_len) == 0 &&
					memcmp(staged.data, out.data, out.len) == 0));
	ok(good, "%s (%zu bytes, slices %zu): replay is the input", what, plain_len, chunk);
	if (!good)
		tap_diag("r=%d %s; replay %zu bytes, staged %zu", r,
			 err && err->msg ? err->msg : "", out.len, staged.len);
	if (good && ret)
		*ret = res;
	cairn_error_free(err);
	buf_clear(&staged);
	buf_clear(&out);
	return good;
}

static char *tmp_path(const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", tap_tmpdir(), name) < 0)
		abort();
	return p;
}

static bool slurp(const char *name, bytebuf *out)
{
	_cleanup_free_ char *path = tmp_path(name);
	char *data = NULL;
	size_t len = 0;
	if (read_file(path, 1 << 28, &data, &len) < 0)
		return false;
	*out = (bytebuf){(uint8_t *) data, len, len};
	return true;
}

static bool sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool sh(const char *fmt, ...)
{
	_cleanup_free_ char *cmd = NULL, *full = NULL, *out = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (n < 0 || asprintf(&full, "cd '%s' && %s", tap_tmpdir(), cmd) < 0)
		abort();
	int st = run_cmd(full, &out);
	if (st != 0)
		tap_diag("`%s` failed (%d): %.500s", cmd, st, out);
	return st == 0;
}

/* Runs a command that writes NAME in the temporary directory, then checks
 * the archive's replay with several slice sizes. */
static void check_cmd(const char *name, const size_t *chunks, size_t n_chunks, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void check_cmd(const char *name, const size_t *chunks, size_t n_chunks, const char *fmt, ...)
{
	_cleanup_free_ char *cmd = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	bytebuf tar = {0};
	if (n < 0 || !sh("rm -f '%s' && %s", name, cmd) || !slurp(name, &tar)) {
		ok(0, "%s: making the archive", name);
		return;
	}
	for (size_t i = 0; i < n_chunks; i++)
		split_roundtrip(name, tar.data, tar.len, chunks[i], NULL, 0, NULL);
	buf_clear(&tar);
}

/* ---- the tree ----------------------------------------------------------------- */

static const char tree_script[] =
    "set -e; rm -rf tree tree2; mkdir -p tree/sub tree2/sub; cd tree; "
    "printf 'hello\\n' > a.txt; head -c 300000 /dev/urandom > rand.bin; ln rand.bin hard.bin; "
    "head -c 511 /dev/urandom > odd511; head -c 512 /dev/urandom > even512; "
    "L=$(printf '%%0150d' 0 | tr 0 x); mkdir \"$L\"; "
    "printf long > \"$L/$(printf '%%0200d' 0 | tr 0 y)\"; "
    "D=\"$L/$(printf '%%0120d' 0 | tr 0 z)/$(printf '%%0120d' 0 | tr 0 w)\"; mkdir -p \"$D\"; "
    "printf deeper > \"$D/f\"; ln \"$D/f\" \"$L/hard-to-deep\"; "
    "truncate -s 10M sparse.img; "
    "dd if=/dev/urandom of=sparse.img bs=4096 count=3 seek=100 conv=notrunc status=none; "
    "dd if=/dev/urandom of=sparse.img bs=4096 count=1 seek=2000 conv=notrunc status=none; "
    "truncate -s 1M holeend.img; printf start | dd of=holeend.img conv=notrunc status=none; "
    "mkfifo fifo; ln -s a.txt link; : > empty; : > sub/.keep; : > .wh.gone; "
    "printf 'caf\\303\\251' > 'caf\\303\\251 na\\303\\257ve'; "
    "(setfattr -n user.test -v value a.txt && setfattr -n user.bin -v 0x00ff rand.bin) "
    "2>/dev/null || true; setfacl -m u:1234:rw a.txt 2>/dev/null || true; "
    "if [ $(id -u) = 0 ]; then mknod cdev c 1 3; mknod bdev b 7 0; fi; "
    "cd ../tree2; printf 'hi\\n' > a; head -c 70000 /dev/urandom > r; ln r h; ln -s a l; "
    "mkfifo p; : > sub/e; if [ $(id -u) = 0 ]; then mknod c c 1 5; fi";

static const size_t any[] = {0}, sliced[] = {0, 511, 4099}, all_slices[] = {0, 1, 513, 7777};

static void test_gnu_tar(void)
{
	const char *fmts[] = {"gnu", "oldgnu", "pax", "posix"};
	for (size_t i = 0; i < ARRAY_SIZE(fmts); i++) {
		const char *xa = strcmp(fmts[i], "pax") == 0 || strcmp(fmts[i], "posix") == 0
				     ? "--xattrs --acls"
				     : "";
		char name[64];
		snprintf(name, sizeof(name), "gnu-%s.tar", fmts[i]);
		check_cmd(name, sliced, ARRAY_SIZE(sliced),
			  "tar %s --sparse --format=%s -cf %s -C tree .", xa, fmts[i], name);
		snprintf(name, sizeof(name), "gnu-%s-dense.tar", fmts[i]);
		check_cmd(name, any, 1, "tar %s --format=%s -cf %s -C tree .", xa, fmts[i], name);
	}
	const char *sv[] = {"0.0", "0.1", "1.0"};
	for (size_t i = 0; i < ARRAY_SIZE(sv); i++) {
		char name[64];
		snprintf(name, sizeof(name), "gnu-sparse-%s.tar", sv[i]);
		check_cmd(name, sliced, ARRAY_SIZE(sliced),
			  "tar --sparse --sparse-version=%s --format=posix -cf %s -C tree .", sv[i],
			  name);
	}
	check_cmd("gnu-ustar.tar", all_slices, ARRAY_SIZE(all_slices),
		  "tar --format=ustar -cf gnu-ustar.tar -C tree2 .");
	check_cmd("gnu-v7.tar", sliced, ARRAY_SIZE(sliced),
		  "tar --format=v7 -cf gnu-v7.tar -C tree2 --exclude=./c --exclude=./p .");
	check_cmd("gnu-b1.tar", sliced, ARRAY_SIZE(sliced),
		  "tar --format=gnu -b 1 -cf gnu-b1.tar -C tree .");
	check_cmd("gnu-numeric.tar", any, 1,
		  "tar --format=pax --numeric-owner --owner=4000000000 --group=77 "
		  "--mtime=@-123456789.5 -cf gnu-numeric.tar -C tree2 .");
}

static void test_bsdtar(void)
{
	char *out = NULL;
	int st = run_cmd("bsdtar --version", &out);
	free(out);
	if (st != 0) {
		ok(1, "# SKIP bsdtar is not installed (libarchive-tools)");
		return;
	}
	check_cmd("bsd.tar", sliced, ARRAY_SIZE(sliced), "bsdtar -cf bsd.tar -C tree .");
	check_cmd("bsd-pax.tar", sliced, ARRAY_SIZE(sliced),
		  "bsdtar --format=pax -cf bsd-pax.tar -C tree .");
	check_cmd("bsd-gnu.tar", any, 1, "bsdtar --format=gnutar -cf bsd-gnu.tar -C tree .");
	check_cmd("bsd-ustar.tar", sliced, ARRAY_SIZE(sliced),
		  "bsdtar --format=ustar -cf bsd-ustar.tar -C tree2 .");
}

static const char py_script[] =
    "import io, sys, tarfile\n"
    "fmt = {'gnu': tarfile.GNU_FORMAT, 'pax': tarfile.PAX_FORMAT,\n"
    "       'ustar': tarfile.USTAR_FORMAT}[sys.argv[1]]\n"
    "with tarfile.open(sys.argv[2], 'w', format=fmt) as t:\n"
    "    t.add(sys.argv[3], arcname='.')\n"
    "    if fmt != tarfile.USTAR_FORMAT:\n"
    "        ti = tarfile.TarInfo('long/' + 'n' * 180 + '/' + 'm' * 120)\n"
    "        data = b'abc' * 1000\n"
    "        ti.size = len(data)\n"
    "        t.addfile(ti, io.BytesIO(data))\n"
    "        ti = tarfile.TarInfo('link-' + 'k' * 120)\n"
    "        ti.type = tarfile.SYMTYPE\n"
    "        ti.linkname = 't' * 150\n"
    "        t.addfile(ti)\n"
    "    if fmt == tarfile.PAX_FORMAT:\n"
    "        ti = tarfile.TarInfo('pax/\\u00fcn\\u00efcode')\n"
    "        ti.pax_headers = {'comment': 'x' * 600, 'SCHILY.xattr.user.k': 'v'}\n"
    "        ti.size = 3\n"
    "        ti.mtime = 1700000000.25\n"
    "        t.addfile(ti, io.BytesIO(b'xyz'))\n";

static void test_python(void)
{
	char *out = NULL;
	int st = run_cmd("python3 -c 'import tarfile'", &out);
	free(out);
	if (st != 0) {
		ok(1, "# SKIP no python3");
		return;
	}
	_cleanup_free_ char *py = tmp_path("mk.py");
	if (write_file_atomic(py, py_script, strlen(py_script), 0644) < 0) {
		ok(0, "writing mk.py");
		return;
	}
	check_cmd("py-gnu.tar", sliced, ARRAY_SIZE(sliced), "python3 mk.py gnu py-gnu.tar tree");
	check_cmd("py-pax.tar", sliced, ARRAY_SIZE(sliced), "python3 mk.py pax py-pax.tar tree");
	check_cmd("py-ustar.tar", any, 1, "python3 mk.py ustar py-ustar.tar tree2");
}

/* Record padding, extra zeros, bytes after the end, no end blocks. */
static void test_trailing(void)
{
	bytebuf tar = {0};
	if (!sh("tar --format=gnu -cf pad.tar -C tree2 .") || !slurp("pad.tar", &tar)) {
		ok(0, "making pad.tar");
		return;
	}
	ok(tar.len % 10240 == 0, "GNU tar pads to 10240 bytes (%zu)", tar.len);
	split_roundtrip("padded to 10240", tar.data, tar.len, 0, NULL, 0, NULL);
	bytebuf v = {0};
	buf_append(&v, tar.data, tar.len);
	uint8_t zeros[4096] = {0};
	buf_append(&v, zeros, sizeof(zeros));
	split_roundtrip("4096 extra zeros", v.data, v.len, 1000, NULL, 0, NULL);
	buf_append(&v, "trailing garbage\n", 17);
	cairn_batch *b = NULL;
	struct mem_in in = {v.data, v.len, 0, 0};
	struct cairn_tar_import_options o = {.name = "garbage", .tar_split = true};
	struct cairn_tar_import_result res;
	cairn_batch_new(s, &b);
	int r = cairn_layer_import_tar(b, mem_read, &in, &o, &res, NULL);
	cairn_batch_free(b);
	if (r >= 0)
		split_roundtrip("bytes after the end blocks", v.data, v.len, 0, NULL, 0, NULL);
	else
		ok(1, "bytes after the end blocks: refused (%s)", cairn_strerror(r));
	/* only the data: the end blocks and the padding cut off */
	size_t end = tar.len;
	while (end >= 512 && memcmp(tar.data + end - 512, zeros, 512) == 0)
		end -= 512;
	split_roundtrip("no end-of-archive blocks", tar.data, end, 0, NULL, 0, NULL);
	split_roundtrip("one end block", tar.data, end + 512, 0, NULL, 0, NULL);
	split_roundtrip("empty input", "", 0, 0, NULL, 0, NULL);
	split_roundtrip("only zeros", zeros, 1024, 0, NULL, 0, NULL);
	buf_clear(&v);
	buf_clear(&tar);
}

static void test_libarchive(void)
{
	bytebuf tar = {0};
	fx_build(&tar, false);
	split_roundtrip("libarchive pax fixture", tar.data, tar.len, 0, NULL, 0, NULL);
	split_roundtrip("libarchive pax fixture", tar.data, tar.len, 333, NULL, 0, NULL);
	buf_clear(&tar);
	fx_build(&tar, true);
	split_roundtrip("libarchive fixture with a 1 GiB sparse file", tar.data, tar.len, 0, NULL,
			0, NULL);
	buf_clear(&tar);
	struct tb t;
	tb_open(&t, ARCHIVE_FORMAT_TAR_GNUTAR);
	struct tb_entry e[] = {
	    {.path = fx_long_name(), .type = AE_IFREG, .data = "x", .len = 1},
	    {.path = fx_deep_path(), .type = AE_IFREG, .data = "deep", .len = 4},
	    {.path = "l", .type = AE_IFLNK, .link = fx_long_name()},
	};
	for (size_t i = 0; i < ARRAY_SIZE(e); i++)
		tb_add(&t, &e[i]);
	tb_close(&t);
	split_roundtrip("libarchive GNU long names", t.out.data, t.out.len, 0, NULL, 0, NULL);
	buf_clear(&t.out);
}

/* Compressed input: the split reproduces the plain stream; with keep_blob
 * as well, compressed input keeps its blob and plain input its split. */
static void test_compressed(void)
{
	bytebuf tar = {0}, gz = {0}, zst = {0};
	if (!sh("tar --format=pax -cf c.tar -C tree . && gzip -n -c c.tar > c.tar.gz && "
		"zstd -q -c c.tar > c.tar.zst") ||
	    !slurp("c.tar", &tar) || !slurp("c.tar.gz", &gz) || !slurp("c.tar.zst", &zst)) {
		ok(0, "making compressed archives");
		return;
	}
	struct cairn_tar_import_result rp, rg, rz;
	split_roundtrip("c.tar", tar.data, tar.len, 0, NULL, 0, &rp);
	split_roundtrip("c.tar.gz", gz.data, gz.len, 0, tar.data, tar.len, &rg);
	split_roundtrip("c.tar.zst", zst.data, zst.len, 4097, tar.data, tar.len, &rz);
	ok(memcmp(&rp.tar_split, &rg.tar_split, sizeof(rp.tar_split)) == 0 &&
	       memcmp(&rp.tar_split, &rz.tar_split, sizeof(rp.tar_split)) == 0 &&
	       memcmp(&rp.layer, &rz.layer, sizeof(rp.layer)) == 0,
	   "plain, gzip and zstd input: same split and layer");
	const bytebuf *in[] = {&tar, &gz};
	for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
		cairn_batch *b = NULL;
		struct mem_in m = {in[i]->data, in[i]->len, 0, 0};
		struct cairn_tar_import_options o = {
		    .name = "both", .keep_blob = true, .tar_split = true};
		struct cairn_tar_import_result res = {0};
		cairn_batch_new(s, &b);
		int r = cairn_layer_import_tar(b, mem_read, &m, &o, &res, NULL);
		if (r >= 0)
			r = cairn_batch_commit(b, NULL);
		cairn_batch_free(b);
		bool plain = i == 0;
		ok(r >= 0 && res.has_tar_split == plain && res.has_blob_content == !plain,
		   "keep_blob + tar_split, %s input: %s kept", plain ? "plain" : "gzip",
		   plain ? "only the split" : "only the blob");
		void *blob = NULL;
		size_t blen = 0;
		if (!plain && r >= 0)
			cairn_content_read_all(s, &res.blob_content, &blob, &blen);
		if (!plain)
			ok(blen == gz.len && memcmp(blob, gz.data, blen) == 0,
			   "the kept blob is the gzip input (detection bytes included)");
		free(blob);
	}
	buf_clear(&tar);
	buf_clear(&gz);
	buf_clear(&zst);
}

/* ---- memory: a 64 MiB file ------------------------------------------------------------ */

struct child_import {
	int r;
	long maxrss_kb;
	struct cairn_tar_import_result res;
	char msg[256];
};

/* Imports a tar file (streamed from its fd) in a child process with its
 * own store handle, so that the child's peak RSS is the import's. */
static struct child_import import_in_child(const char *store, const char *tar, bool split)
{
	struct child_import ci = {.r = -EIO};
	int p[2];
	if (pipe(p) < 0)
		return ci;
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		_cleanup_free_ char *root = tmp_path(store), *path = tmp_path(tar);
		cairn_store *cs = NULL;
		cairn_batch *b = NULL;
		cairn_error *err = NULL;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		struct cairn_tar_import_options o = {.name = tar, .tar_split = split};
		ci.r = cairn_store_open(root, NULL, &cs, &err);
		if (ci.r >= 0)
			ci.r = cairn_batch_new(cs, &b);
		if (ci.r >= 0)
			ci.r = cairn_layer_import_tar(b, cairn_read_fd, (void *) (intptr_t) fd, &o,
						      &ci.res, &err);
		if (ci.r >= 0)
			ci.r = cairn_batch_commit(b, &err);
		cairn_batch_free(b);
		cairn_store_free(cs);
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		ci.maxrss_kb = ru.ru_maxrss;
		snprintf(ci.msg, sizeof(ci.msg), "%s", err && err->msg ? err->msg : "");
		_exit(write_all(p[1], &ci, sizeof(ci)) < 0); /* _exit: no atexit cleanup */
	}
	close(p[1]);
	if (pid < 0 || read_full(p[0], &ci, sizeof(ci)) != (ssize_t) sizeof(ci))
		ci.r = -EIO;
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return ci;
}

static void test_big(void)
{
	/* f: file data (dropped as it streams); .wh.w: a whiteout with data and s:
	 * a sparse file, both literal (streamed into the literal content) */
	if (!sh("mkdir -p big && head -c 64M /dev/urandom > big/f && printf x > big/g && "
		"head -c 16M /dev/urandom > big/.wh.w && truncate -s 64M big/s && "
		"head -c 8M /dev/urandom | dd of=big/s bs=1M seek=16 conv=notrunc status=none && "
		"tar --sparse --format=gnu -cf big.tar -C big . && sha256sum big.tar > big.sum")) {
		ok(0, "making big.tar");
		return;
	}
	/* each into a store of its own (no dedup against the other) */
	struct child_import plain = import_in_child("store-plain", "big.tar", false);
	struct child_import ci = import_in_child("store", "big.tar", true);
	struct cairn_tar_import_result *res = &ci.res;
	is_int(ci.r, 0, "big.tar (64 MiB file, 24 MiB literal): imported with a split %s", ci.msg);
	cairn_error *err = NULL;
	cairn_writer *dw = cairn_writer_digest(NULL);
	int r = cairn_tar_split_write(s, &res->tar_split, dw, &err);
	cairn_digest d;
	uint64_t size;
	cairn_writer_digest_result(dw, &d, &size);
	cairn_writer_free(dw);
	char hex[2 * CAIRN_DIGEST_LEN + 1], *sum = NULL;
	size_t slen;
	cairn_digest_hex(&d, hex);
	_cleanup_free_ char *sumpath = tmp_path("big.sum");
	read_file(sumpath, 4096, &sum, &slen);
	ok(r >= 0 && sum && strncmp(sum, hex, 64) == 0 &&
	       memcmp(&d, &res->diff_id, sizeof(d)) == 0 && size == res->diff_size,
	   "big.tar: replay hashes to sha256sum of the tar");
	free(sum);
	cairn_error_free(err);
	struct cairn_tar_split_info info;
	int problems = cairn_tar_split_check(s, &res->tar_split, report_line, NULL, &info);
	ok(problems == 0 && info.files == 2 && info.literal_bytes > (24u << 20) &&
	       info.literal_bytes < (24u << 20) + 64 * 1024 && info.size == res->diff_size,
	   "big.tar: %llu literal bytes (24 MiB of whiteout and sparse data), %llu files, "
	   "check clean",
	   (unsigned long long) info.literal_bytes, (unsigned long long) info.files);
	tap_diag("peak RSS of the import: %ld KiB with a split, %ld KiB without", ci.maxrss_kb,
		 plain.maxrss_kb);
#if defined(__SANITIZE_ADDRESS__)
	ok(1, "# SKIP peak RSS under AddressSanitizer");
#else
	ok(plain.r == 0 && ci.maxrss_kb < 100 * 1024, "big.tar: peak RSS %ld KiB < 100 MiB",
	   ci.maxrss_kb);
	ok(plain.r == 0 && ci.maxrss_kb < plain.maxrss_kb + 16 * 1024,
	   "big.tar: the split adds %ld KiB (< 16 MiB) to the peak RSS",
	   ci.maxrss_kb - plain.maxrss_kb);
#endif
}

/* ---- refusals, damage, mark ------------------------------------------------------------ */

static void test_hostile(void)
{
	bytebuf tar = {0};
	if (!sh("tar --format=gnu -cf h.tar -C tree2 .") || !slurp("h.tar", &tar)) {
		ok(0, "making h.tar");
		return;
	}
	const struct {
		const char *what;
		size_t len;
	} cuts[] = {{"cut in a header", 700}, {"cut in file data", 3 * 512 + 100}};
	for (size_t i = 0; i < ARRAY_SIZE(cuts); i++) {
		cairn_batch *b = NULL;
		cairn_error *err = NULL;
		struct mem_in in = {tar.data, MIN(cuts[i].len, tar.len), 0, 0};
		struct cairn_tar_import_options o = {.name = "cut.tar", .tar_split = true};
		struct cairn_tar_import_result res;
		cairn_batch_new(s, &b);
		int r = cairn_layer_import_tar(b, mem_read, &in, &o, &res, &err);
		cairn_batch_free(b);
		ok(r == CAIRN_E_FORMAT && err && err->msg, "%s: refused: %s", cuts[i].what,
		   err && err->msg ? err->msg : "?");
		cairn_error_free(err);
	}
	struct tb t;
	tb_open(&t, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	struct tb_entry bad[] = {
	    {.path = "ok", .type = AE_IFREG, .data = "ok", .len = 2},
	    {.path = "../escape", .type = AE_IFREG, .data = "x", .len = 1},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		tb_add(&t, &bad[i]);
	tb_close(&t);
	cairn_batch *b = NULL;
	cairn_error *err = NULL;
	struct mem_in in = {t.out.data, t.out.len, 0, 0};
	struct cairn_tar_import_options o = {.name = "bad.tar", .tar_split = true};
	struct cairn_tar_import_result res;
	cairn_batch_new(s, &b);
	int r = cairn_layer_import_tar(b, mem_read, &in, &o, &res, &err);
	cairn_batch_free(b);
	is_int(r, CAIRN_E_UNSAFE, "\"..\" still refused with a split");
	cairn_error_free(err);
	is_int(fsck_problems(s), 0, "store clean after the refusals");
	buf_clear(&t.out);
	buf_clear(&tar);
}

static int put_split(const void *data, size_t len, cairn_id *ret)
{
	cairn_batch *b = NULL;
	int r = cairn_batch_new(s, &b);
	if (r >= 0)
		r = cairn_batch_put_content(b, data, len, ret);
	if (r >= 0)
		r = cairn_batch_commit(b, NULL);
	cairn_batch_free(b);
	return r;
}

static void test_damage(void)
{
	/* a valid split of our own: literal "AB", file 3 bytes, literal "C" */
	cairn_batch *b = NULL;
	cairn_id lit, file, missing = {{0x42}};
	cairn_batch_new(s, &b);
	cairn_batch_put_content(b, "ABC", 3, &lit);
	cairn_batch_put_content(b, "xyz", 3, &file);
	cairn_batch_commit(b, NULL);
	cairn_batch_free(b);
	bytebuf good = {0};
	buf_put_u8(&good, 1);
	buf_append(&good, lit.b, 16);
	buf_put_varint(&good, 6);
	buf_put_varint(&good, 3);
	buf_put_varint(&good, 3);
	buf_put_varint(&good, 2 << 1);
	buf_put_varint(&good, 3 << 1 | 1);
	buf_append(&good, file.b, 16);
	buf_put_varint(&good, 1 << 1);
	cairn_id id;
	bytebuf out = {0};
	put_split(good.data, good.len, &id);
	int r = replay(&id, &out, NULL);
	ok(r == 0 && out.len == 6 && memcmp(out.data, "ABxyzC", 6) == 0,
	   "a hand-made split replays");
	is_int(cairn_tar_split_check(s, &id, report_line, NULL, NULL), 0, "and checks clean");
	buf_clear(&out);

	struct {
		const char *what;
		size_t off;
		uint8_t val;
		int want;
	} muts[] = {
	    {"unknown version", 0, 9, CAIRN_E_CORRUPT},
	    {"wrong stream size", 17, 7, CAIRN_E_CORRUPT},
	    {"wrong literal size", 18, 2, CAIRN_E_CORRUPT},
	    {"zero-length segment", 20, 0, CAIRN_E_CORRUPT},
	    {"file longer than its content", 21, 4 << 1 | 1, CAIRN_E_CORRUPT},
	};
	for (size_t i = 0; i < ARRAY_SIZE(muts); i++) {
		uint8_t *copy = malloc(good.len);
		memcpy(copy, good.data, good.len);
		copy[muts[i].off] = muts[i].val;
		cairn_error *err = NULL;
		put_split(copy, good.len, &id);
		r = replay(&id, &out, &err);
		ok(r < 0 && err && err->msg, "%s: replay fails: %s", muts[i].what,
		   err && err->msg ? err->msg : "?");
		ok(cairn_tar_split_check(s, &id, NULL, NULL, NULL) > 0, "%s: check reports it",
		   muts[i].what);
		cairn_error_free(err);
		buf_clear(&out);
		free(copy);
	}
	memcpy(good.data + 22, missing.b, 16); /* the file segment's id */
	put_split(good.data, good.len, &id);
	cairn_error *err = NULL;
	r = replay(&id, &out, &err);
	ok(r == CAIRN_E_NOTFOUND, "missing file content: %s", err && err->msg ? err->msg : "?");
	is_int(cairn_tar_split_check(s, &id, report_line, NULL, NULL), 1,
	       "missing file content: one problem");
	cairn_error_free(err);
	memcpy(good.data + 22, file.b, 16);
	buf_put_u8(&good, 0);
	put_split(good.data, good.len, &id);
	ok(replay(&id, &out, NULL) == CAIRN_E_CORRUPT, "trailing bytes after the segments");
	buf_clear(&out);
	buf_clear(&good);
	ok(cairn_tar_split_check(s, &missing, NULL, NULL, NULL) == 1 &&
	       replay(&missing, &out, NULL) == CAIRN_E_NOTFOUND,
	   "a split that is not in the store");
}

static void test_mark(void)
{
	bytebuf tar = {0};
	fx_build(&tar, false);
	struct cairn_tar_import_result res;
	if (!split_roundtrip("mark fixture", tar.data, tar.len, 0, NULL, 0, &res)) {
		buf_clear(&tar);
		return;
	}
	cairn_idset *live = cairn_idset_new(), *split_only = cairn_idset_new();
	int r = cairn_tar_split_mark(s, &res.tar_split, split_only, NULL);
	struct cairn_tar_split_info info;
	cairn_tar_split_check(s, &res.tar_split, NULL, NULL, &info);
	ok(r >= 0 && cairn_idset_count(split_only) >= 2 + 1 &&
	       cairn_idset_count(split_only) <= 2 + info.files,
	   "mark: the split, its literal content and %zu file contents",
	   cairn_idset_count(split_only) - 2);
	cairn_layer_mark(s, &res.layer, live, NULL);
	cairn_tar_split_mark(s, &res.tar_split, live, NULL);
	cairn_store_sweep(s, live, NULL);
	bytebuf out = {0};
	r = replay(&res.tar_split, &out, NULL);
	ok(r == 0 && out.len == tar.len && memcmp(out.data, tar.data, tar.len) == 0,
	   "replay after a sweep that kept the marked contents");
	buf_clear(&out);
	is_int(fsck_problems(s), 0, "store clean after the sweep");
	cairn_idset_free(live);
	live = cairn_idset_new();
	cairn_layer_mark(s, &res.layer, live, NULL);
	cairn_store_sweep(s, live, NULL);
	r = replay(&res.tar_split, &out, NULL);
	ok(r < 0, "without marking the split, its contents go (replay: %s)", cairn_strerror(r));
	buf_clear(&out);
	cairn_idset_free(live);
	cairn_idset_free(split_only);
	buf_clear(&tar);
}

/* A root entry written as "/" (umoci insert SRC /) imports as the root
 * and the split still replays the archive byte for byte. */
static void test_root_slash(void)
{
	static const int formats[] = {ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED,
				      ARCHIVE_FORMAT_TAR_GNUTAR};
	for (size_t i = 0; i < ARRAY_SIZE(formats); i++) {
		struct tb t;
		tb_open(&t, formats[i]);
		struct tb_entry e[] = {
		    {.path = "/", .type = AE_IFDIR, .mode = 0755, .mtime = 1600000000},
		    {.path = "etc/", .type = AE_IFDIR, .mode = 0755},
		    {.path = "etc/x", .type = AE_IFREG, .data = fx_big(), .len = 1000},
		};
		for (size_t k = 0; k < ARRAY_SIZE(e); k++)
			tb_add(&t, &e[k]);
		tb_close(&t);
		ok(t.out.len > 512 && t.out.data[0] == '/' && t.out.data[1] == 0,
		   "format %d: the first header is named \"/\"", formats[i]);
		struct cairn_tar_import_result res;
		if (split_roundtrip("root entry \"/\"", t.out.data, t.out.len, 0, NULL, 0, &res)) {
			struct cairn_layer_info info;
			ok(cairn_layer_info(s, &res.layer, &info) == 0 && info.entries == 3,
			   "format %d: root, etc and etc/x", formats[i]);
		}
		buf_clear(&t.out);
	}
}

int main(void)
{
	is_root = geteuid() == 0;
	s = test_store("store");
	if (!sh("%s", tree_script)) {
		ok(0, "making the test tree");
		return tap_done();
	}
	test_big();
	test_gnu_tar();
	test_bsdtar();
	test_python();
	test_trailing();
	test_libarchive();
	test_root_slash();
	test_compressed();
	test_hostile();
	test_damage();
	test_mark();
	tap_diag("running as %s", is_root ? "root" : "a user (no device nodes)");
	cairn_store_free(s);
	return tap_done();
}
