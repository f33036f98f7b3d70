/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Loading hand-written OCI layouts (layers compressed with non-default
 * levels, pretty-printed JSON, Docker media types, a multi-platform index
 * with an attestation manifest) and saving them unchanged keeps every
 * digest; other compressions reuse what matches and regenerate the rest. */
#include "oci-test.h"

static bool blobs_identical(const char *a, const char *b, const char *digest)
{
	char *pa = blob_file(a, digest), *pb = blob_file(b, digest);
	bool same = same_file(pa, pb);
	free(pa);
	free(pb);
	return same;
}

static const struct tfile files1[] = {
    {"etc", 'd', NULL, 0755},
    {"etc/one", 'f', "first layer\n", 0644},
};
static const struct tfile files2[] = {
    {"etc", 'd', NULL, 0755},
    {"etc/.wh.one", 'f', "", 0644},
    {"etc/two", 'f', "second layer\n", 0640},
};
static const struct tfile files_base[] = {
    {"base", 'f', "shared base layer\n", 0644},
};
static const struct tfile files_arm[] = {
    {"arm", 'f', "arm64 only\n", 0644},
};

static void test_single(cairn_store *s)
{
	cairn_error *err = NULL;
	char *dir = tpath("hand"), *out = tpath("hand-out"), *out2 = tpath("hand-gzip");
	struct blayer ls[2] = {
	    build_layer(dir, "1", files1, ARRAY_SIZE(files1), CAIRN_COMPRESS_GZIP, 9),
	    build_layer(dir, "2", files2, ARRAY_SIZE(files2), CAIRN_COMPRESS_ZSTD, 19)};
	struct doc cfg = put_config(dir, "amd64", ls, 2);
	struct doc man = put_manifest(dir, MT_OCI_MANIFEST, MT_OCI_CONFIG, cfg, ls, 2);
	char *index = NULL;
	if (asprintf(&index,
		     "{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"%s\", \"digest\": "
		     "\"%s\", \"size\": %zu, \"annotations\": {\"%s\": \"v1.0\"}}]}",
		     MT_OCI_MANIFEST, man.digest, man.size, ANNOT_REF_NAME) < 0)
		exit(99);
	put_layout(dir, index);

	struct loaded_list ll = {0};
	ok_err(cairn_image_load(s, dir, on_loaded, &ll, &err), err, "load hand-written layout");
	is_str(ll.names[0], "v1.0:latest", "bare ref.name tag becomes a reference");
	is_str(ll.ids[0], cfg.digest, "image id is the config digest");

	const char *names[] = {"v1.0"};
	struct cairn_save_options o = {
	    .format = CAIRN_SAVE_OCI_DIR, .compression = -1, .source_date_epoch = -1};
	ok_err(cairn_image_save(s, names, 1, out, &o, &err), err, "save unchanged");
	char *top = layout_top_digest(out, 0);
	is_str(top, man.digest, "manifest digest kept");
	ok(blobs_identical(dir, out, man.digest), "manifest bytes identical");
	ok(blobs_identical(dir, out, cfg.digest), "config bytes identical");
	ok(blobs_identical(dir, out, ls[0].digest), "gzip -9 layer identical");
	ok(blobs_identical(dir, out, ls[1].digest), "zstd -19 layer identical");
	free(top);

	/* gzip: the gzip layer is reused as is, the zstd one is recompressed */
	o.compression = CAIRN_COMPRESS_GZIP;
	ok_err(cairn_image_save(s, names, 1, out2, &o, &err), err, "save with gzip");
	char *md = layout_top_digest(out2, 0), *mp = md ? blob_file(out2, md) : NULL;
	char *mj = mp ? slurp(mp, NULL) : NULL;
	json_t *m = mj ? json_loads(mj, 0, NULL) : NULL;
	json_t *l0 = json_array_get(json_object_get(m, "layers"), 0);
	json_t *l1 = json_array_get(json_object_get(m, "layers"), 1);
	is_str(json_string_value(json_object_get(l0, "digest")), ls[0].digest, "gzip blob reused");
	is_str(json_string_value(json_object_get(l1, "mediaType")), MT_OCI_LAYER_GZIP,
	       "zstd layer now gzip");
	is_str(json_string_value(json_object_get(json_object_get(m, "config"), "digest")),
	       cfg.digest, "same config");
	const char *l1d = json_string_value(json_object_get(l1, "digest"));
	char *l1p = l1d ? blob_file(out2, l1d) : NULL;
	size_t zlen = 0;
	char *z = l1p ? slurp(l1p, &zlen) : NULL;
	char *check = tpath("l1.tar.gz");
	if (z)
		write_bytes(check, z, zlen);
	char *cmd = NULL;
	if (asprintf(&cmd, "test \"sha256:$(gzip -dc '%s' | sha256sum | cut -c1-64)\" = '%s'",
		     check, ls[1].diff_id) < 0)
		exit(99);
	is_int(run(cmd), 0, "recompressed layer has the diff_id");
	free(cmd);
	free(check);
	free(z);
	free(l1p);
	json_decref(m);
	free(mj);
	free(mp);
	free(md);

	/* loading the same layout twice adds nothing */
	size_t blobs = count_records(s, CAIRN_T_BLOBS);
	ok_err(cairn_image_load(s, dir, NULL, NULL, &err), err, "load again");
	is_int(count_records(s, CAIRN_T_BLOBS), blobs, "no new blobs");

	/* an OCI archive made with tar (./ prefixes), read from stdin */
	char *tarf = tpath("hand.tar");
	if (asprintf(&cmd, "tar -C '%s' -cf '%s' .", dir, tarf) < 0)
		exit(99);
	is_int(run(cmd), 0, "tar the layout");
	free(cmd);
	cairn_store *s2 = test_store("stdin-store");
	int saved = dup(0), fd = open(tarf, O_RDONLY);
	dup2(fd, 0);
	close(fd);
	ll = (struct loaded_list){0};
	ok_err(cairn_image_load(s2, "-", on_loaded, &ll, &err), err, "load archive from stdin");
	dup2(saved, 0);
	close(saved);
	is_str(ll.ids[0], cfg.digest, "same image from stdin");
	is_int(fsck_count(s2), 0, "stdin store clean");
	cairn_store_free(s2);
	free(tarf);

	free_layer(&ls[0]);
	free_layer(&ls[1]);
	free(cfg.digest);
	free(man.digest);
	free(index);
	free(dir);
	free(out);
	free(out2);
}

static void test_docker_types(cairn_store *s)
{
	cairn_error *err = NULL;
	char *dir = tpath("dockertypes"), *out = tpath("dockertypes-out");
	struct blayer l = build_layer(dir, "d", files1, ARRAY_SIZE(files1), CAIRN_COMPRESS_GZIP, 1);
	l.mt = MT_DOCKER_LAYER_GZIP;
	struct doc cfg = put_config(dir, "amd64", &l, 1);
	struct doc man = put_manifest(dir, MT_DOCKER_MANIFEST, MT_DOCKER_CONFIG, cfg, &l, 1);
	char *index = NULL;
	if (asprintf(&index,
		     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
		     "\"size\":%zu,\"annotations\":{\"%s\":\"localhost:5000/dt:x\"}}]}",
		     MT_DOCKER_MANIFEST, man.digest, man.size, ANNOT_CONTAINERD_NAME) < 0)
		exit(99);
	put_layout(dir, index);
	ok_err(cairn_image_load(s, dir, NULL, NULL, &err), err, "load Docker media types");
	const char *names[] = {"localhost:5000/dt:x"};
	struct cairn_save_options o = {
	    .format = CAIRN_SAVE_OCI_DIR, .compression = -1, .source_date_epoch = -1};
	ok_err(cairn_image_save(s, names, 1, out, &o, &err), err, "save");
	char *top = layout_top_digest(out, 0);
	is_str(top, man.digest, "Docker manifest kept verbatim");
	free(top);
	free_layer(&l);
	free(cfg.digest);
	free(man.digest);
	free(index);
	free(dir);
	free(out);
}

struct list_ctx {
	unsigned n;
	char platform[128];
	char name[128];
};

static int list_fn(const struct cairn_image_summary *img, void *userdata)
{
	struct list_ctx *c = userdata;
	if (img->names[0] && strcmp(img->names[0], "registry.test/multi:1") == 0) {
		snprintf(c->platform, sizeof(c->platform), "%s", img->platform);
		snprintf(c->name, sizeof(c->name), "%s", img->names[0]);
	}
	c->n++;
	return 0;
}

static void test_multi(cairn_store *s)
{
	cairn_error *err = NULL;
	char *dir = tpath("multi"), *out = tpath("multi-out"), *out2 = tpath("multi-zstd");
	struct blayer base = build_layer(dir, "b", files_base, 1, CAIRN_COMPRESS_GZIP, 6);
	struct blayer arm[2] = {base, build_layer(dir, "a", files_arm, 1, CAIRN_COMPRESS_GZIP, 6)};
	struct doc c_amd = put_config(dir, "amd64", &base, 1),
		   c_arm = put_config(dir, "arm64", arm, 2);
	struct doc m_amd = put_manifest(dir, MT_OCI_MANIFEST, MT_OCI_CONFIG, c_amd, &base, 1);
	struct doc m_arm = put_manifest(dir, MT_OCI_MANIFEST, MT_OCI_CONFIG, c_arm, arm, 2);
	/* an attestation manifest: not an image, kept verbatim */
	struct doc stmt = put_doc(dir, "{\"_type\":\"https://in-toto.io/Statement/v0.1\"}");
	struct doc acfg =
	    put_doc(dir, "{\"architecture\":\"unknown\",\"os\":\"unknown\",\"config\":{},"
			 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
	char *att = NULL, *idx = NULL, *index = NULL;
	if (asprintf(&att,
		     "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":\"%s\","
		     "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
		     "\"application/vnd.in-toto+json\",\"digest\":\"%s\",\"size\":%zu}]}",
		     MT_OCI_MANIFEST, MT_OCI_CONFIG, acfg.digest, acfg.size, stmt.digest,
		     stmt.size) < 0)
		exit(99);
	struct doc m_att = put_doc(dir, att);
	if (asprintf(&idx,
		     "{\"schemaVersion\":2,\"mediaType\":\"%s\",\"manifests\":["
		     "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":"
		     "{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
		     "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":"
		     "{\"architecture\":\"arm64\",\"os\":\"linux\"}},"
		     "{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu,\"platform\":"
		     "{\"architecture\":\"unknown\",\"os\":\"unknown\"},\"annotations\":"
		     "{\"vnd.docker.reference.type\":\"attestation-manifest\"}}]}",
		     MT_OCI_INDEX, MT_OCI_MANIFEST, m_amd.digest, m_amd.size, MT_OCI_MANIFEST,
		     m_arm.digest, m_arm.size, MT_OCI_MANIFEST, m_att.digest, m_att.size) < 0)
		exit(99);
	struct doc ix = put_doc(dir, idx);
	if (asprintf(
		&index,
		"{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\","
		"\"size\":%zu,\"annotations\":{\"%s\":\"registry.test/multi:1\",\"%s\":\"1\"}}]}",
		MT_OCI_INDEX, ix.digest, ix.size, ANNOT_CONTAINERD_NAME, ANNOT_REF_NAME) < 0)
		exit(99);
	put_layout(dir, index);

	size_t before = count_records(s, CAIRN_T_IMAGES);
	struct loaded_list ll = {0};
	ok_err(cairn_image_load(s, dir, on_loaded, &ll, &err), err, "load multi-platform index");
	is_int(ll.n, 1, "one top-level image");
	is_str(ll.names[0], "registry.test/multi:1", "index name");
	is_str(ll.ids[0], ix.digest, "index image id is the index digest");
	is_int(count_records(s, CAIRN_T_IMAGES) - before, 3, "index + two platform images");

	struct list_ctx lc = {0};
	ok_err(cairn_image_list(s, list_fn, &lc, &err), err, "list");
	is_str(lc.platform, "linux/amd64,linux/arm64", "both platforms listed");

	cairn_image *img = NULL;
	ok_err(cairn_image_open_platform(s, "registry.test/multi:1", "linux/arm64", &img, &err),
	       err, "open arm64 variant");
	is_str(img ? cairn_image_id(img) : NULL, c_arm.digest, "arm64 child");
	is_int(img ? cairn_image_layer_count(img) : 0, 2, "arm64 has two layers");
	cairn_image_free(img);
	ok(cairn_image_open_platform(s, "registry.test/multi:1", "linux/s390x", &img, &err) ==
	       CAIRN_E_NOTFOUND,
	   "no s390x variant");
	cairn_error_free(err);
	err = NULL;

	const char *names[] = {"registry.test/multi:1"};
	struct cairn_save_options o = {
	    .format = CAIRN_SAVE_OCI_DIR, .compression = -1, .source_date_epoch = -1};
	ok_err(cairn_image_save(s, names, 1, out, &o, &err), err, "save the index unchanged");
	char *top = layout_top_digest(out, 0);
	is_str(top, ix.digest, "index digest kept");
	free(top);
	const char *all[] = {ix.digest,	   m_amd.digest, m_arm.digest,	m_att.digest, c_amd.digest,
			     c_arm.digest, base.digest,	 arm[1].digest, acfg.digest,  stmt.digest};
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		ok(blobs_identical(dir, out, all[i]), "blob %zu identical", i);

	o.compression = CAIRN_COMPRESS_ZSTD;
	ok_err(cairn_image_save(s, names, 1, out2, &o, &err), err, "save the index as zstd");
	char *gd = layout_top_digest(out2, 0), *gp = gd ? blob_file(out2, gd) : NULL;
	char *gj = gp ? slurp(gp, NULL) : NULL;
	json_t *g = gj ? json_loads(gj, 0, NULL) : NULL;
	json_t *mans = json_object_get(g, "manifests");
	is_int(json_array_size(mans), 2, "generated index has the two platforms");
	is_str(json_string_value(json_object_get(
		   json_object_get(json_array_get(mans, 1), "platform"), "architecture")),
	       "arm64", "platform kept");
	json_decref(g);
	free(gj);
	free(gp);
	free(gd);

	char *dt = tpath("multi-docker.tar");
	o.format = CAIRN_SAVE_DOCKER;
	o.compression = -1;
	ok_err(cairn_image_save(s, names, 1, dt, &o, &err), err,
	       "save the index as Docker archive");
	char *mj = tar_member(dt, "manifest.json", NULL);
	oci_platform host;
	oci_platform_host(&host);
	bool want_arm = strcmp(host.arch, "arm64") == 0;
	ok(mj && strstr(mj, (want_arm ? c_arm.digest : c_amd.digest) + 7), "host platform chosen");
	oci_platform_clear(&host);
	free(mj);
	free(dt);

	free_layer(&base);
	free_layer(&arm[1]);
	struct doc *docs[] = {&c_amd, &c_arm, &m_amd, &m_arm, &stmt, &acfg, &m_att, &ix};
	for (size_t i = 0; i < ARRAY_SIZE(docs); i++)
		free(docs[i]->digest);
	free(att);
	free(idx);
	free(index);
	free(dir);
	free(out);
	free(out2);
}

int main(void)
{
	cairn_store *s = test_store("store");
	test_single(s);
	test_docker_types(s);
	test_multi(s);
	is_int(fsck_count(s), 0, "fsck clean");
	cairn_store_free(s);
	return tap_done();
}
