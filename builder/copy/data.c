/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bytes and extended attributes: file data by reflink, copy_file_range or
 * a bounded buffer; xattrs read through /proc/self/fd so that no object is
 * opened (a fifo would block, a device would be the host's), written the
 * same way, failures ignored as BuildKit's xattr error handler does.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>

#include "copy-internal.h"

#define COPY_BUF (256 * 1024)

static void proc_path(char *buf, size_t size, int dirfd, const char *name)
{
	if (*name)
		snprintf(buf, size, "/proc/self/fd/%d/%s", dirfd, name);
	else
		snprintf(buf, size, "/proc/self/fd/%d", dirfd);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The value of one attribute: malloc'd, size in *ret_len. */
static int xattr_get(const char *path, bool follow, const char *key, char **ret, size_t *ret_len)
{
	for (int tries = 0; tries < 4; tries++) {
		ssize_t n = follow ? getxattr(path, key, NULL, 0) : lgetxattr(path, key, NULL, 0);
		if (n < 0)
			return -errno;
		char *v = malloc((size_t) n + 1);
		if (!v)
			return -ENOMEM;
		ssize_t m = follow ? getxattr(path, key, v, (size_t) n)
				   : lgetxattr(path, key, v, (size_t) n);
		if (m >= 0) {
			*ret = v;
			*ret_len = (size_t) m;
			return 0;
		}
		free(v);
		if (errno != ERANGE)
			return -errno;
	}
	return -ERANGE;
}

static int xattr_list(const char *path, bool follow, char **ret, size_t *ret_len)
{
	for (int tries = 0; tries < 4; tries++) {
		ssize_t n = follow ? listxattr(path, NULL, 0) : llistxattr(path, NULL, 0);
		if (n <= 0) {
			*ret = NULL;
			*ret_len = 0;
			return n < 0 && errno != ENOTSUP && errno != ENODATA ? -errno : 0;
		}
		char *names = malloc((size_t) n);
		if (!names)
			return -ENOMEM;
		ssize_t m = follow ? listxattr(path, names, (size_t) n)
				   : llistxattr(path, names, (size_t) n);
		if (m >= 0) {
			*ret = names;
			*ret_len = (size_t) m;
			return 0;
		}
		free(names);
		if (errno != ERANGE)
			return -errno;
	}
	return -ERANGE;
}

int xattrs_read(int dirfd, const char *name, arena *a, const uint8_t **ret, size_t *ret_len)
{
	char path[64 + NAME_MAX];
	bool follow = !*name; /* the directory fd itself: follow the magic link */
	*ret = NULL;
	*ret_len = 0;
	proc_path(path, sizeof(path), dirfd, name);
	_cleanup_free_ char *names = NULL;
	size_t len = 0;
	int r = xattr_list(path, follow, &names, &len);
	if (r < 0 || len == 0)
		return r == -ENOENT ? 0 : r;
	size_t count = 0;
	for (size_t i = 0; i < len; i += strlen(names + i) + 1)
		count++;
	_cleanup_free_ const char **keys = calloc(count, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	count = 0;
	for (size_t i = 0; i < len; i += strlen(names + i) + 1)
		keys[count++] = names + i;
	qsort(keys, count, sizeof(*keys), cmp_str);

	bytebuf b = {0};
	for (size_t i = 0; i < count; i++) {
		_cleanup_free_ char *v = NULL;
		size_t vlen = 0;
		if (xattr_get(path, follow, keys[i], &v, &vlen) < 0)
			continue; /* vanished or unreadable: skipped */
		uint8_t be[4];
		put_be32(be, (uint32_t) vlen);
		if (buf_append(&b, keys[i], strlen(keys[i]) + 1) < 0 || buf_append(&b, be, 4) < 0 ||
		    buf_append(&b, v, vlen) < 0) {
			buf_clear(&b);
			return -ENOMEM;
		}
	}
	if (b.len) {
		*ret = arena_memdup(a, b.data, b.len);
		*ret_len = b.len;
		buf_clear(&b);
		if (!*ret)
			return -ENOMEM;
	}
	return 0;
}

void xattrs_write(int fd, int dirfd, const char *name, const uint8_t *blob, size_t len)
{
	char path[64 + NAME_MAX];
	if (fd < 0)
		proc_path(path, sizeof(path), dirfd, name);
	for (size_t i = 0; i < len;) {
		const char *key = (const char *) blob + i;
		size_t klen = strnlen(key, len - i);
		if (i + klen + 5 > len)
			return;
		uint32_t vlen = get_be32(blob + i + klen + 1);
		const uint8_t *v = blob + i + klen + 5;
		if (i + klen + 5 + vlen > len)
			return;
		if (fd >= 0)
			(void) fsetxattr(fd, key, v, vlen, 0);
		else
			(void) lsetxattr(path, key, v, vlen, 0);
		i += klen + 5 + vlen;
	}
}

int copy_data(int in, int out, off_t size)
{
	(void) size;
	if (ioctl(out, FICLONE, in) == 0)
		return 0;
	bool first = true;
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1u << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0) {
			first = false;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (!first || (errno != EXDEV && errno != ENOSYS && errno != EOPNOTSUPP &&
			       errno != EINVAL && errno != EPERM))
			return -errno;
		break;
	}
	_cleanup_free_ char *buf = malloc(COPY_BUF);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(in, buf, COPY_BUF);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return 0;
		int r = write_all(out, buf, (size_t) n);
		if (r < 0)
			return r;
	}
}

int remove_all_at(int pfd, const char *name)
{
	struct stat st;
	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(pfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
	int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int r = -errno;
		close(fd);
		return r;
	}
	int r = 0;
	struct dirent *de;
	while (r >= 0 && (errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		r = remove_all_at(dirfd(d), de->d_name);
	}
	if (r >= 0 && errno)
		r = -errno;
	closedir(d);
	if (r < 0)
		return r;
	return unlinkat(pfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT ? -errno : 0;
}
