/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Layers onto the tree: mounting merges the chain bottom first (whiteouts
 * remove, opaque directories hide what is below, entries replace, hardlink
 * groups become one node); cairn_fs_apply() runs the same merge on a live
 * tree, marking what it touches as changed and telling the kernel.
 */
#include "fs-internal.h"

int fs_keep_layer(cairn_fs *fs, cairn_layer *l)
{
	if (ARRAY_RESERVE(fs->layers, fs->cap_layers, fs->n_layers + 1, 8) < 0)
		return -ENOMEM;
	fs->layers[fs->n_layers++] = l;
	return 0;
}

/* Removes every entry of a directory (no compaction while it runs). */
static void clear_dir(cairn_fs *fs, struct node *dirn)
{
	struct dir *d = dirn->dir;
	dirn->opens++;
	for (uint32_t i = 0; i < d->n; i++)
		if (d->ents[i].node)
			tree_remove(fs, dirn, &d->ents[i]);
	dirn->opens--;
}

void tree_remove(cairn_fs *fs, struct node *parent, struct dent *de)
{
	struct node *c = de->node;
	if (node_is_dir(c))
		clear_dir(fs, c);
	fs_inval_entry(fs, parent, de->name, de->len);
	dir_remove(parent, de);
	node_maybe_free(fs, c);
}

struct merge {
	cairn_fs *fs;
	cairn_layer *l;
	bool dirty;
	struct node **groups; /* by nlink_group: the node of the group's first member */
	size_t n_groups;
};

/* A name appeared in dirn: the kernel may hold a negative entry for it
 * and a cached listing of dirn. */
static void changed_name(struct merge *m, struct node *dirn, const char *name, size_t len)
{
	fs_inval_entry(m->fs, dirn, name, len);
	fs_inval_inode(m->fs, dirn);
}

/* A directory for a path component that the layer does not list. */
static struct node *implicit_dir(cairn_fs *fs)
{
	struct node *n = node_new(fs, S_IFDIR | 0755);
	if (n)
		n->atime = n->mtime = n->ctime = (struct timespec){0};
	return n;
}

/* The directory that holds path's last component (created when missing);
 * *ret_name / *ret_len: that component. */
static int resolve_parent(struct merge *m, const char *path, struct node **ret, const char **ret_name,
			  size_t *ret_len)
{
	struct node *cur = m->fs->root;
	const char *p = path;
	for (;;) {
		const char *slash = strchr(p, '/');
		if (!slash) {
			*ret = cur;
			*ret_name = p;
			*ret_len = strlen(p);
			return 0;
		}
		size_t len = (size_t) (slash - p);
		struct dent *de = dir_lookup(cur->dir, p, len);
		if (de && !node_is_dir(de->node)) {
			tree_remove(m->fs, cur, de);
			de = NULL;
		}
		if (!de) {
			struct node *d = implicit_dir(m->fs);
			if (!d)
				return -ENOMEM;
			int r = dir_add(cur, p, len, true, d);
			if (r < 0) {
				node_free(m->fs, d);
				return r;
			}
			if (m->dirty) {
				cur->flags |= N_DIRTY_META;
				changed_name(m, cur, p, len);
			}
			cur = d;
		} else {
			cur = de->node;
		}
		p = slash + 1;
	}
}

static int group_node(struct merge *m, uint32_t g, struct node ***ret)
{
	if (g >= m->n_groups) {
		size_t n = MAX((size_t) g + 1, m->n_groups * 2);
		struct node **v = realloc(m->groups, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + m->n_groups, 0, (n - m->n_groups) * sizeof(*v));
		m->groups = v;
		m->n_groups = n;
	}
	*ret = &m->groups[g];
	return 0;
}

/* A directory entry over an existing directory: new metadata, same children
 * (none when opaque). */
static void merge_dir_over(struct merge *m, struct node *n, const cairn_entry *e)
{
	if (e->opaque)
		clear_dir(m->fs, n);
	node_set_from_entry(n, e);
	if (m->dirty) {
		n->flags |= N_DIRTY_META;
		fs_inval_inode(m->fs, n);
	}
}

static int merge_entry(struct merge *m, const cairn_entry *e)
{
	cairn_fs *fs = m->fs;
	if (!*e->path) { /* the root */
		if (e->type == CAIRN_ENTRY_DIR)
			merge_dir_over(m, fs->root, e);
		return 0;
	}
	struct node *parent;
	const char *name;
	size_t len;
	int r = resolve_parent(m, e->path, &parent, &name, &len);
	if (r < 0)
		return r;
	struct dent *de = dir_lookup(parent->dir, name, len);
	if (e->type == CAIRN_ENTRY_WHITEOUT) {
		if (de)
			tree_remove(fs, parent, de);
		if (m->dirty) {
			parent->flags |= N_DIRTY_META;
			fs_inval_inode(fs, parent);
		}
		return 0;
	}
	/* a directory over a directory keeps what is below, unless opaque;
	 * applied as a change, an opaque one is a new directory (the next
	 * commit records it as opaque again) */
	if (de && e->type == CAIRN_ENTRY_DIR && node_is_dir(de->node) && !(e->opaque && m->dirty)) {
		merge_dir_over(m, de->node, e);
		return 0;
	}
	if (de)
		tree_remove(fs, parent, de);
	struct node **slot = NULL;
	if (e->nlink_group && (r = group_node(m, e->nlink_group, &slot)) < 0)
		return r;
	struct node *n = slot ? *slot : NULL;
	bool fresh = !n;
	if (fresh) {
		if (!(n = node_new(fs, S_IFREG)))
			return -ENOMEM;
		node_set_from_entry(n, e);
		if (node_is_dir(n) && !n->dir && dir_attach(n) < 0) {
			node_free(fs, n);
			return -ENOMEM;
		}
	}
	r = dir_add(parent, name, len, false, n);
	if (r < 0) {
		if (fresh)
			node_free(fs, n);
		return r;
	}
	if (fresh && slot)
		*slot = n;
	if (m->dirty) {
		parent->flags |= N_DIRTY_META;
		changed_name(m, parent, name, len);
		if (!fresh)
			fs_inval_inode(fs, n); /* its link count changed */
	}
	return 0;
}

int merge_layer(cairn_fs *fs, cairn_layer *l, bool dirty, cairn_error **err)
{
	struct merge m = {.fs = fs, .l = l, .dirty = dirty};
	int r = 0;
	size_t n = cairn_layer_count(l);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		const cairn_entry *e = cairn_layer_entry(l, i);
		r = merge_entry(&m, e);
		if (r < 0)
			cairn_error_set(err, r, "layer entry \"%s\": %s", e->path, cairn_strerror(r));
	}
	free(m.groups);
	if (dirty && n)
		fs_changed(fs);
	return r;
}
