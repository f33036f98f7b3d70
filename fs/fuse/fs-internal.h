/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_FS_INTERNAL_H
#define CAIRN_FS_INTERNAL_H

/*
 * Internals of the cairn filesystem (fs/fuse).
 *
 * Model.  Every file is a `struct node` in memory: type, mode, owner,
 * size, times, xattrs, symlink target, and where its data lives.  A
 * directory node has a `struct dir`: its entries in insertion order (a
 * removed entry leaves a hole, so readdir offsets stay valid while the
 * directory changes) with a hash index by name.  Nodes from the layers
 * point at their layer entry (name, xattrs, link target, content id stay
 * in the layers' memory until they change).  The FUSE inode number of a
 * node is its address (FUSE_ROOT_ID for the root); st_ino is node->ino, a
 * counter never reused within a mount.
 *
 * Data of a regular file is one of: nothing (size 0), a content in the
 * store (node->content: materialised into the content cache on open),
 * or an upper file (N_UPPER: ROOT/tmp/fs-XXXXXX/<ino>).  N_DIRTY_DATA says
 * the upper file differs from node->content (so a commit stores it).
 *
 * The base is the tree of the last commit (or of the layers): a sorted
 * array of (path, ino, type) in canonical order (`struct base`).  A
 * commit compares the current tree with it path by path.
 *
 * Locks.  fs->lock (mutex) guards the tree and every node's metadata;
 * handlers hold it for microseconds and never across I/O.  fs->freeze
 * (rwlock): handlers that change anything hold it shared, commit holds it
 * exclusively, so changes wait while a commit reads the tree and the
 * upper files (reads go on).  A file's data state (fds, copy-up) is
 * guarded by its struct fdata's mutex, taken before fs->lock.
 */

#define FUSE_USE_VERSION 312

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>

#include <cairn/fs.h>
#include <cairn/layer.h>
#include <cairn/store.h>

#include "util.h"

DEFINE_CLEANUP_FUNC(cairn_layer, cairn_layer_free)
DEFINE_CLEANUP_FUNC(cairn_batch, cairn_batch_free)

enum {
	N_DIRTY_META = 1u << 0, /* metadata differs from the base */
	N_DIRTY_DATA = 1u << 1, /* the upper file differs from node->content */
	N_UPPER = 1u << 2,	/* an upper data file exists */
	N_XATTR_OWN = 1u << 3,	/* xattrs are malloc'd */
	N_LINK_OWN = 1u << 4,	/* link is malloc'd */
	N_MARK = 1u << 5,	/* commit: every path of this node goes into the layer */
	N_CONTENT = 1u << 6,	/* node->content is valid */
	N_DIRTY_ATTR = 1u << 7, /* mode, owner, xattrs or times set explicitly (not as a side effect) */
	N_STORED = 1u << 8,	/* commit: its data went into the layer as node->content */
	N_BLOCKS = 1u << 9,	/* blocks is known for node->content */
	N_KEPT = 1u << 10,	/* in fs->kept: its data (and descriptor) stays open */
};

struct dir;
struct fdata;

struct node {
	uint64_t ino;
	_Atomic uint64_t nlookup; /* the kernel's references */
	uint32_t mode;		  /* S_IFMT | permission bits */
	uint32_t uid, gid;
	uint32_t nlink;
	uint32_t flags;
	uint32_t group; /* commit: hardlink group number */
	uint64_t size;
	uint64_t rdev;
	uint64_t blocks; /* 512-byte blocks of node->content's data (N_BLOCKS) */
	struct timespec atime, mtime, ctime;
	uint32_t n_xattrs;
	uint32_t opens;	    /* open handles (files and directories) */
	cairn_xattr *xattrs; /* sorted by name */
	char *link;	     /* symlink target */
	cairn_id content;
	struct fdata *data; /* regular files while open or being copied up */
	struct dir *dir;    /* directories */
	struct node *prev, *next; /* every node of the fs (for freeing it) */
};

struct dent {
	struct node *node; /* NULL: a removed entry's hole */
	char *name;	   /* not NUL-terminated when borrowed from a layer entry */
	uint32_t len;
	uint32_t hash;
	uint32_t seq; /* order of addition: the readdir offset (kept by a hole) */
	bool own;
};

struct dir {
	struct node *parent;
	struct dent *ents;
	uint32_t n, cap; /* slots used (holes included) and allocated */
	uint32_t live;	 /* entries that are not holes */
	uint32_t *ht;	 /* index + 1 of each entry by hash; 0 = free, UINT32_MAX = deleted */
	uint32_t ht_cap; /* power of two, or 0 (small directories are scanned) */
	uint32_t ht_used;
	uint32_t subdirs;
	uint32_t next_seq;
};

/* The data of an open regular file. */
struct fdata {
	pthread_mutex_t lock;
	uint32_t refs;
	int fd;	    /* reads and writes: the upper file, or the cache file; -1 = none yet */
	int old_fd; /* the cache file a copy-up replaced (open readers may still use it) */
	bool rw;    /* fd is the upper file */
	/* a small stored content without holes, read into memory instead of
	 * the content cache (while fd < 0); kept until the last put */
	uint8_t *mem;
	uint32_t mem_len;
};

/* An open file or directory. */
struct handle {
	cairn_fs *fs;
	struct node *node;
	struct fdata *data;
	bool kill_sgid; /* opened for writing by a non-member of a setgid file's group */
	bool transient; /* no-open mode: made for one request (handle_acquire) */
};

struct base_ent {
	const char *path; /* in base->arena */
	uint32_t len;
	bool dir;
	uint64_t ino;
};

struct base {
	struct base_ent *v;
	size_t n;
	arena arena; /* the paths */
};

struct cairn_fs {
	cairn_store *store;
	struct cairn_fs_options opts;
	pthread_mutex_t lock;
	pthread_rwlock_t freeze;
	struct node *root;
	uint64_t next_ino;
	uint64_t n_nodes;
	uint64_t changes; /* bumped by every change; 0 since the base: unchanged */
	struct base base;
	/* layers whose entries nodes point into (kept open) */
	cairn_layer **layers;
	size_t n_layers, cap_layers;
	cairn_id *chain; /* the base's layer ids, bottom first */
	size_t n_chain;
	char *upper_dir;
	int upper_fd;
	int cache_fd; /* ROOT/cache */
	int lock_fd;  /* flock on the upper directory: it is in use */
	/* upper files of removed small files, kept for new ones (data.c) */
	pthread_mutex_t spare_lock;
	uint32_t n_spares;
	/* FUSE */
	struct fuse_session *se;
	char *mountpoint;
	pthread_t thread;
	bool serving, thread_started;
	bool writeback; /* the kernel caches writes (FUSE_CAP_WRITEBACK_CACHE) */
	bool no_open;	/* the kernel sends no OPEN/RELEASE for files (FUSE_CAP_NO_OPEN_SUPPORT) */
	bool no_opendir; /* nor OPENDIR/RELEASEDIR (FUSE_CAP_NO_OPENDIR_SUPPORT) */
	/* no-open mode: the files last read or written keep their data open */
	struct node *kept[64];
	unsigned kept_next;
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;
	bool ended;
	int end_fd; /* eventfd: written when the session ends */
	struct node *all; /* list of every node */
	struct notify {
		fuse_ino_t parent, ino; /* name != NULL: an entry, else an inode */
		char *name;
		size_t len;
	} *pending;
	size_t n_pending, cap_pending;
	struct commit_state *commit; /* between commit_begin and commit_end */
};

/* ---- nodes (node.c) --------------------------------------------------- */

struct node *node_new(cairn_fs *fs, uint32_t mode);
/* Frees a node no name and no kernel reference points at (its upper file
 * goes too).  Caller holds fs->lock. */
void node_free(cairn_fs *fs, struct node *n);
/* Frees n when it has no name, no kernel reference and no open handle. */
void node_maybe_free(cairn_fs *fs, struct node *n);
/* Fills a node from a layer entry (metadata, borrowed strings). */
void node_set_from_entry(struct node *n, const cairn_entry *e);
void node_stat(const struct node *n, struct stat *st);
static inline bool node_is_dir(const struct node *n)
{
	return S_ISDIR(n->mode);
}
void node_touch_ctime(struct node *n);
void node_touch_mtime(struct node *n); /* mtime and ctime */
/* xattrs: copy-on-write of borrowed sets. */
int node_xattrs_own(struct node *n);
const cairn_xattr *node_xattr_get(const struct node *n, const char *name);
/* Sets (value != NULL) or removes (value == NULL) one xattr; -ENODATA,
 * -EEXIST per flags (XATTR_CREATE/REPLACE). */
int node_xattr_set(struct node *n, const char *name, const void *value, size_t len, int flags);
void node_xattrs_free(struct node *n);
int node_set_link(struct node *n, const char *target);
/* The node a FUSE inode number names. */
static inline struct node *fs_node(cairn_fs *fs, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? fs->root : (struct node *) (uintptr_t) ino;
}
static inline fuse_ino_t node_fuse_ino(cairn_fs *fs, const struct node *n)
{
	return n == fs->root ? FUSE_ROOT_ID : (fuse_ino_t) (uintptr_t) n;
}

/* ---- directories (dir.c) ----------------------------------------------- */

int dir_attach(struct node *n); /* gives a directory node its struct dir */
void dir_free(struct dir *d);
struct dent *dir_lookup(struct dir *d, const char *name, size_t len);
/* Adds name -> child (name copied when own, else borrowed and must stay
 * valid).  Updates link counts: child->nlink, subdirs, parent. */
int dir_add(struct node *dirn, const char *name, size_t len, bool own, struct node *child);
/* Removes an entry (a hole stays); the child's nlink drops. */
void dir_remove(struct node *dirn, struct dent *de);
/* Compacts holes away when they outnumber the entries (not while
 * dirn->opens: a walk over the slots is under way). */
void dir_maybe_compact(struct node *dirn);
/* The first slot whose entry (or hole) has a sequence number >= seq. */
uint32_t dir_seek(const struct dir *d, uint64_t seq);
/* The entry at slot i (holes skipped): the next live slot >= i, or NULL. */
struct dent *dir_slot(struct dir *d, uint32_t *i);
/* Entries sorted by name (bytewise), live only; malloc'd array. */
int dir_sorted(struct dir *d, struct dent ***ret, size_t *ret_n);
bool dir_name_valid(const char *name, size_t len);

/* ---- tree building and layer application (merge.c) --------------------- */

/* Applies a layer's entries to the tree.  dirty: mark as changes (apply),
 * else part of the base (mount).  With a session, the kernel's caches of
 * what changed are invalidated. */
int merge_layer(cairn_fs *fs, cairn_layer *l, bool dirty, cairn_error **err);
/* Removes the subtree under an entry; nodes with kernel references stay
 * until forgotten. */
void tree_remove(cairn_fs *fs, struct node *parent, struct dent *de);
/* Keeps a layer open for the lifetime of the fs. */
int fs_keep_layer(cairn_fs *fs, cairn_layer *l);

/* ---- the base (base.c) ---------------------------------------------------- */

/* The tree flattened in canonical order. */
struct flat_ent {
	const char *path;
	uint32_t len;
	uint32_t depth;
	struct node *node;
};
struct flat {
	struct flat_ent *v;
	size_t n, cap;
	arena arena; /* the paths */
};
/* Caller holds fs->lock. */
int flat_build(cairn_fs *fs, struct flat *ret);
void flat_clear(struct flat *f);
/* Replaces the base with the flattened tree (takes over its paths). */
int base_from_flat(cairn_fs *fs, struct flat *f);
void base_clear(struct base *b);
/* b is a (strict) descendant of a */
bool path_is_below(const char *a, size_t alen, const char *b, size_t blen);

/* ---- file data (data.c) --------------------------------------------------- */

/* Gets (creating) the node's fdata, with one reference.  fs->lock held. */
struct fdata *fdata_get(struct node *n);
/* Drops a reference; closes the fds when it was the last.  fs->lock held. */
void fdata_put(struct node *n);
/* Makes the data readable: materialises the content into the cache and
 * opens it, or opens the upper file.  d->lock held, fs->lock not. */
int data_open_read(cairn_fs *fs, struct node *n, struct fdata *d);
/* Makes the node's data an upper file (copy-up), copying the current data
 * unless truncate.  d->lock and fs->freeze (shared) held, fs->lock not. */
int data_copy_up(cairn_fs *fs, struct node *n, struct fdata *d, bool truncate);
/* Removes the node's upper file (keeps it as a spare when small). */
void data_remove_upper(cairn_fs *fs, struct node *n);
/* "<ino>" in hex into buf. */
void upper_name(const struct node *n, char buf[32]);
/* Path of the cache file of a content (relative to cache_fd) into buf. */
void cache_name(const cairn_id *id, char buf[64]);
/* Opens the node's current data read-only for a commit (upper file or
 * cache; the caller closes). */
int data_open_for_commit(cairn_fs *fs, struct node *n, int *ret_fd);

/* ---- xattrs and ACLs (acl.c) ------------------------------------------------- */

#define ACL_ACCESS "system.posix_acl_access"
#define ACL_DEFAULT "system.posix_acl_default"
/* After setting an access ACL: the mode's permission bits follow it; an
 * ACL equivalent to the mode is dropped.  -EINVAL for a malformed ACL. */
int acl_set_access(struct node *n, const void *value, size_t len);
int acl_check(const void *value, size_t len);
/* chmod: the access ACL's owner/mask/other entries follow the new mode. */
int acl_chmod(struct node *n);
/* A new node under parent: inherits the default ACL (the mode is masked by
 * it) or applies the umask. */
int acl_inherit(const struct node *parent, struct node *child, mode_t umask);

/* ---- FUSE operations (ops-*.c) ------------------------------------------------- */

extern const struct fuse_lowlevel_ops cairn_fs_ops;
/* Attribute and entry timeouts (seconds): nothing changes behind the
 * kernel's back, so they are long. */
#define FS_TIMEOUT 86400.0
void fs_fill_entry(cairn_fs *fs, struct node *n, struct fuse_entry_param *e);
/* Invalidates the kernel's cache of a name / an inode (no-op when not mounted). */
void fs_inval_entry(cairn_fs *fs, struct node *parent, const char *name, size_t len);
void fs_inval_inode(cairn_fs *fs, struct node *n);

/* Pending kernel notifications, sent after fs->lock is dropped. */
void fs_notify_flush(cairn_fs *fs);

/* ---- commit and diff (commit.c, plan.c) ---------------------------------------- */

void fs_changed(cairn_fs *fs);

/* What a commit records: entries of the current tree (flat indexes) and
 * whiteouts of base paths, each with its change kind. */
struct plan_ent {
	const char *path;
	uint32_t len;
	char kind;	     /* 'A', 'C', 'D' */
	bool opaque;	     /* a directory that replaces one of the base */
	struct node *node;   /* NULL for a whiteout */
	cairn_id content;    /* commit: the content stored for a dirty file */
};
struct plan {
	struct flat cur;
	struct plan_ent *v; /* canonical order (whiteouts first among siblings) */
	size_t n;
};
/* Compares the tree with the base; fs->lock held (or changes frozen). */
int plan_build(cairn_fs *fs, struct plan *ret);
void plan_clear(struct plan *p);

#endif
