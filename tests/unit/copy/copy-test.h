/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_COPY_TEST_H
#define CAIRN_COPY_TEST_H

/* Helpers of the builder/copy tests: trees in a tmpdir, one copy in a
 * call, and looks at the result. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <cairn/error.h>

#include "copy.h"
#include "tap.h"
#include "util.h"

static inline char *pth(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *pth(const char *fmt, ...)
{
	/* a ring of buffers: enough for the few paths one statement uses */
	static char ring[16][8192];
	static unsigned next;
	char *b = ring[next++ % 16];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(b, sizeof(ring[0]), fmt, ap);
	va_end(ap);
	return b;
}

/* A copy of s kept until exit (case paths outlive the ring of pth). */
static char *held[1024];
static size_t n_held;
static inline void held_free(void)
{
	while (n_held)
		free(held[--n_held]);
}
static inline const char *keep(const char *s)
{
	if (n_held == 0)
		atexit(held_free);
	if (n_held == ARRAY_SIZE(held))
		exit(99);
	return held[n_held++] = strdup(s);
}

/* A fresh case directory with src/ and dst/ in it. */
static inline const char *new_case(const char *name)
{
	char *base = pth("%s/%s", tap_tmpdir(), name);
	if (mkdir_p(pth("%s/src", base), 0755) < 0 || mkdir_p(pth("%s/dst", base), 0755) < 0) {
		perror(base);
		exit(99);
	}
	return keep(base);
}

static inline void mkd(const char *root, const char *rel, mode_t mode)
{
	char *p = pth("%s/%s", root, rel);
	if (mkdir_p(p, 0755) < 0 || chmod(p, mode) < 0) {
		perror(p);
		exit(99);
	}
}

static inline void put(const char *root, const char *rel, const char *content, mode_t mode)
{
	char *p = pth("%s/%s", root, rel);
	char *slash = strrchr(p, '/');
	*slash = 0;
	if (mkdir_p(p, 0755) < 0) {
		perror(p);
		exit(99);
	}
	*slash = '/';
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write_all(fd, content, strlen(content)) < 0 || fchmod(fd, mode) < 0) {
		perror(p);
		exit(99);
	}
	close(fd);
}

static inline void sym(const char *root, const char *rel, const char *target)
{
	char *p = pth("%s/%s", root, rel);
	if (symlink(target, p) < 0) {
		perror(p);
		exit(99);
	}
}

static inline void set_mtime(const char *root, const char *rel, time_t sec, long nsec)
{
	struct timespec t[2] = {{sec, nsec}, {sec, nsec}};
	if (utimensat(AT_FDCWD, pth("%s/%s", root, rel), t, AT_SYMLINK_NOFOLLOW) < 0) {
		perror(rel);
		exit(99);
	}
}

/* Contents of root/rel, or NULL. */
static inline char *slurp(const char *root, const char *rel)
{
	char *buf = NULL;
	size_t len;
	if (read_file(pth("%s/%s", root, rel), 1 << 20, &buf, &len) < 0)
		return NULL;
	return buf;
}

static inline bool is_content(const char *root, const char *rel, const char *want)
{
	_cleanup_free_ char *got = slurp(root, rel);
	bool ok = got && !strcmp(got, want);
	if (!ok)
		tap_diag("%s/%s: got %s%s%s, want \"%s\"", root, rel, got ? "\"" : "",
			 got ? got : "(missing)", got ? "\"" : "", want);
	return ok;
}

static inline bool lst(const char *root, const char *rel, struct stat *st)
{
	return lstat(pth("%s/%s", root, rel), st) == 0;
}

static inline bool present_at(const char *root, const char *rel)
{
	struct stat st;
	return lst(root, rel, &st);
}

static inline mode_t mode_at(const char *root, const char *rel)
{
	struct stat st;
	return lst(root, rel, &st) ? st.st_mode & 07777 : (mode_t) -1;
}

static inline int open_dir(const char *p)
{
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		perror(p);
		exit(99);
	}
	return fd;
}

/* One COPY: select from base/src, apply to base/dst.  On failure the
 * message is in *ret_msg (malloc'd) when ret_msg is not NULL. */
static inline int run_copy(const char *base, const char *const *srcs, size_t n, const char *dest,
			   const copy_options *o, char **ret_msg)
{
	_cleanup_close_ int sfd = open_dir(pth("%s/src", base));
	_cleanup_close_ int dfd = open_dir(pth("%s/dst", base));
	cairn_error *err = NULL;
	copy_selection *sel = NULL;
	int r = copy_select(sfd, srcs, n, o, &sel, &err);
	if (r >= 0)
		r = copy_apply(sel, dfd, dest, o, &err);
	copy_selection_free(sel);
	if (ret_msg)
		*ret_msg = err && err->msg ? strdup(err->msg) : NULL;
	if (r < 0 && !ret_msg)
		tap_diag("copy failed: %s", err && err->msg ? err->msg : "(no message)");
	cairn_error_free(err);
	return r;
}

#define COPY1(base, src, dest, o) run_copy(base, (const char *const[]){src}, 1, dest, o, NULL)

/* Checksum of a selection of base/src. */
static inline int sum_of(const char *base, const char *const *srcs, size_t n, const copy_options *o,
			 uint8_t out[32])
{
	_cleanup_close_ int sfd = open_dir(pth("%s/src", base));
	cairn_error *err = NULL;
	copy_selection *sel = NULL;
	int r = copy_select(sfd, srcs, n, o, &sel, &err);
	if (r >= 0)
		r = copy_checksum(sel, o, NULL, NULL, out, &err);
	if (r < 0)
		tap_diag("checksum failed: %s", err && err->msg ? err->msg : "?");
	copy_selection_free(sel);
	cairn_error_free(err);
	return r;
}

static inline bool need_root(void)
{
	if (geteuid() != 0)
		tap_skip_all("needs root (chown, mknod, owners)");
	return true;
}

#endif
