/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tag, rmi, list, prune, du and fsck: after removing every image and
 * pruning nothing is left, and fsck finds damage it is shown. */
#include "oci-test.h"

static const struct tfile other_rootfs[] = {
    {"data", 'f', "a different image\n", 0644},
};

static char *import(cairn_store *s, const struct tfile *files, size_t n, const char *name)
{
	char *tar = tpath("in.tar");
	make_tar(tar, files, n, NULL);
	struct cairn_import_options o = {.name = name};
	cairn_error *err = NULL;
	char *id = NULL;
	ok_err(cairn_image_import_tar(s, tar, &o, &id, &err), err, "import as %s",
	       name ? name : "(none)");
	free(tar);
	return id;
}

struct names_ctx {
	unsigned images, names;
	char all[1024];
};

static int collect(const struct cairn_image_summary *img, void *userdata)
{
	struct names_ctx *c = userdata;
	c->images++;
	for (char **n = img->names; *n; n++) {
		c->names++;
		snprintf(c->all + strlen(c->all), sizeof(c->all) - strlen(c->all), "%s ", *n);
	}
	if (!img->names[0])
		snprintf(c->all + strlen(c->all), sizeof(c->all) - strlen(c->all), "<none> ");
	return 0;
}

static struct names_ctx list(cairn_store *s)
{
	struct names_ctx c = {0};
	cairn_error *err = NULL;
	ok_err(cairn_image_list(s, collect, &c, &err), err, "list");
	return c;
}

static void expect_empty(cairn_store *s, const char *what)
{
	struct cairn_prune_stats st;
	struct cairn_du du;
	cairn_error *err = NULL;
	ok_err(cairn_prune(s, &st, &err), err, "%s: prune", what);
	ok_err(cairn_du(s, &du, &err), err, "%s: du", what);
	is_int(du.images + du.layers + du.blobs, 0, "%s: no records", what);
	is_int(du.contents, 0, "%s: no contents", what);
	is_int(du.chunks, 0, "%s: no chunks", what);
	is_int(count_records(s, CAIRN_T_DIFFS) + count_records(s, CAIRN_T_TAGS), 0,
	       "%s: no diffs, no tags", what);
	is_int(fsck_count(s), 0, "%s: fsck clean", what);
}

static void test_tag_rmi(cairn_store *s)
{
	cairn_error *err = NULL;
	char *id = import(s, test_rootfs, ARRAY_SIZE(test_rootfs), "app:1");
	char *other = import(s, other_rootfs, 1, NULL);
	ok(strcmp(id, other) != 0, "two images");

	ok_err(cairn_image_tag(s, "app:1", "registry.test/team/app:stable", &err), err, "tag");
	ok(cairn_image_tag(s, "app:1",
			   "x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef01"
			   "23456789abcdef",
			   &err) == CAIRN_E_FORMAT,
	   "tag with a digest refused");
	cairn_error_free(err);
	err = NULL;
	ok(cairn_image_tag(s, "nothere:1", "y", &err) == CAIRN_E_NOTFOUND, "tag unknown source");
	cairn_error_free(err);
	err = NULL;
	struct names_ctx c = list(s);
	is_int(c.images, 2, "two images listed");
	ok(strstr(c.all, "app:1 ") && strstr(c.all, "registry.test/team/app:stable ") &&
	       strstr(c.all, "<none> "),
	   "names listed: %s", c.all);

	struct cairn_du du;
	ok_err(cairn_du(s, &du, &err), err, "du");
	is_int(du.images, 2, "du images");
	ok(du.logical_bytes > 0 && du.unique_bytes > 0 && du.stored_bytes > 0, "du bytes");
	is_int(du.reclaimable_contents, 0, "nothing reclaimable");

	/* by id with two names: needs force */
	char *deleted = NULL;
	ok(cairn_image_remove(s, id, false, &deleted, &err) == CAIRN_E_EXISTS,
	   "rmi by id with two names refused");
	ok(err && strstr(err->msg, "--force"), "message: %s", err ? err->msg : "");
	cairn_error_free(err);
	err = NULL;

	ok_err(cairn_image_remove(s, "app:1", false, &deleted, &err), err, "rmi app:1");
	ok(deleted == NULL, "image kept (another name)");
	ok_err(cairn_image_remove(s, "registry.test/team/app:stable", false, &deleted, &err), err,
	       "rmi the last name");
	is_str(deleted, id, "image deleted with its last name");
	free(deleted);
	ok(cairn_image_remove(s, "app:1", false, &deleted, &err) == CAIRN_E_NOTFOUND,
	   "rmi again: not found");
	cairn_error_free(err);
	err = NULL;

	ok_err(cairn_du(s, &du, &err), err, "du after rmi");
	ok(du.reclaimable_contents > 0, "contents reclaimable after rmi (%llu)",
	   (unsigned long long) du.reclaimable_contents);
	struct cairn_prune_stats st;
	ok_err(cairn_prune(s, &st, &err), err, "prune");
	ok(st.layers == 1 && st.blobs == 1 && st.contents > 0 && st.chunks > 0 &&
	       st.bytes_freed > 0,
	   "prune removed the layer, the config and their data (%llu layers, %llu blobs, "
	   "%llu contents)",
	   (unsigned long long) st.layers, (unsigned long long) st.blobs,
	   (unsigned long long) st.contents);
	c = list(s);
	is_int(c.images, 1, "the untagged image survives prune");
	is_int(fsck_count(s), 0, "fsck clean");

	/* removing the untagged one by short id */
	char shortid[16];
	snprintf(shortid, sizeof(shortid), "%.10s", other + 7);
	ok_err(cairn_image_remove(s, shortid, false, &deleted, &err), err, "rmi by short id");
	is_str(deleted, other, "deleted by id");
	free(deleted);
	expect_empty(s, "after removing everything");

	/* by id with force removes every name */
	id = (free(id), import(s, test_rootfs, ARRAY_SIZE(test_rootfs), "a:1"));
	ok_err(cairn_image_tag(s, "a:1", "b:2", &err), err, "tag b:2");
	ok_err(cairn_image_remove(s, id, true, &deleted, &err), err, "rmi --force by id");
	is_str(deleted, id, "deleted");
	free(deleted);
	is_int(count_records(s, CAIRN_T_TAGS), 0, "all names gone");
	expect_empty(s, "after rmi --force");
	free(id);
	free(other);
}

static void test_index_rmi(cairn_store *s)
{
	cairn_error *err = NULL;
	char *dir = tpath("idx");
	struct blayer l = build_layer(dir, "x", other_rootfs, 1, CAIRN_COMPRESS_GZIP, 6);
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
	if (asprintf(&index,
		     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
		     "\"size\":%zu,\"annotations\":{\"%s\":\"multi:1\"}}]}",
		     MT_OCI_INDEX, ix.digest, ix.size, ANNOT_REF_NAME) < 0)
		exit(99);
	put_layout(dir, index);
	ok_err(cairn_image_load(s, dir, NULL, NULL, &err), err, "load index");
	is_int(count_records(s, CAIRN_T_IMAGES), 3, "three image records");
	struct names_ctx c = list(s);
	is_int(c.images, 1, "children are not listed");

	char *deleted = NULL;
	ok(cairn_image_remove(s, c1.digest, false, &deleted, &err) == CAIRN_E_EXISTS,
	   "a platform image cannot be removed alone");
	cairn_error_free(err);
	err = NULL;
	char *byd = NULL;
	ok(cairn_image_resolve(s,
			       "multi@sha256:00000000000000000000000000000000000000000000000000"
			       "00000000000000",
			       &byd, &err) == CAIRN_E_NOTFOUND,
	   "unknown digest reference not found");
	cairn_error_free(err);
	err = NULL;
	char ref[128];
	snprintf(ref, sizeof(ref), "multi@%s", ix.digest);
	ok_err(cairn_image_resolve(s, ref, &byd, &err), err, "resolve name@index-digest");
	is_str(byd, ix.digest, "digest reference resolves to the index");
	free(byd);
	snprintf(ref, sizeof(ref), "whatever@%s", m2.digest);
	ok_err(cairn_image_resolve(s, ref, &byd, &err), err, "resolve name@manifest-digest");
	is_str(byd, c2.digest, "manifest digest resolves to the platform image");
	free(byd);

	ok_err(cairn_image_remove(s, "docker.io/library/multi:1", false, &deleted, &err), err,
	       "rmi the index");
	is_str(deleted, ix.digest, "index deleted");
	free(deleted);
	is_int(count_records(s, CAIRN_T_IMAGES), 0, "children deleted with it");
	expect_empty(s, "after removing the index");

	free_layer(&l);
	struct doc *docs[] = {&c1, &c2, &m1, &m2, &ix};
	for (size_t i = 0; i < ARRAY_SIZE(docs); i++)
		free(docs[i]->digest);
	free(idx);
	free(index);
	free(dir);
}

static void test_fsck_finds(cairn_store *s)
{
	cairn_error *err = NULL;
	char *id = import(s, test_rootfs, ARRAY_SIZE(test_rootfs), "damaged:1");
	is_int(fsck_count(s), 0, "fsck clean before damage");
	cairn_batch *b = NULL;
	cairn_digest d;
	cairn_digest_parse(id, false, &d);
	ok(cairn_batch_new(s, &b) == 0 && cairn_batch_del(b, CAIRN_T_BLOBS, d.b, 32) == 0 &&
	       tag_put(b, "docker.io/library/ghost:1",
		       "sha256:1111111111111111111111111111111111111111111111111111111111111111") ==
		   0 &&
	       cairn_batch_commit(b, NULL) == 0,
	   "delete the config blob record, add a dangling tag");
	cairn_batch_free(b);
	int problems = 0;
	int r = cairn_fsck(s, 0, fsck_line, &problems, NULL, &err);
	ok_err(r, err, "fsck runs");
	is_int(r, 2, "two problems found");
	is_int(problems, 2, "two lines reported");

	/* prune refuses nothing here (records parse), then cleanup */
	char *deleted = NULL;
	ok_err(cairn_image_remove(s, "damaged:1", false, &deleted, &err), err, "rmi damaged");
	free(deleted);
	ok(cairn_batch_new(s, &b) == 0 && tag_del(b, "docker.io/library/ghost:1") == 0 &&
	       cairn_batch_commit(b, NULL) == 0,
	   "drop the dangling tag");
	cairn_batch_free(b);
	expect_empty(s, "after repairing");
	free(id);
}

int main(void)
{
	cairn_store *s = test_store("store");
	test_tag_rmi(s);
	test_index_rmi(s);
	test_fsck_finds(s);
	cairn_store_free(s);
	return tap_done();
}
