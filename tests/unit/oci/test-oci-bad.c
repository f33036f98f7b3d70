/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bad input to `load`: corrupted, missing and mismatched blobs, malformed
 * JSON, broken archives, hostile layers.  Each is refused with a precise
 * one-line message and leaves the store unchanged (no records, fsck clean). */
#include "oci-test.h"

static const struct tfile files1[] = {
    {"etc", 'd', NULL, 0755},
    {"etc/one", 'f', "first layer\n", 0644},
};
static const struct tfile files2[] = {
    {"two", 'f', "another layer\n", 0644},
};
static const struct tfile evil[] = {
    {"../evil", 'f', "escape\n", 0644},
};

struct good {
	struct blayer layer;
	struct doc cfg, man;
};

static char *index_for(const char *mt, struct doc man, int extra_size)
{
	char *index = NULL;
	if (asprintf(&index,
		     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
		     "\"size\":%zu,\"annotations\":{\"%s\":\"bad:1\"}}]}",
		     mt, man.digest, man.size + (size_t) extra_size, ANNOT_CONTAINERD_NAME) < 0)
		exit(99);
	return index;
}

static struct good make_good(const char *dir, const struct tfile *files, size_t n)
{
	struct good g;
	g.layer = build_layer(dir, "good", files, n, CAIRN_COMPRESS_GZIP, 6);
	g.cfg = put_config(dir, "amd64", &g.layer, 1);
	g.man = put_manifest(dir, MT_OCI_MANIFEST, MT_OCI_CONFIG, g.cfg, &g.layer, 1);
	char *index = index_for(MT_OCI_MANIFEST, g.man, 0);
	put_layout(dir, index);
	free(index);
	return g;
}

static void free_good(struct good *g)
{
	free_layer(&g->layer);
	free(g->cfg.digest);
	free(g->man.digest);
}

static void expect_refused(cairn_store *s, const char *path, int code, const char *want,
			   const char *what)
{
	cairn_error *err = NULL;
	int r = cairn_image_load(s, path, NULL, NULL, &err);
	const char *msg = err && err->msg ? err->msg : "";
	ok(r == code, "%s: refused with %s (got %d)", what, cairn_strerror(code), r);
	ok(strstr(msg, want) && !strchr(msg, '\n'), "%s: message \"%s\" has \"%s\"", what, msg,
	   want);
	cairn_error_free(err);
	static const cairn_table tables[] = {CAIRN_T_IMAGES, CAIRN_T_TAGS, CAIRN_T_BLOBS,
					     CAIRN_T_DIFFS, CAIRN_T_LAYERS};
	size_t total = 0;
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++)
		total += count_records(s, tables[i]);
	is_int(total, 0, "%s: store unchanged", what);
	is_int(fsck_count(s), 0, "%s: fsck clean", what);
}

static char *fresh(const char *name, struct good *g)
{
	char *dir = tpath(name);
	*g = make_good(dir, files1, ARRAY_SIZE(files1));
	return dir;
}

static void corrupt_byte(const char *path, long off)
{
	int fd = open(path, O_RDWR);
	unsigned char c;
	if (fd < 0 || pread(fd, &c, 1, off) != 1)
		exit(99);
	c ^= 0x55;
	if (pwrite(fd, &c, 1, off) != 1)
		exit(99);
	close(fd);
}

static void test_blobs(cairn_store *s)
{
	struct good g;
	char *dir = fresh("corrupt", &g), *p = blob_file(dir, g.layer.digest);
	char want[128];
	corrupt_byte(p, (long) g.layer.size / 2);
	snprintf(want, sizeof(want), "blobs/sha256/%s: content does not match", g.layer.digest + 7);
	expect_refused(s, dir, CAIRN_E_DIGEST, want, "corrupted layer blob");
	free(p);
	free_good(&g);
	free(dir);

	dir = fresh("missing-layer", &g);
	p = blob_file(dir, g.layer.digest);
	unlink(p);
	snprintf(want, sizeof(want), "blobs/sha256/%s: blob missing", g.layer.digest + 7);
	expect_refused(s, dir, CAIRN_E_NOTFOUND, want, "missing layer blob");
	free(p);
	free_good(&g);
	free(dir);

	dir = fresh("missing-config", &g);
	p = blob_file(dir, g.cfg.digest);
	unlink(p);
	snprintf(want, sizeof(want), "blobs/sha256/%s: blob missing", g.cfg.digest + 7);
	expect_refused(s, dir, CAIRN_E_NOTFOUND, want, "missing config blob");
	free(p);
	free_good(&g);
	free(dir);

	dir = fresh("corrupt-config", &g);
	p = blob_file(dir, g.cfg.digest);
	corrupt_byte(p, 3);
	expect_refused(s, dir, CAIRN_E_DIGEST, "content does not match its descriptor",
		       "corrupted config");
	free(p);
	free_good(&g);
	free(dir);

	dir = fresh("size-mismatch", &g);
	char *index = index_for(MT_OCI_MANIFEST, g.man, 1);
	put_layout(dir, index);
	expect_refused(s, dir, CAIRN_E_DIGEST, "content does not match its descriptor",
		       "descriptor size mismatch");
	free(index);
	free_good(&g);
	free(dir);
}

static void test_diff_id(cairn_store *s)
{
	char *dir = tpath("wrong-diff");
	struct blayer real =
	    build_layer(dir, "real", files1, ARRAY_SIZE(files1), CAIRN_COMPRESS_GZIP, 6);
	struct blayer other = build_layer(dir, "other", files2, 1, CAIRN_COMPRESS_GZIP, 6);
	struct blayer lie = real;
	lie.diff_id = other.diff_id; /* the config claims another diff_id */
	struct doc cfg = put_config(dir, "amd64", &lie, 1);
	struct doc man = put_manifest(dir, MT_OCI_MANIFEST, MT_OCI_CONFIG, cfg, &real, 1);
	char *index = index_for(MT_OCI_MANIFEST, man, 0);
	put_layout(dir, index);
	expect_refused(s, dir, CAIRN_E_DIGEST, "but the config's diff_id is", "diff_id mismatch");

	/* two layers, one diff_id */
	struct blayer two[2] = {real, other};
	struct doc cfg2 = put_config(dir, "amd64", &real, 1);
	struct doc man2 = put_manifest(dir, MT_OCI_MANIFEST, MT_OCI_CONFIG, cfg2, two, 2);
	free(index);
	index = index_for(MT_OCI_MANIFEST, man2, 0);
	put_layout(dir, index);
	expect_refused(s, dir, CAIRN_E_FORMAT, "config lists 1 diff_ids for 2 layers",
		       "layer count mismatch");
	free(index);
	free_layer(&real);
	free_layer(&other);
	free(cfg.digest);
	free(man.digest);
	free(cfg2.digest);
	free(man2.digest);
	free(dir);
}

static void test_json(cairn_store *s)
{
	struct good g;
	char *dir = fresh("bad-index", &g), want[256];
	put_layout(dir, "{\n \"schemaVersion\": 2,\n \"manifests\": [\n  {,\n]}");
	snprintf(want, sizeof(want), "%s: index.json: line 4:", dir);
	expect_refused(s, dir, CAIRN_E_FORMAT, want, "malformed index.json");
	put_layout(dir, "{\"schemaVersion\": 2, \"manifests\": []}");
	expect_refused(s, dir, CAIRN_E_FORMAT, "index.json lists no image", "empty index.json");
	put_layout(dir, "{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": 1}]}");
	expect_refused(s, dir, CAIRN_E_FORMAT, "index.json: manifests[0].mediaType: not a string",
		       "index.json with a bad descriptor");
	free_good(&g);

	const char *bad_man = "{\"schemaVersion\": 2,\n \"config\": ";
	struct doc m = put_doc(dir, bad_man);
	char *index = index_for(MT_OCI_MANIFEST, m, 0);
	put_layout(dir, index);
	snprintf(want, sizeof(want), "blobs/sha256/%s: line 2:", m.digest + 7);
	expect_refused(s, dir, CAIRN_E_FORMAT, want, "malformed manifest");
	free(index);
	free(m.digest);

	struct doc m2 = put_doc(dir, "{\"schemaVersion\": 2, \"layers\": []}");
	index = index_for(MT_OCI_MANIFEST, m2, 0);
	put_layout(dir, index);
	expect_refused(s, dir, CAIRN_E_FORMAT, "config: not an object", "manifest without config");
	free(index);
	free(m2.digest);
	free(dir);

	dir = fresh("no-layout", &g);
	char *p = NULL;
	if (asprintf(&p, "%s/oci-layout", dir) < 0)
		exit(99);
	unlink(p);
	expect_refused(s, dir, CAIRN_E_FORMAT, "not an OCI layout", "directory without oci-layout");
	free(p);
	free_good(&g);
	free(dir);
}

static void test_archives(cairn_store *s)
{
	struct good g;
	char *dir = fresh("for-archive", &g), *tarf = tpath("good.tar"), *cut = tpath("cut.tar");
	char *cmd = NULL;
	if (asprintf(&cmd, "tar -C '%s' -cf '%s' . && head -c %d '%s' > '%s'", dir, tarf, 3000,
		     tarf, cut) < 0)
		exit(99);
	is_int(run(cmd), 0, "make a truncated archive");
	free(cmd);
	expect_refused(s, cut, CAIRN_E_FORMAT, "cut.tar: ", "truncated archive");
	char *junk = tpath("junk.bin");
	write_bytes(junk, "this is not a tar archive at all, just some bytes........", 57);
	expect_refused(s, junk, CAIRN_E_FORMAT, "junk.bin: ", "not an archive");

	/* a Docker archive with malformed manifest.json */
	char *ddir = tpath("docker-bad"), *dtar = tpath("docker-bad.tar");
	mkdir_p(ddir, 0755);
	char *p = NULL;
	if (asprintf(&p, "%s/manifest.json", ddir) < 0)
		exit(99);
	write_bytes(p, "[{\"Config\": \"x.json\",\n \"Layers\": [}]", 36);
	if (asprintf(&cmd, "tar -C '%s' -cf '%s' manifest.json", ddir, dtar) < 0)
		exit(99);
	is_int(run(cmd), 0, "make a Docker archive");
	expect_refused(s, dtar, CAIRN_E_FORMAT,
		       "docker-bad.tar: manifest.json: line 2:", "malformed manifest.json");
	/* well-formed, but the layer is missing */
	char *cfgp = NULL, *cfgdata = NULL;
	if (asprintf(&cfgp, "%s/c.json", ddir) < 0 ||
	    asprintf(&cfgdata,
		     "{\"os\":\"linux\",\"architecture\":\"amd64\",\"rootfs\":"
		     "{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
		     g.layer.diff_id) < 0)
		exit(99);
	write_bytes(cfgp, cfgdata, strlen(cfgdata));
	const char *mj =
	    "[{\"Config\":\"c.json\",\"RepoTags\":[\"x:1\"],\"Layers\":[\"l/layer.tar\"]}]";
	write_bytes(p, mj, strlen(mj));
	free(cmd);
	if (asprintf(&cmd, "tar -C '%s' -cf '%s' manifest.json c.json", ddir, dtar) < 0)
		exit(99);
	is_int(run(cmd), 0, "make a Docker archive without its layer");
	expect_refused(s, dtar, CAIRN_E_NOTFOUND, "l/layer.tar: layer missing",
		       "Docker archive missing a layer");
	const char *badtag = "[{\"Config\":\"e.json\",\"RepoTags\":[\"Bad:1\"],\"Layers\":[]}]";
	const char *empty = "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
	write_bytes(p, badtag, strlen(badtag));
	free(cfgp);
	if (asprintf(&cfgp, "%s/e.json", ddir) < 0)
		exit(99);
	write_bytes(cfgp, empty, strlen(empty));
	free(cmd);
	if (asprintf(&cmd, "tar -C '%s' -cf '%s' manifest.json e.json", ddir, dtar) < 0)
		exit(99);
	is_int(run(cmd), 0, "make a Docker archive with a bad tag");
	expect_refused(s, dtar, CAIRN_E_FORMAT, "RepoTags", "Docker archive with a bad RepoTag");
	free(cmd);
	free(p);
	free(cfgp);
	free(cfgdata);
	free(ddir);
	free(dtar);
	free(junk);
	free(tarf);
	free(cut);
	free_good(&g);
	free(dir);
}

/* Appends a member (file or hardlink) to a tar with Python's tarfile,
 * which keeps names as given. */
static bool tar_append(const char *tarf, const char *name, const char *hardlink)
{
	char *cmd = NULL;
	if (asprintf(&cmd,
		     "python3 - '%s' '%s' '%s' <<'EOF'\n"
		     "import io, sys, tarfile\n"
		     "with tarfile.open(sys.argv[1], 'a', format=tarfile.PAX_FORMAT) as tf:\n"
		     "    t = tarfile.TarInfo(sys.argv[2])\n"
		     "    if sys.argv[3]:\n"
		     "        t.type, t.linkname = tarfile.LNKTYPE, sys.argv[3]\n"
		     "        tf.addfile(t)\n"
		     "    else:\n"
		     "        t.size = 4\n"
		     "        tf.addfile(t, io.BytesIO(b'bad\\n'))\n"
		     "EOF\n",
		     tarf, name, hardlink ? hardlink : "") < 0)
		exit(99);
	int r = run(cmd);
	free(cmd);
	return r == 0;
}

/* OCI and Docker archives with a member outside the archive: refused as a
 * whole (CAIRN_E_UNSAFE) naming the archive and the member, even though
 * nothing refers to that member; "/" and "./" (the root) are fine. */
static void test_unsafe_members(cairn_store *s)
{
	if (run("python3 -c 'import tarfile' 2>/dev/null") != 0) {
		ok(1, "# SKIP no python3");
		return;
	}
	struct good g;
	char *dir = fresh("members", &g), *tarf = tpath("members.tar"), *cmd = NULL;
	static const struct {
		const char *name, *link, *want, *what;
	} cases[] = {
	    {"../escape", NULL, "members.tar: member \"../escape\": path contains a \"..\"",
	     "member ../escape"},
	    {"blobs/../../x", NULL, "member \"blobs/../../x\"", "member blobs/../../x"},
	    {"/tmp/cairn-unit-sentinel/x", NULL,
	     "members.tar: member \"/tmp/cairn-unit-sentinel/x\": absolute path",
	     "absolute member"},
	    {"//x", NULL, "member \"//x\": absolute path", "member //x"},
	    {"h", "/etc/passwd", "member \"h\": hardlink target \"/etc/passwd\": absolute path",
	     "hardlink to an absolute path"},
	    {"h", "../x", "hardlink target \"../x\": path contains", "hardlink to ../x"},
	    {"bad\nname/../x", NULL, "member \"bad\\x0aname/../x\"", "a newline in the name"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (asprintf(&cmd, "rm -f '%s' && tar -C '%s' -cf '%s' .", tarf, dir, tarf) < 0)
			exit(99);
		ok(run(cmd) == 0 && tar_append(tarf, cases[i].name, cases[i].link),
		   "%s: make the archive", cases[i].what);
		free(cmd);
		expect_refused(s, tarf, CAIRN_E_UNSAFE, cases[i].want, cases[i].what);
	}
	/* a Docker archive: the same check */
	char *ddir = tpath("docker-members"), *dtar = tpath("docker-members.tar");
	if (asprintf(&cmd,
		     "mkdir -p '%s' && printf '[]' > '%s/manifest.json' && "
		     "tar -C '%s' -cf '%s' manifest.json",
		     ddir, ddir, ddir, dtar) < 0)
		exit(99);
	ok(run(cmd) == 0 && tar_append(dtar, "/abs/layer.tar", NULL), "make a Docker archive");
	free(cmd);
	expect_refused(s, dtar, CAIRN_E_UNSAFE,
		       "docker-members.tar: member \"/abs/layer.tar\": absolute path",
		       "Docker archive with an absolute member");
	/* the root directory as "/" is no escape: the archive loads */
	if (asprintf(&cmd, "rm -f '%s' && tar -C '%s' -cf '%s' .", tarf, dir, tarf) < 0)
		exit(99);
	ok(run(cmd) == 0, "make the archive again");
	free(cmd);
	if (asprintf(&cmd,
		     "python3 - '%s' <<'EOF'\n"
		     "import sys, tarfile\n"
		     "with tarfile.open(sys.argv[1], 'a', format=tarfile.PAX_FORMAT) as tf:\n"
		     "    t = tarfile.TarInfo('/')\n"
		     "    t.type = tarfile.DIRTYPE\n"
		     "    tf.addfile(t)\n"
		     "EOF\n",
		     tarf) < 0)
		exit(99);
	ok(run(cmd) == 0, "append a \"/\" directory member");
	free(cmd);
	cairn_error *err = NULL;
	ok_err(cairn_image_load(s, tarf, NULL, NULL, &err), err, "an archive with \"/\" loads");
	char *deleted = NULL;
	ok_err(cairn_image_remove(s, "bad:1", false, &deleted, &err), err, "remove it again");
	free(deleted);
	struct cairn_prune_stats st;
	ok_err(cairn_prune(s, &st, &err), err, "prune");
	free(ddir);
	free(dtar);
	free(tarf);
	free_good(&g);
	free(dir);
}

static void test_hostile(cairn_store *s)
{
	struct good g;
	char *dir = tpath("hostile");
	g = make_good(dir, evil, ARRAY_SIZE(evil));
	expect_refused(s, dir, CAIRN_E_UNSAFE, "blobs/sha256/", "layer with ../ entry");
	free_good(&g);
	free(dir);
}

int main(void)
{
	cairn_store *s = test_store("store");
	test_blobs(s);
	test_diff_id(s);
	test_json(s);
	test_archives(s);
	test_unsafe_members(s);
	test_hostile(s);
	/* interrupted batches leave only garbage chunks: prune removes them */
	struct cairn_prune_stats st;
	cairn_error *err = NULL;
	ok_err(cairn_prune(s, &st, &err), err, "prune");
	struct cairn_du du;
	ok_err(cairn_du(s, &du, &err), err, "du");
	is_int(du.chunks, 0, "no chunks left");
	is_int(du.contents, 0, "no contents left");
	is_int(fsck_count(s), 0, "fsck clean at the end");
	cairn_store_free(s);
	return tap_done();
}
