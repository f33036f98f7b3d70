/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * examples/snapshot-api: a build-like sequence driven through cairn's C
 * snapshot API, as another build tool would use cairn as its snapshotter.
 *
 *   build-steps STORE BASE-IMAGE
 *
 *   step 1: prepare "step1" on the base image, mount it, write a file
 *           (what a RUN step does), commit it as "layer1"
 *   step 2: prepare "step2" on "layer1", check step 1's file is there,
 *           delete a file of the base, commit as "layer2"
 *   then:   a read-only view of "layer2", its diff as an OCI layer tar,
 *           usage of each committed snapshot, and removal in order.
 *
 * Prints what it does and exits non-zero on the first failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cairn/snapshot.h>
#include <cairn/store.h>

static int fail(const char *what, cairn_error *err, int r)
{
	fprintf(stderr, "build-steps: %s: %s\n", what, err && err->msg ? err->msg : strerror(-r));
	cairn_error_free(err);
	return 1;
}

#define CHECK(call, what)                                                                          \
	do {                                                                                       \
		cairn_error *err_ = NULL;                                                          \
		int r_ = (call);                                                                   \
		if (r_ < 0)                                                                        \
			return fail(what, err_, r_);                                               \
	} while (0)
#define CHECK_E(expr, what)                                                                        \
	do {                                                                                       \
		int r_ = (expr);                                                                   \
		if (r_ < 0)                                                                        \
			return fail(what, err, r_);                                                \
	} while (0)

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -errno;
}

static int step(cairn_store *s, const char *key, const char *parent, const char *commit_as,
		int (*work)(const char *dir))
{
	cairn_error *err = NULL;
	char *dir = NULL;
	printf("prepare %s on %s\n", key, parent);
	CHECK_E(cairn_snapshot_prepare(s, key, parent, &err), "prepare");
	CHECK_E(cairn_snapshot_mounts(s, key, &dir, &err), "mounts");
	printf("  mounted at %s\n", dir);
	int r = work(dir);
	free(dir);
	if (r < 0)
		return fail("the step's work", NULL, r);
	printf("commit %s as %s\n", key, commit_as);
	CHECK_E(cairn_snapshot_commit(s, commit_as, key, &err), "commit");
	return 0;
}

static int work1(const char *dir)
{
	char sub[4096];
	snprintf(sub, sizeof(sub), "%s/app", dir);
	if (mkdir(sub, 0755) < 0)
		return -errno;
	return write_file(sub, "built", "step 1 was here\n");
}

static int work2(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/app/built", dir);
	if (access(path, R_OK) < 0) {
		fprintf(stderr, "build-steps: step 2 does not see step 1's file\n");
		return -ENOENT;
	}
	snprintf(path, sizeof(path), "%s/etc/motd", dir);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return write_file(dir, "app/more", "step 2\n");
}

static int show_usage(cairn_store *s, const char *key)
{
	cairn_error *err = NULL;
	struct cairn_snapshot_usage u;
	CHECK_E(cairn_snapshot_usage(s, key, &u, &err), "usage");
	printf("usage %s: %llu bytes, %llu inodes\n", key, (unsigned long long) u.size,
	       (unsigned long long) u.inodes);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: build-steps STORE BASE-IMAGE OUT-LAYER.tar\n");
		return 2;
	}
	cairn_store *s = NULL;
	cairn_error *err = NULL;
	CHECK_E(cairn_store_open(argv[1], NULL, &s, &err), "opening the store");
	if (step(s, "step1", argv[2], "layer1", work1) || step(s, "step2", "layer1", "layer2", work2))
		return 1;

	char *dir = NULL;
	CHECK_E(cairn_snapshot_view(s, "check", "layer2", &err), "view");
	CHECK_E(cairn_snapshot_mounts(s, "check", &dir, &err), "mounts of the view");
	char path[4096];
	snprintf(path, sizeof(path), "%s/app/more", dir);
	int fd = open(path, O_RDONLY);
	int wfd = open(path, O_WRONLY);
	printf("view %s: app/more %s, writing %s\n", dir, fd >= 0 ? "present" : "MISSING",
	       wfd < 0 && errno == EROFS ? "refused (read-only)" : "NOT REFUSED");
	if (fd < 0 || wfd >= 0)
		return 1;
	close(fd);
	free(dir);

	CHECK_E(cairn_snapshot_diff(s, "layer2", argv[3], &err), "diff");
	printf("diff of layer2 written to %s\n", argv[3]);
	if (show_usage(s, "layer1") || show_usage(s, "layer2"))
		return 1;
	static const char *const order[] = {"check", "layer2", "layer1"};
	for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++) {
		CHECK(cairn_snapshot_remove(s, order[i], &err_), "remove");
		printf("removed %s\n", order[i]);
	}
	cairn_store_free(s);
	return 0;
}
