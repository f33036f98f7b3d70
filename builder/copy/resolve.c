/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Paths inside a root: Go's path.Clean, continuity's fs.RootPath (the
 * resolution BuildKit uses for sources and destinations alike) and
 * openat2(RESOLVE_IN_ROOT) so that what we open cannot be outside the
 * root even if the tree changes under us.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/syscall.h>

#include "copy-internal.h"

#define MAX_LINKS 255

char *path_clean_rel(const char *p)
{
	size_t n = strlen(p);
	char *out = malloc(n + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		while (i < n && p[i] == '/')
			i++;
		size_t s = i;
		while (i < n && p[i] != '/')
			i++;
		size_t len = i - s;
		if (len == 0 || (len == 1 && p[s] == '.'))
			continue;
		if (len == 2 && p[s] == '.' && p[s + 1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* the '/' before the dropped component */
			continue;
		}
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, p + s, len);
		o += len;
	}
	out[o] = 0;
	return out;
}

char *path_join(const char *a, const char *b)
{
	char *r = NULL;
	if (!*a)
		return strdup(b);
	if (!*b)
		return strdup(a);
	if (asprintf(&r, "%s/%s", a, b) < 0)
		return NULL;
	return r;
}

char *path_dirname(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? strndup(p, (size_t) (s - p)) : strdup("");
}

const char *path_basename(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static int openat2_in(int dirfd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = {.flags = (uint64_t) (flags | O_CLOEXEC), .resolve = resolve};
	long r;
	do
		r = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : (int) r;
}

int open_in_root(int root_fd, const char *path, int flags, bool no_symlinks)
{
	uint64_t resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	if (no_symlinks)
		resolve |= RESOLVE_NO_SYMLINKS;
	if (!*path)
		path = ".";
	size_t n = strlen(path);
	if (n < PATH_MAX)
		return openat2_in(root_fd, path, flags, resolve);
	if (!no_symlinks)
		return -ENAMETOOLONG;
	/* A long path without symlinks: walk it in pieces below PATH_MAX; each
	 * piece stays beneath the directory the previous one opened. */
	_cleanup_close_ int dfd = -1;
	const char *p = path;
	while (strlen(p) >= PATH_MAX) {
		size_t cut = PATH_MAX - 1;
		while (cut > 0 && p[cut] != '/')
			cut--;
		if (cut == 0)
			return -ENAMETOOLONG;
		_cleanup_free_ char *piece = strndup(p, cut);
		if (!piece)
			return -ENOMEM;
		int fd = openat2_in(
		    dfd >= 0 ? dfd : root_fd, piece, O_PATH | O_DIRECTORY,
		    dfd >= 0 ? (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)
			     : resolve);
		if (fd < 0)
			return fd;
		closep(&dfd);
		dfd = fd;
		p += cut + 1;
	}
	return openat2_in(dfd, p, flags,
			  RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

static int read_link_at(int dirfd, const char *name, char **ret)
{
	size_t cap = 256;
	for (;;) {
		char *buf = malloc(cap);
		if (!buf)
			return -ENOMEM;
		ssize_t n = readlinkat(dirfd, name, buf, cap);
		if (n < 0) {
			int r = -errno;
			free(buf);
			return r;
		}
		if ((size_t) n < cap) {
			buf[n] = 0;
			*ret = buf;
			return 0;
		}
		free(buf);
		if (cap > (1u << 20))
			return -ENAMETOOLONG;
		cap *= 4;
	}
}

/* Where a symlink at dir/name pointing to target leads, followed by rest. */
static char *link_next(const char *dir, const char *target, const char *rest)
{
	_cleanup_free_ char *joined = NULL;
	if (asprintf(&joined, "%s/%s/%s", target[0] == '/' ? "" : dir, target, rest) < 0)
		return NULL;
	return path_clean_rel(joined);
}

int root_resolve(int root_fd, const char *path, bool follow_last, const df_ignore *ig, char **ret)
{
	_cleanup_free_ char *rest = path_clean_rel(path);
	_cleanup_free_ char *done = strdup("");
	_cleanup_close_ int dfd = -1;
	int links = 0;
	if (!rest || !done)
		return -ENOMEM;
	while (*rest) {
		char *slash = strchr(rest, '/');
		const char *tail = slash ? slash + 1 : "";
		_cleanup_free_ char *comp =
		    slash ? strndup(rest, (size_t) (slash - rest)) : strdup(rest);
		_cleanup_free_ char *cand = comp ? path_join(done, comp) : NULL;
		if (!cand)
			return -ENOMEM;
		if (!*tail && !follow_last) {
			free(done);
			done = steal_pointer(&cand);
			break;
		}
		if (dfd < 0) {
			dfd = open_in_root(root_fd, done, O_PATH | O_DIRECTORY, true);
			if (dfd < 0)
				return dfd;
		}
		struct stat st;
		if (fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				return -errno;
			/* the rest does not exist: keep it as written */
			char *all = path_join(cand, tail);
			if (!all)
				return -ENOMEM;
			free(done);
			done = all;
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			if (ig && df_ignore_excluded(ig, cand))
				return -ENOENT;
			if (++links > MAX_LINKS)
				return -ELOOP;
			_cleanup_free_ char *target = NULL;
			int r = read_link_at(dfd, comp, &target);
			if (r < 0)
				return r;
			char *next = link_next(done, target, tail);
			if (!next)
				return -ENOMEM;
			free(rest);
			rest = next;
			free(done);
			done = strdup("");
			closep(&dfd);
			dfd = -1;
			if (!done)
				return -ENOMEM;
			continue;
		}
		if (*tail && !S_ISDIR(st.st_mode))
			return -ENOTDIR;
		if (*tail) {
			int fd = openat(dfd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return -errno;
			closep(&dfd);
			dfd = fd;
		}
		free(done);
		done = steal_pointer(&cand);
		char *next = strdup(tail);
		if (!next)
			return -ENOMEM;
		free(rest);
		rest = next;
	}
	*ret = steal_pointer(&done);
	return 0;
}
