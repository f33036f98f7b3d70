/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FUSE operations on directories: opendir, readdir(plus), releasedir.
 *
 * Offsets: 1 after ".", 2 after "..", seq + 3 after the entry numbered
 * seq (dir.c: numbers only grow and survive compaction), so telldir and
 * seekdir work across changes: a removed entry is skipped, an entry added
 * after the position shows up, none shows twice.  Offsets needing no open
 * state, the kernel is asked not to send OPENDIR and RELEASEDIR at all
 * (FUSE_CAP_NO_OPENDIR_SUPPORT: opendir answers ENOSYS once); it then
 * caches listings (FOPEN_CACHE_DIR, as it would from an open that set
 * it) and drops them itself when a directory changes through the mount;
 * cairn_fs_apply tells it about the changes it makes.
 */
#include "ops.h"

static void dir_close(cairn_fs *fs, fuse_ino_t ino);

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	cairn_fs *fs = fuse_req_userdata(req);
	if (fs->no_opendir)
		return (void) fuse_reply_err(req, ENOSYS); /* and no more OPENDIRs */
	pthread_mutex_lock(&fs->lock);
	struct node *n = fs_node(fs, ino);
	if (!node_is_dir(n)) {
		pthread_mutex_unlock(&fs->lock);
		return (void) fuse_reply_err(req, ENOTDIR);
	}
	n->opens++;
	pthread_mutex_unlock(&fs->lock);
	fi->fh = 0;
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) == -ENOENT)
		dir_close(fs, ino);
}

static void dir_close(cairn_fs *fs, fuse_ino_t ino)
{
	pthread_mutex_lock(&fs->lock);
	struct node *n = fs_node(fs, ino);
	n->opens--;
	node_maybe_free(fs, n);
	pthread_mutex_unlock(&fs->lock);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	dir_close(fuse_req_userdata(req), ino);
	fuse_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

/* Adds one entry; returns false when it does not fit (nothing added). */
static bool add_entry(fuse_req_t req, cairn_fs *fs, char *buf, size_t size, size_t *pos,
		      const char *name, struct node *n, off_t next, bool plus, bool counted)
{
	size_t used;
	if (plus) {
		struct fuse_entry_param e;
		fs_fill_entry(fs, n, &e);
		used = fuse_add_direntry_plus(req, buf + *pos, size - *pos, name, &e, next);
	} else {
		struct stat st = {.st_ino = n->ino, .st_mode = n->mode};
		used = fuse_add_direntry(req, buf + *pos, size - *pos, name, &st, next);
	}
	if (used > size - *pos)
		return false;
	*pos += used;
	if (plus && counted)
		atomic_fetch_add(&n->nlookup, 1); /* the kernel keeps a reference */
	return true;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	cairn_fs *fs = fuse_req_userdata(req);
	char *buf = malloc(size);
	if (!buf)
		return (void) fuse_reply_err(req, ENOMEM);
	size_t pos = 0;
	pthread_mutex_lock(&fs->lock);
	struct node *n = fs_node(fs, ino);
	struct node *parent = n->dir->parent ? n->dir->parent : n;
	bool full = false;
	if (off == 0)
		full = !add_entry(req, fs, buf, size, &pos, ".", n, 1, plus, false);
	if (!full && off <= 1)
		full = !add_entry(req, fs, buf, size, &pos, "..", parent, 2, plus, false);
	uint32_t slot = off > 2 ? dir_seek(n->dir, (uint64_t) off - 2) : 0;
	struct dent *de;
	while (!full && (de = dir_slot(n->dir, &slot))) {
		full = !add_entry(req, fs, buf, size, &pos, de->name, de->node, (off_t) de->seq + 3,
				  plus, true);
		slot++;
	}
	pthread_mutex_unlock(&fs->lock);
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, true);
}
