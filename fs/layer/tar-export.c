/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tar export of a layer, deterministic: entries in canonical order;
 * directories as "DIR/" (the root, when the layer has it, as "./"); an
 * opaque directory is followed by "DIR/.wh..wh..opq" (empty regular file,
 * mode 0, uid/gid 0, the directory's mtime); whiteouts as empty regular
 * files ".wh.NAME" with the whiteout's own metadata; the first member of
 * a hardlink group (in canonical order) carries the data, later members
 * are tar hardlinks to it; contents with holes are written as GNU sparse
 * 1.0 members so holes stay holes; sockets, which tar cannot hold, are
 * left out.  With source_date_epoch >= 0 every later mtime becomes it.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <sys/sysmacros.h>

#include "tar-import.h"

#define DATA_BUF (256 * 1024)

struct tar_export {
	cairn_store *s;
	cairn_batch *b; /* exporting a staged layer: contents are read through b */
	cairn_error **err;
	int64_t sde;
	tar_out *out;
	bytebuf pax, name;
	const char **group_first; /* path of each group's first member */
	size_t n_groups;
	uint8_t *data;
	const cairn_entry *cur;
};

static int export_fail(struct tar_export *x, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int export_fail(struct tar_export *x, int code, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL, *q = quote_name(x->cur->path, strlen(x->cur->path));
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return code;
	return cairn_error_set(x->err, code, "export: entry \"%s\": %s", q ? q : "?", msg);
}

static void clamp_time(const struct tar_export *x, int64_t *sec, uint32_t *nsec)
{
	if (x->sde >= 0 && (*sec > x->sde || (*sec == x->sde && *nsec > 0))) {
		*sec = x->sde;
		*nsec = 0;
	}
}

static void header_init(const struct tar_export *x, const cairn_entry *e, struct tar_header *h)
{
	*h = (struct tar_header){
	    .mode = e->mode,
	    .uid = e->uid,
	    .gid = e->gid,
	    .mtime = e->mtime_sec,
	    .mtime_nsec = e->mtime_nsec,
	    .xattrs = e->xattrs,
	    .n_xattrs = e->n_xattrs,
	};
	clamp_time(x, &h->mtime, &h->mtime_nsec);
}

/* name = prefix of path + suffix, NUL-terminated, in x->name. */
static const char *make_name(struct tar_export *x, const char *path, size_t plen,
			     const char *suffix)
{
	x->name.len = 0;
	if (buf_append(&x->name, path, plen) < 0 ||
	    buf_append(&x->name, suffix, strlen(suffix) + 1) < 0)
		return NULL;
	return (const char *) x->name.data;
}

static int write_header(struct tar_export *x, const struct tar_header *h)
{
	int r = tar_write_header(x->out, h, &x->pax);
	return r < 0 ? export_fail(x, r, "writing: %s", cairn_strerror(r)) : 0;
}

/* ---- regular file data ------------------------------------------------------ */

/* Data regions of a content: adjacent data extents merged. */
struct regions {
	struct tar_export *x;
	const struct tar_src *src;
	int (*emit)(struct regions *rg, uint64_t off, uint64_t len);
	uint64_t off, len; /* pending region */
	bool pending, hole;
	uint64_t count, data, map_len;
};

static int regions_flush(struct regions *rg)
{
	if (!rg->pending)
		return 0;
	rg->pending = false;
	return rg->emit(rg, rg->off, rg->len);
}

static int regions_extent(uint64_t off, uint64_t len, bool hole, void *userdata)
{
	struct regions *rg = userdata;
	if (len == 0)
		return 0;
	if (hole) {
		rg->hole = true;
		return regions_flush(rg);
	}
	if (rg->pending && rg->off + rg->len == off) {
		rg->len += len;
		return 0;
	}
	int r = regions_flush(rg);
	rg->off = off, rg->len = len, rg->pending = true;
	return r;
}

static int regions_walk(struct regions *rg, int (*emit)(struct regions *, uint64_t, uint64_t))
{
	rg->emit = emit;
	rg->pending = false;
	int r = rg->src->extents(rg->src->userdata, regions_extent, rg);
	return r < 0 ? r : regions_flush(rg);
}

static int map_line(tar_out *o, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%" PRIu64 "\n", v);
	return tar_out_write(o, num, (size_t) n);
}

static int emit_count(struct regions *rg, uint64_t off, uint64_t len)
{
	char num[48];
	rg->count++;
	rg->data += len;
	rg->map_len +=
	    (uint64_t) snprintf(num, sizeof(num), "%" PRIu64 "\n%" PRIu64 "\n", off, len);
	return 0;
}

static int emit_map(struct regions *rg, uint64_t off, uint64_t len)
{
	int r = map_line(rg->x->out, off);
	return r < 0 ? r : map_line(rg->x->out, len);
}

static int copy_range(struct tar_export *x, const struct tar_src *src, uint64_t off, uint64_t len)
{
	while (len > 0) {
		ssize_t n = src->pread(src->userdata, x->data, MIN(len, (uint64_t) DATA_BUF), off);
		if (n < 0)
			return (int) n;
		if (n == 0)
			return CAIRN_E_CORRUPT;
		int r = tar_out_write(x->out, x->data, (size_t) n);
		if (r < 0)
			return r;
		off += (uint64_t) n;
		len -= (uint64_t) n;
	}
	return 0;
}

static int emit_data(struct regions *rg, uint64_t off, uint64_t len)
{
	return copy_range(rg->x, rg->src, off, len);
}

/* GNU sparse 1.0: the map ("count\n" then "offset\nsize\n" per region, a
 * final empty region at the size when the file ends in a hole) padded to
 * a block, then the data of the regions. */
static int export_sparse(struct tar_export *x, const cairn_entry *e, struct tar_header *h,
			 struct regions *rg)
{
	/* rg holds the first walk's totals and its last region */
	char num[48];
	bool tail = rg->data == 0 || rg->off + rg->len < e->size; /* ends in a hole */
	uint64_t count = rg->count + tail;
	uint64_t map_len =
	    rg->map_len + (uint64_t) snprintf(num, sizeof(num), "%" PRIu64 "\n", count);
	if (tail)
		map_len += (uint64_t) snprintf(num, sizeof(num), "%" PRIu64 "\n0\n", e->size);
	h->sparse = true;
	h->sparse_realsize = e->size;
	h->size = (map_len + 511) / 512 * 512 + rg->data;
	int r = write_header(x, h);
	if (r >= 0)
		r = map_line(x->out, count);
	if (r >= 0)
		r = regions_walk(rg, emit_map);
	if (r >= 0 && tail)
		r = map_line(x->out, e->size), r = r < 0 ? r : map_line(x->out, 0);
	if (r >= 0)
		r = tar_write_pad(x->out, map_len);
	if (r >= 0)
		r = regions_walk(rg, emit_data);
	return r < 0 ? r : tar_write_pad(x->out, rg->data);
}

static int content_extents(void *userdata, cairn_extent_fn fn, void *fud)
{
	return cairn_content_extents(userdata, fn, fud);
}

static ssize_t content_pread(void *userdata, void *buf, size_t len, uint64_t off)
{
	return cairn_content_pread(userdata, buf, len, off);
}

/* The data of a regular file from src: plain, or GNU sparse when it has holes. */
static int export_data(struct tar_export *x, const cairn_entry *e, struct tar_header *h,
		       const struct tar_src *src)
{
	struct regions rg = {.x = x, .src = src};
	int r = regions_walk(&rg, emit_count);
	if (r >= 0 && rg.hole)
		return export_sparse(x, e, h, &rg);
	if (r < 0)
		return r;
	h->size = e->size;
	r = write_header(x, h);
	if (r >= 0)
		r = copy_range(x, src, 0, e->size);
	return r < 0 ? r : tar_write_pad(x->out, e->size);
}

static int export_file(struct tar_export *x, const cairn_entry *e, struct tar_header *h,
		       const struct tar_src *src)
{
	h->type = '0';
	if (!e->has_content)
		return write_header(x, h);
	int r;
	if (src) {
		r = export_data(x, e, h, src);
		return r < 0 ? export_fail(x, r, "data: %s", cairn_strerror(r)) : 0;
	}
	cairn_content *c = NULL;
	r = x->b ? cairn_batch_content_open(x->b, &e->content, &c)
		 : cairn_content_open(x->s, &e->content, &c);
	if (r < 0)
		return export_fail(x, r == -ENOENT ? CAIRN_E_CORRUPT : r, "content: %s",
				   cairn_strerror(r == -ENOENT ? CAIRN_E_CORRUPT : r));
	struct tar_src cs = {.extents = content_extents, .pread = content_pread, .userdata = c};
	if (cairn_content_size(c) != e->size)
		r = CAIRN_E_CORRUPT;
	if (r >= 0)
		r = export_data(x, e, h, &cs);
	cairn_content_free(c);
	if (r < 0)
		return export_fail(x, r, "content: %s", cairn_strerror(r));
	return 0;
}

/* ---- entries ------------------------------------------------------------------- */

static int export_dir(struct tar_export *x, const cairn_entry *e, struct tar_header *h)
{
	size_t plen = strlen(e->path);
	h->type = '5';
	h->name = plen ? make_name(x, e->path, plen, "/") : "./";
	if (!h->name)
		return -ENOMEM;
	int r = write_header(x, h);
	if (r < 0 || !e->opaque)
		return r;
	struct tar_header m = {.type = '0', .mtime = h->mtime, .mtime_nsec = h->mtime_nsec};
	m.name = make_name(x, e->path, plen, plen ? "/" WHITEOUT_OPAQUE : WHITEOUT_OPAQUE);
	return m.name ? write_header(x, &m) : -ENOMEM;
}

static int export_whiteout(struct tar_export *x, const cairn_entry *e, struct tar_header *h)
{
	const char *slash = strrchr(e->path, '/');
	size_t dlen = slash ? (size_t) (slash - e->path) + 1 : 0;
	x->name.len = 0;
	if (buf_append(&x->name, e->path, dlen) < 0 ||
	    buf_append(&x->name, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) < 0 ||
	    buf_append(&x->name, e->path + dlen, strlen(e->path + dlen) + 1) < 0)
		return -ENOMEM;
	h->name = (const char *) x->name.data;
	h->type = '0';
	h->xattrs = NULL;
	h->n_xattrs = 0;
	return write_header(x, h);
}

static int group_first(struct tar_export *x, const cairn_entry *e, const char **ret)
{
	uint32_t g = e->nlink_group;
	if (g >= x->n_groups) {
		size_t n = MAX((size_t) g + 1, x->n_groups * 2);
		const char **v = realloc(x->group_first, n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + x->n_groups, 0, (n - x->n_groups) * sizeof(*v));
		x->group_first = v;
		x->n_groups = n;
	}
	*ret = x->group_first[g];
	if (!*ret)
		x->group_first[g] = e->path;
	return 0;
}

int tar_export_entry(tar_export *x, const cairn_entry *e, const struct tar_src *src)
{
	struct tar_header h;
	header_init(x, e, &h);
	h.name = e->path;
	x->cur = e;
	if (e->type == CAIRN_ENTRY_DIR)
		return export_dir(x, e, &h);
	if (e->type == CAIRN_ENTRY_WHITEOUT)
		return export_whiteout(x, e, &h);
	/* a tar cannot hold a socket: its path becomes a whiteout, so that what
	 * it replaced in a lower layer is gone from the unpacked tree too */
	if (e->type == CAIRN_ENTRY_SOCK)
		return export_whiteout(x, e, &h);
	if (e->nlink_group) {
		const char *first;
		int r = group_first(x, e, &first);
		if (r < 0)
			return r;
		if (first) {
			h.type = '1';
			h.link = first;
			return write_header(x, &h);
		}
	}
	switch (e->type) {
	case CAIRN_ENTRY_REG:
		return export_file(x, e, &h, src);
	case CAIRN_ENTRY_SYMLINK:
		h.type = '2';
		h.link = e->link;
		break;
	case CAIRN_ENTRY_CHR:
	case CAIRN_ENTRY_BLK:
		h.type = e->type == CAIRN_ENTRY_CHR ? '3' : '4';
		h.devmajor = major(e->rdev);
		h.devminor = minor(e->rdev);
		break;
	case CAIRN_ENTRY_FIFO:
		h.type = '6';
		break;
	default:
		return export_fail(x, CAIRN_E_CORRUPT, "unknown type %u", e->type);
	}
	return write_header(x, &h);
}

int tar_export_new(cairn_store *s, cairn_batch *b, int64_t source_date_epoch, cairn_writer *out,
		   cairn_error **err, tar_export **ret)
{
	tar_export *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	*x = (tar_export){.s = s, .b = b, .err = err, .sde = source_date_epoch};
	x->out = malloc(sizeof(*x->out));
	x->data = malloc(DATA_BUF);
	if (!x->out || !x->data) {
		tar_export_free(x);
		return -ENOMEM;
	}
	*x->out = (tar_out){.w = out};
	*ret = x;
	return 0;
}

int tar_export_finish(tar_export *x)
{
	int r = tar_write_end(x->out);
	return r < 0 ? cairn_error_from(x->err, r, "export: writing") : 0;
}

void tar_export_free(tar_export *x)
{
	if (!x)
		return;
	buf_clear(&x->pax);
	buf_clear(&x->name);
	free(x->group_first);
	free(x->data);
	free(x->out);
	free(x);
}

static int export_layer(cairn_store *s, cairn_batch *b, const cairn_id *layer,
			const struct cairn_tar_export_options *opts, cairn_writer *out,
			cairn_error **err)
{
	cairn_layer *l = NULL;
	int r =
	    b ? cairn_layer_open_staged(b, layer, &l, err) : cairn_layer_open(s, layer, &l, err);
	if (r < 0)
		return r;
	tar_export *x = NULL;
	r = tar_export_new(s, b, opts ? opts->source_date_epoch : -1, out, err, &x);
	for (size_t i = 0; r >= 0 && i < cairn_layer_count(l); i++)
		r = tar_export_entry(x, cairn_layer_entry(l, i), NULL);
	if (r >= 0)
		r = tar_export_finish(x);
	if (r < 0)
		cairn_error_from(err, r, "export");
	tar_export_free(x);
	cairn_layer_free(l);
	return r;
}

int cairn_layer_export_tar(cairn_store *s, const cairn_id *layer,
			   const struct cairn_tar_export_options *opts, cairn_writer *out,
			   cairn_error **err)
{
	return export_layer(s, NULL, layer, opts, out, err);
}

int cairn_layer_export_tar_staged(cairn_batch *b, const cairn_id *layer,
				  const struct cairn_tar_export_options *opts, cairn_writer *out,
				  cairn_error **err)
{
	return export_layer(cairn_batch_store(b), b, layer, opts, out, err);
}
