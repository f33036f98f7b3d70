/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Layer entries: canonical order, validity rules, copies.
 */
#include "layer-internal.h"

/* ---- order -------------------------------------------------------------- */

/* End of string < '/' < every other byte: a path sorts right before its
 * children, and a name before its extensions ("a" < "a/x" < "a.b"). */
static inline int order_byte(unsigned char c)
{
	return c == 0 ? 0 : c == '/' ? 1 : (int) c + 2;
}

int layer_order(const char *a, bool a_whiteout, const char *b, bool b_whiteout)
{
	if (!*a || !*b)
		return (*a != 0) - (*b != 0); /* the root first */
	size_t i = 0;
	while (a[i] && a[i] == b[i])
		i++;
	if (a[i] == b[i]) /* same path: the whiteout first (a layer holds only one) */
		return a_whiteout == b_whiteout ? 0 : a_whiteout ? -1 : 1;
	/* one path is the other's ancestor */
	if (a[i] == 0 && b[i] == '/')
		return -1;
	if (b[i] == 0 && a[i] == '/')
		return 1;
	/* siblings differ at this component: whiteouts come first */
	bool ga = a_whiteout && !strchr(a + i, '/');
	bool gb = b_whiteout && !strchr(b + i, '/');
	if (ga != gb)
		return ga ? -1 : 1;
	return order_byte((unsigned char) a[i]) - order_byte((unsigned char) b[i]);
}

int cairn_path_compare(const char *a, const char *b)
{
	return layer_order(a, false, b, false);
}

int cairn_entry_compare(const cairn_entry *a, const cairn_entry *b)
{
	return layer_order(a->path, entry_is_whiteout(a), b->path, entry_is_whiteout(b));
}

const cairn_entry *layer_find_exact(const cairn_entry *entries, size_t n, const char *path,
				    bool whiteout)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const cairn_entry *e = &entries[mid];
		int c = layer_order(path, whiteout, e->path, entry_is_whiteout(e));
		if (c == 0)
			return e;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* A path is stored at most once, either as a whiteout or not. */
const cairn_entry *layer_find(const cairn_entry *entries, size_t n, const char *path)
{
	const cairn_entry *e = layer_find_exact(entries, n, path, false);
	if (!e)
		e = layer_find_exact(entries, n, path, true);
	return e;
}

/* ---- validity ------------------------------------------------------------ */

const char *layer_path_invalid(const char *path, size_t len)
{
	if (len == 0)
		return NULL; /* the root */
	if (len > LAYER_PATH_MAX)
		return "path too long";
	if (memchr(path, 0, len))
		return "NUL byte in path";
	if (path[0] == '/')
		return "absolute path";
	const char *p = path, *end = path + len;
	while (p <= end) {
		const char *slash = memchr(p, '/', (size_t) (end - p));
		const char *ce = slash ? slash : end;
		size_t cl = (size_t) (ce - p);
		if (cl == 0)
			return "empty path component";
		if ((cl == 1 && p[0] == '.') || (cl == 2 && p[0] == '.' && p[1] == '.'))
			return "\".\" or \"..\" in path";
		if (cl > LAYER_NAME_MAX)
			return "name too long";
		if (cl >= 4 && memcmp(p, WHITEOUT_PREFIX, 4) == 0)
			return "name starts with .wh. (reserved for whiteouts)";
		if (!slash)
			break;
		p = slash + 1;
	}
	return NULL;
}

static const char *xattrs_invalid(const cairn_entry *e)
{
	if (e->n_xattrs > LAYER_XATTRS_MAX)
		return "too many xattrs";
	for (size_t i = 0; i < e->n_xattrs; i++) {
		const cairn_xattr *x = &e->xattrs[i];
		size_t nl = x->name ? strlen(x->name) : 0;
		if (nl == 0 || nl > LAYER_XATTR_NAME_MAX || strchr(x->name, '='))
			return "invalid xattr name";
		if (x->len > LAYER_XATTR_VALUE_MAX || (x->len && !x->value))
			return "xattr value too large";
		if (i > 0 && strcmp(e->xattrs[i - 1].name, x->name) >= 0)
			return "xattrs not sorted or duplicated";
	}
	return NULL;
}

static const char *type_fields_invalid(const cairn_entry *e)
{
	bool is_reg = e->type == CAIRN_ENTRY_REG;
	if (e->type < CAIRN_ENTRY_REG || e->type > CAIRN_ENTRY_WHITEOUT)
		return "unknown entry type";
	if (e->opaque && e->type != CAIRN_ENTRY_DIR)
		return "opaque flag on a non-directory";
	if (!is_reg && (e->size || e->has_content))
		return "size on a non-regular entry";
	if (is_reg && e->has_content != (e->size > 0))
		return "content does not match size";
	if ((e->type == CAIRN_ENTRY_SYMLINK) != (e->link != NULL))
		return "link target on a non-symlink";
	if (e->link && (strlen(e->link) > LAYER_LINK_MAX))
		return "symlink target too long";
	if (e->rdev && e->type != CAIRN_ENTRY_CHR && e->type != CAIRN_ENTRY_BLK)
		return "device number on a non-device";
	if (e->nlink_group && (e->type == CAIRN_ENTRY_DIR || e->type == CAIRN_ENTRY_WHITEOUT))
		return "hardlinked directory or whiteout";
	if (e->type == CAIRN_ENTRY_WHITEOUT && !e->path[0])
		return "whiteout of the root";
	if (e->type == CAIRN_ENTRY_WHITEOUT && e->n_xattrs)
		return "xattrs on a whiteout";
	if (!e->path[0] && e->type != CAIRN_ENTRY_DIR)
		return "root is not a directory";
	return NULL;
}

const char *layer_entry_invalid(const cairn_entry *e)
{
	if (!e->path)
		return "no path";
	const char *why = layer_path_invalid(e->path, strlen(e->path));
	if (!why)
		why = type_fields_invalid(e);
	if (!why && e->mode > 07777)
		why = "mode has bits beyond 07777";
	if (!why && e->mtime_nsec >= 1000000000u)
		why = "nanoseconds out of range";
	if (!why)
		why = xattrs_invalid(e);
	return why;
}

bool layer_entry_same_inode(const cairn_entry *a, const cairn_entry *b)
{
	if (a->type != b->type || a->mode != b->mode || a->uid != b->uid || a->gid != b->gid ||
	    a->mtime_sec != b->mtime_sec || a->mtime_nsec != b->mtime_nsec || a->size != b->size ||
	    a->rdev != b->rdev || a->has_content != b->has_content || a->n_xattrs != b->n_xattrs)
		return false;
	if (a->has_content && memcmp(&a->content, &b->content, sizeof(a->content)) != 0)
		return false;
	if ((a->link || b->link) && (!a->link || !b->link || strcmp(a->link, b->link) != 0))
		return false;
	for (size_t i = 0; i < a->n_xattrs; i++) {
		const cairn_xattr *x = &a->xattrs[i], *y = &b->xattrs[i];
		if (strcmp(x->name, y->name) != 0 || x->len != y->len ||
		    (x->len && memcmp(x->value, y->value, x->len) != 0))
			return false;
	}
	return true;
}

/* ---- copies ---------------------------------------------------------------- */

int layer_entry_copy(arena *a, cairn_entry *dst, const cairn_entry *src)
{
	cairn_entry e = *src;
	e.path = arena_strndup(a, src->path, strlen(src->path));
	if (!e.path)
		return -ENOMEM;
	if (src->link && !(e.link = arena_strndup(a, src->link, strlen(src->link))))
		return -ENOMEM;
	if (src->n_xattrs) {
		e.xattrs = arena_alloc(a, src->n_xattrs * sizeof(*e.xattrs));
		if (!e.xattrs)
			return -ENOMEM;
		for (size_t i = 0; i < src->n_xattrs; i++) {
			const cairn_xattr *x = &src->xattrs[i];
			cairn_xattr *y = &e.xattrs[i];
			y->name = arena_strndup(a, x->name, strlen(x->name));
			y->value = arena_memdup(a, x->value, x->len);
			y->len = x->len;
			if (!y->name || !y->value)
				return -ENOMEM;
		}
	} else {
		e.xattrs = NULL;
	}
	*dst = e;
	return 0;
}

void cairn_entry_clear(cairn_entry *e)
{
	if (!e)
		return;
	free(e->path);
	free(e->link);
	for (size_t i = 0; i < e->n_xattrs; i++) {
		free(e->xattrs[i].name);
		free(e->xattrs[i].value);
	}
	free(e->xattrs);
	*e = (cairn_entry){0};
}
