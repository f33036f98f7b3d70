/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tree flattened in canonical order (a walk, siblings sorted
 * bytewise: the order of layer entries), and the base: the flattened tree
 * of the last commit, which the next commit and diff compare against.
 */
#include "fs-internal.h"

bool path_is_below(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen == 0)
		return blen > 0;
	return blen > alen && b[alen] == '/' && memcmp(a, b, alen) == 0;
}

void flat_clear(struct flat *f)
{
	free(f->v);
	arena_free(&f->arena);
	*f = (struct flat){0};
}

static int flat_push(struct flat *f, const char *path, size_t len, uint32_t depth, struct node *n)
{
	if (ARRAY_RESERVE(f->v, f->cap, f->n + 1, 1024) < 0)
		return -ENOMEM;
	f->v[f->n++] = (struct flat_ent){.path = path, .len = (uint32_t) len, .depth = depth, .node = n};
	return 0;
}

static int flat_walk(struct flat *f, struct node *dirn, const char *path, size_t len, uint32_t depth)
{
	struct dent **v;
	size_t n;
	int r = dir_sorted(dirn->dir, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		size_t clen = len + (len > 0) + v[i]->len;
		char *p = arena_alloc(&f->arena, clen + 1);
		if (!p) {
			r = -ENOMEM;
			break;
		}
		memcpy(p, path, len);
		if (len)
			p[len] = '/';
		memcpy(p + len + (len > 0), v[i]->name, v[i]->len);
		p[clen] = 0;
		struct node *c = v[i]->node;
		r = flat_push(f, p, clen, depth + 1, c);
		if (r >= 0 && node_is_dir(c))
			r = flat_walk(f, c, p, clen, depth + 1);
	}
	free(v);
	return r;
}

int flat_build(cairn_fs *fs, struct flat *ret)
{
	struct flat f = {0};
	int r = flat_push(&f, "", 0, 0, fs->root);
	if (r >= 0)
		r = flat_walk(&f, fs->root, "", 0, 0);
	if (r < 0) {
		flat_clear(&f);
		return r;
	}
	*ret = f;
	return 0;
}

void base_clear(struct base *b)
{
	free(b->v);
	arena_free(&b->arena);
	*b = (struct base){0};
}

int base_from_flat(cairn_fs *fs, struct flat *f)
{
	struct base_ent *v = malloc((f->n ? f->n : 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < f->n; i++)
		v[i] = (struct base_ent){.path = f->v[i].path,
					 .len = f->v[i].len,
					 .dir = node_is_dir(f->v[i].node),
					 .ino = f->v[i].node->ino};
	base_clear(&fs->base);
	fs->base = (struct base){.v = v, .n = f->n, .arena = f->arena};
	free(f->v);
	*f = (struct flat){0};
	return 0;
}
