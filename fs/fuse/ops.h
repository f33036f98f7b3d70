/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_FS_OPS_H
#define CAIRN_FS_OPS_H

/* The FUSE handlers of fs/fuse, split over ops-*.c, and what they share.
 * Each handler decodes, does the work under the locks (fs-internal.h)
 * and replies exactly once. */

#include "fs-internal.h"

void fs_stat(cairn_fs *fs, struct node *n, struct stat *st);
/* Replies with an entry for n (one more kernel reference); fs->lock is
 * held on entry and released before the reply. */
void reply_entry_locked(fuse_req_t req, cairn_fs *fs, struct node *n);
/* The caller is root or has gid among its groups. */
bool req_in_group(fuse_req_t req, gid_t gid);
bool req_drops_sgid(fuse_req_t req, uint32_t mode, gid_t gid);
/* Changes: -EROFS on a read-only fs, else fs->freeze shared + fs->lock. */
int mutate_begin(cairn_fs *fs);
void mutate_end(cairn_fs *fs);
/* A new node named name in parent, owned by the caller (setgid directories
 * and default ACLs applied).  Caller holds mutate_begin. */
int new_child(fuse_req_t req, fuse_ino_t parent, const char *name, uint32_t mode, dev_t rdev,
	      const char *link, struct node **ret);

/* session.c */
void op_init(void *userdata, struct fuse_conn_info *conn);
void op_destroy(void *userdata);
/* ops-file.c */
void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi);
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *bufv, off_t off,
		  struct fuse_file_info *fi);
void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset, off_t length,
		  struct fuse_file_info *fi);
void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);
/* ops-dir.c */
void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);
/* ops-xattr.c */
void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		 int flags);
void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
