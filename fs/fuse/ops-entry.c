/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FUSE operations on names and attributes: lookup, forget, getattr,
 * setattr, readlink, mknod, mkdir, symlink, link, unlink, rmdir, rename,
 * statfs.  Permission checks are the kernel's (default_permissions); what
 * the kernel leaves to a filesystem (ownership of new files, setgid
 * directories, times, link counts, ENOTEMPTY) is done here.
 */
#include <fcntl.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ops.h"

/* ---- helpers ----------------------------------------------------------------- */

void fs_fill_entry(cairn_fs *fs, struct node *n, struct fuse_entry_param *e)
{
	*e = (struct fuse_entry_param){
	    .ino = node_fuse_ino(fs, n), .attr_timeout = FS_TIMEOUT, .entry_timeout = FS_TIMEOUT};
	fs_stat(fs, n, &e->attr);
}

/* st_blocks of a regular file: the upper file's, or the stored content's
 * data (holes are not data), looked up once. */
static void file_blocks(cairn_fs *fs, struct node *n, struct stat *st)
{
	if (n->flags & N_UPPER) {
		char name[32];
		struct stat up;
		upper_name(n, name);
		if (fstatat(fs->upper_fd, name, &up, AT_SYMLINK_NOFOLLOW) == 0)
			st->st_blocks = up.st_blocks;
		return;
	}
	if (!(n->flags & N_CONTENT))
		return;
	uint64_t size, data;
	if (!(n->flags & N_BLOCKS) && cairn_content_stat(fs->store, &n->content, &size, &data) >= 0) {
		n->blocks = (data + 4095) / 4096 * 8;
		n->flags |= N_BLOCKS;
	}
	if (n->flags & N_BLOCKS)
		st->st_blocks = (blkcnt_t) n->blocks;
}

void fs_stat(cairn_fs *fs, struct node *n, struct stat *st)
{
	node_stat(n, st);
	if (S_ISREG(n->mode))
		file_blocks(fs, n, st);
}

void reply_entry_locked(fuse_req_t req, cairn_fs *fs, struct node *n)
{
	struct fuse_entry_param e;
	fs_fill_entry(fs, n, &e);
	atomic_fetch_add(&n->nlookup, 1);
	pthread_mutex_unlock(&fs->lock);
	if (fuse_reply_entry(req, &e) == -ENOENT) { /* the request was interrupted */
		pthread_mutex_lock(&fs->lock);
		atomic_fetch_sub(&n->nlookup, 1);
		node_maybe_free(fs, n);
		pthread_mutex_unlock(&fs->lock);
	}
}

/* Linux drops S_ISGID of a setgid file without group execute when someone
 * outside its group (and not privileged) writes, truncates or chowns it;
 * the kernel's FUSE code only handles the group-execute case. */
bool req_drops_sgid(fuse_req_t req, uint32_t mode, gid_t gid)
{
	return (mode & (S_ISGID | S_IXGRP)) == S_ISGID && !req_in_group(req, gid);
}

bool req_in_group(fuse_req_t req, gid_t gid)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	if (ctx->uid == 0 || ctx->gid == gid)
		return true;
	gid_t groups[256];
	int n = fuse_req_getgroups(req, (int) ARRAY_SIZE(groups), groups);
	for (int i = 0; i < n && i < (int) ARRAY_SIZE(groups); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

int mutate_begin(cairn_fs *fs)
{
	if (fs->opts.readonly)
		return -EROFS;
	pthread_rwlock_rdlock(&fs->freeze);
	pthread_mutex_lock(&fs->lock);
	return 0;
}

void mutate_end(cairn_fs *fs)
{
	pthread_mutex_unlock(&fs->lock);
	pthread_rwlock_unlock(&fs->freeze);
}

/* The directory named by ino, with lock held; NULL and *err set otherwise. */
static struct node *dir_of(cairn_fs *fs, fuse_ino_t ino, int *err)
{
	struct node *n = fs_node(fs, ino);
	if (!node_is_dir(n)) {
		*err = -ENOTDIR;
		return NULL;
	}
	if (n->nlink == 0 && n != fs->root) {
		*err = -ENOENT; /* removed: nothing can be created in it */
		return NULL;
	}
	return n;
}

static int check_name(const char *name, size_t *ret_len)
{
	size_t len = strlen(name);
	if (len > 255)
		return -ENAMETOOLONG;
	if (!dir_name_valid(name, len))
		return -EINVAL;
	*ret_len = len;
	return 0;
}

/* Something in dirn changed: its times, and it differs from the base. */
static void dir_changed(cairn_fs *fs, struct node *dirn)
{
	node_touch_mtime(dirn);
	dirn->flags |= N_DIRTY_META;
	fs_changed(fs);
}

/* ---- lookup, forget, attributes ---------------------------------------------------- */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	cairn_fs *fs = fuse_req_userdata(req);
	size_t len = strlen(name);
	if (len > 255)
		return (void) fuse_reply_err(req, ENAMETOOLONG);
	pthread_mutex_lock(&fs->lock);
	struct node *p = fs_node(fs, parent);
	if (!node_is_dir(p)) {
		pthread_mutex_unlock(&fs->lock);
		return (void) fuse_reply_err(req, ENOTDIR);
	}
	struct dent *de = dir_lookup(p->dir, name, len);
	if (!de) {
		pthread_mutex_unlock(&fs->lock);
		/* a negative entry the kernel may cache: names appear only through us */
		struct fuse_entry_param e = {.entry_timeout = FS_TIMEOUT};
		return (void) fuse_reply_entry(req, &e);
	}
	reply_entry_locked(req, fs, de->node);
}

static void forget_one(cairn_fs *fs, fuse_ino_t ino, uint64_t nlookup)
{
	struct node *n = fs_node(fs, ino);
	atomic_fetch_sub(&n->nlookup, nlookup);
	node_maybe_free(fs, n);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	cairn_fs *fs = fuse_req_userdata(req);
	pthread_mutex_lock(&fs->lock);
	forget_one(fs, ino, nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	cairn_fs *fs = fuse_req_userdata(req);
	pthread_mutex_lock(&fs->lock);
	for (size_t i = 0; i < count; i++)
		forget_one(fs, forgets[i].ino, forgets[i].nlookup);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	cairn_fs *fs = fuse_req_userdata(req);
	struct stat st;
	pthread_mutex_lock(&fs->lock);
	fs_stat(fs, fs_node(fs, ino), &st);
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_attr(req, &st, FS_TIMEOUT);
}

/* Size changes: the data becomes an upper file first. */
static int setattr_size(cairn_fs *fs, struct node *n, struct fuse_file_info *fi, off_t size)
{
	if (!S_ISREG(n->mode))
		return node_is_dir(n) ? -EISDIR : -EINVAL;
	pthread_mutex_lock(&fs->lock);
	bool own = !fi || !fi->fh; /* no handle: an open without OPEN, or a path */
	struct fdata *d = own ? fdata_get(n) : ((struct handle *) (uintptr_t) fi->fh)->data;
	pthread_mutex_unlock(&fs->lock);
	if (!d)
		return -ENOMEM;
	pthread_mutex_lock(&d->lock);
	int r = data_copy_up(fs, n, d, size == 0);
	if (r >= 0 && ftruncate(d->fd, size) < 0)
		r = -errno;
	pthread_mutex_unlock(&d->lock);
	if (own) {
		pthread_mutex_lock(&fs->lock);
		fdata_put(n);
		pthread_mutex_unlock(&fs->lock);
	}
	return r;
}

/* Whether the request comes from a chown(2) call.  A SETATTR that sets
 * nothing is either chown(f, -1, -1) or the kernel dropping privileges
 * before a write (file_remove_privs), which FUSE does not tell apart; the
 * caller's thread is blocked in the system call that sent it, so its
 * /proc/TID/syscall names it.  Only asked in the rare case where the two
 * differ: a non-owner outside a setgid file's group. */
static bool req_in_chown(fuse_req_t req)
{
	char p[64], buf[32];
	snprintf(p, sizeof p, "/proc/%d/syscall", (int) fuse_req_ctx(req)->pid);
	_cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
	ssize_t k = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
	if (k <= 0)
		return false;
	buf[k] = '\0';
	long nr = strtol(buf, NULL, 10);
	return
#ifdef SYS_chown
		nr == SYS_chown || nr == SYS_lchown ||
#endif
		nr == SYS_fchown || nr == SYS_fchownat;
}

static void setattr_meta(struct node *n, const struct stat *attr, int to_set)
{
	/* one "now" for every time this change sets, as a local fs has */
	struct timespec now;
	if (to_set & FUSE_SET_ATTR_CTIME)
		now = attr->st_ctim;
	else
		clock_gettime(CLOCK_REALTIME, &now);
	if (to_set & FUSE_SET_ATTR_MODE) {
		n->mode = (n->mode & S_IFMT) | (attr->st_mode & 07777);
		acl_chmod(n);
	}
	if (to_set & FUSE_SET_ATTR_UID)
		n->uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		n->gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_ATIME)
		n->atime = (to_set & FUSE_SET_ATTR_ATIME_NOW) ? now : attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME)
		n->mtime = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? now : attr->st_mtim;
	n->ctime = now;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	cairn_fs *fs = fuse_req_userdata(req);
	if (fs->opts.readonly)
		return (void) fuse_reply_err(req, EROFS);
	struct node *n = fs_node(fs, ino);
	pthread_rwlock_rdlock(&fs->freeze);
	int r = 0;
	if (to_set & FUSE_SET_ATTR_SIZE)
		r = setattr_size(fs, n, fi, attr->st_size);
	/* A truncate or chown by someone outside a setgid (no group-execute)
	 * file's group drops S_ISGID; the kernel's FUSE code only handles
	 * group-execute.  chown(f, -1, -1) arrives as a SETATTR that sets
	 * nothing. */
	bool nothing = !(to_set & ~FUSE_SET_ATTR_CTIME);
	bool chown = (to_set & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) || nothing;
	bool kill = ((to_set & FUSE_SET_ATTR_SIZE) ||
		     (chown && !(to_set & FUSE_SET_ATTR_MODE) && !S_ISDIR(n->mode))) &&
		    req_drops_sgid(req, n->mode, n->gid);
	pthread_mutex_lock(&fs->lock);
	/* chown(f, -1, -1) that must drop S_ISGID is a mode change: the
	 * owner's alone (the kernel's check, had it sent the mode) */
	if (r >= 0 && kill && nothing && fuse_req_ctx(req)->uid != n->uid && req_in_chown(req))
		r = -EPERM;
	if (r >= 0) {
		/* what a layer records; ctime and atime alone (the kernel flushing its
		 * cached times after link, unlink or rename) change nothing there */
		struct node before = *n;
		if (to_set & FUSE_SET_ATTR_SIZE) {
			if ((uint64_t) attr->st_size != n->size)
				n->flags |= N_DIRTY_DATA;
			n->size = (uint64_t) attr->st_size;
			/* a truncate sets the times even to the same size (ext4) */
			if (!(to_set & FUSE_SET_ATTR_MTIME))
				node_touch_mtime(n);
		}
		setattr_meta(n, attr, to_set);
		if (kill) /* after a mode the kernel sent from its cached one */
			n->mode &= ~(uint32_t) S_ISGID;
		if (n->mode != before.mode || n->uid != before.uid || n->gid != before.gid ||
		    n->size != before.size || n->mtime.tv_sec != before.mtime.tv_sec ||
		    n->mtime.tv_nsec != before.mtime.tv_nsec) {
			n->flags |= N_DIRTY_META | N_DIRTY_ATTR;
			fs_changed(fs);
		}
	}
	struct stat st;
	fs_stat(fs, n, &st);
	pthread_mutex_unlock(&fs->lock);
	pthread_rwlock_unlock(&fs->freeze);
	if (r < 0)
		return (void) fuse_reply_err(req, -r);
	fuse_reply_attr(req, &st, FS_TIMEOUT);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	cairn_fs *fs = fuse_req_userdata(req);
	pthread_mutex_lock(&fs->lock);
	struct node *n = fs_node(fs, ino);
	_cleanup_free_ char *t = S_ISLNK(n->mode) && n->link ? strdup(n->link) : NULL;
	pthread_mutex_unlock(&fs->lock);
	if (!S_ISLNK(n->mode))
		return (void) fuse_reply_err(req, EINVAL);
	if (!t)
		return (void) fuse_reply_err(req, ENOMEM);
	fuse_reply_readlink(req, t);
}

/* ---- creating names ------------------------------------------------------------------ */

int new_child(fuse_req_t req, fuse_ino_t parent, const char *name, uint32_t mode, dev_t rdev,
	      const char *link, struct node **ret)
{
	cairn_fs *fs = fuse_req_userdata(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	size_t len;
	int r = check_name(name, &len);
	if (r < 0)
		return r;
	struct node *p = dir_of(fs, parent, &r);
	if (!p)
		return r;
	if (dir_lookup(p->dir, name, len))
		return -EEXIST;
	struct node *n = node_new(fs, mode);
	if (!n)
		return -ENOMEM;
	n->uid = ctx->uid;
	n->gid = ctx->gid;
	n->rdev = S_ISCHR(mode) || S_ISBLK(mode) ? rdev : 0;
	if (p->mode & S_ISGID) {
		n->gid = p->gid;
		if (S_ISDIR(mode))
			n->mode |= S_ISGID;
	}
	if (link)
		r = node_set_link(n, link);
	else
		r = acl_inherit(p, n, ctx->umask);
	if (r >= 0)
		r = dir_add(p, name, len, true, n);
	if (r < 0) {
		node_free(fs, n);
		return r;
	}
	n->flags |= N_DIRTY_META;
	dir_changed(fs, p);
	*ret = n;
	return 0;
}

static void make_node(fuse_req_t req, fuse_ino_t parent, const char *name, uint32_t mode,
		      dev_t rdev, const char *link)
{
	cairn_fs *fs = fuse_req_userdata(req);
	int r = mutate_begin(fs);
	if (r < 0)
		return (void) fuse_reply_err(req, -r);
	struct node *n;
	r = new_child(req, parent, name, mode, rdev, link, &n);
	if (r < 0) {
		mutate_end(fs);
		return (void) fuse_reply_err(req, -r);
	}
	pthread_rwlock_unlock(&fs->freeze); /* fs->lock stays for the reply */
	reply_entry_locked(req, fs, n);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	if (!S_ISREG(mode) && !S_ISCHR(mode) && !S_ISBLK(mode) && !S_ISFIFO(mode) &&
	    !S_ISSOCK(mode))
		return (void) fuse_reply_err(req, EINVAL);
	make_node(req, parent, name, mode, rdev, NULL);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	make_node(req, parent, name, S_IFDIR | (mode & 07777), 0, NULL);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	if (strlen(link) > 4095)
		return (void) fuse_reply_err(req, ENAMETOOLONG);
	make_node(req, parent, name, S_IFLNK | 0777, 0, link);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	cairn_fs *fs = fuse_req_userdata(req);
	size_t len;
	int r = check_name(newname, &len);
	if (r < 0)
		return (void) fuse_reply_err(req, -r);
	if ((r = mutate_begin(fs)) < 0)
		return (void) fuse_reply_err(req, -r);
	struct node *n = fs_node(fs, ino);
	struct node *p = dir_of(fs, newparent, &r);
	if (p && node_is_dir(n))
		r = -EPERM;
	else if (p && n->nlink == 0)
		r = -ENOENT;
	else if (p && n->nlink >= 65000)
		r = -EMLINK;
	else if (p && dir_lookup(p->dir, newname, len))
		r = -EEXIST;
	else if (p)
		r = dir_add(p, newname, len, true, n);
	if (!p || r < 0) {
		mutate_end(fs);
		return (void) fuse_reply_err(req, -r);
	}
	node_touch_ctime(n);
	dir_changed(fs, p);
	pthread_rwlock_unlock(&fs->freeze);
	reply_entry_locked(req, fs, n);
}

/* ---- removing names -------------------------------------------------------------------- */

static void remove_name(fuse_req_t req, fuse_ino_t parent, const char *name, bool want_dir)
{
	cairn_fs *fs = fuse_req_userdata(req);
	int r = mutate_begin(fs);
	if (r < 0)
		return (void) fuse_reply_err(req, -r);
	struct node *p = dir_of(fs, parent, &r);
	struct dent *de = p ? dir_lookup(p->dir, name, strlen(name)) : NULL;
	struct node *c = de ? de->node : NULL;
	if (p && !c)
		r = -ENOENT;
	else if (c && !want_dir && node_is_dir(c))
		r = -EISDIR;
	else if (c && want_dir && !node_is_dir(c))
		r = -ENOTDIR;
	else if (c && want_dir && c->dir->live > 0)
		r = -ENOTEMPTY;
	if (c && r >= 0) {
		dir_remove(p, de);
		node_touch_ctime(c);
		dir_changed(fs, p);
		node_maybe_free(fs, c);
	}
	mutate_end(fs);
	fuse_reply_err(req, -r);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, false);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	remove_name(req, parent, name, true);
}

/* ---- rename ------------------------------------------------------------------------------- */

/* a is b or above it */
static bool is_ancestor(struct node *a, struct node *b)
{
	for (struct node *n = b; n; n = n->dir->parent)
		if (n == a)
			return true;
	return false;
}

static int rename_exchange(cairn_fs *fs, struct node *p, struct dent *a, struct node *np,
			   struct dent *b)
{
	struct node *x = a->node, *y = b->node;
	if (x == y)
		return 0;
	if ((node_is_dir(x) && is_ancestor(x, np)) || (node_is_dir(y) && is_ancestor(y, p)))
		return -EINVAL;
	a->node = y;
	b->node = x;
	if (p != np) {
		int dx = node_is_dir(x), dy = node_is_dir(y);
		p->dir->subdirs += dy - dx;
		np->dir->subdirs += dx - dy;
		if (dx)
			x->dir->parent = np;
		if (dy)
			y->dir->parent = p;
	}
	node_touch_ctime(x);
	node_touch_ctime(y);
	dir_changed(fs, p);
	dir_changed(fs, np);
	return 0;
}

static int rename_check(struct node *c, struct node *np, struct node *victim)
{
	if (node_is_dir(c) && is_ancestor(c, np))
		return -EINVAL;
	if (!victim)
		return 0;
	if (node_is_dir(c) && !node_is_dir(victim))
		return -ENOTDIR;
	if (!node_is_dir(c) && node_is_dir(victim))
		return -EISDIR;
	if (node_is_dir(victim) && victim->dir->live > 0)
		return -ENOTEMPTY;
	return 0;
}

static int do_rename(cairn_fs *fs, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		     const char *newname, unsigned flags)
{
	size_t len, nlen;
	int r = check_name(newname, &nlen);
	if (r < 0)
		return r;
	if ((len = strlen(name)) > 255)
		return -ENAMETOOLONG;
	struct node *p = dir_of(fs, parent, &r), *np = p ? dir_of(fs, newparent, &r) : NULL;
	if (!np)
		return r;
	struct dent *a = dir_lookup(p->dir, name, len), *b = dir_lookup(np->dir, newname, nlen);
	if (!a)
		return -ENOENT;
	if (flags & RENAME_EXCHANGE)
		return b ? rename_exchange(fs, p, a, np, b) : -ENOENT;
	if (b && (flags & RENAME_NOREPLACE))
		return -EEXIST;
	struct node *c = a->node, *victim = b ? b->node : NULL;
	if (c == victim)
		return 0; /* two names of one file (or the same name): nothing happens */
	if ((r = rename_check(c, np, victim)) < 0)
		return r;
	if (victim) { /* the name now points at c; the victim loses it */
		b->node = c;
		c->nlink++;
		if (node_is_dir(victim)) {
			np->dir->subdirs--;
			victim->nlink = 0;
			victim->dir->parent = NULL;
		} else {
			victim->nlink--;
		}
		if (node_is_dir(c))
			np->dir->subdirs++;
		node_touch_ctime(victim);
	} else {
		if ((r = dir_add(np, newname, nlen, true, c)) < 0)
			return r; /* nothing changed */
		a = dir_lookup(p->dir, name, len); /* dir_add may have moved the entries */
	}
	dir_remove(p, a);
	if (node_is_dir(c)) {
		c->nlink = 1;
		c->dir->parent = np;
	}
	node_touch_ctime(c);
	dir_changed(fs, p);
	dir_changed(fs, np);
	if (victim)
		node_maybe_free(fs, victim);
	return 0;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	cairn_fs *fs = fuse_req_userdata(req);
	if (flags & ~(unsigned) (RENAME_NOREPLACE | RENAME_EXCHANGE))
		return (void) fuse_reply_err(req, EINVAL);
	int r = mutate_begin(fs);
	if (r < 0)
		return (void) fuse_reply_err(req, -r);
	r = do_rename(fs, parent, name, newparent, newname, flags);
	mutate_end(fs);
	fuse_reply_err(req, -r);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	cairn_fs *fs = fuse_req_userdata(req);
	struct statvfs sv;
	if (fstatvfs(fs->upper_fd, &sv) < 0)
		return (void) fuse_reply_err(req, errno);
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

const struct fuse_lowlevel_ops cairn_fs_ops = {
    .init = op_init,
    .destroy = op_destroy,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .symlink = op_symlink,
    .link = op_link,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .rename = op_rename,
    .statfs = op_statfs,
    .open = op_open,
    .create = op_create,
    .read = op_read,
    .write_buf = op_write_buf,
    .release = op_release,
    .fsync = op_fsync,
    .fallocate = op_fallocate,
    .lseek = op_lseek,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .releasedir = op_releasedir,
    .fsyncdir = op_fsyncdir,
    .setxattr = op_setxattr,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .removexattr = op_removexattr,
};
