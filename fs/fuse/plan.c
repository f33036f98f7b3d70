/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What changed since the base: the current tree and the base, both
 * flattened in canonical order, are walked side by side.
 *
 *   a path only in the tree          added (A)
 *   a path only in the base          deleted: a whiteout (D), and nothing
 *                                    for what was below it
 *   same path, same inode            changed (C) if the inode is dirty
 *   same path, another inode         replaced (C); a directory replacing a
 *                                    directory is opaque, and everything
 *                                    below it is recorded
 *
 * Then: every name of a hardlinked inode that is recorded is recorded
 * (a layer keeps hardlinks within itself), and every directory above a
 * recorded entry or whiteout is recorded too (C), as Docker and BuildKit
 * write layers.  The root is recorded only when its own attributes were
 * set.
 */
#include "fs-internal.h"

struct walk {
	const struct flat *cur;
	const struct base *base;
	char *kind;	 /* per cur entry: 0 = not recorded, 'A', 'C' */
	bool *opaque;	 /* per cur entry */
	ssize_t *parent; /* per cur entry: index of its directory, -1 for the root */
	struct plan_ent *wh;
	size_t n_wh, cap_wh;
	ssize_t *wh_parent;
	size_t cap_whp;
	ssize_t *last; /* per depth: the last tree entry seen at that depth */
};

static bool node_dirty(const struct node *n)
{
	return n->flags & (N_DIRTY_META | N_DIRTY_DATA);
}

static int add_whiteout(struct walk *w, const struct base_ent *b, ssize_t parent)
{
	if (ARRAY_RESERVE(w->wh, w->cap_wh, w->n_wh + 1, 64) < 0 ||
	    ARRAY_RESERVE(w->wh_parent, w->cap_whp, w->n_wh + 1, 64) < 0)
		return -ENOMEM;
	w->wh[w->n_wh] = (struct plan_ent){.path = b->path, .len = b->len, .kind = 'D'};
	w->wh_parent[w->n_wh++] = parent;
	return 0;
}

static void compute_parents(struct walk *w)
{
	for (size_t i = 0; i < w->cur->n; i++) {
		uint32_t d = w->cur->v[i].depth;
		w->parent[i] = d == 0 ? -1 : w->last[d - 1];
		w->last[d] = (ssize_t) i;
	}
}

/* The merge of the two walks: kinds, opaque flags, whiteouts. */
static int walk_merge(struct walk *w)
{
	const struct flat *cur = w->cur;
	const struct base *base = w->base;
	size_t i = 0, j = 0;
	const char *skip = NULL, *force = NULL; /* base / tree subtrees handled as a whole */
	size_t skip_len = 0, force_len = 0;
	for (;;) {
		while (skip && j < base->n && path_is_below(skip, skip_len, base->v[j].path, base->v[j].len))
			j++;
		if (force && (i >= cur->n || !path_is_below(force, force_len, cur->v[i].path, cur->v[i].len)))
			force = NULL;
		if (i >= cur->n && j >= base->n)
			return 0;
		int cmp = i >= cur->n ? 1 : j >= base->n ? -1 : cairn_path_compare(cur->v[i].path, base->v[j].path);
		if (cmp > 0) { /* deleted */
			const struct base_ent *b = &base->v[j];
			uint32_t depth = 0;
			for (uint32_t k = 0; k < b->len; k++)
				depth += b->path[k] == '/';
			int r = add_whiteout(w, b, w->last[depth]);
			if (r < 0)
				return r;
			if (b->dir)
				skip = b->path, skip_len = b->len;
			j++;
			continue;
		}
		const struct flat_ent *c = &cur->v[i];
		w->last[c->depth] = (ssize_t) i;
		if (cmp < 0 || force) {
			w->kind[i] = 'A';
		} else if (c->node->ino == base->v[j].ino) {
			if (node_dirty(c->node))
				w->kind[i] = 'C';
		} else {
			const struct base_ent *b = &base->v[j];
			w->kind[i] = 'C';
			if (b->dir)
				skip = b->path, skip_len = b->len;
			if (b->dir && node_is_dir(c->node)) {
				w->opaque[i] = true;
				force = c->path, force_len = c->len;
			}
		}
		if (cmp == 0)
			j++;
		i++;
	}
}

static void mark_ancestors(struct walk *w, ssize_t p)
{
	for (; p > 0 && !w->kind[p]; p = w->parent[p])
		w->kind[p] = 'C';
}

/* Hardlinks and ancestors (see the top of the file). */
static void walk_complete(struct walk *w)
{
	const struct flat *cur = w->cur;
	for (size_t i = 0; i < cur->n; i++)
		cur->v[i].node->flags &= ~N_MARK;
	for (size_t i = 0; i < cur->n; i++) {
		struct node *n = cur->v[i].node;
		if (w->kind[i] && !node_is_dir(n) && n->nlink > 1)
			n->flags |= N_MARK;
	}
	for (size_t i = 0; i < cur->n; i++)
		if (!w->kind[i] && (cur->v[i].node->flags & N_MARK))
			w->kind[i] = 'C';
	for (size_t i = cur->n; i-- > 1;)
		if (w->kind[i])
			mark_ancestors(w, w->parent[i]);
	for (size_t k = 0; k < w->n_wh; k++)
		mark_ancestors(w, w->wh_parent[k]);
	w->kind[0] = (cur->v[0].node->flags & N_DIRTY_ATTR) ? 'C' : 0;
	for (size_t i = 0; i < cur->n; i++)
		cur->v[i].node->flags &= ~N_MARK;
}

static int plan_ent_cmp(const void *a, const void *b)
{
	const struct plan_ent *x = a, *y = b;
	cairn_entry ex = {.path = (char *) x->path, .type = x->node ? 0 : CAIRN_ENTRY_WHITEOUT};
	cairn_entry ey = {.path = (char *) y->path, .type = y->node ? 0 : CAIRN_ENTRY_WHITEOUT};
	return cairn_entry_compare(&ex, &ey);
}

static int walk_collect(struct walk *w, struct plan *p)
{
	size_t n = w->n_wh;
	for (size_t i = 0; i < w->cur->n; i++)
		n += w->kind[i] != 0;
	p->v = malloc((n ? n : 1) * sizeof(*p->v));
	if (!p->v)
		return -ENOMEM;
	for (size_t i = 0; i < w->cur->n; i++)
		if (w->kind[i])
			p->v[p->n++] = (struct plan_ent){.path = w->cur->v[i].path,
							 .len = w->cur->v[i].len,
							 .kind = w->kind[i],
							 .opaque = w->opaque[i],
							 .node = w->cur->v[i].node};
	if (w->n_wh) /* w->wh is NULL when there are none */
		memcpy(p->v + p->n, w->wh, w->n_wh * sizeof(*w->wh));
	p->n += w->n_wh;
	qsort(p->v, p->n, sizeof(*p->v), plan_ent_cmp);
	return 0;
}

int plan_build(cairn_fs *fs, struct plan *ret)
{
	struct plan p = {0};
	int r = flat_build(fs, &p.cur);
	if (r < 0)
		return r;
	size_t nc = p.cur.n;
	struct walk w = {.cur = &p.cur, .base = &fs->base};
	w.kind = calloc(nc, 1);
	w.opaque = calloc(nc, sizeof(*w.opaque));
	w.parent = malloc(nc * sizeof(*w.parent));
	uint32_t depth = 0;
	for (size_t i = 0; i < nc; i++)
		depth = MAX(depth, p.cur.v[i].depth);
	w.last = calloc((size_t) depth + 2, sizeof(*w.last));
	if (!w.kind || !w.opaque || !w.parent || !w.last)
		r = -ENOMEM;
	if (r >= 0) {
		compute_parents(&w);
		r = walk_merge(&w);
	}
	if (r >= 0) {
		walk_complete(&w);
		r = walk_collect(&w, &p);
	}
	free(w.kind);
	free(w.opaque);
	free(w.parent);
	free(w.last);
	free(w.wh);
	free(w.wh_parent);
	if (r < 0) {
		plan_clear(&p);
		return r;
	}
	*ret = p;
	return 0;
}

void plan_clear(struct plan *p)
{
	flat_clear(&p->cur);
	free(p->v);
	*p = (struct plan){0};
}
