/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tar export: deterministic bytes, import(export(layer)) is the same
 * layer, GNU tar (and Python's tarfile) read the output without warnings,
 * sparse files stay sparse, SOURCE_DATE_EPOCH clamps mtimes. */
#include "tar-fixture.h"

static cairn_store *s;

static cairn_id import_ok(const bytebuf *tar, const char *what, struct cairn_tar_import_result *ret)
{
	struct cairn_tar_import_result res = {0};
	char *msg = NULL;
	int r = import_mem(s, tar->data, tar->len, 0, &res, &msg);
	is_int(r, 0, "import %s: %s", what, msg ? msg : "ok");
	free(msg);
	if (ret)
		*ret = res;
	return res.layer;
}

static const char *save(const char *name, const bytebuf *b)
{
	static char path[4200];
	snprintf(path, sizeof(path), "%s/%s", tap_tmpdir(), name);
	write_file_atomic(path, b->data, b->len, 0644);
	return path;
}

static void test_roundtrip(bytebuf *ret_export)
{
	bytebuf tar, e1 = {0}, e2 = {0}, e3 = {0};
	fx_build(&tar, true);
	cairn_id id = import_ok(&tar, "fixture", NULL);
	is_int(export_mem(s, &id, -1, &e1), 0, "export");
	is_int(export_mem(s, &id, -1, &e2), 0, "export again");
	ok(e1.len == e2.len && memcmp(e1.data, e2.data, e1.len) == 0, "byte-identical exports");
	ok(e1.len % 512 == 0 && e1.len > 1024, "whole blocks");
	static const uint8_t zeros[1024];
	ok(memcmp(e1.data + e1.len - 1024, zeros, 1024) == 0 &&
	       memcmp(e1.data + e1.len - 1536, zeros, 512) != 0,
	   "ends with exactly two zero blocks (no record padding)");
	ok(e1.len < FX_BIG_LEN + 200 * 1024, "1 GiB sparse file exported sparse (%zu bytes)",
	   e1.len);

	struct cairn_tar_import_result res;
	cairn_id id2 = import_ok(&e1, "the export", &res);
	ok(memcmp(&id, &id2, sizeof(id)) == 0, "import(export(layer)) == layer");
	cairn_digest d;
	cairn_sha256(e1.data, e1.len, &d);
	ok(memcmp(&d, &res.diff_id, sizeof(d)) == 0, "diff_id of the export is its sha256");
	export_mem(s, &id2, -1, &e3);
	ok(e3.len == e1.len && memcmp(e3.data, e1.data, e1.len) == 0,
	   "the re-imported layer exports to the same bytes");
	*ret_export = e1;
	buf_clear(&e2);
	buf_clear(&e3);
	buf_clear(&tar);
}

static void test_gnu_tar(const bytebuf *exp)
{
	char *out = NULL, cmd[9000];
	if (run_cmd("tar --version", &out) != 0) {
		free(out);
		ok(1, "# SKIP no GNU tar");
		return;
	}
	free(out);
	const char *path = save("export.tar", exp);
	snprintf(cmd, sizeof(cmd), "tar --xattrs -tvf '%s' 2>&1 >/dev/null", path);
	int st = run_cmd(cmd, &out);
	ok(st == 0 && out[0] == 0, "GNU tar lists the export without warnings%s%s",
	   out[0] ? ": " : "", out);
	free(out);
	snprintf(cmd, sizeof(cmd), "tar -tvf '%s'", path);
	run_cmd(cmd, &out);
	ok(strstr(out, "etc/hard2 link to etc/hard") && strstr(out, "etc/hello link to etc/hard"),
	   "hardlinks point at the group's first member in canonical order");
	ok(strstr(out, "1073741824") != NULL, "sparse file listed with its real size");
	ok(strstr(out, "etc/.wh.shadow") && strstr(out, "var/cache/.wh..wh..opq") &&
	       strstr(out, "var/lib/.wh..wh..opq"),
	   "whiteout and opaque markers");
	ok(strstr(out, "crw-rw-rw- 0/0") && strstr(out, "1,3"), "character device");
	free(out);

	const char *dir = tap_tmpdir();
	snprintf(cmd, sizeof(cmd),
		 "rm -rf '%s/x' && mkdir '%s/x' && tar -x --sparse --no-same-owner --exclude=dev "
		 "--exclude='aaaa*' --warning=no-timestamp -f '%s' -C '%s/x'",
		 dir, dir, path, dir);
	st = run_cmd(cmd, &out);
	ok(st == 0, "GNU tar extracts the export%s%s", out[0] ? ": " : "", out);
	free(out);
	char p1[4300], p2[4300];
	struct stat a, b;
	snprintf(p1, sizeof(p1), "%s/x/etc/hello", dir);
	snprintf(p2, sizeof(p2), "%s/x/etc/hard2", dir);
	ok(stat(p1, &a) == 0 && stat(p2, &b) == 0 && a.st_ino == b.st_ino && a.st_size == 13,
	   "extracted hardlinks share the inode");
	snprintf(p1, sizeof(p1), "%s/x/sparse", dir);
	ok(stat(p1, &a) == 0 && a.st_size == (off_t) FX_SPARSE_SIZE &&
	       a.st_blocks * 512 < (1 << 20),
	   "extracted sparse file is sparse (%lld blocks)", (long long) a.st_blocks);
	snprintf(p1, sizeof(p1), "%s/x/usr/bin/ping", dir);
	ok(stat(p1, &a) == 0 && (a.st_mode & 07777) == 04755, "setuid kept");
	snprintf(p1, sizeof(p1), "%s/x/names/new\nline", dir);
	ok(access(p1, F_OK) == 0, "name with a newline extracted");
}

static void test_python(const bytebuf *exp)
{
	char *out = NULL, cmd[9000];
	if (run_cmd("python3 -c 'import tarfile'", &out) != 0) {
		free(out);
		ok(1, "# SKIP no python3");
		return;
	}
	free(out);
	const char *path = save("export.tar", exp);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c \"import tarfile,sys\n"
		 "t=tarfile.open(sys.argv[1],errors='surrogateescape')\n"
		 "m={x.name:x for x in t}\n"
		 "s=m['sparse']\n"
		 "assert s.size==%llu and s.sparse and len(s.sparse)>=2, s.sparse\n"
		 "assert m['usr/bin/ping'].pax_headers['SCHILY.xattr.security.capability']\n"
		 "assert m['etc/hello'].islnk() and m['etc/hello'].linkname=='etc/hard'\n"
		 "assert m['.'].isdir() and m['tmp'].mtime==-1\n"
		 "print(len(m))\" '%s'",
		 (unsigned long long) FX_SPARSE_SIZE, path);
	int st = run_cmd(cmd, &out);
	ok(st == 0, "Python tarfile reads the export (%s)", out);
	free(out);
}

static void test_source_date_epoch(void)
{
	bytebuf tar, e = {0};
	fx_build(&tar, false);
	cairn_id id = import_ok(&tar, "fixture", NULL);
	is_int(export_mem(s, &id, 1000, &e), 0, "export with SOURCE_DATE_EPOCH=1000");
	cairn_id id2 = import_ok(&e, "clamped export", NULL);
	cairn_layer *l = NULL;
	if (cairn_layer_open(s, &id2, &l, NULL) < 0) {
		ok(0, "open");
		return;
	}
	int late = 0;
	for (size_t i = 0; i < cairn_layer_count(l); i++) {
		const cairn_entry *x = cairn_layer_entry(l, i);
		late += x->mtime_sec > 1000 || (x->mtime_sec == 1000 && x->mtime_nsec);
	}
	is_int(late, 0, "no mtime after the epoch");
	ok(cairn_layer_lookup(l, "")->mtime_sec == 1000 &&
	       cairn_layer_lookup(l, "tmp")->mtime_sec == -1 &&
	       cairn_layer_lookup(l, "etc/shadow")->mtime_sec == 42,
	   "later clamped, earlier kept");
	cairn_layer_free(l);
	buf_clear(&e);
	buf_clear(&tar);
}

/* A layer built directly, with what only PAX can carry. */
static void test_builder_layer(void)
{
	cairn_batch *b;
	cairn_layer_builder *lb;
	cairn_id c, id, id2;
	char longlink[301];
	memset(longlink, 'T', 300);
	longlink[300] = 0;
	char longname[200];
	snprintf(longname, sizeof(longname), "d/%0180d", 7);
	cairn_xattr xs[] = {{"trusted.x", "\xff\x00", 2}, {"user.\xc3\xa9", "v", 1}};
	cairn_entry e[] = {
	    {.path = "d",
	     .type = CAIRN_ENTRY_DIR,
	     .mode = 0755,
	     .opaque = true,
	     .mtime_sec = -2,
	     .mtime_nsec = 750000000},
	    {.path = "d/gone",
	     .type = CAIRN_ENTRY_WHITEOUT,
	     .mode = 0644,
	     .uid = 5,
	     .mtime_sec = 9},
	    {.path = "d/l1",
	     .type = CAIRN_ENTRY_SYMLINK,
	     .link = longlink,
	     .nlink_group = 1,
	     .uid = 3000000},
	    {.path = "d/l2",
	     .type = CAIRN_ENTRY_SYMLINK,
	     .link = longlink,
	     .nlink_group = 1,
	     .uid = 3000000},
	    {.path = longname,
	     .type = CAIRN_ENTRY_REG,
	     .size = 5,
	     .has_content = true,
	     .mtime_sec = 1ll << 40,
	     .n_xattrs = 2,
	     .xattrs = xs},
	    {.path = "d/sock", .type = CAIRN_ENTRY_SOCK},
	    {.path = "\xff\xfe", .type = CAIRN_ENTRY_BLK, .rdev = makedev(259, 1048575)},
	};
	cairn_batch_new(s, &b);
	cairn_batch_put_content(b, "12345", 5, &c);
	e[4].content = c;
	cairn_layer_builder_new(b, &lb);
	for (size_t i = 0; i < ARRAY_SIZE(e); i++)
		if (e[i].type != CAIRN_ENTRY_SOCK)
			cairn_layer_builder_add(lb, &e[i]);
	int r = cairn_layer_builder_finish(lb, &id, NULL);
	if (r >= 0)
		r = cairn_batch_commit(b, NULL);
	cairn_batch_free(b);
	is_int(r, 0, "build a layer with PAX-only values");
	bytebuf x1 = {0};
	is_int(export_mem(s, &id, -1, &x1), 0, "export it");
	id2 = import_ok(&x1, "it", NULL);
	ok(memcmp(&id, &id2, sizeof(id)) == 0,
	   "round trip: long link, big uid, symlink group, "
	   "big and negative-fraction mtimes, non-UTF-8 name, big minor, xattrs");
	cairn_layer *l = NULL;
	cairn_layer_open(s, &id2, &l, NULL);
	const cairn_entry *d = l ? cairn_layer_lookup(l, "d") : NULL;
	ok(d && d->mtime_sec == -2 && d->mtime_nsec == 750000000, "negative mtime with fraction");
	cairn_layer_free(l);
	char *out = NULL, cmd[4400];
	snprintf(cmd, sizeof(cmd), "tar -tvf '%s' 2>&1 >/dev/null", save("pax.tar", &x1));
	int st = run_cmd(cmd, &out);
	ok(st == 0 && out[0] == 0, "GNU tar reads it without warnings%s%s", out[0] ? ": " : "",
	   out);
	free(out);
	buf_clear(&x1);

	/* a socket cannot go into a tar: its path becomes a whiteout (what it
	 * replaced below must not come back) */
	cairn_batch_new(s, &b);
	cairn_layer_builder_new(b, &lb);
	cairn_layer_builder_add(lb, &e[5]);
	cairn_layer_builder_finish(lb, &id, NULL);
	cairn_batch_commit(b, NULL);
	cairn_batch_free(b);
	bytebuf x2 = {0};
	is_int(export_mem(s, &id, -1, &x2), 0, "layer with a socket exports");
	is_int(x2.len, 512 + 1024, "the socket is one header: a whiteout");
	ok(x2.len >= 512 && strstr((const char *) x2.data, ".wh.") != NULL,
	   "the socket's name is exported as .wh.NAME");
	buf_clear(&x2);
}

int main(void)
{
	s = test_store("store");
	bytebuf exp = {0};
	test_roundtrip(&exp);
	test_gnu_tar(&exp);
	test_python(&exp);
	buf_clear(&exp);
	test_source_date_epoch();
	test_builder_layer();
	is_int(fsck_problems(s), 0, "fsck clean");
	cairn_store_free(s);
	return tap_done();
}
