/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* OCI/Docker document parsing and validation, store record encoding, times,
 * platforms and the deterministic tar writer. */
#include <archive.h>
#include <archive_entry.h>

#include "oci-internal.h"
#include "tap.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static int parse_index(const char *s, oci_index *x, char **msg)
{
	cairn_error *err = NULL;
	int r = oci_index_parse(s, strlen(s), "index.json", x, &err);
	*msg = err && err->msg ? strdup(err->msg) : NULL;
	cairn_error_free(err);
	return r;
}

static void expect_index_error(const char *doc, const char *want, const char *what)
{
	oci_index x;
	char *msg = NULL;
	int r = parse_index(doc, &x, &msg);
	ok(r == CAIRN_E_FORMAT, "index refused: %s", what);
	ok(msg && strstr(msg, want), "message \"%s\" contains \"%s\"", msg ? msg : "", want);
	if (r == 0)
		oci_index_clear(&x);
	free(msg);
}

static void test_index(void)
{
	const char *doc =
	    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":["
	    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":7,"
	    "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"},"
	    "\"annotations\":{\"" ANNOT_REF_NAME "\":\"v1\"}},"
	    "{\"mediaType\":\"" MT_DOCKER_MANIFEST "\",\"digest\":\"" D2 "\",\"size\":0}]}";
	oci_index x;
	char *msg = NULL;
	if (!ok(parse_index(doc, &x, &msg) == 0, "valid index")) {
		tap_diag("%s", msg);
		return;
	}
	is_int(x.n, 2, "two manifests");
	is_str(x.manifests[0].media_type, MT_OCI_MANIFEST, "media type");
	is_int(x.manifests[0].size, 7, "size");
	ok(x.manifests[0].has_platform, "platform");
	is_str(x.manifests[0].platform.arch, "arm64", "arch");
	is_str(x.manifests[0].platform.variant, "v8", "variant");
	is_str(oci_desc_annotation(&x.manifests[0], ANNOT_REF_NAME), "v1", "annotation");
	ok(!x.manifests[1].has_platform, "no platform");
	ok(oci_desc_annotation(&x.manifests[1], ANNOT_REF_NAME) == NULL, "no annotation");
	oci_index_clear(&x);

	expect_index_error("{\"schemaVersion\":2,\n\"manifests\":[\n{,}]}",
			   "index.json: line 3:", "syntax error with its line");
	expect_index_error("[1,2]", "not a JSON object", "not an object");
	expect_index_error("{\"manifests\":[]}", "schemaVersion: missing", "no schemaVersion");
	expect_index_error("{\"schemaVersion\":1,\"manifests\":[]}", "must be 2", "schema 1");
	expect_index_error("{\"schemaVersion\":2}", "manifests: missing", "no manifests");
	expect_index_error("{\"schemaVersion\":2,\"manifests\":{}}", "not an array",
			   "object manifests");
	expect_index_error("{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST
			   "\",\"manifests\":[]}",
			   "is not an index", "wrong media type");
	expect_index_error("{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" D1
			   "\",\"size\":1}]}",
			   "manifests[0].mediaType: missing", "descriptor without media type");
	expect_index_error("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\","
			   "\"digest\":\"sha256:12\",\"size\":1}]}",
			   "manifests[0].digest: invalid digest", "short digest");
	expect_index_error("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\","
			   "\"digest\":\"sha512:12\",\"size\":1}]}",
			   "unsupported digest algorithm", "sha512");
	expect_index_error(
	    "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"" D1
	    "\",\"size\":-1}]}",
	    "manifests[0].size: not a non-negative integer", "negative size");
	expect_index_error(
	    "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"" D1
	    "\",\"size\":\"1\"}]}",
	    "size", "string size");
	expect_index_error(
	    "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"" D1
	    "\",\"size\":1,\"annotations\":{\"a\":1}}]}",
	    "annotations: values must be strings", "annotation value");
	expect_index_error(
	    "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"" D1
	    "\",\"size\":1,\"platform\":{\"os\":\"linux\"}}]}",
	    "platform.architecture: missing", "platform without architecture");
	expect_index_error("{\"schemaVersion\":2,\"schemaVersion\":2,\"manifests\":[]}",
			   "duplicate", "duplicate keys");
	expect_index_error("", "index.json: line", "empty document");
}

static void test_manifest_config(void)
{
	const char *m =
	    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
	    "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"" D1 "\",\"size\":3},"
	    "\"layers\":[{\"mediaType\":\"" MT_OCI_LAYER_GZIP "\",\"digest\":\"" D2
	    "\",\"size\":9}]}";
	oci_manifest man;
	cairn_error *err = NULL;
	ok(oci_manifest_parse(m, strlen(m), "m", &man, &err) == 0, "valid manifest");
	is_int(man.n_layers, 1, "one layer");
	is_str(man.config.media_type, MT_OCI_CONFIG, "config media type");
	is_int(oci_media_kind(man.layers[0].media_type), OCI_K_LAYER, "layer kind");
	is_int(oci_media_lookup(man.layers[0].media_type)->compression, CAIRN_COMPRESS_GZIP,
	       "gzip");
	oci_manifest_clear(&man);

	const char *bad[] = {
	    "{\"schemaVersion\":2,\"layers\":[]}",
	    "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1
	    "\",\"size\":1}}",
	    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"config\":{},\"layers\":[]}",
	    "{\"schemaVersion\":2,\"config\":null,\"layers\":[]}",
	};
	const char *want[] = {"config: not an object", "layers: missing",
			      "is not an image manifest", "config: not an object"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cairn_error_free(err);
		err = NULL;
		ok(oci_manifest_parse(bad[i], strlen(bad[i]), "m.json", &man, &err) ==
		       CAIRN_E_FORMAT,
		   "manifest %zu refused", i);
		ok(err && strstr(err->msg, want[i]) && strncmp(err->msg, "m.json: ", 8) == 0,
		   "message: %s", err ? err->msg : "");
	}

	const char *c =
	    "{\"created\":\"2024-01-02T03:04:05.123456789Z\",\"architecture\":\"amd64\","
	    "\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1
	    "\",\"" D2 "\"]}}";
	oci_config cfg;
	ok(oci_config_parse(c, strlen(c), "c", &cfg, NULL) == 0, "valid config");
	is_int(cfg.n_diff_ids, 2, "two diff_ids");
	is_int(cfg.created, 1704164645, "created");
	is_str(cfg.platform.arch, "amd64", "architecture");
	oci_config_clear(&cfg);
	const char *badc[] = {
	    "{\"rootfs\":{\"type\":\"tarballs\",\"diff_ids\":[]}}",
	    "{\"architecture\":\"amd64\"}",
	    "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:xyz\"]}}",
	    "{\"created\":\"yesterday\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
	    "{\"os\":7,\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
	};
	for (size_t i = 0; i < ARRAY_SIZE(badc); i++)
		ok(oci_config_parse(badc[i], strlen(badc[i]), "c", &cfg, NULL) == CAIRN_E_FORMAT,
		   "config %zu refused", i);
	cairn_error_free(err);
}

static void test_docker(void)
{
	const char *m = "[{\"Config\":\"abc.json\",\"RepoTags\":[\"busybox:latest\",\"x/y:1\"],"
			"\"Layers\":[\"l1/layer.tar\",\"l2/layer.tar\"]},"
			"{\"Config\":\"def.json\",\"RepoTags\":null,\"Layers\":[]}]";
	docker_manifest dm;
	ok(docker_manifest_parse(m, strlen(m), "manifest.json", &dm, NULL) == 0, "docker manifest");
	is_int(dm.n, 2, "two images");
	is_str(dm.images[0].config, "abc.json", "config");
	is_int(dm.images[0].n_tags, 2, "tags");
	is_str(dm.images[0].tags[1], "x/y:1", "tag");
	is_int(dm.images[0].n_layers, 2, "layers");
	is_int(dm.images[1].n_tags, 0, "null tags");
	docker_manifest_clear(&dm);
	const char *bad[] = {"{}",
			     "[1]",
			     "[{\"Layers\":[]}]",
			     "[{\"Config\":\"a\"}]",
			     "[{\"Config\":\"a\",\"Layers\":[1]}]",
			     "[{\"Config\":\"a\",\"Layers\":[],\"RepoTags\":\"x\"}]",
			     "[{\"Config\":"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		cairn_error *err = NULL;
		ok(docker_manifest_parse(bad[i], strlen(bad[i]), "manifest.json", &dm, &err) ==
		       CAIRN_E_FORMAT,
		   "docker manifest %zu refused: %s", i, err ? err->msg : "");
		cairn_error_free(err);
	}
	const char *layout = "{\"imageLayoutVersion\":\"1.0.0\"}";
	ok(oci_layout_check(layout, strlen(layout), "oci-layout", NULL) == 0, "oci-layout");
	ok(oci_layout_check("{\"imageLayoutVersion\":\"2\"}", 26, "oci-layout", NULL) ==
	       CAIRN_E_FORMAT,
	   "unknown layout version");
	is_int(oci_json_sniff("{\"manifests\":[]}", 16), OCI_K_INDEX, "sniff index");
	is_int(oci_json_sniff("{\"config\":{},\"layers\":[]}", 25), OCI_K_MANIFEST,
	       "sniff manifest");
	is_int(oci_json_sniff("xx", 2), OCI_K_UNKNOWN, "sniff garbage");
}

static void test_time_platform(void)
{
	int64_t t;
	ok(oci_time_parse("1970-01-01T00:00:00Z", &t) == 0 && t == 0, "epoch");
	ok(oci_time_parse("2024-01-02T03:04:05+01:00", &t) == 0 && t == 1704164645 - 3600,
	   "offset");
	ok(oci_time_parse("2024-01-02T03:04:05.5-00:30", &t) == 0 && t == 1704164645 + 1800,
	   "fraction and negative offset");
	ok(oci_time_parse("2024-01-02 03:04:05", &t) < 0, "no zone refused");
	ok(oci_time_parse("2024-01-02T03:04:05Zjunk", &t) < 0, "trailing junk refused");
	char buf_[32];
	oci_time_format(1704164645, buf_);
	is_str(buf_, "2024-01-02T03:04:05Z", "format");

	oci_platform p;
	ok(oci_platform_parse("linux/x86_64", &p) == 0, "parse alias");
	is_str(p.arch, "amd64", "x86_64 -> amd64");
	ok(p.variant == NULL, "no variant");
	oci_platform_clear(&p);
	ok(oci_platform_parse("linux/arm/v7", &p) == 0, "parse with variant");
	char *str = oci_platform_string(&p);
	is_str(str, "linux/arm/v7", "string");
	free(str);
	oci_platform_clear(&p);
	ok(oci_platform_parse("linux", &p) < 0, "missing arch refused");
	ok(oci_platform_parse("linux/arm/v7/x", &p) < 0, "too many parts refused");
	ok(oci_platform_host(&p) == 0 && strcmp(p.os, "linux") == 0 && p.arch[0],
	   "host platform %s", p.arch);
	oci_platform_clear(&p);
}

static void test_records(void)
{
	diff_rec d = {.size = 12345, .from_blob = true, .blob_compression = CAIRN_COMPRESS_ZSTD};
	memset(d.layer.b, 0xab, sizeof(d.layer.b));
	memset(d.blob.b, 0xcd, sizeof(d.blob.b));
	d.gzip = (diff_cache){.set = true, .size = 99};
	memset(d.gzip.digest.b, 0x11, sizeof(d.gzip.digest.b));
	char *enc;
	size_t len;
	ok(diff_rec_encode(&d, &enc, &len) == 0, "encode diff");
	diff_rec back;
	ok(diff_rec_decode(enc, len, &back) == 0, "decode diff");
	ok(memcmp(&back.layer, &d.layer, sizeof(d.layer)) == 0 && back.size == d.size &&
	       back.from_blob && back.blob_compression == CAIRN_COMPRESS_ZSTD && back.gzip.set &&
	       back.gzip.size == 99 && !back.zstd.set &&
	       memcmp(&back.blob, &d.blob, sizeof(d.blob)) == 0,
	   "diff record round trip: %s", enc);
	free(enc);
	ok(diff_rec_decode("{\"layer\":\"zz\"}", 14, &back) == CAIRN_E_CORRUPT, "damaged diff");

	img_rec r = {.toplevel = true, .created = 42, .n_layers = 2};
	img_layer layers[2] = {0};
	cairn_digest_parse(D1, false, &layers[0].diff_id);
	cairn_digest_parse(D2, false, &layers[1].diff_id);
	img_desc_set(&layers[1].blob, MT_OCI_LAYER_GZIP, &layers[0].diff_id, 77);
	r.layers = layers;
	r.platform = (oci_platform){"linux", "arm", "v7"};
	img_desc_set(&r.config, MT_OCI_CONFIG, &layers[1].diff_id, 5);
	snprintf(r.id, sizeof(r.id), "%s", D2);
	ok(img_rec_encode(&r, &enc, &len) == 0, "encode image");
	img_rec rb;
	ok(img_rec_decode(D2, enc, len, &rb) == 0, "decode image: %s", enc);
	ok(!rb.is_index && rb.toplevel && rb.created == 42 && rb.n_layers == 2 &&
	       !rb.layers[0].blob.set && rb.layers[1].blob.set && rb.layers[1].blob.size == 77 &&
	       strcmp(rb.platform.variant, "v7") == 0 && rb.config.size == 5 && !rb.manifest.set,
	   "image record round trip");
	img_rec_clear(&rb);
	free(enc);
	img_desc_clear(&layers[1].blob);
	img_desc_clear(&r.config);

	img_rec x = {.is_index = true, .n_children = 1};
	char *kids[] = {(char *) D1, NULL};
	x.children = kids;
	snprintf(x.id, sizeof(x.id), "%s", D1);
	img_desc_set(&x.index, MT_OCI_INDEX, &layers[0].diff_id, 300);
	ok(img_rec_add_blob(&x, &layers[0].diff_id) == 1, "add blob");
	ok(img_rec_add_blob(&x, &layers[0].diff_id) == 0, "add blob twice");
	enc = NULL;
	ok(img_rec_encode(&x, &enc, &len) == 0, "encode index record");
	ok(enc && img_rec_decode(D1, enc, len, &rb) == 0, "index record round trip: %s", enc);
	ok(rb.is_index && !rb.toplevel && rb.n_children == 1 && strcmp(rb.children[0], D1) == 0 &&
	       rb.n_blobs == 1 && rb.index.size == 300,
	   "index record fields");
	img_rec_clear(&rb);
	free(enc);
	free(x.blobs);
	img_desc_clear(&x.index);
	ok(img_rec_decode(D1, "{\"kind\":\"other\",\"toplevel\":true}", 33, &rb) == CAIRN_E_CORRUPT,
	   "unknown kind refused");
	ok(img_rec_decode("sha256:1", "{}", 2, &rb) == CAIRN_E_CORRUPT, "bad id refused");

	bytebuf b = {0};
	cairn_id id, id2;
	uint64_t size;
	memset(id.b, 7, sizeof(id.b));
	ok(blob_rec_encode(&id, 1ull << 40, &b) == 0, "encode blob");
	ok(blob_rec_decode(b.data, b.len, &id2, &size) == 0 && size == 1ull << 40 &&
	       memcmp(&id, &id2, sizeof(id)) == 0,
	   "blob record round trip");
	ok(blob_rec_decode(b.data, b.len - 1, &id2, &size) == CAIRN_E_CORRUPT,
	   "truncated blob rec");
	buf_clear(&b);
}

static int mem_write(void *userdata, const void *data, size_t len)
{
	return buf_append(userdata, data, len);
}

static void test_tar(void)
{
	bytebuf out = {0};
	cairn_writer *w = cairn_writer_fn(mem_write, &out);
	tarw t = {.out = w, .mtime = 1234};
	char longname[200];
	memset(longname, 'n', sizeof(longname));
	memcpy(longname + 90, "/", 1);
	longname[150] = 0;
	ok(tarw_dir(&t, "blobs") == 0, "dir");
	ok(tarw_file(&t, "blobs/x", 5) == 0 && tarw_data(&t, "hello", 5) == 0 &&
	       tarw_file_end(&t) == 0,
	   "file");
	ok(tarw_file(&t, longname, 0) == 0 && tarw_file_end(&t) == 0, "long name (prefix split)");
	ok(tarw_finish(&t) == 0, "finish");
	cairn_writer_free(w);

	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	ok(archive_read_open_memory(a, out.data, out.len) == ARCHIVE_OK, "libarchive reads it");
	struct archive_entry *e;
	const char *names[] = {"blobs/", "blobs/x", longname};
	size_t i = 0;
	while (archive_read_next_header(a, &e) == ARCHIVE_OK && i < 3) {
		is_str(archive_entry_pathname(e), names[i], "entry %zu name", i);
		is_int(archive_entry_mtime(e), 1234, "mtime");
		is_int(archive_entry_uid(e), 0, "uid");
		is_int(archive_entry_perm(e), i == 0 ? 0755 : 0644, "mode");
		if (i == 1) {
			char data[8] = {0};
			is_int(archive_read_data(a, data, sizeof(data)), 5, "data size");
			is_str(data, "hello", "data");
		}
		i++;
	}
	is_int(i, 3, "three entries");
	archive_read_free(a);
	buf_clear(&out);

	w = cairn_writer_fn(mem_write, &out);
	t = (tarw){.out = w};
	ok(tarw_file(&t, "y", 3) == 0 && tarw_data(&t, "abcd", 4) == -EFBIG, "overrun refused");
	ok(tarw_file_end(&t) == -EIO, "short entry refused");
	ok(tarw_file(&t, "z", 1) == -EINVAL, "next header before the data refused");
	cairn_writer_free(w);
	buf_clear(&out);

	/* sizes beyond 8 GiB use base-256 */
	w = cairn_writer_fn(mem_write, &out);
	t = (tarw){.out = w};
	ok(tarw_file(&t, "big", 9ull << 30) == 0, "big header");
	ok((uint8_t) out.data[124] == 0x80, "base-256 size marker");
	uint64_t v = 0;
	for (int k = 125; k < 136; k++)
		v = v << 8 | (uint8_t) out.data[k];
	is_int(v, 9ull << 30, "base-256 size value");
	cairn_writer_free(w);
	buf_clear(&out);
}

int main(void)
{
	test_index();
	test_manifest_config();
	test_docker();
	test_time_platform();
	test_records();
	test_tar();
	return tap_done();
}
