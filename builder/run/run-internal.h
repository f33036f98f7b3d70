/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_RUN_INTERNAL_H
#define CAIRN_RUN_INTERNAL_H

/*
 * The sandbox is data first (as bubblewrap does it): the parent turns the
 * spec into a plan, a list of setup operations with every path, option
 * string and buffer ready, and the child (run-child.c) only walks the list
 * making system calls.  After clone() in a multithreaded process the child
 * may hold a copy of a lock another thread had taken (malloc's, stdio's),
 * so it must not allocate or format: only async-signal-safe calls.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "run.h"
#include "util.h"

#define RUN_PATH_MAX 4096

enum run_op_kind {
	RUN_OP_FS,	 /* a new filesystem instance (proc, tmpfs, devpts...) */
	RUN_OP_BIND,	 /* a bind of a host path */
	RUN_OP_DEVNODES, /* fill the /dev tmpfs: nodes, symlinks, directories */
	RUN_OP_MASK,	 /* hide a path: /dev/null over a file, empty tmpfs over a dir */
	RUN_OP_RDONLY,	 /* bind a path read-only onto itself */
};

/* A filesystem parameter for fsconfig(); value NULL: a flag. */
struct run_fsopt {
	const char *key, *value;
};

#define RUN_MAX_FSOPTS 4

struct run_op {
	enum run_op_kind kind;
	const char *target; /* absolute inside the container, lexically clean */
	bool target_dir;    /* a missing target is made a directory, else a file */
	const char *fstype; /* FS */
	struct run_fsopt opts[RUN_MAX_FSOPTS];
	size_t n_opts;
	uint64_t attr;	    /* MOUNT_ATTR_* of the new mount */
	const char *source; /* BIND: host path; FS: host path bound read-only
			     * instead when the filesystem can't be mounted */
	bool optional;	    /* MASK, RDONLY: skipped when the target is missing */
};


/* Everything the child needs, built and owned by the parent. */
struct run_plan {
	const char *rootfs;
	char *const *argv;
	char *const *envp;
	const char *path; /* PATH for looking argv[0] up */
	const char *cwd;
	const char *hostname;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t n_groups;
	bool new_net;
	const struct run_op *ops;
	size_t n_ops;
	int out_fd, null_fd;
	int err_fd;  /* write end of the setup-error pipe (O_CLOEXEC) */
	int max_fd;  /* highest descriptor to mark close-on-exec without close_range */
};

/* What the child reports through the error pipe when the setup fails. */
struct run_child_error {
	int err; /* errno */
	char what[512];
};

/* ---- run-plan.c: the list of operations --------------------------------- */

struct run_ops {
	struct run_op *v;
	size_t n, cap;
};

/* Appends the operations for spec to ops (strings in a); hosts and resolv
 * are the host files bound on /etc/hosts and /etc/resolv.conf. */
int run_plan_ops(struct run_ops *ops, arena *a, const struct cairn_run_spec *spec,
		 const char *hosts, const char *resolv, cairn_error **err);
/* "/a//b/./../c/" -> "/a/c" (lexically, ".." stops at "/"); NULL on ENOMEM. */
char *run_clean_path(arena *a, const char *path);
/* Whether the parent creates the op's target in the rootfs when missing. */
bool run_op_needs_stub(const struct run_op *op);

/* ---- run-child.c ---------------------------------------------------------- */

/* The child's side; never returns. */
_Noreturn void run_child(const struct run_plan *plan);

/* ---- run-root.c: paths inside the rootfs -------------------------------- */

/* openat2(rootfd, path, flags | O_CLOEXEC) with the rootfs as "/" for
 * every symlink and "..", no magic links.  path may start with '/' and may
 * be empty (the root itself).  Returns the fd or -errno.  Async-signal-safe. */
int run_root_open(int rootfd, const char *path, int flags);

/* A stub the parent made; see run_stubs_remove(). */
struct run_stub {
	char *dir;  /* directory it was made in, relative to the rootfs */
	char *name; /* its name there */
	bool is_dir;
	dev_t dev;
	ino_t ino;
	struct timespec atime, mtime; /* of dir before the stub was made */
	struct timespec after_mtime;  /* of dir right after */
	nlink_t after_nlink;
};

struct run_stubs {
	struct run_stub *v;
	size_t n, cap;
};

/* How run_root_mkpath() creates what is missing. */
struct run_mkpath {
	struct run_stubs *log; /* record each creation (parent only: allocates) */
	bool chown;	       /* chown what it creates to uid:gid */
	uid_t uid;
	gid_t gid;
};

/* Opens path inside the rootfs (O_PATH, following symlinks inside it),
 * creating what is missing first: directories 0755 and, when !dir, an
 * empty 0644 file as the last component; a dangling symlink gets its
 * target created.  how may be NULL.  Returns the O_PATH fd or -errno.
 * Async-signal-safe when how->log is NULL. */
int run_root_mkpath(int rootfd, const char *path, bool dir, const struct run_mkpath *how);

/* Removes the stubs, last first: a stub is removed only if it is still the
 * same inode and empty; the times of its directory go back to what they
 * were before it was made unless the command changed that directory.
 * Never fails (what can't be removed stays).  Frees the log. */
void run_stubs_remove(int rootfd, struct run_stubs *stubs);

/* ---- small async-signal-safe string helpers ----------------------------- */

/* Appends src to dst (capacity cap, NUL-terminated), truncating. */
void run_strlcat(char *dst, const char *src, size_t cap);

#endif
