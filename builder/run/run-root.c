/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Paths inside the rootfs: resolving them with the rootfs as "/", creating
 * missing mount targets (stubs) and removing them again.
 *
 * Everything resolves through openat2(RESOLVE_IN_ROOT): an image's
 * absolute symlink (/etc -> /host/etc) or a "../../.." lands inside the
 * rootfs, never on the host.  Creation walks the path one component at a
 * time so that it makes exactly the missing ones, each relative to an fd
 * of its already resolved parent.
 *
 * run_root_open() and run_root_mkpath() without a log also run in the
 * sandbox child (for targets inside mounts it made, like /dev/shm), so
 * they stick to system calls and fixed buffers.
 */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "run-internal.h"

/* Symlinks followed while creating one path, as the kernel's MAXSYMLINKS. */
#define RUN_MAX_LINKS 40

void run_strlcat(char *dst, const char *src, size_t cap)
{
	size_t n = strlen(dst);

	while (*src && n + 1 < cap)
		dst[n++] = *src++;
	if (n < cap)
		dst[n] = '\0';
}

int run_root_open(int rootfd, const char *path, int flags)
{
	struct open_how how = {
		.flags = (uint64_t) (flags | O_CLOEXEC),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};

	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	/* RESOLVE_IN_ROOT gives EAGAIN when a rename anywhere raced with a
	 * ".." step; the kernel asks us to retry. */
	for (int i = 0; i < 64; i++) {
		long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
		if (fd >= 0)
			return (int) fd;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
	return -EAGAIN;
}

/* ---- the stub log (parent only) ----------------------------------------- */

static int stub_record(struct run_stubs *log, int dirfd, const char *dir, size_t dir_len,
		       const char *name, bool is_dir, const struct stat *before, int fd)
{
	struct stat after, self;

	if (fstat(dirfd, &after) < 0 || fstat(fd, &self) < 0)
		return -errno;
	if (ARRAY_RESERVE(log->v, log->cap, log->n + 1, 8) < 0)
		return -ENOMEM;
	struct run_stub *s = &log->v[log->n];
	*s = (struct run_stub){
		.dir = strndup(dir, dir_len),
		.name = strdup(name),
		.is_dir = is_dir,
		.dev = self.st_dev,
		.ino = self.st_ino,
		.atime = before->st_atim,
		.mtime = before->st_mtim,
		.after_mtime = after.st_mtim,
		.after_nlink = after.st_nlink,
	};
	if (!s->dir || !s->name) {
		free(s->dir);
		free(s->name);
		return -ENOMEM;
	}
	log->n++;
	return 0;
}

/* ---- creating ----------------------------------------------------------- */

/* Creates name in dirfd (whose path inside the rootfs is dir[0..dir_len)):
 * an empty file or a directory.  EEXIST is success (someone else made it;
 * the caller resolves again). */
static int make_entry(int dirfd, const char *dir, size_t dir_len, const char *name, bool file,
		      const struct run_mkpath *how)
{
	struct stat before;
	_cleanup_close_ int fd = -1;
	bool log = how && how->log;

	if (log && fstat(dirfd, &before) < 0)
		return -errno;
	if (file) {
		fd = openat(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
			    0644);
	} else if (mkdirat(dirfd, name, 0755) == 0) {
		fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0)
		return errno == EEXIST ? 0 : -errno;
	/* record first: whatever fails next, the stub gets removed */
	if (log) {
		int r = stub_record(how->log, dirfd, dir, dir_len, name, !file, &before, fd);
		if (r < 0) {
			unlinkat(dirfd, name, file ? 0 : AT_REMOVEDIR);
			return r;
		}
	}
	/* the mode must not depend on the process umask, which we can't
	 * change here (it is shared by every thread) */
	if (fchmod(fd, file ? 0644 : 0755) < 0)
		return -errno;
	if (how && how->chown && fchown(fd, how->uid, how->gid) < 0)
		return -errno;
	return 0;
}

/* buf[start..end) is a dangling symlink whose target is link: splices the
 * target in its place (an absolute target restarts from the root). */
static int splice_link(char *buf, size_t start, size_t end, const char *link, int *links)
{
	char tmp[RUN_PATH_MAX];

	if (++*links > RUN_MAX_LINKS)
		return -ELOOP;
	tmp[0] = '\0';
	if (link[0] != '/') {
		if (start >= sizeof(tmp))
			return -ENAMETOOLONG;
		memcpy(tmp, buf, start);
		tmp[start] = '\0';
	}
	run_strlcat(tmp, link, sizeof(tmp));
	run_strlcat(tmp, buf + end, sizeof(tmp));
	if (strlen(tmp) + 1 >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(buf, tmp, strlen(tmp) + 1);
	return 0;
}

/* The component buf[start..end) does not resolve although its parent
 * (dirfd) does: either it is missing, or it is a symlink to something
 * missing. */
static int handle_missing(int dirfd, char *buf, size_t start, size_t end, bool dir,
			  const struct run_mkpath *how, int *links)
{
	char name[256], link[RUN_PATH_MAX];
	size_t rest = end;

	if (end - start >= sizeof(name))
		return -ENAMETOOLONG;
	memcpy(name, buf + start, end - start);
	name[end - start] = '\0';

	ssize_t n = readlinkat(dirfd, name, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		return splice_link(buf, start, end, link, links);
	}
	if (n == 0 || (errno != ENOENT && errno != EINVAL))
		return n == 0 ? -ENOENT : -errno;

	while (buf[rest] == '/')
		rest++;
	bool last = buf[rest] == '\0';
	return make_entry(dirfd, buf, start, name, last && !dir, how);
}

/* One step of run_root_mkpath(): finds the first component of buf that
 * does not resolve and creates it (or splices in a dangling link). */
static int mkpath_step(int rootfd, char *buf, bool dir, const struct run_mkpath *how, int *links)
{
	size_t len = strlen(buf), i = 0;
	_cleanup_close_ int dirfd = run_root_open(rootfd, "", O_PATH | O_DIRECTORY);

	if (dirfd < 0)
		return dirfd;
	for (;;) {
		while (buf[i] == '/')
			i++;
		if (i >= len)
			return -ENOENT; /* every prefix resolves, the whole does not */
		size_t start = i;
		while (i < len && buf[i] != '/')
			i++;

		char c = buf[i];
		buf[i] = '\0';
		int fd = run_root_open(rootfd, buf, O_PATH);
		buf[i] = c;
		if (fd == -ENOENT)
			return handle_missing(dirfd, buf, start, i, dir, how, links);
		if (fd < 0)
			return fd;
		close(dirfd);
		dirfd = fd;
	}
}

int run_root_mkpath(int rootfd, const char *path, bool dir, const struct run_mkpath *how)
{
	char buf[RUN_PATH_MAX];
	int links = 0;

	while (*path == '/')
		path++;
	if (strlen(path) >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, strlen(path) + 1);
	/* each step makes one component or follows one link: bounded */
	for (int steps = 0; steps < RUN_PATH_MAX; steps++) {
		int fd = run_root_open(rootfd, buf, O_PATH);
		if (fd != -ENOENT)
			return fd;
		int r = mkpath_step(rootfd, buf, dir, how, &links);
		if (r < 0)
			return r;
	}
	return -ELOOP;
}

/* ---- removing ----------------------------------------------------------- */

static bool ts_equal(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

static void stub_remove(int rootfd, const struct run_stub *s)
{
	_cleanup_close_ int dfd = run_root_open(rootfd, s->dir, O_RDONLY | O_DIRECTORY);
	struct stat st, dst;

	if (dfd < 0 || fstatat(dfd, s->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	/* replaced by the command, or filled: it is the command's now */
	if (st.st_dev != s->dev || st.st_ino != s->ino)
		return;
	if (!s->is_dir && (!S_ISREG(st.st_mode) || st.st_size != 0))
		return;
	if (fstat(dfd, &dst) < 0)
		return;
	if (unlinkat(dfd, s->name, s->is_dir ? AT_REMOVEDIR : 0) < 0)
		return; /* ENOTEMPTY: the command put something in */

	/* If the directory is as the stub left it, give it back the times it
	 * had before; if the command changed it, keep the command's times
	 * (and undo only what the removal did).  Later stubs in the same
	 * directory were removed first and restored its times to what this
	 * one left, so the chain holds. */
	bool untouched = ts_equal(dst.st_mtim, s->after_mtime) && dst.st_nlink == s->after_nlink;
	struct timespec ts[2] = {
		untouched ? s->atime : dst.st_atim,
		untouched ? s->mtime : dst.st_mtim,
	};
	(void) futimens(dfd, ts);
}

void run_stubs_remove(int rootfd, struct run_stubs *stubs)
{
	for (size_t k = stubs->n; k-- > 0;) {
		if (rootfd >= 0)
			stub_remove(rootfd, &stubs->v[k]);
		free(stubs->v[k].dir);
		free(stubs->v[k].name);
	}
	free(stubs->v);
	*stubs = (struct run_stubs){0};
}
