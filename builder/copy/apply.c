/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Phase 3: writing the destination, root by root, as fsutil's Copy does
 * for each copy action (one per source, then one per wildcard match):
 *
 *   1. MkdirAll(dest, or its parent when dest does not end with '/')
 *   2. dest resolved inside the root, following symlinks (RootPath)
 *   3. prepareTargetDir: a non-directory lands in dest/NAME when dest is a
 *      directory, else at dest; a directory's contents go into dest, which
 *      is created when missing; the target's parents are created
 *   4. the tree: nothing below the target is followed; a directory merges
 *      into a directory (its metadata updated after its children, so that
 *      the mtime holds) and fails over anything else; anything else
 *      replaces a non-directory and fails over a directory
 *
 * Directories are created by MkdirAll 0755 (or the --chmod mode), owned by
 * the --chown user if any.  All access below the target goes through
 * directory fds with O_NOFOLLOW, so a symlink already in the destination
 * can redirect nothing but the resolution of dest itself, which stays in
 * the root.
 */
#include <fcntl.h>

#include "copy-internal.h"
#include "passwd.h"

#define NO_LEADER UINT32_MAX

typedef struct applier {
	const copy_selection *sel;
	const copy_options *opts;
	int dst_root_fd;
	const char *cmd;
	copy_chmod chmod;
	bool has_chmod, has_chown;
	uid_t uid;
	gid_t gid;
	meta parents; /* how MkdirAll creates directories */
	char *dest;   /* clean relative, as written */
	char *ensure; /* dest, or its parent when dest is not a directory form */
	bool dest_dir;
	char *src_dir; /* the source directory src_pfd is open on */
	int src_pfd;
	cairn_error **err;
} applier;

/* "COPY failed: what /path: strerror" */
static int failp(applier *a, int r, const char *what, const char *path)
{
	_cleanup_free_ char *q = quote_name(path, strlen(path));
	char buf[128];
	return cairn_error_set(a->err, r, "%s failed: %s /%s: %s", a->cmd, what, q ? q : "",
			       go_strerror(r, buf, sizeof(buf)));
}

/* "COPY failed: pre /path post" */
static int conflict(applier *a, const char *pre, const char *path, const char *post)
{
	_cleanup_free_ char *q = quote_name(path, strlen(path));
	return cairn_error_set(a->err, -EEXIST, "%s failed: %s /%s%s", a->cmd, pre, q ? q : "",
			       post);
}

int meta_apply(int fd, int dirfd, const char *name, const meta *m)
{
	if (m->chown && (fd >= 0 ? fchown(fd, m->uid, m->gid)
				 : fchownat(dirfd, name, m->uid, m->gid, AT_SYMLINK_NOFOLLOW)) < 0)
		return -errno;
	if (m->chmod && (fd >= 0 ? fchmod(fd, m->mode) : fchmodat(dirfd, name, m->mode, 0)) < 0)
		return -errno;
	if (m->utimes && (fd >= 0 ? futimens(fd, m->times)
				  : utimensat(dirfd, name, m->times, AT_SYMLINK_NOFOLLOW)) < 0)
		return -errno;
	return 0;
}

int mkdir_all(int root_fd, const char *path, const meta *m, int *ret_fd)
{
	_cleanup_close_ int fd = open_in_root(root_fd, "", O_RDONLY | O_DIRECTORY, true);
	if (fd < 0)
		return fd;
	for (const char *p = path; *p;) {
		size_t len = strcspn(p, "/");
		_cleanup_free_ char *comp = strndup(p, len);
		if (!comp)
			return -ENOMEM;
		p += len + (p[len] == '/');
		int nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT) {
			if (mkdirat(fd, comp, 0700) < 0 && errno != EEXIST)
				return -errno;
			nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (nfd >= 0) {
				int r = meta_apply(nfd, -1, NULL, m);
				if (r < 0) {
					close(nfd);
					return r;
				}
			}
		}
		if (nfd < 0)
			return errno == ELOOP ? -ENOTDIR : -errno;
		closep(&fd);
		fd = nfd;
	}
	if (ret_fd)
		*ret_fd = steal_fd(&fd);
	return 0;
}

/* ---- the source side -------------------------------------------------------- */

static int src_open(applier *a, const copy_entry *e, int flags)
{
	_cleanup_free_ char *dir = path_dirname(e->src_path);
	if (!dir)
		return -ENOMEM;
	if (!*e->src_path)
		return open_in_root(a->sel->src_root_fd, "", flags, true);
	if (!a->src_dir || strcmp(a->src_dir, dir) != 0) {
		int fd = open_in_root(a->sel->src_root_fd, dir, O_PATH | O_DIRECTORY, true);
		if (fd < 0)
			return fd;
		if (a->src_pfd >= 0)
			close(a->src_pfd);
		free(a->src_dir);
		a->src_pfd = fd;
		a->src_dir = steal_pointer(&dir);
	}
	int fd = openat(a->src_pfd, path_basename(e->src_path), flags | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* ---- metadata ------------------------------------------------------------- */

static void set_times(applier *a, const copy_entry *e, meta *m)
{
	m->utimes = true;
	if (a->opts->epoch) {
		m->times[0] = m->times[1] = *a->opts->epoch;
	} else {
		m->times[0] = e->st.st_atim;
		m->times[1] = e->st.st_mtim;
	}
}

static void entry_meta(applier *a, const copy_entry *e, meta *m)
{
	*m = (meta){.chown = true};
	if (a->has_chown) {
		m->uid = a->uid;
		m->gid = a->gid;
	} else if (a->opts->preserve_owner) {
		m->uid = e->st.st_uid;
		m->gid = e->st.st_gid;
	}
	m->chmod = !S_ISLNK(e->st.st_mode);
	m->mode =
	    a->has_chmod ? copy_chmod_apply(&a->chmod, e->st.st_mode) : (e->st.st_mode & 07777);
	set_times(a, e, m);
}

/* fsutil's copyFileInfo then copyXAttrs. */
static int finish(applier *a, int fd, int dirfd, const char *name, const copy_entry *e,
		  const char *path)
{
	meta m;
	entry_meta(a, e, &m);
	int r = meta_apply(fd, dirfd, name, &m);
	if (r < 0)
		return failp(a, r, "failed to copy file info", path);
	xattrs_write(fd, dirfd, name, e->xattrs, e->xattrs_len);
	return 0;
}

/* ---- one non-directory ---------------------------------------------------- */

typedef struct tree {
	const copy_root *root;
	const char *target; /* where the root lands: clean relative, resolved */
	char **leaders;	    /* per entry of the root: where a hardlink leader landed */
} tree;

static int copy_file(applier *a, tree *t, int dirfd, const char *name, const copy_entry *e,
		     const char *path)
{
	_cleanup_close_ int in = src_open(a, e, O_RDONLY | O_NOCTTY);
	if (in < 0)
		return failp(a, in, "failed to open source", e->src_path);
	_cleanup_close_ int out = openat(
	    dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
	if (out < 0)
		return failp(a, -errno, "failed to open target", path);
	int r = copy_data(in, out, e->st.st_size);
	if (r < 0)
		return failp(a, r, "failed to copy files", path);
	r = finish(a, out, -1, NULL, e, path);
	if (r < 0)
		return r;
	if (e->st.st_nlink > 1 && t->leaders) {
		size_t i = (size_t) (e - a->sel->entries) - t->root->first;
		t->leaders[i] = strdup(path);
		if (!t->leaders[i])
			return -ENOMEM;
	}
	return 0;
}

static int copy_link(applier *a, tree *t, int dirfd, const char *name, const copy_entry *e,
		     const char *path)
{
	const char *lp = t->leaders ? t->leaders[e->link_leader - t->root->first] : NULL;
	if (!lp)
		return copy_file(a, t, dirfd, name, e, path);
	_cleanup_free_ char *ldir = path_dirname(lp);
	if (!ldir)
		return -ENOMEM;
	_cleanup_close_ int lfd = open_in_root(a->dst_root_fd, ldir, O_PATH | O_DIRECTORY, true);
	if (lfd < 0 || linkat(lfd, path_basename(lp), dirfd, name, 0) < 0)
		return failp(a, lfd < 0 ? lfd : -errno, "failed to create hard link", path);
	return finish(a, -1, dirfd, name, e, path);
}

/* Places a non-directory at dirfd/name (path for messages). */
static int place(applier *a, tree *t, int dirfd, const char *name, const copy_entry *e,
		 const char *path)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISDIR(st.st_mode))
			return conflict(a, "cannot replace to directory", path, " with file");
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return failp(a, -errno, "failed to remove", path);
	} else if (errno != ENOENT) {
		return failp(a, -errno, "failed to lstat file target", path);
	}
	mode_t m = e->st.st_mode;
	if (S_ISREG(m))
		return e->link_leader != NO_LEADER ? copy_link(a, t, dirfd, name, e, path)
						   : copy_file(a, t, dirfd, name, e, path);
	if (S_ISLNK(m)) {
		if (symlinkat(e->link_target, dirfd, name) < 0)
			return failp(a, -errno, "failed to create symlink", path);
	} else if (mknodat(dirfd, name, (m & S_IFMT) | 0600, e->st.st_rdev) < 0) {
		return failp(a, -errno, "failed to create device", path);
	}
	return finish(a, -1, dirfd, name, e, path);
}

/* ---- directories ---------------------------------------------------------- */

typedef struct level {
	int fd;
	const copy_entry *e;
	bool post; /* metadata after the children */
	char *path;
} level;

/* copyDirectoryOnly: creates dirfd/name or checks that it is a
 * directory (then chmods it to the source's mode); *ret_fd opened. */
static int enter_dir(applier *a, int dirfd, const char *name, const copy_entry *e, const char *path,
		     bool *created, int *ret_fd)
{
	struct stat st;
	*created = false;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return failp(a, -errno, "failed to lstat", path);
		if (mkdirat(dirfd, name, e->st.st_mode & 0777) < 0)
			return failp(a, -errno, "failed to mkdir", path);
		*created = true;
	} else if (!S_ISDIR(st.st_mode)) {
		return conflict(a, "cannot copy to non-directory:", path, "");
	} else if (fchmodat(dirfd, name, e->st.st_mode & 07777, 0) < 0) {
		return failp(a, -errno, "failed to chmod on", path);
	}
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return failp(a, -errno, "failed to open", path);
	*ret_fd = fd;
	return 0;
}

static int leave(applier *a, level *l)
{
	int r = 0;
	if (l->post)
		r = finish(a, l->fd, -1, NULL, l->e, l->path);
	close(l->fd);
	free(l->path);
	return r;
}

/* The children of a directory root, whose target directory is root_fd. */
static int copy_children(applier *a, tree *t, int root_fd)
{
	const copy_root *r = t->root;
	_cleanup_free_ level *stack = calloc(r->count + 1, sizeof(*stack));
	if (!stack)
		return -ENOMEM;
	size_t depth = 1; /* stack[0] is the root */
	stack[0] = (level){.fd = root_fd};
	int ret = 0;
	for (size_t i = r->first + 1; ret >= 0 && i < r->first + r->count; i++) {
		const copy_entry *e = &a->sel->entries[i];
		while (ret >= 0 && depth > e->depth)
			ret = leave(a, &stack[--depth]);
		if (ret < 0)
			break;
		int dirfd = stack[depth - 1].fd;
		const char *name = path_basename(e->rel);
		_cleanup_free_ char *path = path_join(t->target, e->rel);
		if (!path) {
			ret = -ENOMEM;
			break;
		}
		if (!S_ISDIR(e->st.st_mode)) {
			ret = place(a, t, dirfd, name, e, path);
			continue;
		}
		bool created;
		int fd = -1;
		ret = enter_dir(a, dirfd, name, e, path, &created, &fd);
		if (ret < 0)
			break;
		if (e->implied && created)
			ret = finish(a, fd, -1, NULL, e, path); /* createParentDirs */
		stack[depth++] =
		    (level){.fd = fd, .e = e, .post = !e->implied, .path = steal_pointer(&path)};
	}
	while (depth > 1) {
		level *l = &stack[--depth];
		if (ret >= 0)
			ret = leave(a, l);
		else {
			close(l->fd);
			free(l->path);
		}
	}
	return ret;
}

/* ---- one root ------------------------------------------------------------- */

static int resolve_dst(applier *a, const char *path, char **ret)
{
	int r = root_resolve(a->dst_root_fd, path, true, NULL, ret);
	return r < 0 ? failp(a, r, "resolving", path) : 0;
}

static int make_dirs(applier *a, const char *path, int *ret_fd)
{
	int r = mkdir_all(a->dst_root_fd, path, &a->parents, ret_fd);
	return r < 0 ? failp(a, r, "mkdir", path) : 0;
}

static int extract(applier *a, const copy_root *root, int src_fd)
{
	_cleanup_free_ char *dest = NULL;
	int r = resolve_dst(a, a->dest, &dest);
	if (r < 0)
		return r;
	meta parents = {.chown = a->has_chown,
			.uid = a->uid,
			.gid = a->gid,
			.mode = 0755,
			.chmod = true,
			.utimes = a->opts->epoch != NULL};
	if (a->opts->epoch)
		parents.times[0] = parents.times[1] = *a->opts->epoch;
	archive_ctx ctx = {.dst_root_fd = a->dst_root_fd,
			   .dest = dest,
			   .parents = &parents,
			   .chown = a->has_chown,
			   .uid = a->uid,
			   .gid = a->gid,
			   .epoch = a->opts->epoch,
			   .cmd = a->cmd};
	(void) root;
	return archive_try_extract(src_fd, &ctx, a->err);
}

static int apply_root(applier *a, const copy_root *root)
{
	const copy_entry *e0 = &a->sel->entries[root->first];
	if (a->opts->add && S_ISREG(e0->st.st_mode)) {
		_cleanup_close_ int fd = src_open(a, e0, O_RDONLY | O_NOCTTY);
		if (fd < 0)
			return failp(a, fd, "failed to open source", e0->src_path);
		int r = extract(a, root, fd);
		if (r != 0)
			return r < 0 ? r : 0;
	}
	_cleanup_free_ char *ensure = NULL, *dst = NULL, *target = NULL, *mk = NULL;
	int r = resolve_dst(a, a->ensure, &ensure);
	if (r >= 0)
		r = make_dirs(a, ensure, NULL);
	if (r >= 0)
		r = resolve_dst(a, a->dest, &dst);
	if (r < 0)
		return r;
	struct stat st;
	bool exists = false;
	_cleanup_close_ int dfd = open_in_root(a->dst_root_fd, dst, O_PATH, true);
	if (dfd >= 0 && fstat(dfd, &st) == 0)
		exists = true;
	else if (dfd != -ENOENT)
		return failp(a, dfd < 0 ? dfd : -errno, "failed to lstat destination path: stat",
			     dst);
	target = !root->is_dir && exists && S_ISDIR(st.st_mode) ? path_join(dst, root->name)
								: strdup(dst);
	if (!target)
		return -ENOMEM;
	mk = root->is_dir && !exists ? strdup(target) : path_dirname(target);
	_cleanup_close_ int pfd = -1;
	if (!mk)
		return -ENOMEM;
	r = make_dirs(a, mk, &pfd);
	if (r < 0)
		return r;

	_cleanup_free_ char **leaders = calloc(root->count, sizeof(char *));
	tree t = {.root = root, .target = target, .leaders = leaders};
	if (!leaders)
		return -ENOMEM;
	if (!root->is_dir) {
		r = place(a, &t, pfd, path_basename(target), e0, target);
	} else {
		int fd = -1;
		if (!strcmp(mk, target)) {
			fd = steal_fd(&pfd);
		} else {
			fd = openat(pfd, path_basename(target),
				    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0)
				return errno == ENOTDIR || errno == ELOOP
					   ? conflict(a, "cannot copy to non-directory:", target,
						      "")
					   : failp(a, -errno, "failed to open", target);
		}
		r = copy_children(a, &t, fd);
		close(fd);
	}
	for (size_t i = 0; i < root->count; i++)
		free(leaders[i]);
	return r;
}

/* ---- the instruction ------------------------------------------------------ */

static bool dir_form(const char *dest)
{
	size_t n = strlen(dest);
	return n == 0 || !strcmp(dest, ".") || dest[n - 1] == '/' ||
	       (n >= 2 && dest[n - 1] == '.' && dest[n - 2] == '/');
}

static int setup(applier *a, const char *dest)
{
	const copy_options *o = a->opts;
	a->dest_dir = dir_form(dest);
	a->dest = path_clean_rel(dest);
	if (!a->dest)
		return -ENOMEM;
	a->ensure = a->dest_dir ? strdup(a->dest) : path_dirname(a->dest);
	if (!a->ensure)
		return -ENOMEM;
	if (o->classic_checks && a->sel->n_roots > 1 && !a->dest_dir)
		return cairn_error_set(a->err, -EINVAL,
				       "When using %s with more than one source file, the "
				       "destination must be a directory and end with a /",
				       a->cmd);
	if (o->chmod && *o->chmod) {
		int r = copy_chmod_parse(o->chmod, &a->chmod, a->err);
		if (r < 0)
			return r;
		a->has_chmod = true;
	}
	if (o->chown && *o->chown) {
		int r = copy_resolve_chown(a->dst_root_fd, o->chown, o->chown_strict, &a->uid,
					   &a->gid, a->err);
		if (r < 0)
			return r;
		a->has_chown = true;
	}
	/* MkdirAll's directories: 0755, or --chmod's mode (BuildKit >= 0.21) */
	a->parents = (meta){.chown = a->has_chown,
			    .uid = a->uid,
			    .gid = a->gid,
			    .chmod = true,
			    .mode = 0755,
			    .utimes = o->epoch != NULL};
	if (a->has_chmod)
		a->parents.mode = copy_chmod_apply(&a->chmod, S_IFDIR | 0755);
	if (o->epoch)
		a->parents.times[0] = a->parents.times[1] = *o->epoch;
	return 0;
}

int copy_apply(const copy_selection *sel, int dst_root_fd, const char *dest,
	       const copy_options *opts, cairn_error **err)
{
	copy_options none = {0};
	applier a = {.sel = sel,
		     .opts = opts ? opts : &none,
		     .dst_root_fd = dst_root_fd,
		     .src_pfd = -1,
		     .err = err};
	a.cmd = a.opts->add ? "ADD" : "COPY";
	int r = setup(&a, dest ? dest : "/");
	for (size_t i = 0; r >= 0 && i < sel->n_roots; i++)
		r = apply_root(&a, &sel->roots[i]);
	if (r < 0)
		cairn_error_from(err, r, "%s failed", a.cmd);
	if (a.src_pfd >= 0)
		close(a.src_pfd);
	free(a.src_dir);
	free(a.dest);
	free(a.ensure);
	return r < 0 ? r : 0;
}
