/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tar import: the input pipeline and the placement of entries.
 *
 *   fn -> tee of the raw bytes into a content (keep_blob)
 *      -> cairn_reader (decompression, sha256 of raw and plain bytes)
 *      -> tee of the plain bytes into the tar-split recorder (tar_split)
 *      -> libarchive's tar reader (ustar, pax, GNU; no filters)
 *
 * The tar-split (tar-split.c) needs stream positions: with no filter in
 * libarchive, archive_read_header_position() is where an entry's headers
 * start and archive_filter_bytes(a, 0) right after the header was read is
 * where its data starts (checked on GNU, PAX, ustar, v7, bsdtar and Python
 * archives).  The data of a plain regular file (not sparse, not a
 * hardlink, not a whiteout) becomes a file range; after its data was read
 * the consumed position must be exactly past data and padding, or the
 * import fails rather than record a wrong split.
 *
 * Each archive entry is normalized (tar-entry.c; the root directory may
 * be named "./" or, absolutely, "/": see names_root) and placed in the layer
 * under the rules of OCI layers: ".wh.NAME" whiteouts, ".wh..wh..opq"
 * opaque markers, hardlinks only to earlier entries, nothing below a
 * symlink or a non-directory of the same archive, no duplicates.  A
 * whiteout and an entry of the same path in one archive (OCI: a whiteout
 * only hides what is below) merge: with a directory it means an opaque
 * directory, with anything else the entry alone.  An opaque marker whose
 * directory has no entry of its own gets a synthesized one (mode 0755,
 * uid/gid 0, mtime 0).  Entries under AUFS metadata (".wh..wh.*") are
 * ignored.
 */
#include "tar-import.h"

#define TAR_BUF (256 * 1024)

static ssize_t raw_read(void *userdata, void *data, size_t len)
{
	struct tar_import *t = userdata;
	ssize_t n = t->fn(t->userdata, data, len);
	int r = 0;
	if (n > 0 && t->blob_undecided)
		r = buf_append(&t->pending, data, (size_t) n);
	else if (n > 0 && t->blob)
		r = cairn_content_write(t->blob, data, (size_t) n);
	return r < 0 ? r : n;
}

/* New plain bytes in t->buf: what libarchive consumed so far is settled. */
static int split_feed(struct tar_import *t, struct archive *a, size_t n)
{
	la_int64_t consumed = archive_filter_bytes(a, 0);
	int r = consumed > 0 ? tar_split_flush(t->split, (uint64_t) consumed) : 0;
	return r < 0 ? r : tar_split_feed(t->split, t->buf, n);
}

static la_ssize_t tar_read(struct archive *a, void *userdata, const void **ret)
{
	struct tar_import *t = userdata;
	ssize_t n = cairn_reader_read(t->reader, t->buf, TAR_BUF);
	if (n < 0) {
		t->read_error = (int) n;
		archive_set_error(a, EIO, "input: %s", cairn_strerror((int) n));
		return -1;
	}
	if (n == 0)
		t->input_eof = true;
	int r = n > 0 && t->split ? split_feed(t, a, (size_t) n) : 0;
	if (r < 0) {
		t->read_error = r;
		archive_set_error(a, EIO, "recording the tar-split: %s", cairn_strerror(r));
		return -1;
	}
	*ret = t->buf;
	return n;
}

/* ---- placement ------------------------------------------------------------ */

static cairn_entry *entry_at(struct tar_import *t, const pathmap_slot *s)
{
	return &t->lb->entries[s->index];
}

/* Ancestors of path must be directories of this archive, or not in it
 * (then they are recorded as implied directories). */
static int check_parents(struct tar_import *t, const char *path, size_t len)
{
	size_t end = len;
	for (;;) {
		const char *slash = memrchr(path, '/', end);
		if (!slash)
			return 0;
		end = (size_t) (slash - path);
		pathmap_slot *s = pathmap_get(&t->map, path, end);
		if (s && (s->kind == PATHMAP_IMPLIED || entry_at(t, s)->type == CAIRN_ENTRY_DIR))
			return 0;
		if (s) {
			const cairn_entry *e = entry_at(t, s);
			_cleanup_free_ char *q = quote_name(path, end);
			if (e->type == CAIRN_ENTRY_SYMLINK)
				return tar_fail(t, CAIRN_E_UNSAFE,
						"path goes through the symlink \"%s\"",
						q ? q : "?");
			return tar_fail(t, CAIRN_E_FORMAT, "parent \"%s\" %s", q ? q : "?",
					entry_is_whiteout(e) ? "is a whiteout of the archive"
							     : "is not a directory");
		}
		int r = pathmap_put(&t->map, path, end, PATHMAP_IMPLIED, 0, NULL);
		if (r < 0)
			return r;
	}
}

static int push_entry(struct tar_import *t, const cairn_entry *e, pathmap_slot *s)
{
	size_t i;
	int r = layer_builder_push(t->lb, &i);
	if (r < 0)
		return r;
	t->lb->entries[i] = *e;
	if (s) {
		s->kind = PATHMAP_ENTRY;
		s->index = (uint32_t) i;
		return 0;
	}
	return pathmap_put(&t->map, e->path, strlen(e->path), PATHMAP_ENTRY, (uint32_t) i, NULL);
}

/* dir (len bytes, arena memory) becomes opaque; its parents are checked. */
static int add_opaque(struct tar_import *t, const char *dir, size_t len)
{
	if (len == 0) {
		t->root_opaque = true;
		return 0;
	}
	pathmap_slot *s = pathmap_get(&t->map, dir, len);
	if (s && s->kind == PATHMAP_ENTRY) {
		cairn_entry *e = entry_at(t, s);
		if (e->type != CAIRN_ENTRY_DIR)
			return tar_fail(t, CAIRN_E_FORMAT, "opaque marker in a non-directory");
		e->opaque = true;
		return 0;
	}
	if (t->n_opaque == t->cap_opaque) {
		size_t cap = t->cap_opaque ? t->cap_opaque * 2 : 16;
		struct opaque_dir *o = realloc(t->opaque, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		t->opaque = o;
		t->cap_opaque = cap;
	}
	t->opaque[t->n_opaque++] = (struct opaque_dir){dir, len};
	return 0;
}

static int place_root(struct tar_import *t, const cairn_entry *e)
{
	if (e->type != CAIRN_ENTRY_DIR)
		return tar_fail(t, CAIRN_E_FORMAT, "root is not a directory");
	if (t->root >= 0)
		return tar_fail(t, CAIRN_E_FORMAT, "duplicate entry");
	size_t i;
	int r = layer_builder_push(t->lb, &i);
	if (r < 0)
		return r;
	t->lb->entries[i] = *e;
	t->root = (ssize_t) i;
	return 0;
}

static int place(struct tar_import *t, const cairn_entry *e)
{
	size_t len = strlen(e->path);
	if (len == 0)
		return place_root(t, e);
	int r = check_parents(t, e->path, len);
	if (r < 0)
		return r;
	pathmap_slot *s = pathmap_get(&t->map, e->path, len);
	bool wh = entry_is_whiteout(e);
	if (!s)
		return push_entry(t, e, NULL);
	if (s->kind == PATHMAP_IMPLIED) {
		if (e->type == CAIRN_ENTRY_DIR)
			return push_entry(t, e, s);
		if (wh) /* whiteout + new children: an opaque directory */
			return add_opaque(t, e->path, len);
		return tar_fail(t, CAIRN_E_FORMAT, "replaces a directory with entries below it");
	}
	cairn_entry *old = entry_at(t, s);
	if (entry_is_whiteout(old) && !wh) {
		*old = *e;
		old->opaque = e->type == CAIRN_ENTRY_DIR;
		return 0;
	}
	if (!entry_is_whiteout(old) && wh) {
		if (old->type == CAIRN_ENTRY_DIR)
			old->opaque = true;
		return 0;
	}
	return tar_fail(t, CAIRN_E_FORMAT, "duplicate entry");
}

/* ---- tar-split hooks ---------------------------------------------------------- */

static int split_fail(struct tar_import *t, int r)
{
	if (r == CAIRN_E_FORMAT)
		return tar_fail(t, r, "tar-split: %s", tar_split_why(t->split));
	return tar_fail(t, r, "tar-split: %s", cairn_strerror(r));
}

/* Whether the data of this (non-hardlink) entry is a file range. */
static bool split_is_file(struct tar_import *t, struct archive_entry *ae, bool whiteout)
{
	return t->split && !whiteout && archive_entry_filetype(ae) == AE_IFREG &&
	       archive_entry_sparse_count(ae) == 0 && archive_entry_size_is_set(ae) &&
	       archive_entry_size(ae) > 0;
}

static int split_file_begin(struct tar_import *t, struct archive_entry *ae)
{
	la_int64_t hp = archive_read_header_position(t->a), dp = archive_filter_bytes(t->a, 0);
	if (hp < 0 || dp < 0)
		return tar_fail(t, CAIRN_E_FORMAT, "tar-split: stream position unknown");
	int r = tar_split_file_begin(t->split, (uint64_t) hp, (uint64_t) dp,
				     (uint64_t) archive_entry_size(ae));
	return r < 0 ? split_fail(t, r) : 0;
}

static int split_file_end(struct tar_import *t, const cairn_entry *e)
{
	la_int64_t consumed = archive_filter_bytes(t->a, 0);
	if (e->type != CAIRN_ENTRY_REG || !e->has_content || consumed < 0)
		return tar_fail(t, CAIRN_E_FORMAT, "tar-split: file data was not stored");
	int r = tar_split_file_end(t->split, &e->content, e->size, (uint64_t) consumed);
	return r < 0 ? split_fail(t, r) : 0;
}

/* Reads the entry's metadata and data; a plain file's data range goes to
 * the split as file data. */
static int read_entry(struct tar_import *t, struct archive_entry *ae, cairn_entry *e, bool whiteout)
{
	bool file = split_is_file(t, ae, whiteout);
	int r = file ? split_file_begin(t, ae) : 0;
	if (r >= 0)
		r = tar_entry_read(t, ae, e, whiteout);
	if (r >= 0 && file)
		r = split_file_end(t, e);
	return r;
}

/* ---- one archive entry ------------------------------------------------------ */

enum entry_kind { KIND_NORMAL, KIND_WHITEOUT, KIND_OPAQUE, KIND_SKIP };

static bool has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t pl = strlen(prefix);
	return len >= pl && memcmp(s, prefix, pl) == 0;
}

/* Looks at the names of a normalized path for whiteout forms; a whiteout
 * becomes the path it deletes (in place). */
static int classify(struct tar_import *t, enum entry_kind *ret)
{
	char *path = (char *) t->path.data;
	char *base = memrchr(path, '/', t->path.len);
	base = base ? base + 1 : path;
	for (const char *p = path; p < base;) {
		const char *slash = strchr(p, '/');
		size_t l = (size_t) (slash - p);
		if (has_prefix(p, l, WHITEOUT_META_PREFIX)) {
			*ret = KIND_SKIP;
			return 0;
		}
		if (has_prefix(p, l, WHITEOUT_PREFIX))
			return tar_fail(t, CAIRN_E_FORMAT, "whiteout used as a directory");
		p = slash + 1;
	}
	size_t bl = t->path.len - (size_t) (base - path);
	*ret = KIND_NORMAL;
	if (bl == strlen(WHITEOUT_OPAQUE) && has_prefix(base, bl, WHITEOUT_OPAQUE))
		*ret = KIND_OPAQUE;
	else if (has_prefix(base, bl, WHITEOUT_META_PREFIX))
		*ret = KIND_SKIP;
	else if (has_prefix(base, bl, WHITEOUT_PREFIX))
		*ret = KIND_WHITEOUT;
	if (*ret != KIND_WHITEOUT)
		return 0;
	const char *name = base + 4;
	if (!*name || strcmp(name, ".") == 0)
		return tar_fail(t, CAIRN_E_FORMAT, "whiteout without a name");
	if (strcmp(name, "..") == 0)
		return tar_fail(t, CAIRN_E_UNSAFE, "whiteout escapes its directory");
	memmove(base, name, strlen(name) + 1);
	t->path.len -= 4;
	return 0;
}

static int resolve_hardlink(struct tar_import *t, const char *target, cairn_entry *e)
{
	_cleanup_(buf_clear) bytebuf norm = {0};
	const char *why;
	int r = tar_path_normalize(target, &norm, &why);
	if (r < 0)
		return r == -ENOMEM ? r : tar_fail(t, r, "hardlink target: %s", why);
	pathmap_slot *s = pathmap_get(&t->map, (const char *) norm.data, norm.len);
	if (norm.len == 0 || !s || s->kind != PATHMAP_ENTRY || entry_is_whiteout(entry_at(t, s))) {
		_cleanup_free_ char *q = quote_name(target, strlen(target));
		return tar_fail(t, CAIRN_E_UNSAFE,
				"hardlink to \"%s\", not an earlier entry of the archive",
				q ? q : "?");
	}
	cairn_entry *target_e = entry_at(t, s);
	if (target_e->type == CAIRN_ENTRY_DIR)
		return tar_fail(t, CAIRN_E_FORMAT, "hardlink to a directory");
	if (!target_e->nlink_group)
		target_e->nlink_group = ++t->groups;
	char *path = e->path;
	*e = *target_e; /* members share everything but the path */
	e->path = path;
	return 0;
}

/* Whether an absolute name is the root directory itself: only "/" and "."
 * components ("/", "/.", "//./").  Some writers name the root so (umoci
 * insert SRC /); it is the root entry, as "./" is.  Every other absolute
 * name stays refused by tar_path_normalize. */
static bool names_root(const char *raw)
{
	if (raw[0] != '/')
		return false;
	for (const char *p = raw; *p;) {
		const char *e = strchrnul(p, '/');
		size_t l = (size_t) (e - p);
		if (l > 1 || (l == 1 && p[0] != '.'))
			return false;
		p = *e ? e + 1 : e;
	}
	return true;
}

static int import_entry(struct tar_import *t, struct archive_entry *ae)
{
	const char *raw = archive_entry_pathname(ae), *why;
	t->cur = raw ? raw : "";
	if (!raw || !*raw)
		return tar_fail(t, CAIRN_E_FORMAT, "empty name");
	int r = tar_path_normalize(names_root(raw) ? "." : raw, &t->path, &why);
	if (r < 0)
		return r == -ENOMEM ? r : tar_fail(t, r, "%s", why);
	enum entry_kind kind;
	r = classify(t, &kind);
	if (r < 0 || kind == KIND_SKIP)
		return r;
	char *path = arena_strndup(&t->lb->arena, (const char *) t->path.data, t->path.len);
	if (!path)
		return -ENOMEM;
	if (kind == KIND_OPAQUE) {
		const char *slash = memrchr(path, '/', t->path.len);
		r = check_parents(t, path, t->path.len);
		return r < 0 ? r : add_opaque(t, path, slash ? (size_t) (slash - path) : 0);
	}
	cairn_entry e = {.path = path};
	const char *hardlink = archive_entry_hardlink(ae);
	if (hardlink && kind == KIND_NORMAL)
		r = resolve_hardlink(t, hardlink, &e);
	else
		r = read_entry(t, ae, &e, kind == KIND_WHITEOUT);
	if (r < 0)
		return r;
	if ((why = layer_entry_invalid(&e)))
		return tar_fail(t, CAIRN_E_FORMAT, "%s", why);
	return place(t, &e);
}

/* libarchive keeps the bytes of names it cannot convert to the locale's
 * charset and only warns: those warnings are harmless here. */
static bool harmless_warning(struct archive *a)
{
	const char *m = archive_error_string(a);
	return m && strstr(m, "can't be converted from") && strstr(m, "current locale");
}

static int import_entries(struct tar_import *t)
{
	for (;;) {
		struct archive_entry *ae;
		int ar = archive_read_next_header(t->a, &ae);
		if (ar == ARCHIVE_EOF)
			return 0;
		if (ar == ARCHIVE_WARN && harmless_warning(t->a))
			ar = ARCHIVE_OK;
		if (ar != ARCHIVE_OK)
			return tar_archive_fail(t, "reading a header");
		int r = import_entry(t, ae);
		la_int64_t consumed = archive_filter_bytes(t->a, 0);
		if (r >= 0 && t->split && consumed > 0 &&
		    (r = tar_split_flush(t->split, (uint64_t) consumed)) < 0)
			r = split_fail(t, r);
		if (r < 0)
			return r;
		t->prev.len = 0;
		if (buf_append(&t->prev, t->cur, strlen(t->cur) + 1) < 0)
			return -ENOMEM;
		t->have_prev = true;
		t->cur = NULL;
	}
}

/* ---- the whole archive ------------------------------------------------------ */

static int synthesize_dir(struct tar_import *t, const char *path, size_t len, ssize_t *ret)
{
	cairn_entry e = {.type = CAIRN_ENTRY_DIR, .mode = 0755, .opaque = true};
	size_t i;
	if (!(e.path = arena_strndup(&t->lb->arena, path, len)))
		return -ENOMEM;
	int r = layer_builder_push(t->lb, &i);
	if (r < 0)
		return r;
	t->lb->entries[i] = e;
	if (ret)
		*ret = (ssize_t) i;
	return len ? pathmap_put(&t->map, e.path, len, PATHMAP_ENTRY, (uint32_t) i, NULL) : 0;
}

static int finish_opaque(struct tar_import *t)
{
	for (size_t k = 0; k < t->n_opaque; k++) {
		const struct opaque_dir *o = &t->opaque[k];
		pathmap_slot *s = pathmap_get(&t->map, o->path, o->len);
		if (s && s->kind == PATHMAP_ENTRY) {
			entry_at(t, s)->opaque = true; /* implied paths only become directories */
			continue;
		}
		int r = synthesize_dir(t, o->path, o->len, NULL);
		if (r < 0)
			return r;
	}
	if (t->root_opaque && t->root >= 0)
		t->lb->entries[t->root].opaque = true;
	else if (t->root_opaque)
		return synthesize_dir(t, "", 0, &t->root);
	return 0;
}

/* With keep_blob and tar_split, the compression decides which one is kept;
 * the raw bytes read to detect it wait in t->pending. */
static int decide_keep(struct tar_import *t, bool *split)
{
	if (!t->blob_undecided)
		return 0;
	t->blob_undecided = false;
	int r = 0;
	if (cairn_reader_compression(t->reader) != CAIRN_COMPRESS_NONE) {
		*split = false;
		r = cairn_content_writer_new(t->batch, &t->blob);
		if (r >= 0 && t->pending.len)
			r = cairn_content_write(t->blob, t->pending.data, t->pending.len);
	}
	buf_clear(&t->pending);
	return r;
}

static int open_pipeline(struct tar_import *t, const struct cairn_tar_import_options *o)
{
	bool split = o->tar_split;
	int r = cairn_layer_builder_new(t->batch, &t->lb);
	if (r >= 0 && o->keep_blob && !split)
		r = cairn_content_writer_new(t->batch, &t->blob);
	if (r < 0)
		return cairn_error_from(t->err, r, "%s", t->name);
	t->blob_undecided = o->keep_blob && split;
	r = cairn_reader_new(raw_read, t, &t->reader);
	if (r == CAIRN_E_FORMAT)
		return tar_fail(t, r, "damaged compressed data");
	if (r < 0)
		return tar_fail(t, r, "read error: %s", cairn_strerror(r));
	r = decide_keep(t, &split);
	if (r >= 0 && split)
		r = tar_split_new(t->batch, &t->split);
	if (r < 0)
		return tar_fail(t, r, "storing: %s", cairn_strerror(r));
	t->buf = malloc(TAR_BUF);
	t->a = archive_read_new();
	if (!t->buf || !t->a)
		return -ENOMEM;
	if (archive_read_support_format_tar(t->a) != ARCHIVE_OK ||
	    archive_read_support_format_empty(t->a) != ARCHIVE_OK)
		return tar_fail(t, -EOPNOTSUPP, "libarchive without tar support");
	if (archive_read_open(t->a, t, NULL, tar_read, NULL) != ARCHIVE_OK)
		return tar_archive_fail(t, "opening");
	return 0;
}

/* Reads the input to its end, so the digests (and the split) cover all of it. */
static int drain(struct tar_import *t)
{
	for (;;) {
		ssize_t n = cairn_reader_read(t->reader, t->buf, TAR_BUF);
		if (n == 0)
			return 0;
		if (n < 0) {
			t->read_error = (int) n;
			return tar_archive_fail(t, "reading");
		}
		int r = t->split ? tar_split_feed(t->split, t->buf, (size_t) n) : 0;
		if (r < 0)
			return split_fail(t, r);
	}
}

static int import_finish(struct tar_import *t, struct cairn_tar_import_result *res)
{
	int r;
	if (t->blob) {
		cairn_content_writer *w = steal_pointer(&t->blob);
		r = cairn_content_writer_finish(w, &res->blob_content, NULL);
		if (r < 0)
			return cairn_error_from(t->err, r, "%s: storing the blob", t->name);
		res->has_blob_content = true;
	}
	cairn_reader_digests(t->reader, &res->blob_digest, &res->blob_size, &res->diff_id,
			     &res->diff_size);
	res->compression = cairn_reader_compression(t->reader);
	if (t->split) {
		r = tar_split_finish(t->split, res->diff_size, &res->tar_split);
		if (r < 0)
			return split_fail(t, r);
		res->has_tar_split = true;
	}
	return 0;
}

static int import_run(struct tar_import *t, const struct cairn_tar_import_options *o,
		      struct cairn_tar_import_result *res)
{
	int r = open_pipeline(t, o);
	if (r >= 0)
		r = import_entries(t);
	if (r >= 0)
		r = drain(t);
	if (r >= 0)
		r = finish_opaque(t);
	if (r < 0)
		return r == -ENOMEM ? cairn_error_from(t->err, r, "%s", t->name) : r;
	r = cairn_layer_builder_finish(steal_pointer(&t->lb), &res->layer, t->err);
	if (r < 0)
		return cairn_error_prefix(t->err, "%s", t->name);
	return import_finish(t, res);
}

int cairn_layer_import_tar(cairn_batch *b, cairn_read_fn fn, void *userdata,
			   const struct cairn_tar_import_options *opts,
			   struct cairn_tar_import_result *ret, cairn_error **err)
{
	struct tar_import t = {
	    .batch = b,
	    .name = opts && opts->name ? opts->name : "tar",
	    .err = err,
	    .fn = fn,
	    .userdata = userdata,
	    .root = -1,
	};
	static const struct cairn_tar_import_options none = {0};
	struct cairn_tar_import_result res = {0};
	int r = import_run(&t, opts ? opts : &none, &res);
	if (t.a)
		archive_read_free(t.a);
	cairn_reader_free(t.reader);
	if (t.blob)
		cairn_content_writer_free(t.blob);
	tar_split_free(t.split);
	buf_clear(&t.pending);
	cairn_layer_builder_free(t.lb);
	pathmap_free(&t.map);
	buf_clear(&t.prev);
	buf_clear(&t.path);
	free(t.opaque);
	free(t.buf);
	if (r < 0)
		return r;
	*ret = res;
	return 0;
}
