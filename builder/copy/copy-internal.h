/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_COPY_INTERNAL_H
#define CAIRN_COPY_INTERNAL_H

/*
 * Shared helpers of builder/copy.  Paths inside a root are "clean
 * relative": no leading or trailing '/', no "." or ".." components, no
 * empty components, and "" for the root itself.
 *
 * Where the rules come from (BuildKit, Dockerfile frontend 1.x):
 *   dockerfile2llb/convert_copy.go  dispatchCopy: one copy action per
 *       source, FollowSymlinks + CopyDirContentsOnly + AllowWildcard +
 *       AllowEmptyWildcard + CreateDestPath, --parents as IncludePatterns
 *       with an optional "/./" pivot, --chmod octal or symbolic
 *   solver/llbsolver/file/backend.go  docopy: wildcards resolved first,
 *       no match is not an error; unpack() for ADD
 *   solver/llbsolver/file/unpack*.go  archive detection and extraction
 *   solver/llbsolver/file/user_linux.go  --chown names (unknown: 0)
 *   fsutil/copy/copy.go  Copy, prepareTargetDir, copy(), MkdirAll,
 *       ResolveWildcards (filepath.Walk + filepath.Match), excludes relative
 *       to each copied source
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "copy.h"
#include "util.h"

struct copy_selection_private {
	arena strings;
};

/* strerror as Go prints errno values: "no such file or directory". */
static inline const char *go_strerror(int r, char *buf, size_t n)
{
	snprintf(buf, n, "%s", strerror(r < 0 ? -r : r));
	if (buf[0] >= 'A' && buf[0] <= 'Z')
		buf[0] = (char) (buf[0] - 'A' + 'a');
	return buf;
}

/* ---- paths (resolve.c) -------------------------------------------------- */

/* Go's path.Clean of "/" + p, made clean relative.  Malloc'd. */
char *path_clean_rel(const char *p);
/* "a/b" + "c" -> "a/b/c"; either may be "".  Malloc'd. */
char *path_join(const char *a, const char *b);
/* The directory part of a clean relative path ("" for a top-level name)
 * and its last component (the path itself for a top-level name). */
char *path_dirname(const char *p);
const char *path_basename(const char *p);

/* Resolves a clean relative path inside root_fd as continuity's
 * fs.RootPath does: symlinks are followed (absolute targets from the root,
 * '..' stopping at it), the last component only when follow_last;
 * components that do not exist are kept as written.  With ig, a symlink
 * that ig excludes counts as absent (-ENOENT).  *ret is clean relative and
 * malloc'd.  -ELOOP after 255 links, -ENOTDIR through a non-directory. */
int root_resolve(int root_fd, const char *path, bool follow_last, const df_ignore *ig, char **ret);

/* openat2 of a clean relative path in root_fd with RESOLVE_IN_ROOT (and
 * RESOLVE_NO_SYMLINKS when the path is known to have none), split into
 * several calls when it is longer than PATH_MAX.  flags as openat's; "" is
 * the root itself.  Returns the fd or -errno. */
int open_in_root(int root_fd, const char *path, int flags, bool no_symlinks);

/* ---- wildcards (glob.c) ------------------------------------------------- */

/* fsutil's containsWildcards: an unescaped * ? or [. */
bool has_wildcards(const char *s);
/* Go's filepath.Match (Unix): * and ? never match '/'.  A malformed
 * pattern matches nothing. */
bool go_match(const char *pattern, const char *name);

/* ---- xattrs and data (data.c) ------------------------------------------- */

/* Reads the xattrs of dirfd/name (not following a symlink) into a sorted
 * blob allocated in a (NULL, 0 when none).  Unreadable ones are skipped. */
int xattrs_read(int dirfd, const char *name, arena *a, const uint8_t **ret, size_t *ret_len);
/* Sets them on dirfd/name (or on fd when fd >= 0); failures are ignored, as
 * BuildKit's xattr error handler does. */
void xattrs_write(int fd, int dirfd, const char *name, const uint8_t *blob, size_t len);
/* Copies size bytes from in to out: FICLONE, then copy_file_range, then
 * read/write.  Never holds more than a buffer in memory. */
int copy_data(int in, int out, off_t size);
/* Removes dirfd/name, recursively if it is a directory (os.RemoveAll);
 * missing is fine. */
int remove_all_at(int dirfd, const char *name);

/* ---- owner, mode, times of a destination object (apply.c) -------------- */

typedef struct meta {
	uid_t uid;
	gid_t gid;
	bool chown;		  /* false: leave the owner as created */
	mode_t mode;		  /* permission bits (07777) */
	bool chmod;		  /* false for symlinks */
	struct timespec times[2]; /* atime, mtime */
	bool utimes;
} meta;

/* Applies m to fd (>= 0) or to dirfd/name without following a symlink:
 * chown, then chmod (chown clears set-id bits), then times. */
int meta_apply(int fd, int dirfd, const char *name, const meta *m);

/* Creates the missing directories of a clean relative path (already
 * resolved, so without symlinks) in root_fd, each with mode, owner and
 * times from m (m->chown false: owner left as created); fails with
 * -ENOTDIR when a component is not a directory.  *ret_fd (when not NULL)
 * gets an O_DIRECTORY fd of the last one. */
int mkdir_all(int root_fd, const char *path, const meta *m, int *ret_fd);

/* ---- ADD (archive.c) ---------------------------------------------------- */

typedef struct archive_ctx {
	int dst_root_fd;
	const char *dest;    /* clean relative, resolved */
	const meta *parents; /* how dest's missing parents are created */
	bool chown;	     /* --chown given: overrides the archive's owners */
	uid_t uid;
	gid_t gid;
	const struct timespec *epoch;
	const char *cmd; /* "ADD" for messages */
} archive_ctx;

/* If src_fd (a regular file, at offset 0) is a tar archive, plain or
 * compressed with gzip, bzip2, xz or zstd, extracts it into ctx->dest and
 * returns 1; returns 0 if it is not an archive (src_fd rewound). */
int archive_try_extract(int src_fd, const archive_ctx *ctx, cairn_error **err);

#endif
