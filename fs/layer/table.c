/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Serialized forms of a layer: the entry table (stored as a content, its
 * id is the layer id) and the summary record in CAIRN_T_LAYERS.
 *
 * Table, version 1 (varints are LEB128, as buf_put_varint):
 *
 *   u8 version = 1, varint count, then count entries in canonical order:
 *     varint shared      bytes of the path shared with the previous entry
 *     bytes  suffix      varint length + the rest of the path
 *     u8     type        cairn_entry_type
 *     u8     flags       bit 0: opaque (directories only); others zero
 *     varint group       hardlink group, 0 = none; groups are numbered
 *                        1, 2, ... in order of their first member
 *   a later member of a group stops here (it shares everything else with
 *   the group's first member); every other entry continues:
 *     varint mode, uid, gid
 *     varint zigzag(mtime_sec), varint mtime_nsec
 *     REG:      varint size, then 16 bytes content id when size > 0
 *     SYMLINK:  bytes target
 *     CHR, BLK: varint rdev
 *     varint n_xattrs, then per xattr (sorted by name): bytes name, bytes value
 *
 * Every table has exactly one encoding, so equal layers have equal ids.
 *
 * Record, version 1: u8 version = 1, 16 bytes table id, varint entries,
 * varint file_bytes.
 */
#include "layer-internal.h"

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t) v << 1) ^ (uint64_t) (v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t) (v >> 1) ^ -(int64_t) (v & 1);
}

static size_t shared_prefix(const char *a, const char *b)
{
	size_t i = 0;
	while (a[i] && a[i] == b[i])
		i++;
	return i;
}

static int encode_inode(bytebuf *o, const cairn_entry *e)
{
	int r = 0;
	r |= buf_put_varint(o, e->mode);
	r |= buf_put_varint(o, e->uid);
	r |= buf_put_varint(o, e->gid);
	r |= buf_put_varint(o, zigzag(e->mtime_sec));
	r |= buf_put_varint(o, e->mtime_nsec);
	if (e->type == CAIRN_ENTRY_REG) {
		r |= buf_put_varint(o, e->size);
		if (e->size)
			r |= buf_append(o, e->content.b, CAIRN_ID_LEN);
	} else if (e->type == CAIRN_ENTRY_SYMLINK) {
		r |= buf_put_bytes(o, e->link, strlen(e->link));
	} else if (e->type == CAIRN_ENTRY_CHR || e->type == CAIRN_ENTRY_BLK) {
		r |= buf_put_varint(o, e->rdev);
	}
	r |= buf_put_varint(o, e->n_xattrs);
	for (size_t i = 0; i < e->n_xattrs; i++) {
		r |= buf_put_bytes(o, e->xattrs[i].name, strlen(e->xattrs[i].name));
		r |= buf_put_bytes(o, e->xattrs[i].value, e->xattrs[i].len);
	}
	return r ? -ENOMEM : 0;
}

int layer_table_encode(const cairn_entry *entries, size_t n, bytebuf *out)
{
	int r = buf_put_u8(out, LAYER_TABLE_VERSION);
	r |= buf_put_varint(out, n);
	const char *prev = "";
	uint32_t groups = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		const cairn_entry *e = &entries[i];
		size_t shared = shared_prefix(prev, e->path);
		r |= buf_put_varint(out, shared);
		r |= buf_put_bytes(out, e->path + shared, strlen(e->path + shared));
		r |= buf_put_u8(out, e->type);
		r |= buf_put_u8(out, e->opaque ? 1 : 0);
		r |= buf_put_varint(out, e->nlink_group);
		prev = e->path;
		if (e->nlink_group && e->nlink_group <= groups)
			continue; /* a later member of a group */
		if (e->nlink_group)
			groups = e->nlink_group;
		r |= encode_inode(out, e);
	}
	return r ? -ENOMEM : 0;
}

/* ---- decoding ----------------------------------------------------------- */

struct table_decoder {
	cursor c;
	arena *a;
	const char *why;
};

#define BAD(d, msg)                                                                                \
	do {                                                                                       \
		(d)->why = (msg);                                                                  \
		return CAIRN_E_CORRUPT;                                                            \
	} while (0)

/* Varints must be minimal: one encoding per table. */
static int dec_varint(struct table_decoder *d, uint64_t max, uint64_t *ret)
{
	const uint8_t *start = d->c.p;
	if (cur_varint(&d->c, ret) < 0)
		BAD(d, "truncated");
	if (d->c.p - start > 1 && d->c.p[-1] == 0)
		BAD(d, "non-minimal number");
	if (d->c.p - start == 10 && d->c.p[-1] > 1)
		BAD(d, "number too large"); /* bits beyond 64 */
	if (*ret > max)
		BAD(d, "number out of range");
	return 0;
}

static int dec_bytes(struct table_decoder *d, size_t max, const void **ret, size_t *ret_len)
{
	uint64_t len;
	int r = dec_varint(d, max, &len);
	if (r < 0)
		return r;
	if (cur_raw(&d->c, (size_t) len, ret) < 0)
		BAD(d, "truncated");
	*ret_len = (size_t) len;
	return 0;
}

static int dec_string(struct table_decoder *d, size_t max, char **ret, size_t *ret_len)
{
	const void *p;
	size_t len;
	int r = dec_bytes(d, max, &p, &len);
	if (r < 0)
		return r;
	if (memchr(p, 0, len))
		BAD(d, "bad string");
	*ret = arena_strndup(d->a, p, len);
	if (!*ret)
		return -ENOMEM;
	if (ret_len)
		*ret_len = len;
	return 0;
}

static int dec_xattrs(struct table_decoder *d, cairn_entry *e)
{
	uint64_t n;
	int r = dec_varint(d, LAYER_XATTRS_MAX, &n);
	if (r < 0 || n == 0)
		return r;
	e->xattrs = arena_alloc(d->a, n * sizeof(*e->xattrs));
	if (!e->xattrs)
		return -ENOMEM;
	e->n_xattrs = n;
	for (size_t i = 0; i < n; i++) {
		cairn_xattr *x = &e->xattrs[i];
		const void *v;
		r = dec_string(d, LAYER_XATTR_NAME_MAX, &x->name, NULL);
		if (r < 0)
			return r;
		r = dec_bytes(d, LAYER_XATTR_VALUE_MAX, &v, &x->len);
		if (r < 0)
			return r;
		if (!(x->value = arena_memdup(d->a, v, x->len)))
			return -ENOMEM;
	}
	return 0;
}

static int dec_inode(struct table_decoder *d, cairn_entry *e)
{
	uint64_t v[5];
	int r = 0;
	r = r ?: dec_varint(d, 07777, &v[0]);
	r = r ?: dec_varint(d, UINT32_MAX, &v[1]);
	r = r ?: dec_varint(d, UINT32_MAX, &v[2]);
	r = r ?: dec_varint(d, UINT64_MAX, &v[3]);
	r = r ?: dec_varint(d, 999999999, &v[4]);
	if (r < 0)
		return r;
	e->mode = (uint32_t) v[0];
	e->uid = (uint32_t) v[1];
	e->gid = (uint32_t) v[2];
	e->mtime_sec = unzigzag(v[3]);
	e->mtime_nsec = (uint32_t) v[4];
	if (e->type == CAIRN_ENTRY_REG) {
		const void *id;
		r = dec_varint(d, INT64_MAX, &e->size);
		if (r < 0)
			return r;
		e->has_content = e->size > 0;
		if (e->has_content && cur_raw(&d->c, CAIRN_ID_LEN, &id) < 0)
			BAD(d, "truncated");
		if (e->has_content)
			memcpy(e->content.b, id, CAIRN_ID_LEN);
	} else if (e->type == CAIRN_ENTRY_SYMLINK) {
		r = dec_string(d, LAYER_LINK_MAX, &e->link, NULL);
	} else if (e->type == CAIRN_ENTRY_CHR || e->type == CAIRN_ENTRY_BLK) {
		r = dec_varint(d, UINT64_MAX, &e->rdev);
	}
	return r < 0 ? r : dec_xattrs(d, e);
}

struct group_state {
	size_t first;
	uint32_t members;
};

static int dec_path(struct table_decoder *d, const char *prev, size_t prev_len, cairn_entry *e)
{
	uint64_t shared;
	const void *suffix;
	size_t slen;
	int r = dec_varint(d, prev_len, &shared);
	if (r >= 0)
		r = dec_bytes(d, LAYER_PATH_MAX, &suffix, &slen);
	if (r < 0)
		return r;
	if (shared + slen > LAYER_PATH_MAX)
		BAD(d, "path too long");
	/* the shared prefix is the longest one */
	if (shared < prev_len && slen > 0 && ((const char *) suffix)[0] == prev[shared])
		BAD(d, "non-canonical path prefix");
	char *p = arena_alloc(d->a, shared + slen + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, prev, shared);
	memcpy(p + shared, suffix, slen);
	p[shared + slen] = 0;
	if (memchr(suffix, 0, slen))
		BAD(d, "NUL byte in path");
	e->path = p;
	return 0;
}

static int dec_entry(struct table_decoder *d, cairn_entry *entries, size_t i,
		     struct group_state *groups, uint32_t *n_groups)
{
	cairn_entry *e = &entries[i];
	const char *prev = i ? entries[i - 1].path : "";
	uint8_t type, flags;
	uint64_t group;
	int r = dec_path(d, prev, strlen(prev), e);
	if (r < 0)
		return r;
	if (cur_u8(&d->c, &type) < 0 || cur_u8(&d->c, &flags) < 0)
		BAD(d, "truncated");
	if (flags & ~1u)
		BAD(d, "unknown flags");
	e->type = type;
	e->opaque = flags & 1;
	if ((r = dec_varint(d, (uint64_t) *n_groups + 1, &group)) < 0)
		return r;
	e->nlink_group = (uint32_t) group;
	if (group && group <= *n_groups) {
		/* later member: everything but the path comes from the first */
		const cairn_entry *f = &entries[groups[group].first];
		if (f->type != type || e->opaque)
			BAD(d, "hardlink group members differ");
		char *path = e->path;
		*e = *f;
		e->path = path;
		groups[group].members++;
		return 0;
	}
	if (group) {
		*n_groups = (uint32_t) group;
		groups[group] = (struct group_state){i, 1};
	}
	return dec_inode(d, e);
}

static int check_entries(struct table_decoder *d, const cairn_entry *entries, size_t n,
			 const struct group_state *groups, uint32_t n_groups)
{
	for (size_t i = 0; i < n; i++) {
		const cairn_entry *e = &entries[i];
		const char *why = layer_entry_invalid(e);
		if (why)
			BAD(d, why);
		if (i > 0 && cairn_entry_compare(&entries[i - 1], e) >= 0)
			BAD(d, "entries out of order");
		if (entry_is_whiteout(e) && layer_find_exact(entries, n, e->path, false))
			BAD(d, "path both whiteout and entry");
	}
	for (uint32_t g = 1; g <= n_groups; g++)
		if (groups[g].members < 2)
			BAD(d, "hardlink group with one member");
	return 0;
}

int layer_table_decode(const void *data, size_t len, arena *a, cairn_entry **ret_entries,
		       size_t *ret_n, const char **ret_why)
{
	struct table_decoder d = {.c = {data, (const uint8_t *) data + len}, .a = a};
	uint8_t version;
	uint64_t n;
	int r = 0;
	if (cur_u8(&d.c, &version) < 0 || version != LAYER_TABLE_VERSION) {
		*ret_why = "unknown table version";
		return CAIRN_E_CORRUPT;
	}
	/* every entry takes at least 5 bytes: bounds the allocation */
	if (dec_varint(&d, len / 5, &n) < 0) {
		*ret_why = d.why;
		return CAIRN_E_CORRUPT;
	}
	_cleanup_free_ cairn_entry *entries = calloc(n ? n : 1, sizeof(*entries));
	_cleanup_free_ struct group_state *groups = calloc(n / 2 + 2, sizeof(*groups));
	if (!entries || !groups)
		return -ENOMEM;
	uint32_t n_groups = 0;
	for (size_t i = 0; i < n && r >= 0; i++) {
		if (n_groups > n / 2)
			break;
		r = dec_entry(&d, entries, i, groups, &n_groups);
	}
	if (r >= 0 && n_groups > n / 2)
		d.why = "too many hardlink groups", r = CAIRN_E_CORRUPT;
	if (r >= 0 && d.c.p != d.c.end)
		d.why = "trailing bytes", r = CAIRN_E_CORRUPT;
	if (r >= 0)
		r = check_entries(&d, entries, n, groups, n_groups);
	if (r < 0) {
		*ret_why = d.why ? d.why : "out of memory";
		return r;
	}
	*ret_entries = steal_pointer(&entries);
	*ret_n = n;
	return 0;
}

/* ---- record ------------------------------------------------------------- */

int layer_record_encode(const struct cairn_layer_info *info, bytebuf *out)
{
	int r = buf_put_u8(out, LAYER_RECORD_VERSION);
	r |= buf_append(out, info->table.b, CAIRN_ID_LEN);
	r |= buf_put_varint(out, info->entries);
	r |= buf_put_varint(out, info->file_bytes);
	return r ? -ENOMEM : 0;
}

int layer_record_decode(const void *data, size_t len, struct cairn_layer_info *ret)
{
	cursor c = {data, (const uint8_t *) data + len};
	struct cairn_layer_info info;
	uint8_t version;
	const void *id;
	if (cur_u8(&c, &version) < 0 || version != LAYER_RECORD_VERSION ||
	    cur_raw(&c, CAIRN_ID_LEN, &id) < 0 || cur_varint(&c, &info.entries) < 0 ||
	    cur_varint(&c, &info.file_bytes) < 0 || c.p != c.end)
		return CAIRN_E_CORRUPT;
	memcpy(info.table.b, id, CAIRN_ID_LEN);
	*ret = info;
	return 0;
}
