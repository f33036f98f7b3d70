/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tar-splits in the image layer: `import` keeps the input tar as the
 * layer (diff_id = sha256 of the plain input, whatever its compression)
 * and reproduces it byte for byte; Docker archives and OCI layouts with
 * uncompressed layers load without a second copy of the layer (no BLOBS
 * record) and save with identical bytes and digests; prune keeps what a
 * split needs; fsck finds a split that lost its contents, and with
 * CAIRN_FSCK_REPLAY one that replays to the wrong bytes. */
#include "oci-test.h"

static bool sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool sh(const char *fmt, ...)
{
	_cleanup_free_ char *cmd = NULL, *full = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (n < 0 || asprintf(&full, "cd '%s' && (%s) >/dev/null 2>&1", tap_tmpdir(), cmd) < 0)
		exit(99);
	int st = run(full);
	if (st != 0)
		tap_diag("`%s` failed (%d)", cmd, st);
	return st == 0;
}

static char *import_stdin(cairn_store *s, const char *file, const char *name)
{
	_cleanup_free_ char *path = tpath(file);
	struct cairn_import_options o = {.name = name, .platform = "linux/amd64"};
	cairn_error *err = NULL;
	char *id = NULL;
	int saved = dup(0), fd = open(path, O_RDONLY);
	dup2(fd, 0);
	close(fd);
	int r = cairn_image_import_tar(s, "-", &o, &id, &err);
	dup2(saved, 0);
	close(saved);
	ok_err(r, err, "import %s from stdin", file);
	return id;
}

static char *sha256sum(const char *file)
{
	_cleanup_free_ char *sum = tpath("sum.txt");
	if (!sh("printf sha256: > sum.txt && sha256sum %s | cut -c1-64 | tr -d '\\n' >> sum.txt",
		file))
		return NULL;
	return slurp(sum, NULL);
}

static bool diff_is_split(cairn_store *s, const char *diff)
{
	cairn_digest d;
	diff_rec rec;
	return cairn_digest_parse(diff, false, &d) >= 0 && diff_get(s, &d, &rec) >= 0 &&
	       rec.from_split && !rec.from_blob;
}

static bool has_blob(cairn_store *s, const char *digest)
{
	cairn_digest d;
	return cairn_digest_parse(digest, false, &d) >= 0 &&
	       cairn_store_has(s, CAIRN_T_BLOBS, d.b, CAIRN_DIGEST_LEN) > 0;
}

/* The first layer's diff_id of an image. */
static char *first_diff(cairn_store *s, const char *id)
{
	img_rec r;
	if (img_get(s, id, &r) < 0 || r.n_layers < 1)
		return NULL;
	char *d = cairn_digest_string(&r.layers[0].diff_id);
	img_rec_clear(&r);
	return d;
}

static const char tree[] =
    "rm -rf tree && mkdir -p tree/etc tree/bin && printf 'hello\\n' > tree/etc/hello && "
    "head -c 200000 /dev/urandom > tree/bin/tool && ln tree/bin/tool tree/bin/tool2 && "
    "ln -s hello tree/etc/motd && truncate -s 1M tree/sparse && "
    "printf x | dd of=tree/sparse bs=1 seek=500000 conv=notrunc status=none && "
    "L=$(printf '%0130d' 0 | tr 0 n) && printf long > tree/etc/$L && "
    "tar --sparse --format=gnu -cf rootfs.tar -C tree . && gzip -n -c rootfs.tar > rootfs.tar.gz "
    "&& "
    "zstd -q -c rootfs.tar > rootfs.tar.zst";

static void test_import(cairn_store *s)
{
	if (!sh("%s", tree)) {
		ok(0, "making rootfs.tar");
		return;
	}
	char *want = sha256sum("rootfs.tar");
	char *ids[3] = {import_stdin(s, "rootfs.tar", "split/import:plain"),
			import_stdin(s, "rootfs.tar.gz", "split/import:gz"),
			import_stdin(s, "rootfs.tar.zst", "split/import:zst")};
	ok(ids[0] && ids[1] && ids[2] && strcmp(ids[0], ids[1]) == 0 && strcmp(ids[0], ids[2]) == 0,
	   "plain, gzip and zstd input: the same image id");
	char *diff = ids[0] ? first_diff(s, ids[0]) : NULL;
	is_str(diff, want, "diff_id is sha256sum of the plain tar");
	ok(diff && diff_is_split(s, diff), "the diff's source is a tar-split");
	is_int(count_records(s, CAIRN_T_BLOBS), 1, "only the config is a blob");

	/* save: the layer is the input tar, uncompressed, gzip'd and in a Docker archive */
	const char *names[] = {"split/import:plain"};
	_cleanup_free_ char *dir = tpath("imp-none"), *dock = tpath("imp-docker.tar");
	_cleanup_free_ char *layer = NULL, *orig = tpath("rootfs.tar"), *lpath = NULL;
	cairn_error *err = NULL;
	struct cairn_save_options o = {.format = CAIRN_SAVE_OCI_DIR,
				       .compression = CAIRN_COMPRESS_NONE,
				       .source_date_epoch = -1};
	ok_err(cairn_image_save(s, names, 1, dir, &o, &err), err, "save uncompressed OCI");
	lpath = diff ? blob_file(dir, diff) : NULL;
	ok(lpath && same_file(lpath, orig), "OCI layer blob is the input tar byte for byte");
	o.format = CAIRN_SAVE_DOCKER;
	o.compression = -1;
	ok_err(cairn_image_save(s, names, 1, dock, &o, &err), err, "save as Docker archive");
	char lname[80];
	snprintf(lname, sizeof(lname), "%s/layer.tar", diff ? diff + 7 : "");
	size_t llen = 0, olen = 0;
	layer = tar_member(dock, lname, &llen);
	_cleanup_free_ char *obytes = slurp(orig, &olen);
	ok(layer && obytes && llen == olen && memcmp(layer, obytes, olen) == 0,
	   "Docker layer.tar is the input tar byte for byte");
	_cleanup_free_ char *gzdir = tpath("imp-gzip");
	o = (struct cairn_save_options){.format = CAIRN_SAVE_OCI_DIR,
					.compression = CAIRN_COMPRESS_GZIP,
					.source_date_epoch = -1};
	ok_err(cairn_image_save(s, names, 1, gzdir, &o, &err), err, "save gzip OCI");
	ok(sh("for b in imp-gzip/blobs/sha256/*; do gzip -t $b 2>/dev/null && "
	      "gzip -dc $b | cmp -s - rootfs.tar && exit 0; done; exit 1"),
	   "the gzip layer decompresses to the input tar");
	is_int(fsck_count(s), 0, "fsck clean");
	is_int(fsck_count_flags(s, CAIRN_FSCK_REPLAY), 0, "fsck with replay clean");
	for (size_t i = 0; i < 3; i++)
		free(ids[i]);
	free(diff);
	free(want);
}

/* A Docker archive loads without keeping the layer twice and saves back identically. */
static void test_docker(cairn_store *s, cairn_store *s2)
{
	cairn_error *err = NULL;
	_cleanup_free_ char *a = tpath("imp-docker.tar"), *b = tpath("docker-again.tar");
	struct loaded_list ll = {0};
	ok_err(cairn_image_load(s2, a, on_loaded, &ll, &err), err, "load the Docker archive");
	char *diff = ll.n ? first_diff(s2, ll.ids[0]) : NULL;
	ok(diff && !has_blob(s2, diff), "no BLOBS record for the uncompressed layer");
	ok(diff && diff_is_split(s2, diff), "its diff is a tar-split");
	is_int(count_records(s2, CAIRN_T_BLOBS), 1, "only the config is a blob");
	const char *names[] = {"split/import:plain"};
	struct cairn_save_options o = {
	    .format = CAIRN_SAVE_DOCKER, .compression = -1, .source_date_epoch = -1};
	ok_err(cairn_image_save(s2, names, 1, b, &o, &err), err, "save it as Docker again");
	ok(same_file(a, b), "Docker archives byte-identical");
	/* loading it again reads nothing new */
	size_t contents = 0;
	struct cairn_store_usage u0, u1;
	cairn_store_usage(s2, &u0);
	ok_err(cairn_image_load(s2, a, NULL, NULL, &err), err, "load again");
	cairn_store_usage(s2, &u1);
	contents = u1.contents - u0.contents;
	is_int(contents, 0, "no new contents");
	free(diff);
}

static const struct tfile files1[] = {
    {"etc", 'd', NULL, 0755},
    {"etc/one", 'f', "first layer\n", 0644},
    {"etc/big", 'f', "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 0644},
};
static const struct tfile files2[] = {
    {"etc", 'd', NULL, 0755},
    {"etc/two", 'f', "second layer\n", 0640},
};

/* An OCI layout with an uncompressed and a gzip layer. */
static void test_oci(cairn_store *s)
{
	cairn_error *err = NULL;
	_cleanup_free_ char *dir = tpath("plainlayers"), *out = tpath("plainlayers-out"),
			    *arch = tpath("plainlayers.tar"), *out2 = tpath("plainlayers-out2");
	struct blayer ls[2] = {
	    build_layer(dir, "p1", files1, ARRAY_SIZE(files1), CAIRN_COMPRESS_NONE, 0),
	    build_layer(dir, "p2", files2, ARRAY_SIZE(files2), CAIRN_COMPRESS_GZIP, 9)};
	struct doc cfg = put_config(dir, "amd64", ls, 2);
	struct doc man = put_manifest(dir, MT_OCI_MANIFEST, MT_OCI_CONFIG, cfg, ls, 2);
	_cleanup_free_ char *index = NULL;
	if (asprintf(&index,
		     "{\"schemaVersion\": 2, \"manifests\": [{\"mediaType\": \"%s\", \"digest\": "
		     "\"%s\", \"size\": %zu, \"annotations\": {\"%s\": \"split.example/p:1\"}}]}",
		     MT_OCI_MANIFEST, man.digest, man.size, ANNOT_CONTAINERD_NAME) < 0)
		exit(99);
	put_layout(dir, index);
	ok_err(cairn_image_load(s, dir, NULL, NULL, &err), err, "load layout with a plain layer");
	ok(!has_blob(s, ls[0].digest) && diff_is_split(s, ls[0].diff_id),
	   "plain layer: a tar-split, no BLOBS record");
	ok(has_blob(s, ls[1].digest), "gzip layer: the blob is kept");
	const char *names[] = {"split.example/p:1"};
	struct cairn_save_options o = {
	    .format = CAIRN_SAVE_OCI_DIR, .compression = -1, .source_date_epoch = -1};
	ok_err(cairn_image_save(s, names, 1, out, &o, &err), err, "save unchanged");
	char *top = layout_top_digest(out, 0);
	is_str(top, man.digest, "manifest digest kept");
	free(top);
	char *p1 = blob_file(dir, ls[0].digest), *p2 = blob_file(out, ls[0].digest);
	ok(same_file(p1, p2), "plain layer blob identical");
	free(p1);
	free(p2);
	_cleanup_free_ char *inspect = NULL;
	ok_err(cairn_image_inspect_json(s, names[0], &inspect, &err), err, "inspect");
	ok(inspect && strstr(inspect, man.digest), "inspect shows the verbatim manifest digest");

	/* loading it again stores nothing new; prune keeps the split */
	size_t blobs = count_records(s, CAIRN_T_BLOBS);
	ok_err(cairn_image_load(s, dir, NULL, NULL, &err), err, "load again");
	is_int(count_records(s, CAIRN_T_BLOBS), blobs, "no new blobs");
	struct cairn_prune_stats ps;
	ok_err(cairn_prune(s, &ps, &err), err, "prune");
	ok_err(cairn_image_save(s, names, 1, out2, &o, &err), err, "save after prune");
	top = layout_top_digest(out2, 0);
	is_str(top, man.digest, "manifest digest kept after prune");
	free(top);

	/* an OCI archive of the layout, as an index child via stdin-free path */
	ok(sh("tar -C plainlayers -cf plainlayers.tar ."), "tar the layout");
	cairn_store *s3 = test_store("oci-archive-store");
	ok_err(cairn_image_load(s3, arch, NULL, NULL, &err), err, "load the OCI archive");
	ok(!has_blob(s3, ls[0].digest), "archive: no BLOBS record for the plain layer");
	is_int(fsck_count(s3), 0, "archive store clean");
	cairn_store_free(s3);
	free_layer(&ls[0]);
	free_layer(&ls[1]);
	free(cfg.digest);
	free(man.digest);
}

/* A split whose contents are gone, and one that replays to other bytes. */
static void test_damage(void)
{
	cairn_store *s = test_store("damage");
	cairn_error *err = NULL;
	char *id = import_stdin(s, "rootfs.tar", "split/damage:1");
	char *diff = id ? first_diff(s, id) : NULL;
	cairn_digest dd;
	diff_rec d;
	if (!diff || cairn_digest_parse(diff, false, &dd) < 0 || diff_get(s, &dd, &d) < 0) {
		ok(0, "damage: import");
		free(id);
		free(diff);
		cairn_store_free(s);
		return;
	}
	/* the same record under another diff_id: sizes fit, bytes do not */
	cairn_digest fake = dd;
	fake.b[0] ^= 0xff;
	cairn_batch *b = NULL;
	cairn_batch_new(s, &b);
	diff_put(b, &fake, &d);
	cairn_batch_commit(b, NULL);
	cairn_batch_free(b);
	is_int(fsck_count(s), 0, "a split under a wrong diff_id passes the quick fsck");
	is_int(fsck_count_flags(s, CAIRN_FSCK_REPLAY), 1, "fsck with replay finds it");
	cairn_writer *dw = cairn_writer_digest(NULL);
	int r = diff_write_tar(s, &fake, &d, dw, &err);
	cairn_writer_free(dw);
	char hex[65];
	cairn_digest_hex(&fake, hex);
	ok(r == CAIRN_E_CORRUPT && err && err->msg && strstr(err->msg, hex),
	   "replay verified against the diff_id: %s", err && err->msg ? err->msg : "?");
	cairn_error_free(err);
	err = NULL;

	/* sweep everything but the layer and the config: the split goes */
	img_rec rec;
	cairn_idset *live = cairn_idset_new();
	cairn_id cfg_content;
	uint64_t size;
	img_get(s, id, &rec);
	blob_get(s, &rec.config.digest, &cfg_content, &size);
	cairn_idset_add(live, &cfg_content);
	cairn_layer_mark(s, &d.layer, live, NULL);
	cairn_store_sweep(s, live, NULL);
	cairn_idset_free(live);
	img_rec_clear(&rec);
	ok(fsck_count(s) > 0, "fsck reports the lost split");
	_cleanup_free_ char *out = tpath("damaged.tar");
	const char *names[] = {"split/damage:1"};
	struct cairn_save_options o = {
	    .format = CAIRN_SAVE_DOCKER, .compression = -1, .source_date_epoch = -1};
	r = cairn_image_save(s, names, 1, out, &o, &err);
	ok(r < 0 && err && err->msg && strstr(err->msg, diff + 7),
	   "save fails naming the layer: %s", err && err->msg ? err->msg : "?");
	cairn_error_free(err);
	free(id);
	free(diff);
	cairn_store_free(s);
}

static void test_record(void)
{
	diff_rec d = {.size = 10240, .from_split = true, .split = {{1, 2, 3, 0xfe}}}, back;
	char *buf = NULL;
	size_t len = 0;
	int r = diff_rec_encode(&d, &buf, &len);
	ok(r >= 0 && strstr(buf, "\"source\":\"tar-split\"") && strstr(buf, "\"split\":\"010203fe"),
	   "DIFFS record with a tar-split source: %s", r >= 0 ? buf : "?");
	ok(diff_rec_decode(buf, len, &back) >= 0 && back.from_split && !back.from_blob &&
	       memcmp(&back.split, &d.split, sizeof(d.split)) == 0 && back.size == 10240,
	   "and back");
	free(buf);
	const char *bad = "{\"layer\":\"00000000000000000000000000000000\",\"size\":1,"
			  "\"source\":\"tar-split\",\"split\":\"xyz\"}";
	is_int(diff_rec_decode(bad, strlen(bad), &back), CAIRN_E_CORRUPT, "bad split id refused");
}

int main(void)
{
	setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
	cairn_store *s = test_store("s"), *s2 = test_store("s2"), *s3 = test_store("s3");
	test_record();
	test_import(s);
	test_docker(s, s2);
	test_oci(s3);
	test_damage();
	is_int(fsck_count(s), 0, "store 1 clean");
	is_int(fsck_count(s2), 0, "store 2 clean");
	is_int(fsck_count(s3), 0, "store 3 clean");
	cairn_store_free(s);
	cairn_store_free(s2);
	cairn_store_free(s3);
	return tap_done();
}
