/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POSIX ACLs from tar: libarchive parses SCHILY.acl.access/default (GNU
 * tar --acls, bsdtar) into its ACL model; this turns them back into the
 * kernel's system.posix_acl_access/_default xattr values, so the layer
 * keeps them as xattrs like every other tar writer's raw form.
 *
 * Value format (linux/posix_acl_xattr.h, little-endian): u32 version = 2,
 * then entries {u16 tag, u16 perm, u32 id} sorted by tag, then id.
 */
#include <archive.h>
#include <archive_entry.h>

#include "layer-internal.h"

#define ACL_XATTR_VERSION 2
#define ACL_UNDEFINED_ID 0xffffffffu
#define ACL_MAX_ENTRIES ((LAYER_XATTR_VALUE_MAX - 4) / 8)

enum {
	ACL_USER_OBJ = 0x01,
	ACL_USER = 0x02,
	ACL_GROUP_OBJ = 0x04,
	ACL_GROUP = 0x08,
	ACL_MASK = 0x10,
	ACL_OTHER = 0x20,
};

static const struct {
	int archive_tag;
	uint16_t tag;
} acl_tags[] = {
    {ARCHIVE_ENTRY_ACL_USER_OBJ, ACL_USER_OBJ},	  {ARCHIVE_ENTRY_ACL_USER, ACL_USER},
    {ARCHIVE_ENTRY_ACL_GROUP_OBJ, ACL_GROUP_OBJ}, {ARCHIVE_ENTRY_ACL_GROUP, ACL_GROUP},
    {ARCHIVE_ENTRY_ACL_MASK, ACL_MASK},		  {ARCHIVE_ENTRY_ACL_OTHER, ACL_OTHER},
};

struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

static int acl_ent_cmp(const void *a, const void *b)
{
	const struct acl_ent *x = a, *y = b;
	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int acl_read(struct archive_entry *ae, int type, struct acl_ent *ents, size_t *ret_n)
{
	int atype, perm, tag, id;
	const char *name;
	size_t n = 0;
	while (archive_entry_acl_next(ae, type, &atype, &perm, &tag, &id, &name) == ARCHIVE_OK) {
		size_t k;
		for (k = 0; k < ARRAY_SIZE(acl_tags) && acl_tags[k].archive_tag != tag; k++)
			;
		if (k == ARRAY_SIZE(acl_tags) || n == ACL_MAX_ENTRIES)
			return CAIRN_E_FORMAT;
		uint16_t t = acl_tags[k].tag;
		bool named = t == ACL_USER || t == ACL_GROUP;
		if (named && id < 0)
			return -ENOENT; /* a name without a numeric id */
		ents[n++] = (struct acl_ent){t, (uint16_t) (perm & 7),
					     named ? (uint32_t) id : ACL_UNDEFINED_ID};
	}
	*ret_n = n;
	return 0;
}

/* One ACL type as an xattr value; *ret_len = 0 when the entry has none. */
static int acl_to_xattr(struct archive_entry *ae, int type, void **ret, size_t *ret_len,
			int *ret_mask)
{
	*ret = NULL;
	*ret_len = 0;
	int count = archive_entry_acl_reset(ae, type);
	if (count <= (type == ARCHIVE_ENTRY_ACL_TYPE_ACCESS ? 3 : 0))
		return 0;
	if (count > ACL_MAX_ENTRIES)
		return CAIRN_E_FORMAT;
	_cleanup_free_ struct acl_ent *ents = calloc((size_t) count, sizeof(*ents));
	if (!ents)
		return -ENOMEM;
	size_t n = 0;
	int r = acl_read(ae, type, ents, &n);
	if (r < 0)
		return r;
	qsort(ents, n, sizeof(*ents), acl_ent_cmp);
	uint8_t *v = malloc(4 + 8 * n);
	if (!v)
		return -ENOMEM;
	v[0] = ACL_XATTR_VERSION, v[1] = v[2] = v[3] = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t *p = v + 4 + 8 * i;
		if (i > 0 && acl_ent_cmp(&ents[i - 1], &ents[i]) == 0) {
			free(v);
			return CAIRN_E_FORMAT; /* duplicate entry */
		}
		if (ents[i].tag == ACL_MASK)
			*ret_mask = ents[i].perm;
		p[0] = (uint8_t) ents[i].tag, p[1] = (uint8_t) (ents[i].tag >> 8);
		p[2] = (uint8_t) ents[i].perm, p[3] = 0;
		for (int b = 0; b < 4; b++)
			p[4 + b] = (uint8_t) (ents[i].id >> (8 * b));
	}
	*ret = v;
	*ret_len = 4 + 8 * n;
	return 0;
}

int layer_acl_to_xattrs(struct archive_entry *ae, uint32_t *mode, void **ret_access,
			size_t *ret_access_len, void **ret_default, size_t *ret_default_len)
{
	int mask = -1, dmask = -1;
	int r = acl_to_xattr(ae, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, ret_access, ret_access_len, &mask);
	if (r < 0)
		return r;
	r = acl_to_xattr(ae, ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, ret_default, ret_default_len, &dmask);
	if (r < 0) {
		free(*ret_access);
		*ret_access = NULL;
		return r;
	}
	/* libarchive put the "group::" permissions into the mode; with a mask,
	 * the mode's group bits are the mask (as stat shows, and as the tar
	 * header had them). */
	if (mask >= 0)
		*mode = (*mode & ~070u) | ((uint32_t) mask << 3);
	return 0;
}

void layer_acl_mask_mode(struct archive_entry *ae, uint32_t *mode)
{
	int atype, perm, tag, id;
	const char *name;
	archive_entry_acl_reset(ae, ARCHIVE_ENTRY_ACL_TYPE_ACCESS);
	while (archive_entry_acl_next(ae, ARCHIVE_ENTRY_ACL_TYPE_ACCESS, &atype, &perm, &tag, &id,
				      &name) == ARCHIVE_OK)
		if (tag == ARCHIVE_ENTRY_ACL_MASK)
			*mode = (*mode & ~070u) | ((uint32_t) (perm & 7) << 3);
}
