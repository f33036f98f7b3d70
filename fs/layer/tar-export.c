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
	const char **group_first;
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
	cairn_content *c;
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
	int r = cairn_content_extents(rg->c, regions_extent, rg);
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

static int copy_range(struct tar_export *x, cairn_content *c, uint64_t off, uint64_t len)
{
	while (len > 0) {
		ssize_t n = cairn_content_pread(c, x->data, MIN(len, (uint64_t) DATA_BUF), off);
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
	return copy_range(rg->x, rg->c, off, len);
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

static int export_file(struct tar_export *x, const cairn_entry *e, struct tar_header *h)
{
	h->type = '0';
	if (!e->has_content)
		return write_header(x, h);
	cairn_content *c = NULL;
	int r = x->b ? cairn_batch_content_open(x->b, &e->content, &c)
		     : cairn_content_open(x->s, &e->content, &c);
	if (r < 0)
		return export_fail(x, r == -ENOENT ? CAIRN_E_CORRUPT : r, "content: %s",
				   cairn_strerror(r == -ENOENT ? CAIRN_E_CORRUPT : r));
	struct regions rg = {.x = x, .c = c};
	if (cairn_content_size(c) != e->size)
		r = CAIRN_E_CORRUPT;
	if (r >= 0)
		r = regions_walk(&rg, emit_count);
	if (r >= 0 && rg.hole) {
		r = export_sparse(x, e, h, &rg);
	} else if (r >= 0) {
		h->size = e->size;
		r = write_header(x, h);
		if (r >= 0)
			r = copy_range(x, c, 0, e->size);
		if (r >= 0)
			r = tar_write_pad(x->out, e->size);
	}
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

static int export_entry(struct tar_export *x, const cairn_entry *e)
{
	struct tar_header h;
	header_init(x, e, &h);
	h.name = e->path;
	x->cur = e;
	if (e->type == CAIRN_ENTRY_DIR)
		return export_dir(x, e, &h);
	if (e->type == CAIRN_ENTRY_WHITEOUT)
		return export_whiteout(x, e, &h);
	if (e->type == CAIRN_ENTRY_SOCK)
		return 0;
	if (e->nlink_group) {
		if (x->group_first[e->nlink_group]) {
			h.type = '1';
			h.link = x->group_first[e->nlink_group];
			return write_header(x, &h);
		}
		x->group_first[e->nlink_group] = e->path;
	}
	switch (e->type) {
	case CAIRN_ENTRY_REG:
		return export_file(x, e, &h);
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

static int export_layer(cairn_store *s, cairn_batch *b, const cairn_id *layer,
			const struct cairn_tar_export_options *opts, cairn_writer *out,
			cairn_error **err)
{
	cairn_layer *l = NULL;
	int r =
	    b ? cairn_layer_open_staged(b, layer, &l, err) : cairn_layer_open(s, layer, &l, err);
	if (r < 0)
		return r;
	struct tar_export x = {
	    .s = s, .b = b, .err = err, .sde = opts ? opts->source_date_epoch : -1};
	uint32_t groups = 0;
	for (size_t i = 0; i < cairn_layer_count(l); i++)
		groups = MAX(groups, cairn_layer_entry(l, i)->nlink_group);
	x.out = malloc(sizeof(*x.out));
	x.data = malloc(DATA_BUF);
	x.group_first = calloc((size_t) groups + 1, sizeof(*x.group_first));
	if (!x.out || !x.data || !x.group_first)
		r = -ENOMEM;
	else
		*x.out = (tar_out){.w = out};
	for (size_t i = 0; r >= 0 && i < cairn_layer_count(l); i++)
		r = export_entry(&x, cairn_layer_entry(l, i));
	if (r >= 0) {
		r = tar_write_end(x.out);
		if (r < 0)
			cairn_error_from(err, r, "export: writing");
	}
	if (r < 0)
		cairn_error_from(err, r, "export");
	buf_clear(&x.pax);
	buf_clear(&x.name);
	free(x.group_first);
	free(x.data);
	free(x.out);
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
