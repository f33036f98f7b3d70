/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Commit: the plan (plan.c) becomes a layer.  Changes are frozen for the
 * whole commit; the kernel's dirty pages are flushed first.  Entries go to
 * a streaming layer writer in canonical order: the data of dirty files is
 * read once from the upper files, stored as new contents and hashed into
 * the diff_id on the way; files that kept a known content (renamed,
 * re-owned, hardlinked, re-timed) are only read for the diff_id, from the
 * cache or upper file when there is one (their extents come from the
 * store, so the tar is the one the stored layer exports to).  When the
 * caller's batch has committed, the tree becomes the new base.
 */
#include <fcntl.h>

#include "fs-internal.h"

struct commit_state {
	struct plan plan;
	cairn_id layer;
};

/* ---- data sources ---------------------------------------------------------------- */

struct fd_src {
	int fd;
	uint64_t size;
	cairn_content *c; /* extents from here when set (a known content) */
};

static int fd_extents(void *userdata, cairn_extent_fn fn, void *fud)
{
	struct fd_src *s = userdata;
	if (s->c)
		return cairn_content_extents(s->c, fn, fud);
	off_t pos = 0, end = (off_t) s->size;
	while (pos < end) {
		off_t data = lseek(s->fd, pos, SEEK_DATA);
		if (data < 0 && errno != ENXIO)
			return -errno;
		if (data < 0 || data >= end)
			return fn((uint64_t) pos, (uint64_t) (end - pos), true, fud);
		int r = data > pos ? fn((uint64_t) pos, (uint64_t) (data - pos), true, fud) : 0;
		if (r != 0)
			return r;
		off_t hole = lseek(s->fd, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		hole = MIN(hole, end);
		if ((r = fn((uint64_t) data, (uint64_t) (hole - data), false, fud)) != 0)
			return r;
		pos = hole;
	}
	return 0;
}

static ssize_t fd_pread(void *userdata, void *buf, size_t len, uint64_t off)
{
	struct fd_src *s = userdata;
	if (off >= s->size)
		return 0;
	len = (size_t) MIN((uint64_t) len, s->size - off);
	for (;;) {
		ssize_t n = pread(s->fd, buf, len, (off_t) off);
		if (n >= 0 || errno != EINTR)
			return n < 0 ? -errno : n;
	}
}

/* ---- entries ----------------------------------------------------------------------- */

static void entry_from_node(const struct plan_ent *p, cairn_entry *e)
{
	static const uint8_t types[] = {
	    [S_IFREG >> 12] = CAIRN_ENTRY_REG,	 [S_IFDIR >> 12] = CAIRN_ENTRY_DIR,
	    [S_IFLNK >> 12] = CAIRN_ENTRY_SYMLINK, [S_IFCHR >> 12] = CAIRN_ENTRY_CHR,
	    [S_IFBLK >> 12] = CAIRN_ENTRY_BLK,	 [S_IFIFO >> 12] = CAIRN_ENTRY_FIFO,
	    [S_IFSOCK >> 12] = CAIRN_ENTRY_SOCK,
	};
	const struct node *n = p->node;
	*e = (cairn_entry){
	    .path = (char *) p->path,
	    .type = types[(n->mode & S_IFMT) >> 12],
	    .opaque = p->opaque,
	    .mode = n->mode & 07777,
	    .uid = n->uid,
	    .gid = n->gid,
	    .mtime_sec = n->mtime.tv_sec,
	    .mtime_nsec = (uint32_t) n->mtime.tv_nsec,
	    .size = S_ISREG(n->mode) ? n->size : 0,
	    .rdev = S_ISCHR(n->mode) || S_ISBLK(n->mode) ? n->rdev : 0,
	    .link = S_ISLNK(n->mode) ? n->link : NULL,
	    .nlink_group = node_is_dir(n) ? 0 : n->group,
	    .content = n->content,
	    .n_xattrs = n->n_xattrs,
	    .xattrs = n->xattrs,
	};
}

/* Numbers the hardlink groups (inodes recorded under several names). */
static void number_groups(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].node)
			p->v[i].node->group = 0;
	uint32_t g = 0;
	for (size_t i = 0; i < p->n; i++) {
		struct node *n = p->v[i].node;
		if (n && !node_is_dir(n) && n->nlink > 1 && !n->group)
			n->group = ++g;
	}
}

struct commit_run {
	cairn_fs *fs;
	cairn_layer_writer *lw;
	struct cairn_fs_commit_result *res;
	cairn_error **err;
};

/* Opens the file's data for a known content: the cache or upper file for
 * the bytes, the stored content for the extents.  -1 when there is no
 * file (then the writer reads the store). */
static void open_known(cairn_fs *fs, struct node *n, struct fd_src *s)
{
	if (data_open_for_commit(fs, n, &s->fd) < 0) {
		s->fd = -1;
		return;
	}
	if (cairn_content_open(fs->store, &n->content, &s->c) < 0) {
		close(s->fd);
		s->fd = -1;
	}
}

static int add_file(struct commit_run *c, struct plan_ent *p, cairn_entry *e)
{
	struct node *n = p->node;
	if (n->group && (n->flags & N_STORED)) /* a later name of a group: a tar hardlink */
		return cairn_layer_writer_add(c->lw, e, NULL, 0, NULL, c->err);
	bool dirty = n->flags & N_DIRTY_DATA;
	struct fd_src s = {.fd = -1, .size = n->size};
	int r = 0;
	if (!dirty)
		open_known(c->fs, n, &s);
	else if ((r = data_open_for_commit(c->fs, n, &s.fd)) < 0)
		return cairn_error_set(c->err, r, "\"%s\": cannot open the upper file: %s", p->path,
				       cairn_strerror(r));
	struct cairn_data_source src = {.extents = fd_extents, .pread = fd_pread, .userdata = &s};
	r = cairn_layer_writer_add(c->lw, e, s.fd >= 0 ? &src : NULL,
				   dirty ? CAIRN_LAYER_WRITE_DATA : 0, &p->content, c->err);
	if (s.fd >= 0)
		close(s.fd);
	cairn_content_free(s.c);
	if (r < 0)
		return r;
	n->flags |= N_STORED;
	if (dirty) {
		c->res->new_files++;
		c->res->new_bytes += n->size;
	} else {
		c->res->reused_files++;
	}
	return 0;
}

static int add_entry(struct commit_run *c, struct plan_ent *p)
{
	cairn_entry e;
	if (!p->node) {
		e = (cairn_entry){.path = (char *) p->path, .type = CAIRN_ENTRY_WHITEOUT};
		return cairn_layer_writer_add(c->lw, &e, NULL, 0, NULL, c->err);
	}
	entry_from_node(p, &e);
	if (c->fs->opts.clamp_mtime && e.mtime_sec > c->fs->opts.mtime_clamp) {
		e.mtime_sec = c->fs->opts.mtime_clamp;
		e.mtime_nsec = 0;
	}
	if (e.type == CAIRN_ENTRY_REG && e.size > 0)
		return add_file(c, p, &e);
	return cairn_layer_writer_add(c->lw, &e, NULL, 0, NULL, c->err);
}

static int write_layer(cairn_fs *fs, cairn_batch *b, struct plan *p,
		       struct cairn_fs_commit_result *res, cairn_error **err)
{
	struct commit_run c = {.fs = fs, .res = res, .err = err};
	int r = cairn_layer_writer_new(b, &c.lw);
	if (r < 0)
		return cairn_error_from(err, r, "commit");
	if ((r = cairn_layer_writer_reserve(c.lw, p->n)) < 0) {
		cairn_layer_writer_free(c.lw);
		return cairn_error_from(err, r, "commit");
	}
	number_groups(p);
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].node)
			p->v[i].node->flags &= ~N_STORED;
	for (size_t i = 0; r >= 0 && i < p->n; i++)
		r = add_entry(&c, &p->v[i]);
	if (r < 0) {
		cairn_layer_writer_free(c.lw);
		return r;
	}
	res->entries = p->n;
	return cairn_layer_writer_finish(c.lw, &res->layer, &res->diff_id, &res->diff_size, err);
}

/* ---- begin / end ------------------------------------------------------------------------ */

/* Pushes the kernel's cached writes to us before the tree is frozen. */
static void flush_kernel(cairn_fs *fs)
{
	if (!fs->se || !fs->serving || !fs->mountpoint)
		return;
	int fd = open(fs->mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		syncfs(fd);
		close(fd);
	}
}

int cairn_fs_commit_begin(cairn_fs *fs, cairn_batch *b, struct cairn_fs_commit_result *ret,
			  cairn_error **err)
{
	flush_kernel(fs);
	pthread_rwlock_wrlock(&fs->freeze);
	struct commit_state *cs = calloc(1, sizeof(*cs));
	int r = cs ? 0 : -ENOMEM;
	if (r >= 0) {
		pthread_mutex_lock(&fs->lock);
		r = plan_build(fs, &cs->plan);
		pthread_mutex_unlock(&fs->lock);
	}
	struct cairn_fs_commit_result res = {0};
	if (r < 0)
		cairn_error_from(err, r, "commit: comparing with the base");
	else
		r = write_layer(fs, b, &cs->plan, &res, err);
	if (r < 0) {
		if (cs)
			plan_clear(&cs->plan);
		free(cs);
		pthread_rwlock_unlock(&fs->freeze);
		return r;
	}
	cs->layer = res.layer;
	fs->commit = cs;
	*ret = res;
	return 0;
}

static void rebase(cairn_fs *fs, struct commit_state *cs)
{
	struct plan *p = &cs->plan;
	for (size_t i = 0; i < p->n; i++) {
		struct node *n = p->v[i].node;
		if (n && (n->flags & N_STORED) && (n->flags & N_DIRTY_DATA)) {
			n->content = p->v[i].content; /* the first name of a group has it */
			n->flags = (n->flags & ~(N_DIRTY_DATA | N_BLOCKS)) | N_CONTENT;
		}
	}
	for (size_t i = 0; i < p->cur.n; i++) {
		struct node *n = p->cur.v[i].node;
		if (S_ISREG(n->mode) && n->size == 0)
			n->flags &= ~(N_CONTENT | N_DIRTY_DATA);
		n->flags &= ~(N_DIRTY_META | N_DIRTY_ATTR | N_STORED);
	}
	cairn_id *chain = realloc(fs->chain, (fs->n_chain + 1) * sizeof(*chain));
	if (chain) {
		chain[fs->n_chain++] = cs->layer;
		fs->chain = chain;
	}
	if (base_from_flat(fs, &p->cur) >= 0)
		fs->changes = 0;
}

void cairn_fs_commit_end(cairn_fs *fs, bool done)
{
	struct commit_state *cs = steal_pointer(&fs->commit);
	if (!cs)
		return;
	pthread_mutex_lock(&fs->lock);
	if (done) {
		rebase(fs, cs);
	} else {
		for (size_t i = 0; i < cs->plan.cur.n; i++)
			cs->plan.cur.v[i].node->flags &= ~N_STORED;
	}
	pthread_mutex_unlock(&fs->lock);
	plan_clear(&cs->plan);
	free(cs);
	pthread_rwlock_unlock(&fs->freeze);
}

/* ---- diff ---------------------------------------------------------------------------------- */

int cairn_fs_diff(cairn_fs *fs, cairn_change_fn fn, void *userdata, cairn_error **err)
{
	struct plan p;
	pthread_mutex_lock(&fs->lock);
	int r = plan_build(fs, &p);
	pthread_mutex_unlock(&fs->lock);
	if (r < 0)
		return cairn_error_from(err, r, "diff");
	bytebuf path = {0};
	for (size_t i = 0; r == 0 && i < p.n; i++) {
		path.len = 0;
		if (buf_append(&path, "/", 1) < 0 || buf_append(&path, p.v[i].path, p.v[i].len + 1) < 0)
			r = -ENOMEM;
		else
			r = fn((cairn_change_kind) p.v[i].kind, (const char *) path.data, userdata);
	}
	buf_clear(&path);
	plan_clear(&p);
	return r;
}
