/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_SNAPSHOT_INTERNAL_H
#define CAIRN_SNAPSHOT_INTERNAL_H

/*
 * Internals of fs/snapshot: the workspace daemon (daemon.c), its registry
 * and control protocol (registry.c, control.c), and snapshot records
 * (records.c).
 *
 * Registry: ROOT/run/mounts/<key>.json per running workspace (key: the
 * first 32 hex digits of the sha256 of the mount directory's absolute
 * path), written by the daemon once it serves and removed when it exits;
 * <key>.sock is its control socket, <key>.log its stderr.
 *
 * Control protocol: one request per connection, one JSON object per line
 * each way.  Requests: {"op":"commit","name":N}, {"op":"diff"},
 * {"op":"status"}, {"op":"apply","layer":HEX}, {"op":"umount","lazy":B},
 * {"op":"snapshot-commit","name":N}.  Replies: {"ok":true,...} or
 * {"ok":false,"error":MSG,"code":N}.
 */

#include <jansson.h>

#include <cairn/fs.h>
#include <cairn/snapshot.h>

#include "util.h"

#define _cleanup_json_ _cleanup_(json_decrefp)

/* ---- registry (registry.c) ---------------------------------------------- */

struct ws_paths {
	char *dir; /* absolute mount directory */
	char *key;
	char *json, *sock, *log;
};
/* The registry paths of a mount directory (which need not be reachable:
 * a stale mount point is resolved through its parent). */
int ws_paths_get(const char *root, const char *dir, struct ws_paths *ret);
void ws_paths_clear(struct ws_paths *p);
/* The registry record of a directory; -ENOENT when none. */
int ws_record_read(const struct ws_paths *p, json_t **ret);
/* Whether the daemon of a record still runs. */
bool ws_record_alive(json_t *rec);
/* Whether pid runs (and is not a zombie). */
bool pid_running(pid_t pid);
/* Cleans up after a dead daemon: detaches the mount, aborts its FUSE
 * connection, removes its registry files. */
void ws_cleanup_stale(const struct ws_paths *p, json_t *rec);
/* Detaches a FUSE mount on dir whose server is gone (ENOTCONN). */
void ws_detach_if_stale(const char *dir);

/* ---- control (control.c) ----------------------------------------------------- */

/* Sends a request to the daemon serving dir and reads its reply ({"ok":true}
 * or an error, turned into *err). */
int ws_call(const char *root, const char *dir, json_t *req, json_t **ret_reply, cairn_error **err);
/* Reads one line (at most max bytes) from fd; malloc'd, NUL-terminated. */
int ws_read_line(int fd, size_t max, char **ret);
int ws_send_json(int fd, json_t *j);

/* ---- the daemon (daemon.c) --------------------------------------------------------- */

struct ws_spec {
	const char *root;
	const char *image;    /* for workspaces */
	const char *snapshot; /* for snapshot mounts */
	const char *dir;
	bool readonly;
};
/* Forks the daemon and waits until it serves (or failed). */
int ws_spawn(const struct ws_spec *spec, cairn_error **err);

/* ---- snapshot records (records.c) ------------------------------------------------- */

struct snap_rec {
	char *key;
	cairn_snapshot_kind kind;
	char *parent; /* committed snapshot, or NULL */
	char *image;  /* image id the chain came from, or NULL */
	cairn_id *layers;
	size_t n_layers;
	bool has_checkpoint;
	cairn_id checkpoint;
	int64_t created, updated;
};
int snap_get(cairn_store *s, const char *key, struct snap_rec *ret);
int snap_put(cairn_batch *b, const struct snap_rec *r);
int snap_del(cairn_batch *b, const char *key);
void snap_rec_clear(struct snap_rec *r);
/* Stages, in b, the commit of active snapshot key as committed snapshot
 * name whose top layer is layer. */
int snap_stage_commit(cairn_batch *b, const char *key, const char *name, const cairn_id *layer,
		      cairn_error **err);
/* Stages, in b, layer as the checkpoint of active snapshot key. */
int snap_stage_checkpoint(cairn_batch *b, const char *key, const cairn_id *layer);
/* ROOT/snapshots/<sha256(key)[:32]>/rootfs (malloc'd); created with mkdir_p when create. */
int snap_mountpoint(const char *root, const char *key, bool create, char **ret);

/* Layer ids as hex in a JSON array, and back. */
json_t *layers_json(const cairn_id *v, size_t n);
int layers_from_json(json_t *a, cairn_id **ret, size_t *ret_n);

#endif
