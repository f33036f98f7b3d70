/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_FS_H
#define CAIRN_FS_H

/*
 * The cairn filesystem: a writable overlay over a chain of immutable
 * layers, served through FUSE.
 *
 * A cairn_fs is built from layers (bottom first) merged in memory: every
 * entry becomes an inode with its metadata; file data stays in the store
 * and is materialised on first open into the content cache (ROOT/cache),
 * from where reads are served and kept in the kernel's page cache.  Writes
 * go to upper files (ROOT/tmp/fs-XXXXXX, one per written inode), metadata
 * changes stay in memory.  The base is the tree as of the last commit (or
 * the layers); cairn_fs_commit() records what differs from it as one new
 * layer and makes it the new base, while the filesystem stays mounted.
 *
 * Uncommitted changes live in the process that serves the filesystem: they
 * are gone when it exits or is killed (the store is never left
 * inconsistent).  fsync() therefore returns without forcing data to disk;
 * a commit is what makes changes durable.
 *
 * Threads: the FUSE session runs on its own threads; the functions below
 * may be called from any thread.  Commit freezes changes while it runs
 * (operations that change the tree wait), reads go on.
 */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <cairn/error.h>
#include <cairn/layer.h>
#include <cairn/store.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cairn_fs cairn_fs;

struct cairn_fs_options {
	bool readonly; /* EROFS for every change */
	unsigned max_threads; /* FUSE worker threads, 0 = default (10) */
	bool debug;	      /* libfuse request log on stderr */
	/* Commits record mtimes later than mtime_clamp as mtime_clamp
	 * (SOURCE_DATE_EPOCH, as BuildKit's rewrite-timestamp). */
	bool clamp_mtime;
	int64_t mtime_clamp;
};

/* Builds the tree of layers[0..n) (bottom first; n == 0: an empty root).
 * opts may be NULL.  Nothing is mounted yet. */
int cairn_fs_new(cairn_store *s, const cairn_id *layers, size_t n,
		 const struct cairn_fs_options *opts, cairn_fs **ret, cairn_error **err);
/* Unmounts if needed and frees everything (the upper directory too). */
void cairn_fs_free(cairn_fs *fs);

/* Mounts at dir (an existing directory) and serves on background threads. */
int cairn_fs_mount(cairn_fs *fs, const char *dir, cairn_error **err);
/* Unmounts.  flags: CAIRN_FS_UMOUNT_* ; -EBUSY when the mount is in use
 * (unless LAZY). */
enum {
	CAIRN_FS_UMOUNT_LAZY = 1u << 0,
};
int cairn_fs_unmount(cairn_fs *fs, unsigned flags);
/* Blocks until the filesystem is unmounted (by cairn_fs_unmount or by
 * anyone calling umount on it).  Returns 0. */
int cairn_fs_wait(cairn_fs *fs);
/* A file descriptor that becomes readable once the filesystem has been
 * unmounted (for poll loops; owned by fs). */
int cairn_fs_wait_fd(cairn_fs *fs);
/* The mount point (NULL when not mounted). */
const char *cairn_fs_mountpoint(const cairn_fs *fs);

/* The layer chain of the base (bottom first; valid until the next commit). */
size_t cairn_fs_layers(const cairn_fs *fs, const cairn_id **ret_layers);
/* Whether anything changed since the base (cheap). */
bool cairn_fs_changed(cairn_fs *fs);

/* ---- commit -------------------------------------------------------------- */

struct cairn_fs_commit_result {
	cairn_id layer;
	cairn_digest diff_id; /* sha256 of the layer's canonical tar export */
	uint64_t diff_size;
	uint64_t entries;     /* entries of the new layer (whiteouts included) */
	uint64_t new_files;   /* regular files whose data was stored */
	uint64_t new_bytes;   /* bytes of their data */
	uint64_t reused_files; /* regular files re-recorded with a known content (metadata changes, renames) */
};

/* Records the changes since the base as a layer staged in batch b (its
 * contents, table and layer record; nothing is visible until b commits).
 * Changes are frozen from here until cairn_fs_commit_end().  Flushes the
 * kernel's dirty pages first when mounted. */
int cairn_fs_commit_begin(cairn_fs *fs, cairn_batch *b, struct cairn_fs_commit_result *ret,
			  cairn_error **err);
/* Ends a commit: with done (b committed successfully) the new layer becomes
 * the base, else the base stays as it was.  Unfreezes. */
void cairn_fs_commit_end(cairn_fs *fs, bool done);

/* ---- changes --------------------------------------------------------------- */

typedef enum cairn_change_kind {
	CAIRN_CHANGE_ADD = 'A',
	CAIRN_CHANGE_MODIFY = 'C',
	CAIRN_CHANGE_DELETE = 'D',
} cairn_change_kind;

/* Calls fn for every change since the base in canonical order, like
 * `docker diff`: "/path" (absolute form) with A (added), C (changed, and
 * every directory above a change), D (deleted; only the top of a deleted
 * subtree).  A non-zero return from fn stops the walk and is returned. */
typedef int (*cairn_change_fn)(cairn_change_kind kind, const char *path, void *userdata);
int cairn_fs_diff(cairn_fs *fs, cairn_change_fn fn, void *userdata, cairn_error **err);

/* Applies a layer (whiteouts, opaque directories, entries) to the tree as
 * changes, as if they had been made through the mount: they show at once
 * and the next commit records them.  The layer must be in the store. */
int cairn_fs_apply(cairn_fs *fs, const cairn_id *layer, cairn_error **err);

/* ---- usage ------------------------------------------------------------------ */

struct cairn_fs_usage {
	uint64_t inodes;      /* inodes in the tree */
	uint64_t upper_files; /* inodes with an upper data file */
	uint64_t upper_bytes; /* bytes allocated by upper data files */
};
int cairn_fs_usage(cairn_fs *fs, struct cairn_fs_usage *ret);

/* Removes content-cache files (ROOT/cache) of contents not in live (NULL:
 * all of them); open files keep their data.  Returns the bytes freed or a
 * negative error. */
int64_t cairn_fs_cache_prune(cairn_store *s, const cairn_idset *live);
/* Removes upper directories (ROOT/tmp/fs-*) that no running filesystem
 * owns (left by killed processes).  Returns how many. */
int cairn_fs_cleanup_stale(cairn_store *s);
/* The upper directory of fs, and the removal of one whose filesystem is
 * gone (1 if removed, 0 if it is in use). */
const char *cairn_fs_upper_dir(const cairn_fs *fs);
int cairn_fs_remove_upper(const char *path);

#ifdef __cplusplus
}
#endif
#endif
