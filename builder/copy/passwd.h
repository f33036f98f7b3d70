/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_COPY_PASSWD_H
#define CAIRN_COPY_PASSWD_H

/*
 * User and group names resolved through a root filesystem's /etc/passwd
 * and /etc/group (opened inside root_fd: symlinks cannot leave it), parsed
 * as runc's libcontainer/user (moby/sys/user) does: one entry a line,
 * white space around a line trimmed, fields split at ':', a bad number
 * reads as 0, the first match wins.  A missing file has no entries.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <cairn/error.h>

/* The passwd entry named name: its uid and primary gid.  -ENOENT with
 * "unable to find user NAME: no matching entries in passwd file". */
int copy_lookup_user(int root_fd, const char *name, uid_t *ret_uid, gid_t *ret_gid,
		     cairn_error **err);

/* The group entry named name.  -ENOENT with "unable to find group NAME: no
 * matching entries in group file". */
int copy_lookup_group(int root_fd, const char *name, gid_t *ret_gid, cairn_error **err);

/* A --chown value as BuildKit resolves it (llb.WithUser + the file op's
 * readUser): "user[:group]", each part a decimal id (or "root": 0) or a
 * name.  A numeric user alone gives uid:uid; a name gives its passwd uid
 * and primary gid; a group part overrides the gid; ":group" is 0:group.
 * Unknown names are 0 (user) or leave the gid (group) unless strict, when
 * they fail as copy_lookup_user/group do. */
int copy_resolve_chown(int root_fd, const char *spec, bool strict, uid_t *ret_uid, gid_t *ret_gid,
		       cairn_error **err);

/* A USER value as BuildKit's executor resolves it (oci.GetUser, then
 * user.GetExecUser): "uid:gid" with both numeric needs no files; else the
 * user is looked up by name or, if numeric, by uid (an unknown numeric uid
 * is fine, an unknown name is not); an explicit group by name or gid; with
 * no explicit group, the primary gid and, as supplementary groups, every
 * group that lists the user by name.  "" is 0:0.  *ret_groups is malloc'd
 * (NULL when there are none).  Errors: "unable to find user x: no matching
 * entries in passwd file", "unable to find group x: no matching entries in
 * group file", "uids and gids must be in range 0-2147483647". */
int copy_lookup_user_groups(int root_fd, const char *user_spec, uid_t *ret_uid, gid_t *ret_gid,
			    gid_t **ret_groups, size_t *ret_n_groups, cairn_error **err);

#endif
