/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * POSIX ACLs as a filesystem with FUSE_POSIX_ACL must keep them: the
 * kernel checks permissions against them and caches them, the filesystem
 * keeps the mode and the access ACL in step (setting an ACL sets the
 * mode's group bits from the mask, chmod sets the mask; an ACL equivalent
 * to the mode is not kept) and inherits default ACLs into new files and
 * directories (then the umask does not apply), as the kernel does for
 * local filesystems (posix_acl_update_mode, posix_acl_chmod,
 * posix_acl_create).
 *
 * Values are the kernel's xattr form: le32 version 2, then entries of
 * le16 tag, le16 perm, le32 id.
 */
#include <endian.h>

#include "fs-internal.h"

#define ACL_VERSION 2
enum {
	TAG_USER_OBJ = 0x01,
	TAG_USER = 0x02,
	TAG_GROUP_OBJ = 0x04,
	TAG_GROUP = 0x08,
	TAG_MASK = 0x10,
	TAG_OTHER = 0x20,
};

struct acl_ent {
	uint16_t tag, perm;
	uint32_t id;
};

#define ACL_MAX 1024

static int acl_parse(const void *value, size_t len, struct acl_ent *v, size_t *ret_n)
{
	const uint8_t *p = value;
	if (len < 4 || (len - 4) % 8 != 0 || (len - 4) / 8 > ACL_MAX)
		return -EINVAL;
	uint32_t ver;
	memcpy(&ver, p, 4);
	if (le32toh(ver) != ACL_VERSION)
		return -EINVAL;
	size_t n = (len - 4) / 8;
	for (size_t i = 0; i < n; i++) {
		uint16_t tag, perm;
		uint32_t id;
		memcpy(&tag, p + 4 + 8 * i, 2);
		memcpy(&perm, p + 6 + 8 * i, 2);
		memcpy(&id, p + 8 + 8 * i, 4);
		v[i] = (struct acl_ent){le16toh(tag), le16toh(perm), le32toh(id)};
	}
	*ret_n = n;
	return 0;
}

static size_t acl_encode(const struct acl_ent *v, size_t n, uint8_t *out)
{
	uint32_t ver = htole32(ACL_VERSION);
	memcpy(out, &ver, 4);
	for (size_t i = 0; i < n; i++) {
		uint16_t tag = htole16(v[i].tag), perm = htole16(v[i].perm);
		uint32_t id = htole32(v[i].id);
		memcpy(out + 4 + 8 * i, &tag, 2);
		memcpy(out + 6 + 8 * i, &perm, 2);
		memcpy(out + 8 + 8 * i, &id, 4);
	}
	return 4 + 8 * n;
}

/* posix_acl_valid: one owner, group and other entry, a mask when there
 * are named entries, tags in order, named ids ascending. */
static int acl_valid(const struct acl_ent *v, size_t n)
{
	int seen[0x21] = {0};
	int named = 0;
	uint16_t last_tag = 0;
	uint32_t last_id = 0;
	for (size_t i = 0; i < n; i++) {
		uint16_t t = v[i].tag;
		if ((t != TAG_USER_OBJ && t != TAG_USER && t != TAG_GROUP_OBJ && t != TAG_GROUP &&
		     t != TAG_MASK && t != TAG_OTHER) ||
		    (v[i].perm & ~7u) || t < last_tag)
			return -EINVAL;
		if (t == TAG_USER || t == TAG_GROUP) {
			if (t == last_tag && v[i].id <= last_id)
				return -EINVAL;
			named++;
		} else if (seen[t]) {
			return -EINVAL;
		}
		seen[t]++;
		last_tag = t;
		last_id = v[i].id;
	}
	if (!seen[TAG_USER_OBJ] || !seen[TAG_GROUP_OBJ] || !seen[TAG_OTHER] ||
	    (named && !seen[TAG_MASK]))
		return -EINVAL;
	return 0;
}

int acl_check(const void *value, size_t len)
{
	_cleanup_free_ struct acl_ent *v = malloc(ACL_MAX * sizeof(*v));
	size_t n;
	if (!v)
		return -ENOMEM;
	int r = acl_parse(value, len, v, &n);
	return r < 0 ? r : acl_valid(v, n);
}

static struct acl_ent *acl_find(struct acl_ent *v, size_t n, uint16_t tag)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].tag == tag)
			return &v[i];
	return NULL;
}

int acl_set_access(struct node *n, const void *value, size_t len)
{
	_cleanup_free_ struct acl_ent *v = malloc(ACL_MAX * sizeof(*v));
	size_t cnt;
	if (!v)
		return -ENOMEM;
	int r = acl_parse(value, len, v, &cnt);
	if (r >= 0)
		r = acl_valid(v, cnt);
	if (r < 0)
		return r;
	struct acl_ent *mask = acl_find(v, cnt, TAG_MASK);
	uint32_t u = acl_find(v, cnt, TAG_USER_OBJ)->perm;
	uint32_t g = (mask ? mask : acl_find(v, cnt, TAG_GROUP_OBJ))->perm;
	uint32_t o = acl_find(v, cnt, TAG_OTHER)->perm;
	n->mode = (n->mode & ~0777u) | u << 6 | g << 3 | o;
	if (cnt == 3) { /* equivalent to the mode */
		r = node_xattr_set(n, ACL_ACCESS, NULL, 0, 0);
		return r == -ENODATA ? 0 : r;
	}
	return node_xattr_set(n, ACL_ACCESS, value, len, 0);
}

int acl_chmod(struct node *n)
{
	const cairn_xattr *x = node_xattr_get(n, ACL_ACCESS);
	if (!x)
		return 0;
	_cleanup_free_ struct acl_ent *v = malloc(ACL_MAX * sizeof(*v));
	_cleanup_free_ uint8_t *out = malloc(4 + 8 * ACL_MAX);
	size_t cnt;
	if (!v || !out)
		return -ENOMEM;
	if (acl_parse(x->value, x->len, v, &cnt) < 0 || acl_valid(v, cnt) < 0)
		return 0; /* not ours to repair */
	struct acl_ent *mask = acl_find(v, cnt, TAG_MASK);
	acl_find(v, cnt, TAG_USER_OBJ)->perm = (n->mode >> 6) & 7;
	(mask ? mask : acl_find(v, cnt, TAG_GROUP_OBJ))->perm = (n->mode >> 3) & 7;
	acl_find(v, cnt, TAG_OTHER)->perm = n->mode & 7;
	size_t len = acl_encode(v, cnt, out);
	return node_xattr_set(n, ACL_ACCESS, out, len, 0);
}

/* posix_acl_create_masq: the new access ACL and mode from the default
 * ACL and the requested mode; returns whether the ACL says more than the
 * mode. */
static bool create_masq(struct acl_ent *v, size_t n, uint32_t *mode)
{
	uint32_t m = *mode;
	struct acl_ent *group = NULL, *mask = NULL;
	bool extended = false;
	for (size_t i = 0; i < n; i++) {
		struct acl_ent *e = &v[i];
		switch (e->tag) {
		case TAG_USER_OBJ:
			e->perm &= (m >> 6) & 7;
			m &= (uint32_t) (e->perm << 6) | ~0700u;
			break;
		case TAG_USER:
		case TAG_GROUP:
			extended = true;
			break;
		case TAG_GROUP_OBJ:
			group = e;
			break;
		case TAG_OTHER:
			e->perm &= m & 7;
			m &= e->perm | ~0007u;
			break;
		case TAG_MASK:
			mask = e;
			extended = true;
			break;
		}
	}
	struct acl_ent *g = mask ? mask : group;
	if (g) {
		g->perm &= (m >> 3) & 7;
		m &= (uint32_t) (g->perm << 3) | ~0070u;
	}
	*mode = m;
	return extended;
}

int acl_inherit(const struct node *parent, struct node *child, mode_t umask)
{
	const cairn_xattr *def = node_xattr_get(parent, ACL_DEFAULT);
	if (!def) {
		child->mode &= ~((uint32_t) umask & 0777u);
		return 0;
	}
	if (S_ISLNK(child->mode))
		return 0;
	_cleanup_free_ struct acl_ent *v = malloc(ACL_MAX * sizeof(*v));
	_cleanup_free_ uint8_t *out = malloc(4 + 8 * ACL_MAX);
	size_t cnt;
	if (!v || !out)
		return -ENOMEM;
	if (acl_parse(def->value, def->len, v, &cnt) < 0 || acl_valid(v, cnt) < 0) {
		child->mode &= ~((uint32_t) umask & 0777u);
		return 0;
	}
	int r = 0;
	if (S_ISDIR(child->mode))
		r = node_xattr_set(child, ACL_DEFAULT, def->value, def->len, 0);
	if (r >= 0 && create_masq(v, cnt, &child->mode))
		r = node_xattr_set(child, ACL_ACCESS, out, acl_encode(v, cnt, out), 0);
	return r;
}
