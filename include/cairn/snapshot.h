/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_SNAPSHOT_H
#define CAIRN_SNAPSHOT_H

/*
 * Workspaces and snapshots: cairn filesystems served by a background
 * daemon process, and containerd's snapshotter model on top of them.
 *
 * Workspaces (`cairn mount IMAGE DIR`): a daemon mounts the image's root
 * filesystem at DIR and serves it until `cairn umount DIR`; commit records
 * the changes as a new image on top, diff lists them.  A workspace is
 * found by its directory; the daemon answers on a unix socket under
 * ROOT/run/mounts (only to its own user and root).  A daemon that died
 * leaves a stale mount, which unmount (and a new mount on the same
 * directory) cleans up.
 *
 * Snapshots (containerd semantics): committed snapshots are immutable
 * layer chains; an active snapshot is a writable filesystem on a parent
 * (a committed snapshot, or an image), a view a read-only one.  Active
 * snapshots are mounted on demand (cairn_snapshot_mounts) under
 * ROOT/snapshots; when one is unmounted its changes so far are kept as a
 * checkpoint layer and come back at the next mount.  Commit turns an
 * active snapshot into a committed one (one new layer).
 *
 * Functions return >= 0 on success, a negative errno / CAIRN_E_* with
 * *err set on failure.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cairn/error.h>
#include <cairn/fs.h>
#include <cairn/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- workspaces ----------------------------------------------------------- */

struct cairn_mount_options {
	bool readonly;
};
/* Mounts image ("scratch" or NULL: empty) at dir in a new daemon; returns
 * when it serves.  root is the store directory (the daemon opens its own). */
int cairn_workspace_mount(const char *root, const char *image, const char *dir,
			  const struct cairn_mount_options *opts, cairn_error **err);

enum {
	CAIRN_UMOUNT_LAZY = 1u << 0, /* detach even when busy */
};
/* Unmounts and stops the daemon (or cleans up after a dead one).
 * *ret_discarded (may be NULL): uncommitted changes were thrown away. */
int cairn_workspace_unmount(const char *root, const char *dir, unsigned flags,
			    bool *ret_discarded, cairn_error **err);

/* Commits the workspace's changes as image name (may be NULL: untagged) on
 * top of the workspace's image; the workspace goes on from the new image. */
int cairn_workspace_commit(const char *root, const char *dir, const char *name, char **ret_id,
			   struct cairn_fs_commit_result *ret, cairn_error **err);

/* The workspace's changes since its image (or last commit). */
int cairn_workspace_diff(const char *root, const char *dir, cairn_change_fn fn, void *userdata,
			 cairn_error **err);

struct cairn_mount_info {
	char *dir;
	char *image;	/* as given to mount ("scratch" for none) */
	char *image_id; /* the image commits stack on (NULL for scratch) */
	char *snapshot; /* key, for snapshot mounts */
	pid_t pid;
	bool readonly;
	bool stale; /* the daemon is gone */
};
typedef int (*cairn_mount_fn)(const struct cairn_mount_info *m, void *userdata);
int cairn_workspace_list(const char *root, cairn_mount_fn fn, void *userdata, cairn_error **err);

/* ---- snapshots --------------------------------------------------------------- */

typedef enum cairn_snapshot_kind {
	CAIRN_SNAPSHOT_VIEW = 1,
	CAIRN_SNAPSHOT_ACTIVE = 2,
	CAIRN_SNAPSHOT_COMMITTED = 3,
} cairn_snapshot_kind;

const char *cairn_snapshot_kind_name(cairn_snapshot_kind k); /* "View", "Active", "Committed" */

struct cairn_snapshot_info {
	char *key;
	char *parent; /* committed snapshot key, or NULL */
	char *image;  /* image id the chain starts from, or NULL */
	cairn_snapshot_kind kind;
	int64_t created, updated;
	size_t layers; /* committed: its layers; active/view: the parent's */
	bool mounted;
	char *mountpoint; /* when mounted */
};
void cairn_snapshot_info_clear(struct cairn_snapshot_info *i);

/* parent: a committed snapshot key, an image (name or id), or NULL. */
int cairn_snapshot_prepare(cairn_store *s, const char *key, const char *parent, cairn_error **err);
int cairn_snapshot_view(cairn_store *s, const char *key, const char *parent, cairn_error **err);
/* Mounts the snapshot if it is not mounted and gives the directory. */
int cairn_snapshot_mounts(cairn_store *s, const char *key, char **ret_dir, cairn_error **err);
/* Unmounts (an active snapshot keeps its changes as a checkpoint). */
int cairn_snapshot_unmount(cairn_store *s, const char *key, cairn_error **err);
/* Active key -> committed name (key is gone afterwards). */
int cairn_snapshot_commit(cairn_store *s, const char *name, const char *key, cairn_error **err);
/* Removes a snapshot; a committed one only without children. */
int cairn_snapshot_remove(cairn_store *s, const char *key, cairn_error **err);
int cairn_snapshot_stat(cairn_store *s, const char *key, struct cairn_snapshot_info *ret,
			cairn_error **err);
typedef int (*cairn_snapshot_fn)(const struct cairn_snapshot_info *i, void *userdata);
int cairn_snapshot_walk(cairn_store *s, cairn_snapshot_fn fn, void *userdata, cairn_error **err);

struct cairn_snapshot_usage {
	uint64_t size;	 /* bytes the snapshot adds (its layer / its changes) */
	uint64_t inodes; /* entries it adds */
};
int cairn_snapshot_usage(cairn_store *s, const char *key, struct cairn_snapshot_usage *ret,
			 cairn_error **err);
/* Writes the snapshot's changes relative to its parent as an uncompressed
 * OCI layer tar to path ("-": stdout). */
int cairn_snapshot_diff(cairn_store *s, const char *key, const char *path, cairn_error **err);
/* Applies an OCI layer tar (any compression) to an active snapshot. */
int cairn_snapshot_apply(cairn_store *s, const char *key, const char *path, cairn_error **err);

/* For prune: adds every layer that snapshots and running workspaces use
 * to layers. */
int cairn_snapshot_mark(cairn_store *s, cairn_idset *layers, cairn_error **err);
/* For fsck: reports every layer a snapshot or workspace needs that is not
 * in the store ("snapshot \"k\": layer <id> missing"); returns the count. */
int cairn_snapshot_check(cairn_store *s, cairn_report_fn report, void *userdata,
			 cairn_error **err);

#ifdef __cplusplus
}
#endif
#endif
