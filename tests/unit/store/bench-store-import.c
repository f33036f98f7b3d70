/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Import benchmark: streams FILE through one content writer (128 KiB
 * writes) into a fresh store, commits, and prints the time and throughput;
 * then imports it again (all chunks deduplicated) and reads it back.
 *
 *   bench-store-import FILE [ROOT] [THREADS]
 *
 * With BENCH_TAR=1 FILE is read as a tar and every regular file becomes its
 * own content (as a layer import does).
 *
 * Compare with: time zstd -3 -T2 -c FILE >/dev/null
 * Without FILE (as a meson benchmark) it uses 256 MiB of generated data.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cairn/store.h>

#include "store-test.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Reads the next piece of the input (a file, or generated half-text data). */
static ssize_t next_piece(int fd, uint8_t *buf, size_t len, uint64_t *gen_left, uint64_t *seed)
{
	if (fd >= 0)
		return read(fd, buf, len);
	size_t n = (size_t) MIN((uint64_t) len, *gen_left);
	uint8_t *p = (*seed & 1) ? test_text(n, *seed) : test_random(n, *seed);
	memcpy(buf, p, n);
	free(p);
	(*seed)++;
	*gen_left -= n;
	return (ssize_t) n;
}

static uint64_t tar_octal(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '7'; i++)
		v = v * 8 + (uint64_t) (p[i] - '0');
	return v;
}

/* Every regular file of a ustar archive becomes a content; returns the count.
 * A truncated last member is imported as far as it goes. */
static long import_tar(cairn_batch *b, int fd, uint64_t *ret_size)
{
	uint8_t hdr[512], *buf = malloc(1 << 20);
	long files = 0;
	bool eof = false;
	while (!eof && read(fd, hdr, 512) == 512 && hdr[0]) {
		uint64_t size = tar_octal(hdr + 124, 12), pad = (512 - size % 512) % 512;
		cairn_content_writer *w = NULL;
		if (hdr[156] == '0' || hdr[156] == 0)
			cairn_content_writer_new(b, &w);
		for (uint64_t left = size + pad; left > 0;) {
			size_t n = (size_t) MIN(left, (uint64_t) (1 << 20));
			ssize_t got = read(fd, buf, n);
			if (got < 0)
				return -1;
			*ret_size += (uint64_t) got;
			if (w)
				cairn_content_write(
				    w, buf,
				    (size_t) MIN((uint64_t) got, left > pad ? left - pad : 0));
			if ((size_t) got < n) { /* a truncated archive ends here */
				eof = true;
				break;
			}
			left -= n;
		}
		if (w) {
			cairn_content_writer_finish(w, NULL, NULL);
			files++;
		}
		*ret_size += 512;
	}
	free(buf);
	return files;
}

static int import(cairn_store *s, const char *file, bool tar, cairn_id *ret, uint64_t *ret_size)
{
	int fd = file ? open(file, O_RDONLY) : -1;
	uint64_t gen_left = 256u << 20, seed = 1;
	size_t bs = 128 * 1024;
	uint8_t *buf = malloc(bs);
	cairn_batch *b;
	cairn_content_writer *w;
	cairn_error *err = NULL;
	if (file && fd < 0)
		return perror(file), -1;
	cairn_batch_new(s, &b);
	if (fd >= 0 && tar) {
		*ret_size = 0;
		double t0 = now();
		long files = import_tar(b, fd, ret_size);
		double t1 = now();
		int r = files < 0 ? -EIO : cairn_batch_commit(b, NULL);
		printf("tar:      %ld files, %.3f s writing, %.3f s committing\n", files, t1 - t0,
		       now() - t1);
		cairn_batch_free(b);
		close(fd);
		free(buf);
		return r;
	}
	cairn_content_writer_new(b, &w);
	ssize_t n;
	while ((n = next_piece(fd, buf, bs, &gen_left, &seed)) > 0)
		if (cairn_content_write(w, buf, (size_t) n) < 0)
			return fprintf(stderr, "write failed\n"), -1;
	int r = cairn_content_writer_finish(w, ret, ret_size);
	if (r >= 0)
		r = cairn_batch_commit(b, &err);
	if (r < 0)
		fprintf(stderr, "import: %s\n", err && err->msg ? err->msg : cairn_strerror(r));
	cairn_batch_free(b);
	cairn_error_free(err);
	free(buf);
	if (fd >= 0)
		close(fd);
	return r;
}

int main(int argc, char **argv)
{
	const char *file = argc > 1 ? argv[1] : NULL;
	char root[4096];
	if (argc > 2) {
		snprintf(root, sizeof(root), "%s", argv[2]);
	} else {
		const char *t = getenv("TMPDIR");
		snprintf(root, sizeof(root), "%s/cairn-bench-XXXXXX", t ? t : "/tmp");
		if (!mkdtemp(root))
			return perror("mkdtemp"), 1;
	}
	struct cairn_store_options o = {.threads = argc > 3 ? atoi(argv[3]) : 0};
	cairn_store *s;
	cairn_error *err = NULL;
	if (cairn_store_open(root, &o, &s, &err) < 0)
		return fprintf(stderr, "open: %s\n", err->msg), 1;

	cairn_id id;
	uint64_t size;
	bool tar = file && getenv("BENCH_TAR");
	double t0 = now();
	if (import(s, file, tar, &id, &size) < 0)
		return 1;
	double t1 = now();
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	long rss_import = ru.ru_maxrss / 1024;
	if (getenv("BENCH_ONLY")) { /* just the import (for time(1) and perf) */
		printf("import:   %.1f MiB in %.3f s = %.0f MiB/s, peak RSS %ld MiB\n",
		       (double) size / 1048576, t1 - t0, (double) size / 1048576 / (t1 - t0),
		       rss_import);
		cairn_store_free(s);
		return 0;
	}
	struct cairn_store_usage u;
	cairn_store_usage(s, &u);
	printf("import:   %.1f MiB in %.3f s = %.0f MiB/s; %llu chunks, stored %.1f MiB (%.2fx)\n",
	       (double) size / 1048576, t1 - t0, (double) size / 1048576 / (t1 - t0),
	       (unsigned long long) u.chunks, (double) u.stored_bytes / 1048576,
	       (double) u.chunk_bytes / (double) (u.stored_bytes ? u.stored_bytes : 1));
	printf("peak RSS of the import: %ld MiB\n", rss_import);
	if (getenv("BENCH_RSS")) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "grep -E 'Rss|VmHWM' /proc/%d/status", (int) getpid());
		if (system(cmd) != 0)
			return 1;
	}

	t0 = now();
	import(s, file, tar, &id, &size);
	t1 = now();
	printf("again:    %.3f s = %.0f MiB/s (all chunks present)\n", t1 - t0,
	       (double) size / 1048576 / (t1 - t0));
	if (tar)
		import(s, file, false, &id, &size); /* one content for the read test */

	cairn_content *c;
	uint8_t *buf = malloc(1 << 20);
	t0 = now();
	cairn_content_open(s, &id, &c);
	ssize_t n;
	while ((n = cairn_content_read(c, buf, 1 << 20)) > 0)
		;
	cairn_content_free(c);
	t1 = now();
	printf("read:     %.3f s = %.0f MiB/s\n", t1 - t0, (double) size / 1048576 / (t1 - t0));
	getrusage(RUSAGE_SELF, &ru);
	printf("peak RSS: %ld MiB\n", ru.ru_maxrss / 1024);
	free(buf);
	cairn_store_free(s);
	if (argc <= 2) {
		char cmd[4200];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", root);
	}
	return n < 0 ? 1 : 0;
}
