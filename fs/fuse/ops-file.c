/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FUSE operations on open files: open, create, read, write, release,
 * fsync, fallocate, lseek.
 *
 * Opening for reading materialises a store content into the content cache
 * (once, for every mount) and reads are served from that file; opening for
 * writing (or truncating) copies the data up into an upper file.  Every
 * handle of a node shares the node's struct fdata, so all names of a
 * hardlinked file see the same data at once.  The page cache is kept
 * across opens (FOPEN_KEEP_CACHE): no one changes the data behind the
 * kernel's back.
 */
#include <fcntl.h>

#include "ops.h"

static struct handle *handle_of(struct fuse_file_info *fi)
{
	return (struct handle *) (uintptr_t) fi->fh;
}

/* Keeps n's data open for the next requests (no-open mode: there is no
 * RELEASE to tell when a file is done with); the least recently kept
 * one is let go.  fs->lock held. */
static void data_keep(cairn_fs *fs, struct node *n)
{
	if (n->flags & N_KEPT)
		return;
	if (!fdata_get(n))
		return;
	n->flags |= N_KEPT;
	struct node *old = fs->kept[fs->kept_next];
	fs->kept[fs->kept_next] = n;
	fs->kept_next = (fs->kept_next + 1) % ARRAY_SIZE(fs->kept);
	if (old) {
		old->flags &= ~(uint32_t) N_KEPT;
		fdata_put(old);
		node_maybe_free(fs, old);
	}
}

/* The handle of a read or write: the one OPEN made, or in no-open mode
 * (fh 0) a transient one in *tmp on the node's data, opened on demand.
 * Undone by handle_done(). */
static int handle_acquire(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
			  struct handle *tmp, struct handle **ret)
{
	if (fi && fi->fh) {
		*ret = handle_of(fi);
		return 0;
	}
	cairn_fs *fs = fuse_req_userdata(req);
	struct node *n = fs_node(fs, ino);
	if (!S_ISREG(n->mode))
		return node_is_dir(n) ? -EISDIR : -EINVAL;
	pthread_mutex_lock(&fs->lock);
	struct fdata *d = fdata_get(n);
	if (d) {
		n->opens++;
		data_keep(fs, n);
	}
	pthread_mutex_unlock(&fs->lock);
	if (!d)
		return -ENOMEM;
	*tmp = (struct handle){.fs = fs, .node = n, .data = d, .transient = true};
	int r = 0;
	if (__atomic_load_n(&d->fd, __ATOMIC_ACQUIRE) < 0 && !__atomic_load_n(&d->mem, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&d->lock);
		r = data_open_read(fs, n, d);
		pthread_mutex_unlock(&d->lock);
	}
	*ret = tmp;
	return r;
}

/* no-open mode: a write or fallocate by someone outside a setgid (no
 * group-execute) file's group drops S_ISGID, as Linux does; the request
 * comes from the caller (no writeback cache). */
static void check_kill_sgid(fuse_req_t req, struct handle *h)
{
	if (h->transient)
		h->kill_sgid = req_drops_sgid(req, __atomic_load_n(&h->node->mode, __ATOMIC_RELAXED),
					      h->node->gid);
}

static void handle_done(struct handle *h)
{
	if (!h || !h->transient)
		return;
	cairn_fs *fs = h->fs;
	pthread_mutex_lock(&fs->lock);
	h->node->opens--;
	fdata_put(h->node);
	node_maybe_free(fs, h->node);
	pthread_mutex_unlock(&fs->lock);
}

/* Opens n for fi: a handle on the node's fdata with the data ready. */
static int open_node(fuse_req_t req, cairn_fs *fs, struct node *n, struct fuse_file_info *fi,
		     bool created)
{
	int acc = fi->flags & O_ACCMODE;
	bool write = acc != O_RDONLY || (fi->flags & O_TRUNC);
	if (write && fs->opts.readonly)
		return -EROFS;
	struct handle *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	pthread_mutex_lock(&fs->lock);
	struct fdata *d = fdata_get(n);
	if (d)
		n->opens++;
	uint32_t mode = n->mode;
	gid_t gid = n->gid;
	pthread_mutex_unlock(&fs->lock);
	if (!d) {
		free(h);
		return -ENOMEM;
	}
	h->fs = fs;
	h->node = n;
	h->data = d;
	int r = 0;
	pthread_mutex_lock(&d->lock);
	if (write && !created) {
		pthread_rwlock_rdlock(&fs->freeze);
		bool trunc = fi->flags & O_TRUNC;
		r = data_copy_up(fs, n, d, trunc);
		if (r >= 0 && trunc && ftruncate(d->fd, 0) < 0)
			r = -errno;
		if (r >= 0 && trunc) {
			/* the kernel leaves an atomic O_TRUNC's killing of setuid and
			 * setgid to us (ATTR_OPEN): as do_truncate() does for a
			 * caller without CAP_FSETID */
			bool kill_suid = fuse_req_ctx(req)->uid != 0;
			bool kill_sgid = kill_suid && (mode & S_ISGID) &&
					 ((mode & S_IXGRP) || !req_in_group(req, gid));
			pthread_mutex_lock(&fs->lock);
			if (kill_suid)
				n->mode &= ~(uint32_t) S_ISUID;
			if (kill_sgid)
				n->mode &= ~(uint32_t) S_ISGID;
			n->size = 0;
			n->flags |= N_DIRTY_DATA | N_DIRTY_META;
			node_touch_mtime(n);
			fs_changed(fs);
			pthread_mutex_unlock(&fs->lock);
		}
		pthread_rwlock_unlock(&fs->freeze);
	} else if (!created) {
		r = data_open_read(fs, n, d);
	}
	pthread_mutex_unlock(&d->lock);
	if (r < 0) {
		pthread_mutex_lock(&fs->lock);
		n->opens--;
		fdata_put(n);
		pthread_mutex_unlock(&fs->lock);
		free(h);
		return r;
	}
	/* Linux drops S_ISGID of a file without group execute on a write by
	 * someone outside its group; the kernel's FUSE fallback does not, so
	 * such writes come through us (direct I/O) and we do it. */
	if (write && req_drops_sgid(req, mode, gid)) {
		h->kill_sgid = true;
		fi->direct_io = 1;
	}
	fi->keep_cache = 1;
	fi->fh = (uintptr_t) h;
	return 0;
}

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	cairn_fs *fs = fuse_req_userdata(req);
	struct node *n = fs_node(fs, ino);
	if (fs->no_open)
		return (void) fuse_reply_err(req, ENOSYS); /* and no more OPENs */
	if (node_is_dir(n))
		return (void) fuse_reply_err(req, EISDIR);
	int r = open_node(req, fs, n, fi, false);
	if (r < 0)
		return (void) fuse_reply_err(req, -r);
	if (fuse_reply_open(req, fi) == -ENOENT)
		op_release(NULL, ino, fi);
}

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi)
{
	cairn_fs *fs = fuse_req_userdata(req);
	int r = mutate_begin(fs);
	if (r < 0)
		return (void) fuse_reply_err(req, -r);
	struct node *n;
	r = new_child(req, parent, name, S_IFREG | (mode & 07777), 0, NULL, &n);
	if (r == -EEXIST && !(fi->flags & O_EXCL)) {
		/* created by someone else since the kernel looked: open it */
		struct dent *de = dir_lookup(fs_node(fs, parent)->dir, name, strlen(name));
		n = de->node;
		r = node_is_dir(n) ? -EISDIR : 0;
	}
	if (r < 0) {
		mutate_end(fs);
		return (void) fuse_reply_err(req, -r);
	}
	struct fuse_entry_param e;
	fs_fill_entry(fs, n, &e);
	atomic_fetch_add(&n->nlookup, 1);
	mutate_end(fs);
	if (fs->no_open) {
		/* no RELEASE will come for this open either: no handle */
		fi->fh = 0;
		fi->keep_cache = 1;
		if (fuse_reply_create(req, &e, fi) == -ENOENT) {
			pthread_mutex_lock(&fs->lock);
			atomic_fetch_sub(&n->nlookup, 1);
			node_maybe_free(fs, n);
			pthread_mutex_unlock(&fs->lock);
		}
		return;
	}
	r = open_node(req, fs, n, fi, true);
	if (r < 0) {
		pthread_mutex_lock(&fs->lock);
		atomic_fetch_sub(&n->nlookup, 1);
		node_maybe_free(fs, n);
		pthread_mutex_unlock(&fs->lock);
		return (void) fuse_reply_err(req, -r);
	}
	if (fuse_reply_create(req, &e, fi) == -ENOENT) {
		op_release(NULL, 0, fi);
		pthread_mutex_lock(&fs->lock);
		atomic_fetch_sub(&n->nlookup, 1);
		node_maybe_free(fs, n);
		pthread_mutex_unlock(&fs->lock);
	}
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle tmp, *h = NULL;
	int r = handle_acquire(req, ino, fi, &tmp, &h);
	if (r < 0) {
		handle_done(h);
		return (void) fuse_reply_err(req, -r);
	}
	int fd = __atomic_load_n(&h->data->fd, __ATOMIC_ACQUIRE);
	const uint8_t *mem = fd < 0 ? __atomic_load_n(&h->data->mem, __ATOMIC_ACQUIRE) : NULL;
	if (mem) {
		uint32_t len = h->data->mem_len;
		size_t at = (uint64_t) off < len ? (size_t) off : len;
		fuse_reply_buf(req, (const char *) mem + at, MIN(size, len - at));
	} else if (fd < 0) {
		fuse_reply_buf(req, NULL, 0);
	} else {
		struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
		buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		buf.buf[0].fd = fd;
		buf.buf[0].pos = off;
		fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
	}
	handle_done(h);
}

/* Makes sure writes go to the upper file. */
static int writable(cairn_fs *fs, struct handle *h)
{
	struct fdata *d = h->data;
	if (__atomic_load_n(&d->rw, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&d->lock);
	int r = data_copy_up(fs, h->node, d, false);
	pthread_mutex_unlock(&d->lock);
	return r;
}

/* After data changed: size, times (the kernel keeps them itself for
 * cached writes), setgid.  fs->lock held. */
static void data_changed(cairn_fs *fs, struct handle *h, uint64_t end, bool times)
{
	struct node *n = h->node;
	if (end > n->size) {
		n->size = end;
		times = true; /* growing changes the file (fallocate too) */
	}
	if (times)
		node_touch_mtime(n);
	if (h->kill_sgid)
		n->mode &= ~(uint32_t) S_ISGID;
	n->flags |= N_DIRTY_DATA | N_DIRTY_META;
	fs_changed(fs);
}

void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
		  struct fuse_file_info *fi)
{
	cairn_fs *fs = fuse_req_userdata(req);
	if (fs->opts.readonly)
		return (void) fuse_reply_err(req, EROFS);
	struct handle tmp, *h = NULL;
	int r = handle_acquire(req, ino, fi, &tmp, &h);
	if (r < 0) {
		handle_done(h);
		return (void) fuse_reply_err(req, -r);
	}
	if (!fi->writepage)
		check_kill_sgid(req, h);
	pthread_rwlock_rdlock(&fs->freeze);
	r = writable(fs, h);
	ssize_t n = 0;
	if (r >= 0) {
		struct fuse_bufvec dst = FUSE_BUFVEC_INIT(fuse_buf_size(bufv));
		dst.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		dst.buf[0].fd = h->data->fd;
		dst.buf[0].pos = off;
		n = fuse_buf_copy(&dst, bufv, FUSE_BUF_SPLICE_NONBLOCK);
		if (n < 0)
			r = (int) n;
	}
	if (r >= 0) {
		pthread_mutex_lock(&fs->lock);
		/* cached writes: the kernel keeps the times with the writeback
		 * cache; without it, mmap writes (writepage) change them here */
		data_changed(fs, h, (uint64_t) off + (uint64_t) n, !fi->writepage || !fs->writeback);
		pthread_mutex_unlock(&fs->lock);
	}
	pthread_rwlock_unlock(&fs->freeze);
	handle_done(h);
	if (r < 0)
		return (void) fuse_reply_err(req, -r);
	fuse_reply_write(req, (size_t) n);
}

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	if (!h) { /* no-open mode: nothing was opened */
		if (req)
			fuse_reply_err(req, 0);
		return;
	}
	struct node *n = h->node;
	cairn_fs *fs = h->fs; /* req is NULL for an open whose reply failed */
	pthread_mutex_lock(&fs->lock);
	n->opens--;
	fdata_put(n);
	node_maybe_free(fs, n);
	pthread_mutex_unlock(&fs->lock);
	free(h);
	if (req)
		fuse_reply_err(req, 0);
}

/* Changes live in this process until committed (see cairn/fs.h): there is
 * nothing that forcing the upper file to disk would make durable. */
void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		  struct fuse_file_info *fi)
{
	cairn_fs *fs = fuse_req_userdata(req);
	if (fs->opts.readonly)
		return (void) fuse_reply_err(req, EROFS);
	struct handle tmp, *h = NULL;
	int r = handle_acquire(req, ino, fi, &tmp, &h);
	if (r < 0) {
		handle_done(h);
		return (void) fuse_reply_err(req, -r);
	}
	check_kill_sgid(req, h);
	pthread_rwlock_rdlock(&fs->freeze);
	r = writable(fs, h);
	if (r >= 0 && fallocate(h->data->fd, mode, offset, length) < 0)
		r = -errno;
	if (r >= 0) {
		pthread_mutex_lock(&fs->lock);
		uint64_t end = mode & FALLOC_FL_KEEP_SIZE ? 0 : (uint64_t) (offset + length);
		data_changed(fs, h, end, true); /* fallocate sets the times (ext4) */
		pthread_mutex_unlock(&fs->lock);
	}
	pthread_rwlock_unlock(&fs->freeze);
	handle_done(h);
	fuse_reply_err(req, -r);
}

void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
	cairn_fs *fs = fuse_req_userdata(req);
	/* With the writeback cache, written data may still sit in the kernel's
	 * page cache, where the upper file's extents cannot show it: answer
	 * ENOSYS, and the kernel falls back (for the whole mount) to the
	 * generic answer from its own size, the file being all data. */
	if (fs->writeback)
		return (void) fuse_reply_err(req, ENOSYS);
	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return (void) fuse_reply_err(req, EINVAL);
	struct handle tmp, *h = NULL;
	int r = handle_acquire(req, ino, fi, &tmp, &h);
	int fd = r < 0 ? -1 : __atomic_load_n(&h->data->fd, __ATOMIC_ACQUIRE);
	const void *mem = r < 0 || fd >= 0 ? NULL : __atomic_load_n(&h->data->mem, __ATOMIC_ACQUIRE);
	off_t len = mem ? (off_t) h->data->mem_len : 0;
	off_t pos = r < 0     ? r
		    : mem     ? (off < 0 || off >= len ? -ENXIO : whence == SEEK_DATA ? off : len)
		    : fd < 0  ? -ENXIO /* empty */
			      : lseek(fd, off, whence);
	if (pos == -1)
		pos = -errno;
	handle_done(h);
	if (pos < 0)
		return (void) fuse_reply_err(req, (int) -pos);
	fuse_reply_lseek(req, pos);
}
