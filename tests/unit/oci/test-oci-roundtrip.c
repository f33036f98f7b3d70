/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* import -> save (OCI dir, OCI archive, Docker archive) -> load into other
 * stores: the image keeps its id and manifest digest, outputs are
 * deterministic, file contents survive. */
#include "oci-test.h"

#define NAME "example.com/test/app:v1"

static char *import_rootfs(cairn_store *s, const char *name)
{
	char *tar = tpath("rootfs.tar.gz");
	make_tar(tar, test_rootfs, ARRAY_SIZE(test_rootfs), "gzip");
	struct cairn_import_options o = {
	    .name = name, .platform = "linux/arm64", .message = "test image"};
	cairn_error *err = NULL;
	char *id = NULL;
	int r = cairn_image_import_tar(s, tar, &o, &id, &err);
	ok_err(r, err, "import %s", tar);
	free(tar);
	return id;
}

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

static const char *jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : "";
}

static void test_import(cairn_store *s, const char *id)
{
	cairn_error *err = NULL;
	char *got = NULL;
	ok(id && strncmp(id, "sha256:", 7) == 0 && strlen(id) == 71, "image id %s", id);
	ok_err(cairn_image_resolve(s, NAME, &got, &err), err, "resolve by name");
	is_str(got, id, "name resolves to the id");
	free(got);
	char shortid[13];
	snprintf(shortid, sizeof(shortid), "%.12s", id + 7);
	ok_err(cairn_image_resolve(s, shortid, &got, &err), err, "resolve short id");
	is_str(got, id, "short id resolves");
	free(got);
	ok(cairn_image_resolve(s, "nothere", &got, &err) == CAIRN_E_NOTFOUND, "unknown name");
	cairn_error_free(err);
	err = NULL;

	json_t *j = inspect(s, NAME);
	is_str(jstr(j, "Id"), id, "inspect Id");
	is_str(json_string_value(json_array_get(json_object_get(j, "RepoTags"), 0)), NAME,
	       "inspect RepoTags");
	is_str(jstr(j, "Architecture"), "arm64", "architecture from --platform");
	is_str(jstr(j, "Created"), "2023-11-14T22:13:20Z", "created from SOURCE_DATE_EPOCH");
	json_t *m = json_object_get(j, "Manifest");
	json_t *layer = json_array_get(json_object_get(m, "layers"), 0);
	is_str(jstr(layer, "mediaType"), MT_OCI_LAYER_GZIP, "default layer is gzip");
	json_t *hist = json_array_get(json_object_get(json_object_get(j, "Config"), "history"), 0);
	ok(strstr(jstr(hist, "created_by"), "cairn import") != NULL, "history created_by");
	is_str(jstr(hist, "comment"), "test image", "history comment");
	is_int(json_array_size(json_object_get(j, "Layers")), 1, "one layer");
	json_decref(j);

	/* the same input and time give the same image */
	char *again = import_rootfs(s, NULL);
	is_str(again, id, "import is deterministic");
	free(again);

	/* contents survive */
	cairn_image *img = NULL;
	ok_err(cairn_image_open(s, NAME, &img, &err), err, "open image");
	cairn_id lid;
	cairn_layer *l = NULL;
	ok(cairn_image_layer(img, 0, &lid, NULL) == 0, "layer 0");
	ok_err(cairn_layer_open(s, &lid, &l, &err), err, "open layer");
	const cairn_entry *e = l ? cairn_layer_lookup(l, "etc/hello.txt") : NULL;
	ok(e && e->size == 17, "etc/hello.txt in the layer");
	const cairn_entry *t = l ? cairn_layer_lookup(l, "bin/tool") : NULL;
	ok(t && (t->mode & 07777) == 04755 && t->uid == 1004, "bin/tool mode and owner");
	cairn_layer_free(l);
	cairn_image_free(img);
}

static void test_oci_dir(cairn_store *s1, cairn_store *s2, const char *id)
{
	cairn_error *err = NULL;
	char *dir = tpath("out-dir"), *dir2 = tpath("out-dir2");
	const char *names[] = {NAME};
	struct cairn_save_options o = {
	    .format = CAIRN_SAVE_OCI_DIR, .compression = -1, .source_date_epoch = -1};
	ok_err(cairn_image_save(s1, names, 1, dir, &o, &err), err, "save as OCI dir");
	char *digest = layout_top_digest(dir, 0);
	json_t *j = inspect(s1, NAME);
	is_str(digest, jstr(j, "Digest"), "index.json digest is inspect's Digest");
	json_decref(j);

	char *p = NULL;
	if (asprintf(&p, "%s/index.json", dir) < 0)
		exit(99);
	char *index = slurp(p, NULL);
	ok(index && strstr(index, "\"io.containerd.image.name\":\"" NAME "\"") &&
	       strstr(index, "\"org.opencontainers.image.ref.name\":\"v1\""),
	   "index.json annotations: %s", index);
	free(index);
	free(p);

	struct loaded_list ll = {0};
	ok_err(cairn_image_load(s2, dir, on_loaded, &ll, &err), err, "load the OCI dir");
	is_int(ll.n, 1, "one image loaded");
	is_str(ll.names[0], NAME, "loaded name");
	is_str(ll.ids[0], id, "same image id in the second store");
	j = inspect(s2, NAME);
	is_str(jstr(j, "Digest"), digest, "same manifest digest in the second store");
	json_decref(j);

	ok_err(cairn_image_save(s2, names, 1, dir2, &o, &err), err, "save again from store 2");
	char *digest2 = layout_top_digest(dir2, 0);
	is_str(digest2, digest, "second save keeps the manifest digest");

	/* saving into an existing layout replaces the entry with the same ref.name */
	ok_err(cairn_image_save(s2, names, 1, dir2, &o, &err), err, "save into existing dir");
	ok(layout_top_digest(dir2, 1) == NULL, "no duplicate index.json entry");
	free(digest);
	free(digest2);
	free(dir);
	free(dir2);
}

static void test_oci_archive(cairn_store *s1, cairn_store *s3, const char *id)
{
	cairn_error *err = NULL;
	char *a = tpath("a.tar"), *b = tpath("b.tar");
	const char *names[] = {NAME};
	struct cairn_save_options o = {
	    .format = CAIRN_SAVE_OCI_ARCHIVE, .compression = -1, .source_date_epoch = -1};
	ok_err(cairn_image_save(s1, names, 1, a, &o, &err), err, "save as OCI archive");
	char *layout = tar_member(a, "oci-layout", NULL);
	ok(layout && strstr(layout, "1.0.0"), "archive has oci-layout");
	free(layout);
	struct loaded_list ll = {0};
	ok_err(cairn_image_load(s3, a, on_loaded, &ll, &err), err, "load the OCI archive");
	is_str(ll.ids[0], id, "same id from the archive");
	ok_err(cairn_image_save(s3, names, 1, b, &o, &err), err, "save it again");
	ok(same_file(a, b), "archives are byte-identical");
	free(a);
	free(b);
}

static void test_docker(cairn_store *s1, cairn_store *s4, const char *id)
{
	cairn_error *err = NULL;
	char *a = tpath("d.tar"), *b = tpath("d2.tar");
	const char *names[] = {NAME};
	struct cairn_save_options o = {
	    .format = CAIRN_SAVE_DOCKER, .compression = -1, .source_date_epoch = -1};
	ok_err(cairn_image_save(s1, names, 1, a, &o, &err), err, "save as Docker archive");
	char *mj = tar_member(a, "manifest.json", NULL);
	json_t *m = mj ? json_loads(mj, 0, NULL) : NULL;
	json_t *e = json_array_get(m, 0);
	char cfg[80];
	snprintf(cfg, sizeof(cfg), "%s.json", id + 7);
	is_str(jstr(e, "Config"), cfg, "manifest.json Config");
	is_str(json_string_value(json_array_get(json_object_get(e, "RepoTags"), 0)), NAME,
	       "manifest.json RepoTags");
	const char *layer = json_string_value(json_array_get(json_object_get(e, "Layers"), 0));
	size_t llen = 0;
	char *tarbytes = layer ? tar_member(a, layer, &llen) : NULL;
	ok(tarbytes && llen > 0 && llen % 512 == 0, "layer.tar is an uncompressed tar");
	char *repos = tar_member(a, "repositories", NULL);
	ok(repos && strstr(repos, "\"example.com/test/app\":{\"v1\":"), "repositories: %s", repos);
	free(repos);
	free(tarbytes);
	free(mj);
	json_decref(m);

	struct loaded_list ll = {0};
	ok_err(cairn_image_load(s4, a, on_loaded, &ll, &err), err, "load the Docker archive");
	is_str(ll.names[0], NAME, "name from RepoTags");
	is_str(ll.ids[0], id, "same id from the Docker archive");
	ok_err(cairn_image_save(s4, names, 1, b, &o, &err), err, "save it again");
	ok(same_file(a, b), "Docker archives are byte-identical");

	/* a docker-loaded image saves as OCI with the same manifest digest as the original */
	char *d1 = tpath("from-docker"), *d2 = tpath("from-import");
	o.format = CAIRN_SAVE_OCI_DIR;
	ok_err(cairn_image_save(s4, names, 1, d1, &o, &err), err, "docker-loaded image as OCI");
	ok_err(cairn_image_save(s1, names, 1, d2, &o, &err), err, "imported image as OCI");
	char *x1 = layout_top_digest(d1, 0), *x2 = layout_top_digest(d2, 0);
	is_str(x1, x2, "same generated manifest");
	free(x1);
	free(x2);
	free(d1);
	free(d2);
	free(a);
	free(b);
}

static void test_compressions(cairn_store *s1)
{
	cairn_error *err = NULL;
	const char *names[] = {NAME};
	int comps[] = {CAIRN_COMPRESS_NONE, CAIRN_COMPRESS_ZSTD, CAIRN_COMPRESS_GZIP};
	const char *mts[] = {MT_OCI_LAYER, MT_OCI_LAYER_ZSTD, MT_OCI_LAYER_GZIP};
	for (size_t i = 0; i < ARRAY_SIZE(comps); i++) {
		char name[32];
		snprintf(name, sizeof(name), "comp-%zu", i);
		char *dir = tpath(name);
		struct cairn_save_options o = {
		    .format = CAIRN_SAVE_OCI_DIR, .compression = comps[i], .source_date_epoch = -1};
		ok_err(cairn_image_save(s1, names, 1, dir, &o, &err), err, "save %s", mts[i]);
		char *md = layout_top_digest(dir, 0), *mpath = md ? blob_file(dir, md) : NULL;
		char *man = mpath ? slurp(mpath, NULL) : NULL;
		ok(man && strstr(man, mts[i]), "manifest layer media type %s", mts[i]);
		/* the layer blob decompresses to the diff_id */
		json_t *mj = man ? json_loads(man, 0, NULL) : NULL;
		const char *ld = json_string_value(
		    json_object_get(json_array_get(json_object_get(mj, "layers"), 0), "digest"));
		char *lpath = ld ? blob_file(dir, ld) : NULL;
		size_t len = 0;
		char *blob = lpath ? slurp(lpath, &len) : NULL;
		char *bd = blob ? sha256_string(blob, len) : NULL;
		is_str(bd, ld, "layer blob matches its digest");
		free(bd);
		free(blob);
		free(lpath);
		json_decref(mj);
		free(man);
		free(mpath);
		free(md);
		free(dir);
	}
}

int main(void)
{
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	cairn_store *s1 = test_store("s1"), *s2 = test_store("s2"), *s3 = test_store("s3"),
		    *s4 = test_store("s4");
	char *id = import_rootfs(s1, NAME);
	if (!id)
		return tap_done();
	test_import(s1, id);
	test_oci_dir(s1, s2, id);
	test_oci_archive(s1, s3, id);
	test_docker(s1, s4, id);
	test_compressions(s1);
	cairn_store *all[] = {s1, s2, s3, s4};
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		is_int(fsck_count(all[i]), 0, "store %zu: fsck clean", i + 1);
		cairn_store_free(all[i]);
	}
	free(id);
	return tap_done();
}
