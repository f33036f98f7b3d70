/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The streaming layer writer: entries arrive in canonical order; each is
 * added to a layer builder and exported to a sha256 digest writer at once,
 * so a commit reads every new file's data exactly once, feeding both the
 * store (chunks, through a content writer) and the diff_id.  The tar bytes
 * are those cairn_layer_export_tar() later produces from the stored layer:
 * the same exporter writes them, and a stored file's extents are the ones
 * the source reported (holes as holes).
 */
#include "layer-internal.h"

DEFINE_CLEANUP_FUNC(cairn_writer, cairn_writer_free)

struct cairn_layer_writer {
	cairn_batch *b;
	cairn_layer_builder *lb;
	cairn_writer *digest;
	tar_export *x;
	cairn_error *err; /* the exporter's error slot */
	cairn_entry prev; /* path of the previous entry (for the order check) */
	bytebuf prev_path;
	bool have_prev;
	cairn_id *group_content; /* by nlink_group */
	bool *group_set;
	size_t n_groups;
};

int cairn_layer_writer_new(cairn_batch *b, cairn_layer_writer **ret)
{
	cairn_layer_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->b = b;
	int r = cairn_layer_builder_new(b, &w->lb);
	if (r >= 0 && !(w->digest = cairn_writer_digest_async()))
		r = -ENOMEM;
	if (r >= 0)
		r = tar_export_new(cairn_batch_store(b), b, -1, w->digest, &w->err, &w->x);
	if (r < 0) {
		cairn_layer_writer_free(w);
		return r;
	}
	*ret = w;
	return 0;
}

int cairn_layer_writer_reserve(cairn_layer_writer *w, size_t n)
{
	return layer_builder_reserve(w->lb, n);
}

void cairn_layer_writer_free(cairn_layer_writer *w)
{
	if (!w)
		return;
	tar_export_free(w->x);
	cairn_writer_free(w->digest);
	cairn_layer_builder_free(w->lb);
	cairn_error_free(w->err);
	buf_clear(&w->prev_path);
	free(w->group_content);
	free(w->group_set);
	free(w);
}

/* ---- the storing source: reads from src, feeds a content writer ---------- */

struct tee {
	const struct cairn_data_source *src;
	cairn_content_writer *cw;
	uint64_t pos; /* bytes (data and holes) fed to cw so far */
	int error;
};

static int tee_extents(void *userdata, cairn_extent_fn fn, void *fud)
{
	struct tee *t = userdata;
	return t->src->extents(t->src->userdata, fn, fud);
}

/* The exporter reads the data extents in order: a gap since the last read
 * is a hole. */
static ssize_t tee_pread(void *userdata, void *buf, size_t len, uint64_t off)
{
	struct tee *t = userdata;
	if (off < t->pos)
		return t->error = -EINVAL;
	int r = cairn_content_hole(t->cw, off - t->pos);
	if (r < 0)
		return t->error = r;
	t->pos = off;
	ssize_t n = t->src->pread(t->src->userdata, buf, len, off);
	if (n <= 0)
		return n < 0 ? (t->error = (int) n) : n;
	r = cairn_content_write(t->cw, buf, (size_t) n);
	if (r < 0)
		return t->error = r;
	t->pos += (uint64_t) n;
	return n;
}

static int src_extents(void *userdata, cairn_extent_fn fn, void *fud)
{
	const struct cairn_data_source *src = userdata;
	return src->extents(src->userdata, fn, fud);
}

static ssize_t src_pread(void *userdata, void *buf, size_t len, uint64_t off)
{
	const struct cairn_data_source *src = userdata;
	return src->pread(src->userdata, buf, len, off);
}

/* ---- entries --------------------------------------------------------------- */

static int group_slot(cairn_layer_writer *w, uint32_t g)
{
	if (g < w->n_groups)
		return 0;
	size_t n = MAX((size_t) g + 1, w->n_groups * 2);
	cairn_id *c = realloc(w->group_content, n * sizeof(*c));
	if (!c)
		return -ENOMEM;
	w->group_content = c;
	bool *s = realloc(w->group_set, n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	memset(s + w->n_groups, 0, n - w->n_groups);
	w->group_set = s;
	w->n_groups = n;
	return 0;
}

static int check_order(cairn_layer_writer *w, const cairn_entry *e, cairn_error **err)
{
	if (w->have_prev && cairn_entry_compare(&w->prev, e) >= 0)
		return cairn_error_set(err, -EINVAL, "layer: entry \"%s\" out of order", e->path);
	w->prev_path.len = 0;
	size_t len = strlen(e->path) + 1;
	if (buf_append(&w->prev_path, e->path, len) < 0)
		return -ENOMEM;
	w->prev = (cairn_entry){.path = (char *) w->prev_path.data, .type = e->type};
	w->have_prev = true;
	return 0;
}

/* Exports the file data through the storing tee: the content id comes out. */
static int add_stored(cairn_layer_writer *w, cairn_entry *e, const struct cairn_data_source *src)
{
	struct tee t = {.src = src};
	int r = cairn_content_writer_new(w->b, &t.cw);
	if (r < 0)
		return r;
	struct tar_src ts = {.extents = tee_extents, .pread = tee_pread, .userdata = &t};
	r = tar_export_entry(w->x, e, &ts);
	if (r >= 0 && t.error < 0)
		r = t.error;
	if (r >= 0)
		r = cairn_content_hole(t.cw, e->size - MIN(e->size, t.pos));
	if (r < 0) {
		cairn_content_writer_free(t.cw);
		return r;
	}
	uint64_t size;
	r = cairn_content_writer_finish(t.cw, &e->content, &size);
	if (r >= 0 && size != e->size)
		r = -EIO; /* the file changed size while it was read */
	return r;
}

int cairn_layer_writer_add(cairn_layer_writer *w, const cairn_entry *e,
			   const struct cairn_data_source *src, unsigned flags, cairn_id *ret_content,
			   cairn_error **err)
{
	int r = check_order(w, e, err);
	if (r < 0)
		return r;
	size_t i;
	if ((r = layer_builder_push(w->lb, &i)) < 0 ||
	    (r = layer_entry_copy(&w->lb->arena, &w->lb->entries[i], e)) < 0)
		return r;
	cairn_entry *ne = &w->lb->entries[i];
	bool data = ne->type == CAIRN_ENTRY_REG && ne->size > 0;
	ne->has_content = data;
	uint32_t g = ne->nlink_group;
	if (g && (r = group_slot(w, g)) < 0)
		return r;
	if (data && g && w->group_set[g]) {
		ne->content = w->group_content[g];
		r = tar_export_entry(w->x, ne, NULL); /* a tar hardlink: no data */
	} else if (data && src && (flags & CAIRN_LAYER_WRITE_DATA)) {
		r = add_stored(w, ne, src);
	} else if (data && src) {
		struct tar_src ts = {.extents = src_extents, .pread = src_pread, .userdata = (void *) src};
		r = tar_export_entry(w->x, ne, &ts);
	} else {
		r = tar_export_entry(w->x, ne, NULL);
	}
	if (r < 0) {
		if (w->err && err && !*err)
			*err = steal_pointer(&w->err);
		return cairn_error_from(err, r, "layer: entry \"%s\"", e->path);
	}
	if (data && g && !w->group_set[g]) {
		w->group_content[g] = ne->content;
		w->group_set[g] = true;
	}
	if (ret_content)
		*ret_content = ne->content;
	return 0;
}

int cairn_layer_writer_finish(cairn_layer_writer *w, cairn_id *ret_layer, cairn_digest *ret_diff_id,
			      uint64_t *ret_diff_size, cairn_error **err)
{
	int r = tar_export_finish(w->x);
	if (r >= 0)
		r = cairn_writer_close(w->digest);
	if (r < 0) {
		if (w->err && err && !*err)
			*err = steal_pointer(&w->err);
		cairn_layer_writer_free(w);
		return cairn_error_from(err, r, "layer: export");
	}
	cairn_digest d;
	uint64_t size;
	cairn_writer_digest_result(w->digest, &d, &size);
	cairn_layer_builder *lb = steal_pointer(&w->lb);
	cairn_layer_writer_free(w);
	cairn_id layer;
	r = cairn_layer_builder_finish(lb, &layer, err);
	if (r < 0)
		return r;
	*ret_layer = layer;
	if (ret_diff_id)
		*ret_diff_id = d;
	if (ret_diff_size)
		*ret_diff_size = size;
	return 0;
}
