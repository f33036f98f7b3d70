/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Interoperability with umoci and skopeo (skipped when they are missing):
 * umoci unpacks what cairn saves; skopeo copies it (OCI dir, OCI archive,
 * Docker archive) and what skopeo writes loads back with the same digests. */
#include "oci-test.h"

#define NAME "tools.test/app:v1"

static bool have(const char *tool)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
	return run(cmd) == 0;
}

static int runf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int runf(const char *fmt, ...)
{
	char *cmd = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		exit(99);
	va_end(ap);
	int r = run(cmd);
	if (r != 0)
		tap_diag("command failed (%d): %s", r, cmd);
	free(cmd);
	return r;
}

static void check_bundle(const char *bundle, const char *what)
{
	char *p = NULL;
	struct stat a, b;
	if (asprintf(&p, "%s/rootfs/etc/hello.txt", bundle) < 0)
		exit(99);
	char *data = slurp(p, NULL);
	is_str(data, "hello from cairn\n", "%s: file content", what);
	free(data);
	free(p);
	char target[64] = "";
	if (asprintf(&p, "%s/rootfs/etc/motd", bundle) < 0)
		exit(99);
	ssize_t n = readlink(p, target, sizeof(target) - 1);
	ok(n > 0 && strcmp(target, "hello.txt") == 0, "%s: symlink", what);
	free(p);
	char *t1 = NULL, *t2 = NULL;
	if (asprintf(&t1, "%s/rootfs/bin/tool", bundle) < 0 ||
	    asprintf(&t2, "%s/rootfs/bin/tool-link", bundle) < 0)
		exit(99);
	ok(stat(t1, &a) == 0 && stat(t2, &b) == 0 && a.st_ino == b.st_ino, "%s: hardlink", what);
	ok((a.st_mode & 0777) == 0755, "%s: mode", what);
	free(t1);
	free(t2);
}

int main(void)
{
	if (!have("umoci") || !have("skopeo"))
		tap_skip_all("umoci or skopeo not installed");
	cairn_error *err = NULL;
	cairn_store *s1 = test_store("s1"), *s2 = test_store("s2"), *s3 = test_store("s3");
	char *tar = tpath("rootfs.tar"), *dir = tpath("oci"), *dir2 = tpath("oci2"),
	     *dir3 = tpath("oci3"), *bundle = tpath("bundle"), *bundle2 = tpath("bundle2"),
	     *dtar = tpath("d.tar"), *otar = tpath("o.tar"), *sk = tpath("sk.tar"),
	     *dir4 = tpath("oci4"), *dir5 = tpath("oci5");
	make_tar(tar, test_rootfs, ARRAY_SIZE(test_rootfs), "zstd");
	struct cairn_import_options io = {.name = NAME};
	char *id = NULL;
	ok_err(cairn_image_import_tar(s1, tar, &io, &id, &err), err, "import");
	const char *names[] = {NAME};
	struct cairn_save_options o = {
	    .format = CAIRN_SAVE_OCI_DIR, .compression = -1, .source_date_epoch = -1};
	ok_err(cairn_image_save(s1, names, 1, dir, &o, &err), err, "save OCI dir");
	is_int(runf("umoci unpack --rootless --image '%s:v1' '%s' >/dev/null 2>&1", dir, bundle), 0,
	       "umoci unpack");
	check_bundle(bundle, "umoci");

	is_int(runf("skopeo copy -q oci:'%s':v1 oci:'%s':v1", dir, dir2), 0,
	       "skopeo copy oci->oci");
	struct loaded_list ll = {0};
	ok_err(cairn_image_load(s2, dir2, on_loaded, &ll, &err), err, "load skopeo's layout");
	is_str(ll.ids[0], id, "same image id");
	const char *n2[] = {"v1"};
	ok_err(cairn_image_save(s2, n2, 1, dir3, &o, &err), err, "save it again");
	char *d2 = layout_top_digest(dir2, 0), *d3 = layout_top_digest(dir3, 0);
	is_str(d3, d2, "manifest digest identical after skopeo + load + save");
	free(d2);
	free(d3);

	o.format = CAIRN_SAVE_DOCKER;
	ok_err(cairn_image_save(s1, names, 1, dtar, &o, &err), err, "save Docker archive");
	is_int(runf("skopeo copy -q docker-archive:'%s' oci:'%s':x", dtar, dir4), 0,
	       "skopeo reads the Docker archive");
	is_int(runf("umoci unpack --rootless --image '%s:x' '%s' >/dev/null 2>&1", dir4, bundle2),
	       0, "umoci unpacks it");
	check_bundle(bundle2, "via docker-archive");

	o.format = CAIRN_SAVE_OCI_ARCHIVE;
	ok_err(cairn_image_save(s1, names, 1, otar, &o, &err), err, "save OCI archive");
	is_int(runf("skopeo copy -q oci-archive:'%s' oci:'%s':y", otar, dir5), 0,
	       "skopeo reads the OCI archive");

	is_int(runf("skopeo copy -q oci:'%s':v1 docker-archive:'%s':foo/bar:2", dir, sk), 0,
	       "skopeo writes a Docker archive");
	ll = (struct loaded_list){0};
	ok_err(cairn_image_load(s3, sk, on_loaded, &ll, &err), err, "load skopeo's Docker archive");
	is_str(ll.names[0], "foo/bar:2", "its name");
	is_str(ll.ids[0], id, "same image id");

	cairn_store *all[] = {s1, s2, s3};
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		is_int(fsck_count(all[i]), 0, "store %zu clean", i + 1);
		cairn_store_free(all[i]);
	}
	char *paths[] = {tar, dir, dir2, dir3, bundle, bundle2, dtar, otar, sk, dir4, dir5, id};
	for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
		free(paths[i]);
	return tap_done();
}
