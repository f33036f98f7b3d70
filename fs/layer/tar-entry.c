/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tar import, one archive entry at a time: path normalization, metadata,
 * xattrs (incl. POSIX ACLs), symlink targets, devices, and the file data
 * streamed into a store content with sparse regions kept as holes.  Also
 * the error messages of the importer.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <sys/sysmacros.h>

#include "tar-import.h"

/* ---- messages ------------------------------------------------------------ */

int tar_fail(struct tar_import *t, int code, const char *fmt, ...)
{
	_cleanup_free_ char *msg = NULL, *q = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (n < 0)
		return code;
	if (t->cur)
		q = quote_name(t->cur, strlen(t->cur));
	else if (t->have_prev)
		q = quote_name((const char *) t->prev.data, t->prev.len - 1);
	if (q)
		return cairn_error_set(t->err, code, "%s: %s \"%s\": %s", t->name,
				       t->cur ? "entry" : "after entry", q, msg);
	return cairn_error_set(t->err, code, "%s: %s", t->name, msg);
}

int tar_archive_fail(struct tar_import *t, const char *what)
{
	if (t->read_error) {
		const char *m = cairn_reader_error(t->reader);
		if (m || t->read_error == CAIRN_E_FORMAT)
			return tar_fail(t, CAIRN_E_FORMAT, "damaged %s data: %s",
					cairn_compression_name(cairn_reader_compression(t->reader)),
					m ? m : "decompression failed");
		return tar_fail(t, t->read_error, "read error: %s", cairn_strerror(t->read_error));
	}
	if (t->input_eof)
		return tar_fail(t, CAIRN_E_FORMAT, "archive truncated");
	if (archive_errno(t->a) == ENOMEM)
		return tar_fail(t, -ENOMEM, "out of memory");
	const char *m = archive_error_string(t->a);
	if (!t->cur && !t->have_prev && (!m || strstr(m, "Unrecognized archive format")))
		return tar_fail(t, CAIRN_E_FORMAT, "not a tar archive");
	return tar_fail(t, CAIRN_E_FORMAT, "%s: %s", what, m ? m : "damaged archive");
}

/* ---- paths --------------------------------------------------------------- */

int tar_path_normalize(const char *in, bytebuf *out, const char **why)
{
	out->len = 0;
	if (in[0] == '/') {
		*why = "absolute path";
		return CAIRN_E_UNSAFE;
	}
	for (const char *p = in; *p;) {
		const char *e = strchrnul(p, '/');
		size_t l = (size_t) (e - p);
		if (l == 2 && p[0] == '.' && p[1] == '.') {
			*why =
			    out->len ? "path contains a \"..\" component" : "path escapes the root";
			return CAIRN_E_UNSAFE;
		}
		if (l > LAYER_NAME_MAX) {
			*why = "name too long";
			return CAIRN_E_FORMAT;
		}
		if (l > 0 && !(l == 1 && p[0] == '.')) {
			if ((out->len && buf_put_u8(out, '/') < 0) || buf_append(out, p, l) < 0)
				return -ENOMEM;
			if (out->len > LAYER_PATH_MAX) {
				*why = "path too long";
				return CAIRN_E_FORMAT;
			}
		}
		p = *e ? e + 1 : e;
	}
	if (buf_put_u8(out, 0) < 0)
		return -ENOMEM;
	out->len--;
	return 0;
}

/* ---- metadata ------------------------------------------------------------ */

static int entry_type(struct archive_entry *ae, uint8_t *ret)
{
	switch (archive_entry_filetype(ae)) {
	case AE_IFREG:
		*ret = CAIRN_ENTRY_REG;
		return 0;
	case AE_IFDIR:
		*ret = CAIRN_ENTRY_DIR;
		return 0;
	case AE_IFLNK:
		*ret = CAIRN_ENTRY_SYMLINK;
		return 0;
	case AE_IFCHR:
		*ret = CAIRN_ENTRY_CHR;
		return 0;
	case AE_IFBLK:
		*ret = CAIRN_ENTRY_BLK;
		return 0;
	case AE_IFIFO:
		*ret = CAIRN_ENTRY_FIFO;
		return 0;
	case AE_IFSOCK:
		*ret = CAIRN_ENTRY_SOCK;
		return 0;
	default:
		return CAIRN_E_FORMAT;
	}
}

static int entry_meta(struct tar_import *t, struct archive_entry *ae, cairn_entry *e)
{
	la_int64_t uid = archive_entry_uid(ae), gid = archive_entry_gid(ae);
	if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
		return tar_fail(t, CAIRN_E_FORMAT, "uid or gid out of range");
	e->uid = (uint32_t) uid;
	e->gid = (uint32_t) gid;
	e->mode = archive_entry_perm(ae) & 07777;
	if (archive_entry_mtime_is_set(ae)) {
		int64_t sec = archive_entry_mtime(ae);
		long nsec = archive_entry_mtime_nsec(ae);
		if (nsec < 0 || nsec > 999999999)
			return tar_fail(t, CAIRN_E_FORMAT, "mtime out of range");
		/* libarchive reads PAX "-1.25" as -1 s + 0.25; POSIX means -1.25 s */
		if (sec < 0 && nsec > 0) {
			sec -= 1;
			nsec = 1000000000 - nsec;
		}
		e->mtime_sec = sec;
		e->mtime_nsec = (uint32_t) nsec;
	}
	if (e->type == CAIRN_ENTRY_CHR || e->type == CAIRN_ENTRY_BLK)
		e->rdev = makedev(archive_entry_rdevmajor(ae), archive_entry_rdevminor(ae));
	if (e->type == CAIRN_ENTRY_SYMLINK) {
		const char *l = archive_entry_symlink(ae);
		size_t len = l ? strlen(l) : 0;
		if (len == 0 || len > LAYER_LINK_MAX)
			return tar_fail(t, CAIRN_E_FORMAT, "%s symlink target",
					len ? "too long" : "empty");
		if (!(e->link = arena_strndup(&t->lb->arena, l, len)))
			return -ENOMEM;
	}
	return 0;
}

/* ---- xattrs -------------------------------------------------------------- */

static int xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const cairn_xattr *) a)->name, ((const cairn_xattr *) b)->name);
}

static int xattr_add(struct tar_import *t, cairn_entry *e, const char *name, const void *value,
		     size_t len)
{
	size_t nl = strlen(name);
	if (nl == 0 || nl > LAYER_XATTR_NAME_MAX || strchr(name, '='))
		return tar_fail(t, CAIRN_E_FORMAT, "invalid xattr name");
	if (len > LAYER_XATTR_VALUE_MAX)
		return tar_fail(t, CAIRN_E_FORMAT, "xattr %s: value too large", name);
	cairn_xattr *x = &e->xattrs[e->n_xattrs];
	x->name = arena_strndup(&t->lb->arena, name, nl);
	x->value = arena_memdup(&t->lb->arena, value, len);
	x->len = len;
	if (!x->name || !x->value)
		return -ENOMEM;
	e->n_xattrs++;
	return 0;
}

static bool has_xattr(const cairn_entry *e, const char *name)
{
	for (size_t i = 0; i < e->n_xattrs; i++)
		if (strcmp(e->xattrs[i].name, name) == 0)
			return true;
	return false;
}

static int entry_acls(struct tar_import *t, struct archive_entry *ae, cairn_entry *e)
{
	_cleanup_free_ void *acc = NULL, *def = NULL;
	size_t acc_len, def_len;
	/* GNU tar --acls --xattrs writes both the text form (names, maybe no
	 * ids) and the kernel's binary xattrs: the binary form is exact. */
	bool acc_text = archive_entry_acl_count(ae, ARCHIVE_ENTRY_ACL_TYPE_ACCESS) > 3;
	bool def_text = archive_entry_acl_count(ae, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT) > 0;
	if ((acc_text || def_text) && (!acc_text || has_xattr(e, "system.posix_acl_access")) &&
	    (!def_text || has_xattr(e, "system.posix_acl_default"))) {
		layer_acl_mask_mode(ae, &e->mode);
		return 0;
	}
	int r = layer_acl_to_xattrs(ae, &e->mode, &acc, &acc_len, &def, &def_len);
	if (r == -ENOENT)
		return tar_fail(t, CAIRN_E_FORMAT,
				"POSIX ACL names a user or group without a "
				"numeric id (write the tar with --xattrs or numeric ids)");
	if (r < 0)
		return r == -ENOMEM ? r : tar_fail(t, r, "unusable POSIX ACL");
	/* a raw xattr from the same archive entry wins */
	if (acc && !has_xattr(e, "system.posix_acl_access"))
		r = xattr_add(t, e, "system.posix_acl_access", acc, acc_len);
	if (r >= 0 && def && !has_xattr(e, "system.posix_acl_default"))
		r = xattr_add(t, e, "system.posix_acl_default", def, def_len);
	return r;
}

static int entry_xattrs(struct tar_import *t, struct archive_entry *ae, cairn_entry *e)
{
	int n = archive_entry_xattr_reset(ae);
	if (n < 0 || n > LAYER_XATTRS_MAX)
		return tar_fail(t, CAIRN_E_FORMAT, "too many xattrs");
	e->xattrs = arena_alloc(&t->lb->arena, ((size_t) n + 2) * sizeof(*e->xattrs));
	if (!e->xattrs)
		return -ENOMEM;
	const char *name;
	const void *value;
	size_t len;
	int r = 0;
	while (r >= 0 && archive_entry_xattr_next(ae, &name, &value, &len) == ARCHIVE_OK)
		r = xattr_add(t, e, name, value, len);
	if (r >= 0)
		r = entry_acls(t, ae, e);
	if (r < 0)
		return r;
	if (e->n_xattrs == 0) {
		e->xattrs = NULL;
		return 0;
	}
	/* bsdtar writes each xattr twice (LIBARCHIVE.xattr and SCHILY.xattr):
	 * equal copies are one xattr, different values are an error */
	qsort(e->xattrs, e->n_xattrs, sizeof(*e->xattrs), xattr_cmp);
	size_t kept = 1;
	for (size_t i = 1; i < e->n_xattrs; i++) {
		cairn_xattr *a = &e->xattrs[kept - 1], *b = &e->xattrs[i];
		if (strcmp(a->name, b->name) != 0)
			e->xattrs[kept++] = *b;
		else if (a->len != b->len || memcmp(a->value, b->value, a->len) != 0)
			return tar_fail(t, CAIRN_E_FORMAT,
					"xattr %s given twice with different values", b->name);
	}
	e->n_xattrs = kept;
	return 0;
}

/* ---- content ------------------------------------------------------------- */

/* Data blocks come with their offsets: gaps are holes (GNU and PAX sparse
 * entries), and so is whatever is missing up to the size. */
static int content_stream(struct tar_import *t, cairn_content_writer *w, uint64_t size)
{
	uint64_t pos = 0;
	for (;;) {
		const void *p;
		size_t n;
		la_int64_t off;
		int ar = archive_read_data_block(t->a, &p, &n, &off);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK)
			return tar_archive_fail(t, "reading data");
		if (off < 0 || (uint64_t) off < pos || (uint64_t) off > size ||
		    n > size - (uint64_t) off)
			return tar_fail(t, CAIRN_E_FORMAT,
					"data outside the file (damaged sparse map)");
		int r = 0;
		if ((uint64_t) off > pos)
			r = cairn_content_hole(w, (uint64_t) off - pos);
		if (r >= 0 && n)
			r = cairn_content_write(w, p, n);
		if (r < 0)
			return tar_fail(t, r, "storing data: %s", cairn_strerror(r));
		pos = (uint64_t) off + n;
	}
	if (pos < size) {
		int r = cairn_content_hole(w, size - pos);
		if (r < 0)
			return tar_fail(t, r, "storing data: %s", cairn_strerror(r));
	}
	return 0;
}

static int entry_content(struct tar_import *t, struct archive_entry *ae, cairn_entry *e)
{
	la_int64_t size = archive_entry_size_is_set(ae) ? archive_entry_size(ae) : 0;
	if (size < 0)
		return tar_fail(t, CAIRN_E_FORMAT, "negative size");
	e->size = (uint64_t) size;
	e->has_content = size > 0;
	if (!e->has_content)
		return 0;
	cairn_content_writer *w = NULL;
	int r = cairn_content_writer_new(t->batch, &w);
	if (r < 0)
		return tar_fail(t, r, "storing data: %s", cairn_strerror(r));
	r = content_stream(t, w, e->size);
	if (r < 0) {
		cairn_content_writer_free(w);
		return r;
	}
	uint64_t got = 0;
	r = cairn_content_writer_finish(w, &e->content, &got);
	if (r < 0)
		return tar_fail(t, r, "storing data: %s", cairn_strerror(r));
	if (got != e->size)
		return tar_fail(t, -EIO, "stored %" PRIu64 " of %" PRIu64 " bytes", got, e->size);
	return 0;
}

int tar_entry_read(struct tar_import *t, struct archive_entry *ae, cairn_entry *e, bool whiteout)
{
	if (whiteout) {
		e->type = CAIRN_ENTRY_WHITEOUT; /* whatever the archive's type: metadata only */
		return entry_meta(t, ae, e);
	}
	if (entry_type(ae, &e->type) < 0)
		return tar_fail(t, CAIRN_E_FORMAT, "unsupported entry type");
	int r = entry_meta(t, ae, e);
	if (r >= 0)
		r = entry_xattrs(t, ae, e);
	if (r >= 0 && e->type == CAIRN_ENTRY_REG)
		r = entry_content(t, ae, e);
	return r;
}
