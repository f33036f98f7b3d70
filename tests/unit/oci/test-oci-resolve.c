/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Digest references (NAME@sha256:...): an image answers to its id (config
 * digest), to the digest inspect reports (the manifest a default save
 * writes: generated for cairn's own images, verbatim for loaded ones) and,
 * multi-platform, to its index digest.  The repository must be one of the
 * image's names unless the image has none.  save and tag take the same
 * references. */
#include "oci-test.h"

static const struct tfile other_rootfs[] = {
    {"srv", 'd', NULL, 0755},
    {"srv/data", 'f', "other image\n", 0644},
};

static json_t *inspect(cairn_store *s, const char *name)
{
	cairn_error *err = NULL;
	char *json = NULL;
	int r = cairn_image_inspect_json(s, name, &json, &err);
	if (!ok_err(r, err, "inspect %s", name))
		return NULL;
	json_t *j = json_loads(json, 0, NULL);
	free(json);
	return j;
}

/* The "Digest" inspect reports (malloc'd). */
static char *inspect_digest(cairn_store *s, const char *name)
{
	json_t *j = inspect(s, name);
	json_t *d = json_object_get(j, "Digest");
	char *out = strdup(json_is_string(d) ? json_string_value(d) : "");
	json_decref(j);
	if (!out)
		exit(99);
	return out;
}

static char *ref_at(const char *repo, const char *digest)
{
	char *r = NULL;
	if (asprintf(&r, "%s@%s", repo, digest) < 0)
		exit(99);
	return r;
}

/* name resolves to want (NULL: CAIRN_E_NOTFOUND). */
static void expect_resolve(cairn_store *s, const char *name, const char *want, const char *what)
{
	cairn_error *err = NULL;
	char *got = NULL;
	int r = cairn_image_resolve(s, name, &got, &err);
	if (want) {
		ok_err(r, err, "%s: %s resolves", what, name);
		is_str(got ? got : "", want, "%s: the image", what);
	} else {
		ok(r == CAIRN_E_NOTFOUND && err && !strchr(err->msg, '\n'),
		   "%s: %s not found (%d: %s)", what, name, r, err ? err->msg : "");
		cairn_error_free(err);
	}
	free(got);
}

static char *import_as(cairn_store *s, const struct tfile *files, size_t n, const char *name)
{
	char *tar = tpath("rootfs.tar");
	make_tar(tar, files, n, NULL);
	struct cairn_import_options o = {.name = name, .platform = "linux/amd64"};
	cairn_error *err = NULL;
	char *id = NULL;
	ok_err(cairn_image_import_tar(s, tar, &o, &id, &err), err, "import %s",
	       name ? name : "(no name)");
	free(tar);
	if (!id)
		exit(99); /* nothing to test without the image */
	return id;
}

/* cairn's own image: the generated manifest's digest, computed by the
 * resolver itself (nothing cached by an earlier inspect or save). */
static void test_own(cairn_store *s)
{
	char *id = import_as(s, test_rootfs, ARRAY_SIZE(test_rootfs), "example.com/app:v1");
	char *zero = ref_at("example.com/app", "sha256:"
					       "0000000000000000000000000000000000000000000000000"
					       "000000000000000");
	expect_resolve(s, zero, NULL, "unknown digest");

	char *idref = ref_at("example.com/app", id);
	expect_resolve(s, idref, id, "image id under its repository");
	/* the generated manifest's digest, from a twin store: the resolver
	 * computes it itself (nothing cached by an inspect or save here), and
	 * inspect then reports the same */
	cairn_store *twin = test_store("twin");
	char *twin_id = import_as(twin, test_rootfs, ARRAY_SIZE(test_rootfs), "example.com/app:v1");
	is_str(twin_id, id, "the twin store has the same image");
	char *md = inspect_digest(twin, "example.com/app:v1");
	cairn_store_free(twin);
	free(twin_id);
	ok(strncmp(md, "sha256:", 7) == 0 && strcmp(md, id) != 0, "generated manifest digest %s",
	   md ? md : "?"); /* (gcc -fsanitize sees a NULL path) */
	char *first = ref_at("example.com/app", md);
	expect_resolve(s, first, id, "manifest digest, computed by the resolver");
	free(first);
	char *md2 = inspect_digest(s, "example.com/app:v1");
	is_str(md2, md, "inspect reports the digest the resolver computed");
	free(md2);
	char *r1 = ref_at("example.com/app", md), *r2 = ref_at("example.com/app:v9", md),
	     *r3 = ref_at("example.com/other", md), *r4 = ref_at("app", md),
	     *r5 = ref_at("example.com/other", id);
	expect_resolve(s, r1, id, "manifest digest");
	expect_resolve(s, r2, id, "a tag next to the digest is ignored");
	expect_resolve(s, r3, NULL, "another repository");
	expect_resolve(s, r4, NULL, "docker.io/library/app is another repository");
	expect_resolve(s, r5, NULL, "image id under another repository");

	/* save by digest writes the manifest with that digest */
	char *dir = tpath("saved-by-digest");
	struct cairn_save_options so = {
	    .format = CAIRN_SAVE_OCI_DIR, .compression = -1, .source_date_epoch = -1};
	const char *names[] = {r1};
	cairn_error *err = NULL;
	ok_err(cairn_image_save(s, names, 1, dir, &so, &err), err, "save %s", r1);
	char *top = layout_top_digest(dir, 0);
	is_str(top ? top : "", md, "saved manifest digest is the reference's");
	free(top);

	/* tag by digest */
	ok_err(cairn_image_tag(s, r1, "copy:1", &err), err, "tag %s copy:1", r1);
	expect_resolve(s, "copy:1", id, "tagged by digest");
	/* now also known as docker.io/library/copy */
	char *r6 = ref_at("copy", md);
	expect_resolve(s, r6, id, "the digest under the new name");
	ok(cairn_image_tag(s, r3, "copy:2", &err) == CAIRN_E_NOTFOUND, "tag refuses %s", r3);
	cairn_error_free(err);

	/* an image without a name answers under any repository */
	char *anon = import_as(s, other_rootfs, ARRAY_SIZE(other_rootfs), NULL);
	char *amd = inspect_digest(s, anon);
	char *r7 = ref_at("whatever/repo", amd), *r8 = ref_at("example.com/app", amd);
	expect_resolve(s, r7, anon, "unnamed image, any repository");
	expect_resolve(s, r8, anon, "unnamed image, a repository of another image");

	char *v[] = {zero, idref, md, r1, r2, r3, r4, r5, r6, r7, r8, dir, id, anon, amd};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		free(v[i]);
}

/* Loaded images: the verbatim manifest and index digests. */
static void test_loaded(cairn_store *s)
{
	cairn_error *err = NULL;
	char *dir = tpath("idx");
	struct blayer l = build_layer(dir, "x", other_rootfs, 2, CAIRN_COMPRESS_GZIP, 6);
	struct doc c1 = put_config(dir, "amd64", &l, 1), c2 = put_config(dir, "arm64", &l, 1);
	struct doc m1 = put_manifest(dir, MT_OCI_MANIFEST, MT_OCI_CONFIG, c1, &l, 1);
	struct doc m2 = put_manifest(dir, MT_OCI_MANIFEST, MT_OCI_CONFIG, c2, &l, 1);
	char *idx = NULL, *index = NULL;
	if (asprintf(&idx,
		     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
		     "\"size\":%zu,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
		     "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":"
		     "{\"os\":\"linux\",\"architecture\":\"arm64\"}}]}",
		     MT_OCI_MANIFEST, m1.digest, m1.size, MT_OCI_MANIFEST, m2.digest, m2.size) < 0)
		exit(99);
	struct doc ix = put_doc(dir, idx);
	/* the index under one name, the amd64 manifest under another */
	if (asprintf(&index,
		     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
		     "\"size\":%zu,\"annotations\":{\"%s\":\"example.com/multi:1\"}},"
		     "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"annotations\":"
		     "{\"%s\":\"example.com/single:1\"}}]}",
		     MT_OCI_INDEX, ix.digest, ix.size, ANNOT_CONTAINERD_NAME, MT_OCI_MANIFEST,
		     m1.digest, m1.size, ANNOT_CONTAINERD_NAME) < 0)
		exit(99);
	put_layout(dir, index);
	ok_err(cairn_image_load(s, dir, NULL, NULL, &err), err, "load an index and a manifest");

	char *md = inspect_digest(s, "example.com/single:1");
	is_str(md, m1.digest, "inspect Digest of a loaded image is its verbatim manifest's");
	char *a = ref_at("example.com/single", m1.digest),
	     *b = ref_at("example.com/other", m1.digest),
	     *c = ref_at("example.com/multi", ix.digest),
	     *d = ref_at("example.com/single", ix.digest),
	     *e = ref_at("example.com/multi", m2.digest), *f = ref_at("whatever", m2.digest);
	expect_resolve(s, a, c1.digest, "verbatim manifest digest");
	expect_resolve(s, b, NULL, "verbatim manifest digest, another repository");
	expect_resolve(s, c, ix.digest, "index digest");
	expect_resolve(s, d, NULL, "index digest, another repository");
	/* the arm64 platform image has no name of its own */
	expect_resolve(s, e, c2.digest, "platform image by its manifest digest");
	expect_resolve(s, f, c2.digest, "unnamed platform image, any repository");

	char *v[] = {md, a, b, c, d, e, f, idx, index, dir};
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		free(v[i]);
	free_layer(&l);
	struct doc *docs[] = {&c1, &c2, &m1, &m2, &ix};
	for (size_t i = 0; i < ARRAY_SIZE(docs); i++)
		free(docs[i]->digest);
}

int main(void)
{
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1); /* the twin stores' images are equal */
	cairn_store *s = test_store("store");
	test_own(s);
	test_loaded(s);
	is_int(fsck_count(s), 0, "fsck clean");
	cairn_store_free(s);
	return tap_done();
}
