/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Layers: the builder that turns a set of entries into a stored table and
 * layer record, and the reading side (open, lookup, info, mark).
 */
#include "layer-internal.h"

/* ---- builder ------------------------------------------------------------ */

int cairn_layer_builder_new(cairn_batch *b, cairn_layer_builder **ret)
{
	cairn_layer_builder *lb = calloc(1, sizeof(*lb));
	if (!lb)
		return -ENOMEM;
	lb->batch = b;
	*ret = lb;
	return 0;
}

void cairn_layer_builder_free(cairn_layer_builder *lb)
{
	if (!lb)
		return;
	arena_free(&lb->arena);
	free(lb->entries);
	free(lb);
}

int layer_builder_reserve(cairn_layer_builder *lb, size_t n)
{
	if (n <= lb->cap)
		return 0;
	cairn_entry *e = realloc(lb->entries, n * sizeof(*e));
	if (!e)
		return -ENOMEM;
	lb->entries = e;
	lb->cap = n;
	return 0;
}

int layer_builder_push(cairn_layer_builder *lb, size_t *ret_index)
{
	if (lb->n == lb->cap && layer_builder_reserve(lb, lb->cap ? lb->cap * 2 : 256) < 0)
		return -ENOMEM;
	lb->entries[lb->n] = (cairn_entry){0};
	*ret_index = lb->n++;
	return 0;
}

int cairn_layer_builder_add(cairn_layer_builder *lb, const cairn_entry *e)
{
	if (!e->path || (e->n_xattrs && !e->xattrs))
		return -EINVAL;
	size_t i;
	int r = layer_builder_push(lb, &i);
	if (r < 0)
		return r;
	r = layer_entry_copy(&lb->arena, &lb->entries[i], e);
	if (r < 0)
		lb->n--;
	return r;
}

static int entry_cmp_qsort(const void *a, const void *b)
{
	return cairn_entry_compare(a, b);
}

struct group_member {
	uint32_t group;
	uint32_t rank; /* new number, set per run */
	size_t index;
};

static int member_cmp(const void *a, const void *b)
{
	const struct group_member *x = a, *y = b;
	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int run_first_cmp(const void *a, const void *b)
{
	const struct group_member *x = *(struct group_member *const *) a;
	const struct group_member *y = *(struct group_member *const *) b;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Groups get numbers 1, 2, ... in canonical order of their first member;
 * a group of one is no group. */
static int renumber_groups(cairn_layer_builder *lb, const char **ret_why, const char **ret_path)
{
	size_t n = 0;
	for (size_t i = 0; i < lb->n; i++)
		n += lb->entries[i].nlink_group != 0;
	if (n == 0)
		return 0;
	_cleanup_free_ struct group_member *m = malloc(n * sizeof(*m));
	_cleanup_free_ struct group_member **runs = malloc(n * sizeof(*runs));
	if (!m || !runs)
		return -ENOMEM;
	n = 0;
	for (size_t i = 0; i < lb->n; i++)
		if (lb->entries[i].nlink_group)
			m[n++] = (struct group_member){lb->entries[i].nlink_group, 0, i};
	qsort(m, n, sizeof(*m), member_cmp);
	size_t n_runs = 0;
	for (size_t i = 0, j; i < n; i = j) {
		const cairn_entry *first = &lb->entries[m[i].index];
		for (j = i + 1; j < n && m[j].group == m[i].group; j++) {
			if (!layer_entry_same_inode(first, &lb->entries[m[j].index])) {
				*ret_why = "hardlinked entries differ in type, metadata or content";
				*ret_path = lb->entries[m[j].index].path;
				return -EINVAL;
			}
		}
		if (j - i > 1)
			runs[n_runs++] = &m[i];
		else
			lb->entries[m[i].index].nlink_group = 0;
	}
	qsort(runs, n_runs, sizeof(*runs), run_first_cmp);
	for (size_t k = 0; k < n_runs; k++)
		runs[k]->rank = (uint32_t) (k + 1);
	for (size_t i = 0, rank = 0; i < n; i++) {
		if (i == 0 || m[i].group != m[i - 1].group)
			rank = m[i].rank;
		if (rank)
			lb->entries[m[i].index].nlink_group = (uint32_t) rank;
	}
	return 0;
}

int layer_builder_canonicalize(cairn_layer_builder *lb, const char **ret_why, const char **ret_path)
{
	for (size_t i = 0; i < lb->n; i++) {
		const char *why = layer_entry_invalid(&lb->entries[i]);
		if (why) {
			*ret_why = why;
			*ret_path = lb->entries[i].path;
			return -EINVAL;
		}
	}
	if (lb->n > 1)
		qsort(lb->entries, lb->n, sizeof(*lb->entries), entry_cmp_qsort);
	for (size_t i = 0; i < lb->n; i++) {
		const cairn_entry *e = &lb->entries[i];
		if ((i > 0 && cairn_entry_compare(&lb->entries[i - 1], e) == 0) ||
		    (entry_is_whiteout(e) &&
		     layer_find_exact(lb->entries, lb->n, e->path, false))) {
			*ret_why = "duplicate entry";
			*ret_path = e->path;
			return -EEXIST;
		}
	}
	return renumber_groups(lb, ret_why, ret_path);
}

static uint64_t file_bytes(const cairn_entry *entries, size_t n)
{
	uint64_t sum = 0;
	uint32_t groups = 0;
	for (size_t i = 0; i < n; i++) {
		const cairn_entry *e = &entries[i];
		if (e->type != CAIRN_ENTRY_REG)
			continue;
		if (e->nlink_group) {
			if (e->nlink_group <= groups)
				continue; /* counted with the group's first member */
			groups = e->nlink_group;
		}
		sum += e->size;
	}
	return sum;
}

int cairn_layer_builder_finish(cairn_layer_builder *lb, cairn_id *ret_layer, cairn_error **err)
{
	_cleanup_(buf_clear) bytebuf table = {0}, rec = {0};
	const char *why = NULL, *path = NULL;
	int r = layer_builder_canonicalize(lb, &why, &path);
	if (r < 0) {
		if (why)
			cairn_error_set(err, r, "layer: entry \"%s\": %s", path, why);
		goto out;
	}
	struct cairn_layer_info info = {.entries = lb->n,
					.file_bytes = file_bytes(lb->entries, lb->n)};
	r = layer_table_encode(lb->entries, lb->n, &table);
	if (r >= 0)
		r = cairn_batch_put_content(lb->batch, table.data, table.len, &info.table);
	if (r >= 0)
		r = layer_record_encode(&info, &rec);
	if (r >= 0)
		r = cairn_batch_put(lb->batch, CAIRN_T_LAYERS, info.table.b, CAIRN_ID_LEN, rec.data,
				    rec.len);
	if (r < 0) {
		cairn_error_from(err, r, "layer: storing the table");
		goto out;
	}
	*ret_layer = info.table;
out:
	cairn_layer_builder_free(lb);
	return r;
}

/* ---- reading ------------------------------------------------------------- */

struct cairn_layer {
	arena arena;
	cairn_entry *entries;
	size_t n;
};

int cairn_layer_info(cairn_store *s, const cairn_id *layer, struct cairn_layer_info *ret)
{
	_cleanup_free_ void *val = NULL;
	size_t len;
	int r = cairn_store_get(s, CAIRN_T_LAYERS, layer->b, CAIRN_ID_LEN, &val, &len);
	if (r == -ENOENT)
		return CAIRN_E_NOTFOUND;
	if (r < 0)
		return r;
	struct cairn_layer_info info;
	r = layer_record_decode(val, len, &info);
	if (r < 0 || memcmp(&info.table, layer, sizeof(*layer)) != 0)
		return CAIRN_E_CORRUPT;
	*ret = info;
	return 0;
}

/* Decodes a layer table; expect_entries < 0 skips the count check. */
static int layer_decode(const char *hex, const void *data, size_t len, int64_t expect_entries,
			cairn_layer **ret, cairn_error **err)
{
	cairn_layer *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	const char *why = NULL;
	int r = layer_table_decode(data, len, &l->arena, &l->entries, &l->n, &why);
	if (r >= 0 && expect_entries >= 0 && l->n != (uint64_t) expect_entries)
		r = CAIRN_E_CORRUPT, why = "entry count differs from the record";
	if (r < 0) {
		cairn_layer_free(l);
		if (r == CAIRN_E_CORRUPT)
			return cairn_error_set(err, r, "layer %s: damaged table: %s", hex, why);
		return cairn_error_from(err, r, "layer %s: table", hex);
	}
	*ret = l;
	return 0;
}

int cairn_layer_open(cairn_store *s, const cairn_id *layer, cairn_layer **ret, cairn_error **err)
{
	char hex[2 * CAIRN_ID_LEN + 1];
	struct cairn_layer_info info;
	cairn_id_hex(layer, hex);
	int r = cairn_layer_info(s, layer, &info);
	if (r == CAIRN_E_NOTFOUND)
		return cairn_error_set(err, r, "layer %s: not found", hex);
	if (r < 0)
		return cairn_error_from(err, r, "layer %s: record", hex);
	_cleanup_free_ void *data = NULL;
	size_t len;
	r = cairn_content_read_all(s, &info.table, &data, &len);
	if (r < 0)
		return cairn_error_from(err, r == -ENOENT ? CAIRN_E_CORRUPT : r, "layer %s: table",
					hex);
	return layer_decode(hex, data, len, (int64_t) info.entries, ret, err);
}

int cairn_layer_open_staged(cairn_batch *b, const cairn_id *layer, cairn_layer **ret,
			    cairn_error **err)
{
	char hex[2 * CAIRN_ID_LEN + 1];
	cairn_id_hex(layer, hex);
	_cleanup_free_ void *data = NULL;
	size_t len;
	/* The layer id is the content id of its table. */
	int r = cairn_batch_content_read_all(b, layer, &data, &len);
	if (r == CAIRN_E_NOTFOUND)
		return cairn_error_set(err, r, "layer %s: not found", hex);
	if (r < 0)
		return cairn_error_from(err, r, "layer %s: table", hex);
	return layer_decode(hex, data, len, -1, ret, err);
}

void cairn_layer_free(cairn_layer *l)
{
	if (!l)
		return;
	arena_free(&l->arena);
	free(l->entries);
	free(l);
}

size_t cairn_layer_count(const cairn_layer *l)
{
	return l->n;
}

const cairn_entry *cairn_layer_entry(const cairn_layer *l, size_t i)
{
	return i < l->n ? &l->entries[i] : NULL;
}

const cairn_entry *cairn_layer_lookup(const cairn_layer *l, const char *path)
{
	return layer_find(l->entries, l->n, path);
}

int cairn_layer_mark(cairn_store *s, const cairn_id *layer, cairn_idset *set, cairn_error **err)
{
	cairn_layer *l = NULL;
	int r = cairn_layer_open(s, layer, &l, err);
	if (r < 0)
		return r;
	r = cairn_idset_add(set, layer);
	for (size_t i = 0; i < l->n && r >= 0; i++)
		if (l->entries[i].has_content)
			r = cairn_idset_add(set, &l->entries[i].content);
	cairn_layer_free(l);
	if (r < 0)
		return cairn_error_from(err, r, "layer: marking contents");
	return 0;
}
