/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Nodes: the in-memory inodes of a cairn filesystem, their metadata,
 * xattrs (borrowed from a layer entry until they change) and life cycle.
 */
#include <sys/xattr.h>

#include "fs-internal.h"

static struct timespec now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return t;
}

struct node *node_new(cairn_fs *fs, uint32_t mode)
{
	struct node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->ino = fs->next_ino++;
	n->mode = mode;
	n->atime = n->mtime = n->ctime = now();
	if (S_ISDIR(mode) && dir_attach(n) < 0) {
		free(n);
		return NULL;
	}
	n->next = fs->all;
	if (fs->all)
		fs->all->prev = n;
	fs->all = n;
	fs->n_nodes++;
	return n;
}

void node_xattrs_free(struct node *n)
{
	if (n->flags & N_XATTR_OWN) {
		for (uint32_t i = 0; i < n->n_xattrs; i++) {
			free(n->xattrs[i].name);
			free(n->xattrs[i].value);
		}
		free(n->xattrs);
	}
	n->xattrs = NULL;
	n->n_xattrs = 0;
	n->flags &= ~N_XATTR_OWN;
}

void node_free(cairn_fs *fs, struct node *n)
{
	if (n->flags & N_UPPER)
		data_remove_upper(fs, n);
	node_xattrs_free(n);
	if (n->flags & N_LINK_OWN)
		free(n->link);
	if (n->dir)
		dir_free(n->dir);
	if (n->prev)
		n->prev->next = n->next;
	else
		fs->all = n->next;
	if (n->next)
		n->next->prev = n->prev;
	fs->n_nodes--;
	free(n);
}

void node_maybe_free(cairn_fs *fs, struct node *n)
{
	if (n != fs->root && n->nlink == 0 && atomic_load(&n->nlookup) == 0 && n->opens == 0 &&
	    !n->data)
		node_free(fs, n);
}

void node_set_from_entry(struct node *n, const cairn_entry *e)
{
	static const uint32_t types[] = {
	    [CAIRN_ENTRY_REG] = S_IFREG,   [CAIRN_ENTRY_DIR] = S_IFDIR, [CAIRN_ENTRY_SYMLINK] = S_IFLNK,
	    [CAIRN_ENTRY_CHR] = S_IFCHR,   [CAIRN_ENTRY_BLK] = S_IFBLK, [CAIRN_ENTRY_FIFO] = S_IFIFO,
	    [CAIRN_ENTRY_SOCK] = S_IFSOCK,
	};
	n->mode = types[e->type] | (e->mode & 07777);
	n->uid = e->uid;
	n->gid = e->gid;
	n->size = e->type == CAIRN_ENTRY_REG ? e->size
		  : e->type == CAIRN_ENTRY_SYMLINK && e->link ? strlen(e->link)
							       : 0;
	n->rdev = e->rdev;
	n->mtime = (struct timespec){.tv_sec = e->mtime_sec, .tv_nsec = e->mtime_nsec};
	n->atime = n->ctime = n->mtime;
	node_xattrs_free(n);
	n->xattrs = e->xattrs;
	n->n_xattrs = (uint32_t) e->n_xattrs;
	if (n->flags & N_LINK_OWN)
		free(n->link);
	n->flags &= ~N_LINK_OWN;
	n->link = e->link;
	n->flags &= ~(N_CONTENT | N_DIRTY_DATA | N_BLOCKS);
	if (e->type == CAIRN_ENTRY_REG && e->has_content) {
		n->content = e->content;
		n->flags |= N_CONTENT;
	}
}

void node_stat(const struct node *n, struct stat *st)
{
	*st = (struct stat){
	    .st_ino = n->ino,
	    .st_mode = n->mode,
	    .st_nlink = node_is_dir(n) ? 2 + n->dir->subdirs : n->nlink,
	    .st_uid = n->uid,
	    .st_gid = n->gid,
	    .st_rdev = n->rdev,
	    .st_size = (off_t) n->size,
	    .st_blksize = 4096,
	    .st_blocks = (blkcnt_t) ((n->size + 4095) / 4096 * 8),
	    .st_atim = n->atime,
	    .st_mtim = n->mtime,
	    .st_ctim = n->ctime,
	};
	if (node_is_dir(n) && n->nlink == 0)
		st->st_nlink = 0; /* removed while open */
	if (node_is_dir(n))
		st->st_size = 4096, st->st_blocks = 8;
}

void node_touch_ctime(struct node *n)
{
	n->ctime = now();
}

void node_touch_mtime(struct node *n)
{
	n->mtime = n->ctime = now();
}

/* ---- xattrs ---------------------------------------------------------------- */

int node_xattrs_own(struct node *n)
{
	if (n->flags & N_XATTR_OWN)
		return 0;
	cairn_xattr *v = NULL;
	if (n->n_xattrs && !(v = calloc(n->n_xattrs, sizeof(*v))))
		return -ENOMEM;
	for (uint32_t i = 0; i < n->n_xattrs; i++) {
		const cairn_xattr *x = &n->xattrs[i];
		v[i].name = strdup(x->name);
		v[i].value = malloc(x->len ? x->len : 1);
		v[i].len = x->len;
		if (!v[i].name || !v[i].value) {
			for (uint32_t j = 0; j <= i; j++)
				free(v[j].name), free(v[j].value);
			free(v);
			return -ENOMEM;
		}
		memcpy(v[i].value, x->value, x->len);
	}
	n->xattrs = v;
	n->flags |= N_XATTR_OWN;
	return 0;
}

const cairn_xattr *node_xattr_get(const struct node *n, const char *name)
{
	for (uint32_t i = 0; i < n->n_xattrs; i++)
		if (strcmp(n->xattrs[i].name, name) == 0)
			return &n->xattrs[i];
	return NULL;
}

static int xattr_remove(struct node *n, uint32_t i)
{
	free(n->xattrs[i].name);
	free(n->xattrs[i].value);
	memmove(&n->xattrs[i], &n->xattrs[i + 1], (n->n_xattrs - i - 1) * sizeof(*n->xattrs));
	n->n_xattrs--;
	return 0;
}

int node_xattr_set(struct node *n, const char *name, const void *value, size_t len, int flags)
{
	const cairn_xattr *cur = node_xattr_get(n, name);
	if (!value && !cur)
		return -ENODATA;
	if (value && cur && (flags & XATTR_CREATE))
		return -EEXIST;
	if (value && !cur && (flags & XATTR_REPLACE))
		return -ENODATA;
	int r = node_xattrs_own(n);
	if (r < 0)
		return r;
	uint32_t i = 0;
	while (i < n->n_xattrs && strcmp(n->xattrs[i].name, name) < 0)
		i++;
	if (!value)
		return xattr_remove(n, i);
	void *v = malloc(len ? len : 1);
	if (!v)
		return -ENOMEM;
	memcpy(v, value, len);
	if (cur) {
		free(n->xattrs[i].value);
		n->xattrs[i].value = v;
		n->xattrs[i].len = len;
		return 0;
	}
	char *nm = strdup(name);
	cairn_xattr *nx = realloc(n->xattrs, (n->n_xattrs + 1) * sizeof(*nx));
	if (!nm || !nx) {
		free(nm);
		free(v);
		if (nx)
			n->xattrs = nx;
		return -ENOMEM;
	}
	n->xattrs = nx;
	memmove(&nx[i + 1], &nx[i], (n->n_xattrs - i) * sizeof(*nx));
	nx[i] = (cairn_xattr){.name = nm, .value = v, .len = len};
	n->n_xattrs++;
	return 0;
}

int node_set_link(struct node *n, const char *target)
{
	char *t = strdup(target);
	if (!t)
		return -ENOMEM;
	if (n->flags & N_LINK_OWN)
		free(n->link);
	n->link = t;
	n->flags |= N_LINK_OWN;
	n->size = strlen(t);
	return 0;
}
