/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FUSE operations on extended attributes.  Names and permissions are
 * checked by the kernel (user.* only on files and directories, trusted.*
 * and security.* for the privileged); POSIX ACLs keep the mode in step
 * (acl.c).
 */
#include <sys/xattr.h>

#include "ops.h"

/* The namespaces a local filesystem knows (ext4: EOPNOTSUPP for others,
 * EINVAL for a namespace prefix alone). */
static int name_check(const char *name)
{
	static const char *const ns[] = {"user.", "trusted.", "security."};
	for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
		size_t l = strlen(ns[i]);
		if (strncmp(name, ns[i], l) == 0)
			return name[l] ? 0 : -EINVAL;
	}
	if (strcmp(name, ACL_ACCESS) == 0 || strcmp(name, ACL_DEFAULT) == 0)
		return 0;
	return -EOPNOTSUPP;
}

/* Replies with a copy of value (size 0: only its length). */
static void reply_value(fuse_req_t req, const void *value, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	cairn_fs *fs = fuse_req_userdata(req);
	int r = name_check(name);
	if (r < 0)
		return (void) fuse_reply_err(req, -r);
	pthread_mutex_lock(&fs->lock);
	const cairn_xattr *x = node_xattr_get(fs_node(fs, ino), name);
	size_t len = x ? x->len : 0;
	_cleanup_free_ void *v = x ? malloc(len ? len : 1) : NULL;
	if (v)
		memcpy(v, x->value, len);
	pthread_mutex_unlock(&fs->lock);
	if (!x)
		return (void) fuse_reply_err(req, ENODATA);
	if (!v)
		return (void) fuse_reply_err(req, ENOMEM);
	reply_value(req, v, len, size);
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	cairn_fs *fs = fuse_req_userdata(req);
	bytebuf b = {0};
	int r = 0;
	/* trusted.* is listed only to the privileged (CAP_SYS_ADMIN: root) */
	bool trusted = fuse_req_ctx(req)->uid == 0;
	pthread_mutex_lock(&fs->lock);
	struct node *n = fs_node(fs, ino);
	for (uint32_t i = 0; r >= 0 && i < n->n_xattrs; i++)
		if (trusted || strncmp(n->xattrs[i].name, "trusted.", 8) != 0)
			r = buf_append(&b, n->xattrs[i].name, strlen(n->xattrs[i].name) + 1);
	pthread_mutex_unlock(&fs->lock);
	if (r < 0)
		fuse_reply_err(req, -r);
	else
		reply_value(req, b.data, b.len, size);
	buf_clear(&b);
}

static int set_xattr(struct node *n, const char *name, const void *value, size_t size, int flags)
{
	bool access = strcmp(name, ACL_ACCESS) == 0, def = strcmp(name, ACL_DEFAULT) == 0;
	if (!access && !def)
		return node_xattr_set(n, name, value, size, flags);
	if ((flags & XATTR_CREATE) && node_xattr_get(n, name))
		return -EEXIST;
	if ((flags & XATTR_REPLACE) && !node_xattr_get(n, name))
		return -ENODATA;
	if (access)
		return acl_set_access(n, value, size);
	if (!node_is_dir(n))
		return -EACCES;
	int r = acl_check(value, size);
	return r < 0 ? r : node_xattr_set(n, name, value, size, 0);
}

static void change_xattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags)
{
	cairn_fs *fs = fuse_req_userdata(req);
	int r = name_check(name);
	if (r >= 0)
		r = mutate_begin(fs);
	if (r < 0)
		return (void) fuse_reply_err(req, -r);
	struct node *n = fs_node(fs, ino);
	bool acl = strcmp(name, ACL_ACCESS) == 0 || strcmp(name, ACL_DEFAULT) == 0;
	if (!value && acl && !node_xattr_get(n, name)) {
		mutate_end(fs); /* removing an ACL that is not there succeeds (ext4) */
		return (void) fuse_reply_err(req, 0);
	}
	r = value ? set_xattr(n, name, value, size, flags) : node_xattr_set(n, name, NULL, 0, 0);
	/* setting an access ACL drops S_ISGID for a caller outside the
	 * group (posix_acl_update_mode; the kernel would say so only through
	 * FUSE_SETXATTR_ACL_KILL_SGID, which libfuse 3.14 does not pass on) */
	if (r >= 0 && value && strcmp(name, ACL_ACCESS) == 0 && !req_in_group(req, n->gid))
		n->mode &= ~(uint32_t) S_ISGID;
	if (r >= 0) {
		node_touch_ctime(n);
		n->flags |= N_DIRTY_META | N_DIRTY_ATTR;
		fs_changed(fs);
	}
	mutate_end(fs);
	fuse_reply_err(req, -r);
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		 int flags)
{
	change_xattr(req, ino, name, value ? value : "", size, flags);
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	change_xattr(req, ino, name, NULL, 0, 0);
}
