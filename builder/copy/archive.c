/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ADD of a local tar archive, as BuildKit's file op does it
 * (solver/llbsolver/file/unpack.go, unpack_root.go):
 *
 *  - an archive is a regular file that decompresses (gzip, bzip2, xz,
 *    zstd or none: archiveutil.DecompressStream) into something whose
 *    first tar header reads; anything else is copied as a file;
 *  - it is extracted into dest (created 0755 and owned by --chown),
 *    whatever dest's trailing '/';
 *  - names lose their leading '/' and are cleaned; one that still climbs
 *    out ("../x") fails the step, as does a symlink inside dest that points
 *    out of it when a later entry goes through it; absolute link targets
 *    count from dest;
 *  - what is in the way is removed (a directory stays for a directory);
 *    missing parents are created 0755 root:root;
 *  - owners from the archive unless --chown, modes with their set-id and
 *    sticky bits, times (atime at least the mtime; directories last);
 *    --chmod does not apply.
 *
 * Beyond the newest BuildKit, which refuses them, fifos and devices are
 * recreated and PAX/libarchive xattrs applied (best effort), as the moby
 * archive package BuildKit used before did.  Everything is done through
 * directory fds opened below dest without following symlinks, so no entry
 * can write outside dest.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/xattr.h>

#include "copy-internal.h"

#define MAX_LINKS 255

typedef struct dir_time {
	char *path;
	struct timespec times[2];
} dir_time;

typedef struct xstate {
	const archive_ctx *ctx;
	int xfd; /* dest, the extraction root */
	struct archive *ar;
	dir_time *dirs;
	size_t n_dirs, cap_dirs;
	cairn_error **err;
} xstate;

/* "ADD failed: pre "name" post" */
static int xfail(xstate *x, int r, const char *pre, const char *name, const char *post)
{
	_cleanup_free_ char *q = quote_name(name, strlen(name));
	return cairn_error_set(x->err, r, "%s failed: %s\"%s\"%s", x->ctx->cmd, pre, q ? q : "",
			       post);
}

static int xsys(xstate *x, int r, const char *what, const char *name)
{
	_cleanup_free_ char *q = quote_name(name, strlen(name));
	char buf[128];
	return cairn_error_set(x->err, r, "%s failed: %s %s: %s", x->ctx->cmd, what, q ? q : "",
			       go_strerror(r, buf, sizeof(buf)));
}

/* Go's path.Clean of a relative path; *climbs when it starts with "..". */
static char *clean_local(const char *p, bool *climbs)
{
	/* clean as rooted, counting the ".." that would go above the top */
	size_t n = strlen(p), up = 0;
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
			if (o == 0) {
				up++;
				continue;
			}
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, p + s, len);
		o += len;
	}
	out[o] = 0;
	*climbs = up > 0;
	return out;
}

/* cleanRootTarPath: "" for the root itself, -1 when it leaves. */
static int clean_tar_name(xstate *x, const char *name, char **ret)
{
	const char *p = name;
	while (*p == '/')
		p++;
	bool climbs;
	char *c = clean_local(p, &climbs);
	if (!c)
		return -ENOMEM;
	if (climbs) {
		free(c);
		return xfail(x, CAIRN_E_UNSAFE, "archive path ", name,
			     " is outside extraction root");
	}
	*ret = c;
	return 0;
}

/* A directory fd of a path inside dest that has no symlinks. */
static int open_dir(xstate *x, const char *path)
{
	return open_in_root(x->xfd, path, O_RDONLY | O_DIRECTORY, true);
}

/* resolveRootPath: follows symlinks inside dest (the leaf only when
 * follow_leaf); what does not exist is kept as written. */
static int resolve(xstate *x, const char *name, bool follow_leaf, char **ret)
{
	_cleanup_free_ char *cur = strdup(name);
	if (!cur)
		return -ENOMEM;
	for (int iter = 0; iter < MAX_LINKS; iter++) {
		_cleanup_free_ char *done = strdup("");
		_cleanup_close_ int dfd = open_dir(x, "");
		bool followed = false;
		if (!done)
			return -ENOMEM;
		if (dfd < 0)
			return xsys(x, dfd, "open", ".");
		for (const char *p = cur; *p;) {
			size_t len = strcspn(p, "/");
			_cleanup_free_ char *comp = strndup(p, len);
			const char *tail = p[len] ? p + len + 1 : "";
			_cleanup_free_ char *cand = comp ? path_join(done, comp) : NULL;
			if (!cand)
				return -ENOMEM;
			struct stat st;
			if ((!*tail && !follow_leaf) ||
			    fstatat(dfd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (*tail && errno != ENOENT)
					return xsys(x, -errno, "lstat", cand);
				/* the leaf, or missing from here on: as written */
				char *all = path_join(cand, tail);
				if (!all)
					return -ENOMEM;
				*ret = all;
				return 0;
			}
			if (S_ISLNK(st.st_mode)) {
				char target[4096];
				ssize_t n = readlinkat(dfd, comp, target, sizeof(target) - 1);
				if (n < 0)
					return xsys(x, -errno, "readlink", cand);
				target[n] = 0;
				_cleanup_free_ char *next = NULL;
				if (target[0] == '/') {
					int r = clean_tar_name(x, target, &next);
					if (r < 0)
						return r;
				} else {
					_cleanup_free_ char *dir = path_dirname(cand);
					_cleanup_free_ char *j = NULL;
					bool climbs;
					if (!dir || asprintf(&j, "%s/%s", dir, target) < 0)
						return -ENOMEM;
					next = clean_local(j, &climbs);
					if (!next)
						return -ENOMEM;
					if (climbs)
						return xfail(x, CAIRN_E_UNSAFE, "archive symlink ",
							     cand,
							     " points outside extraction root");
				}
				char *all = path_join(next, tail);
				if (!all)
					return -ENOMEM;
				free(cur);
				cur = all;
				followed = true;
				break;
			}
			if (*tail) {
				int nfd = openat(dfd, comp,
						 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (nfd < 0)
					return xsys(x, -errno, "open", cand);
				closep(&dfd);
				dfd = nfd;
			}
			free(done);
			done = steal_pointer(&cand);
			p = tail;
		}
		if (!followed) {
			*ret = steal_pointer(&done);
			return 0;
		}
	}
	return xfail(x, -ELOOP, "too many symlinks resolving archive path ", name, "");
}

/* Creates the missing parents of op (0755, root:root); returns the fd of
 * op's directory. */
static int make_parents(xstate *x, const char *op, int *ret_fd)
{
	_cleanup_close_ int fd = open_dir(x, "");
	if (fd < 0)
		return xsys(x, fd, "open", ".");
	_cleanup_free_ char *dir = path_dirname(op);
	if (!dir)
		return -ENOMEM;
	for (const char *p = dir; *p;) {
		size_t len = strcspn(p, "/");
		_cleanup_free_ char *comp = strndup(p, len);
		if (!comp)
			return -ENOMEM;
		p += len + (p[len] == '/');
		if (mkdirat(fd, comp, 0755) == 0) {
			if (fchownat(fd, comp, 0, 0, AT_SYMLINK_NOFOLLOW) < 0 ||
			    fchmodat(fd, comp, 0755, 0) < 0)
				return xsys(x, -errno, "mkdir", comp);
		} else if (errno != EEXIST) {
			return xsys(x, -errno, "mkdir", comp);
		}
		int nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0)
			return xsys(x, errno == ELOOP ? -ENOTDIR : -errno, "mkdir", comp);
		closep(&fd);
		fd = nfd;
	}
	*ret_fd = steal_fd(&fd);
	return 0;
}

static struct timespec bound(time_t sec, long nsec)
{
	if (sec < 0)
		return (struct timespec){0, 0};
	return (struct timespec){sec, nsec};
}

static void entry_times(xstate *x, struct archive_entry *ent, struct timespec t[2])
{
	if (x->ctx->epoch) {
		t[0] = t[1] = *x->ctx->epoch;
		return;
	}
	t[1] = archive_entry_mtime_is_set(ent)
		   ? bound(archive_entry_mtime(ent), archive_entry_mtime_nsec(ent))
		   : (struct timespec){0, 0};
	t[0] = t[1];
	if (archive_entry_atime_is_set(ent)) {
		struct timespec a = bound(archive_entry_atime(ent), archive_entry_atime_nsec(ent));
		if (a.tv_sec > t[1].tv_sec || (a.tv_sec == t[1].tv_sec && a.tv_nsec > t[1].tv_nsec))
			t[0] = a;
	}
}

static void set_xattrs(int dirfd, const char *name, struct archive_entry *ent)
{
	char path[64 + NAME_MAX];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	const char *key;
	const void *v;
	size_t len;
	archive_entry_xattr_reset(ent);
	while (archive_entry_xattr_next(ent, &key, &v, &len) == ARCHIVE_OK)
		(void) lsetxattr(path, key, v, len, 0);
}

static int write_data(xstate *x, int fd, const char *name, struct archive_entry *ent)
{
	const void *buf;
	size_t size;
	int64_t off;
	for (;;) {
		int r = archive_read_data_block(x->ar, &buf, &size, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN)
			return xfail(x, CAIRN_E_FORMAT, "reading archive entry ", name, "");
		const char *p = buf;
		while (size) {
			ssize_t n = pwrite(fd, p, size, (off_t) off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return xsys(x, -errno, "write", name);
			p += n;
			off += n;
			size -= (size_t) n;
		}
	}
	if (archive_entry_size_is_set(ent) && ftruncate(fd, archive_entry_size(ent)) < 0)
		return xsys(x, -errno, "write", name);
	return 0;
}

static int own(xstate *x, int dirfd, const char *base, struct archive_entry *ent)
{
	uid_t uid = x->ctx->chown ? x->ctx->uid : (uid_t) archive_entry_uid(ent);
	gid_t gid = x->ctx->chown ? x->ctx->gid : (gid_t) archive_entry_gid(ent);
	return fchownat(dirfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

/* A hardlink entry: its target inside dest. */
static int do_hardlink(xstate *x, int dirfd, const char *base, const char *op,
		       struct archive_entry *ent)
{
	const char *lname = archive_entry_hardlink(ent);
	_cleanup_free_ char *clean = NULL, *res = NULL, *ldir = NULL;
	int r = clean_tar_name(x, lname, &clean);
	if (r < 0)
		return r;
	if (!*clean)
		return xfail(x, CAIRN_E_UNSAFE, "archive hardlink ", op,
			     " targets extraction root");
	r = resolve(x, clean, false, &res);
	if (r < 0)
		return r;
	ldir = path_dirname(res);
	if (!ldir)
		return -ENOMEM;
	_cleanup_close_ int lfd = open_in_root(x->xfd, ldir, O_PATH | O_DIRECTORY, true);
	if (lfd < 0 || linkat(lfd, path_basename(res), dirfd, base, 0) < 0)
		return xsys(x, lfd < 0 ? lfd : -errno, "link", op);
	if (own(x, dirfd, base, ent) < 0)
		return xsys(x, -errno, "chown", op);
	struct stat st;
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISLNK(st.st_mode)) {
		struct timespec t[2];
		entry_times(x, ent, t);
		if (fchmodat(dirfd, base, archive_entry_mode(ent) & 07777, 0) < 0 ||
		    utimensat(dirfd, base, t, AT_SYMLINK_NOFOLLOW) < 0)
			return xsys(x, -errno, "chmod", op);
	}
	return 0;
}

static int do_entry(xstate *x, struct archive_entry *ent)
{
	const char *pathname = archive_entry_pathname(ent);
	if (!pathname)
		return 0;
	_cleanup_free_ char *name = NULL, *op = NULL;
	int r = clean_tar_name(x, pathname, &name);
	if (r < 0 || !*name)
		return r;
	bool hard = archive_entry_hardlink(ent) != NULL;
	mode_t type = hard ? 0 : archive_entry_filetype(ent);
	r = resolve(x, name, type == AE_IFDIR, &op);
	if (r < 0 || !*op)
		return r;
	_cleanup_close_ int dfd = -1;
	r = make_parents(x, op, &dfd);
	if (r < 0)
		return r;
	const char *base = path_basename(op);
	struct stat st;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !(S_ISDIR(st.st_mode) && type == AE_IFDIR) && (r = remove_all_at(dfd, base)) < 0)
		return xsys(x, r, "remove", op);
	if (hard)
		return do_hardlink(x, dfd, base, op, ent);

	mode_t mode = archive_entry_mode(ent) & 07777;
	struct timespec t[2];
	entry_times(x, ent, t);
	switch (type) {
	case AE_IFDIR:
		if (mkdirat(dfd, base, mode & 0777) < 0 && errno != EEXIST)
			return xsys(x, -errno, "mkdir", op);
		break;
	case AE_IFREG: {
		_cleanup_close_ int fd = openat(
		    dfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC,
		    mode & 0777);
		if (fd < 0)
			return xsys(x, -errno, "open", op);
		r = write_data(x, fd, op, ent);
		if (r < 0)
			return r;
		break;
	}
	case AE_IFLNK: {
		const char *target = archive_entry_symlink(ent);
		if (symlinkat(target ? target : "", dfd, base) < 0)
			return xsys(x, -errno, "symlink", op);
		break;
	}
	case AE_IFIFO:
	case AE_IFCHR:
	case AE_IFBLK:
		if (mknodat(dfd, base, type | 0600, archive_entry_rdev(ent)) < 0)
			return xsys(x, -errno, "mknod", op);
		break;
	default:
		return xfail(x, CAIRN_E_FORMAT, "unsupported tar entry ", op, "");
	}
	if (own(x, dfd, base, ent) < 0)
		return xsys(x, -errno, "chown", op);
	if (type != AE_IFLNK && fchmodat(dfd, base, mode, 0) < 0)
		return xsys(x, -errno, "chmod", op);
	set_xattrs(dfd, base, ent);
	if (type == AE_IFDIR) {
		if (ARRAY_RESERVE(x->dirs, x->cap_dirs, x->n_dirs + 1, 16) < 0)
			return -ENOMEM;
		x->dirs[x->n_dirs++] = (dir_time){steal_pointer(&op), {t[0], t[1]}};
		return 0;
	}
	if (utimensat(dfd, base, t, AT_SYMLINK_NOFOLLOW) < 0)
		return xsys(x, -errno, "chtimes", op);
	return 0;
}

static struct archive *open_archive(int fd)
{
	struct archive *ar = archive_read_new();
	if (!ar)
		return NULL;
	archive_read_support_filter_gzip(ar);
	archive_read_support_filter_bzip2(ar);
	archive_read_support_filter_xz(ar);
	archive_read_support_filter_zstd(ar);
	archive_read_support_format_tar(ar);
	if (archive_read_open_fd(ar, fd, 64 * 1024) != ARCHIVE_OK) {
		archive_read_free(ar);
		return NULL;
	}
	return ar;
}

int archive_try_extract(int src_fd, const archive_ctx *ctx, cairn_error **err)
{
	xstate x = {.ctx = ctx, .xfd = -1, .err = err};
	struct archive_entry *ent;
	x.ar = open_archive(src_fd);
	int ar_r = x.ar ? archive_read_next_header(x.ar, &ent) : ARCHIVE_FATAL;
	if (ar_r != ARCHIVE_OK && ar_r != ARCHIVE_WARN) {
		if (x.ar)
			archive_read_free(x.ar);
		if (lseek(src_fd, 0, SEEK_SET) < 0)
			return -errno;
		return 0; /* not an archive: copied as a file */
	}
	int r = mkdir_all(ctx->dst_root_fd, ctx->dest, ctx->parents, &x.xfd);
	if (r < 0)
		r = xsys(&x, r, "mkdir", ctx->dest);
	while (r >= 0) {
		r = do_entry(&x, ent);
		if (r < 0)
			break;
		ar_r = archive_read_next_header(x.ar, &ent);
		if (ar_r == ARCHIVE_EOF)
			break;
		if (ar_r < ARCHIVE_WARN) {
			const char *why = archive_error_string(x.ar);
			r = cairn_error_set(err, CAIRN_E_FORMAT, "%s failed: reading archive: %s",
					    ctx->cmd, why ? why : "damaged");
		}
	}
	for (size_t i = x.n_dirs; i-- > 0;) {
		if (r >= 0) {
			_cleanup_free_ char *dir = path_dirname(x.dirs[i].path);
			_cleanup_close_ int dfd = dir ? open_dir(&x, dir) : -ENOMEM;
			if (dfd < 0 || utimensat(dfd, path_basename(x.dirs[i].path),
						 x.dirs[i].times, AT_SYMLINK_NOFOLLOW) < 0)
				r = xsys(&x, dfd < 0 ? dfd : -errno, "chtimes", x.dirs[i].path);
		}
		free(x.dirs[i].path);
	}
	free(x.dirs);
	if (x.xfd >= 0)
		close(x.xfd);
	archive_read_free(x.ar);
	return r < 0 ? r : 1;
}
