/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_COPY_H
#define CAIRN_COPY_H

/*
 * The COPY/ADD engine for local sources, with BuildKit's semantics
 * (dockerfile2llb's dispatchCopy, the file op backend and
 * tonistiigi/fsutil's copy package).  Both roots are plain directories
 * given as file descriptors: the source is the build context or another
 * stage's root filesystem, the destination the root filesystem of the step
 * being built.  Paths never leave either root: '..' stops at the root and
 * symbolic links resolve inside it, as if the root were '/'.
 *
 * Three phases, so that a cache lookup needs only the first two:
 *
 *   copy_select    what the sources name (no destination needed)
 *   copy_checksum  a sha256 of everything that decides the result
 *   copy_apply     write the destination tree
 *
 * The rules, as BuildKit has them (see DESIGN notes in copy-internal.h):
 *
 *  - Each source is resolved on its own.  A source with wildcards (Go
 *    filepath.Match: * ? [...] \) selects every match in lexical order; one
 *    that matches nothing selects nothing, silently.  A source without
 *    wildcards that does not exist fails: COPY failed: "/x": not found.
 *  - A source naming a symlink copies its target (FollowSymlinks), under
 *    the source's own name; inside a copied tree links stay links.
 *  - A directory source copies its contents.  Files are replaced; a file
 *    over a directory or a directory over a non-directory fails.
 *  - A file lands at dest, or at dest/NAME when dest is an existing
 *    directory or ends with '/'.  Several sources or a wildcard do not
 *    require a trailing '/' (BuildKit, unlike the legacy builder: the last
 *    one wins); classic_checks restores the legacy error.
 *  - Missing parents of dest are created 0755 (the --chmod mode when given,
 *    as BuildKit since 0.21), owned by the --chown user when given, with
 *    the current time.
 *  - Metadata: permissions from the source or --chmod (octal, or symbolic
 *    like u+x,g-w,a+X); owner 0:0, the source's with preserve_owner, or
 *    --chown's; times and xattrs from the source; hardlinks among the
 *    files of one match are kept; fifos, devices and sockets are recreated.
 *  - ADD: a regular file that is a tar archive (plain, gzip, bzip2, xz or
 *    zstd, by content) is extracted into dest, keeping the archive's owners
 *    (--chown overrides them), modes, times, links and xattrs; entries that
 *    would leave dest fail the step.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <cairn/error.h>

#include "../dockerfile/ignore.h"

/* What the instruction asks for; zero-initialized means a plain COPY. */
typedef struct copy_options {
	const char *chown;	     /* --chown as written ("user", "user:group", "uid:gid",
				      * ":group"), NULL or "" for none */
	const char *chmod;	     /* --chmod as written (octal "755"/"0755", or
				      * symbolic "u+x,g-w"), NULL or "" for none */
	const char *const *excludes; /* --exclude patterns, relative to each
				      * selected source (.dockerignore syntax) */
	size_t n_excludes;
	const df_ignore *ignore;      /* the context's .dockerignore: an excluded
				       * path is as if absent; NULL for --from */
	bool parents;		      /* --parents: keep the path below the root, or below
				       * a "/./" pivot in the source */
	bool add;		      /* ADD: extract local tar archives */
	bool link;		      /* --link: accepted; the copy is the same */
	bool nofollow;		      /* do NOT follow a symlink a source names (BuildKit's
				       * Dockerfile frontend always follows: leave false) */
	bool preserve_owner;	      /* without --chown keep the source's uid/gid (set it for
				       * --from=stage); otherwise files are 0:0 */
	bool chown_strict;	      /* an unknown --chown name fails ("unable to find user
				       * x: ...") instead of BuildKit's silent 0 */
	bool classic_checks;	      /* the legacy builder's checks: several sources need
				       * a dest ending in '/', and a COPY that selects
				       * nothing fails with "no source files were specified" */
	const struct timespec *epoch; /* SOURCE_DATE_EPOCH: every time the copy
				       * sets is this one; NULL keeps the source's */
} copy_options;

/* One selected file system object. */
typedef struct copy_entry {
	const char *src_path;	 /* path in the source root: clean, relative, no
				  * symlinks on the way ("" is the root itself) */
	const char *rel;	 /* path below its copy root ("" for the root) */
	struct stat st;		 /* lstat data (a root reached through a symlink:
				  * its target's) */
	const char *link_target; /* symlinks: the target as stored, else NULL */
	const uint8_t *xattrs;	 /* extended attributes: records of name NUL,
				  * 4-byte big-endian length, value; sorted */
	size_t xattrs_len;
	uint32_t depth;	      /* 0 for a root, 1 for its children, ... */
	uint32_t link_leader; /* a regular file sharing its st_dev/st_ino with an
			       * earlier entry of the same root: that entry's
			       * index; otherwise UINT32_MAX */
	bool implied;	      /* a directory kept only because something below it
			       * is selected (--parents, --exclude exceptions): it
			       * is created with its metadata but never updated */
} copy_entry;

/* One resolved source: a source as written, or one match of a wildcard.
 * Its entries are entries[first .. first + count) in pre-order (a
 * directory, then its children sorted by name, each subtree whole); the
 * first one is the root itself (depth 0). */
typedef struct copy_root {
	size_t source_index; /* which srcs[] it comes from */
	const char *name;    /* the name it takes inside a destination directory
			      * (the source's last component, not a link target's) */
	bool is_dir;
	size_t first, count;
} copy_root;

typedef struct copy_selection {
	int src_root_fd; /* a dup of the source root (owned) */
	size_t n_sources;
	bool several; /* more than one source, or a wildcard */
	copy_root *roots;
	size_t n_roots;
	copy_entry *entries;
	size_t n_entries;
	struct copy_selection_private *priv;
} copy_selection;

/* Phase 1.  srcs are the sources as written (variables expanded), relative
 * to the source root (a leading '/' is the root).  Fails with -ENOENT and
 * "COPY failed: "/x": not found" for a missing source, -ENOENT and "COPY
 * failed: lstat /d: no such file or directory" for the missing directory of
 * a wildcard, CAIRN_E_FORMAT for a bad --exclude pattern. */
int copy_select(int src_root_fd, const char *const *srcs, size_t n, const copy_options *opts,
		copy_selection **ret, cairn_error **err);
void copy_selection_free(copy_selection *sel);

/* Content hash of one regular file: dirfd/name (never a symlink), st its
 * lstat data.  Returns >= 0 or -errno. */
typedef int (*copy_hash_fn)(void *userdata, int dirfd, const char *name, const struct stat *st,
			    uint8_t out[16]);

/* Reads the file and returns its XXH3-128 (canonical, big-endian). */
int copy_hash_file_default(void *userdata, int dirfd, const char *name, const struct stat *st,
			   uint8_t out[16]);

/* Phase 2: sha256 over a canonical stream of every root (source index,
 * name, kind) and entry (path below the root, type, permissions after
 * --chmod, owner when preserve_owner, device number, symlink target,
 * hardlink leader, xattrs, content hash) and the options that change the
 * result (the --chown and --chmod strings as written, add, preserve_owner,
 * epoch).  Never mtimes or inode numbers.  hash_fn NULL uses
 * copy_hash_file_default. */
int copy_checksum(const copy_selection *sel, const copy_options *opts, copy_hash_fn hash_fn,
		  void *userdata, uint8_t out[32], cairn_error **err);

/* Phase 3.  dest as written, absolute (the caller joins it to WORKDIR); a
 * trailing '/' (or "/.") means a directory.  opts must be those given to
 * copy_select.  Not atomic: on failure the destination holds what was
 * written so far. */
int copy_apply(const copy_selection *sel, int dst_root_fd, const char *dest,
	       const copy_options *opts, cairn_error **err);

/* ---- --chmod ------------------------------------------------------------ */

#define COPY_CHMOD_MAX_ACTIONS 32

typedef struct copy_chmod {
	bool octal;
	mode_t mode; /* octal: the bits (<= 07777) */
	uint8_t n;
	struct copy_chmod_action {
		char op;    /* '+', '-', '=' */
		char copy;  /* 'u', 'g', 'o': copy that class's bits; 0: perm */
		mode_t who; /* class mask; 0: all, less the umask */
		mode_t perm;
		bool x_cond; /* X: execute only for directories or if any x bit */
	} actions[COPY_CHMOD_MAX_ACTIONS];
} copy_chmod;

/* Parses a --chmod value as BuildKit does: an octal number <= 07777, or a
 * chmod(1) symbolic mode.  Errors (CAIRN_E_FORMAT): "invalid chmod
 * parameter: '8'. it should be octal string and between 0 and 07777",
 * "invalid chmod parameter: 'u+q': invalid syntax". */
int copy_chmod_parse(const char *s, copy_chmod *ret, cairn_error **err);

/* The permission bits (07777) a file of mode st_mode (type bits included)
 * gets. */
mode_t copy_chmod_apply(const copy_chmod *c, mode_t st_mode);

#endif
