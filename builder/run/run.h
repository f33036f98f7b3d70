/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_RUN_H
#define CAIRN_RUN_H

/*
 * Runs one Dockerfile RUN command in a sandbox, the way BuildKit's runc
 * executor does.
 *
 * The command runs on a root filesystem directory the caller prepared (a
 * writable cairn FUSE mount in production) in new mount, PID, IPC and UTS
 * namespaces (plus a network namespace with only `lo` for
 * CAIRN_RUN_NET_NONE).  It is PID 1 of its namespace, so every process it
 * leaves behind is killed when it exits.  It sees:
 *
 *   /proc             a fresh proc (nosuid,nodev,noexec); /proc/kcore, keys,
 *                     timer_list... masked and /proc/sys, sysrq-trigger,
 *                     irq, bus, fs read-only (Docker's masked/readonly paths)
 *   /dev              a tmpfs (nodev) with null zero full random urandom tty
 *                     (the host's nodes bind-mounted, see below), fd, stdin,
 *                     stdout, stderr, ptmx, core symlinks, pts (devpts
 *                     newinstance), shm (tmpfs 64 MiB) and mqueue
 *   /sys              sysfs read-only (the host's /sys, read-only, when a
 *                     sysfs cannot be mounted)
 *   /etc/hosts        "127.0.0.1 localhost HOSTNAME" and the ::1 line,
 *   /etc/resolv.conf  a copy of the host's, both read-only binds
 *   spec->mounts      in order
 *
 * with the host's root unreachable (pivot_root), the capability bounding
 * set reduced to Docker's default set, no ambient or inheritable
 * capabilities, every signal at its default and unblocked, umask 022,
 * stdin /dev/null, stdout and stderr on out_fd and no other descriptor.
 *
 * Without a devices cgroup nothing stops root in the sandbox from making a
 * device node (CAP_MKNOD is in Docker's set) and opening the host's disk
 * through it.  So every writable filesystem the sandbox gets is mounted
 * nodev (the rootfs included) and /dev's nodes are binds of the host's
 * nodes, which work on a nodev tmpfs.  mknod still succeeds (images may
 * record device nodes); opening such a node fails.
 *
 * Mount stubs.  A mount target missing from the rootfs (/proc, /dev, /sys,
 * /etc/hosts, /etc/resolv.conf, /etc itself in a scratch image, the
 * caller's targets) is created before the run (a directory, or an empty
 * file for a file mount) and removed after it, deepest first, restoring the
 * access and modification times of the directory it was made in, so that
 * no trace of it shows up in the layer recorded afterwards (BuildKit's
 * mount stub cleaner).  A stub the command replaced, or put something
 * into, is left alone, and the directory keeps the times the command gave
 * it.  Targets are resolved inside the rootfs (symlinks included, as runc
 * and BuildKit do: an /etc/resolv.conf -> ../run/systemd/resolve/stub-
 * resolv.conf link gets the mount on its target, created if missing, and
 * the link stays); nothing is ever created outside the rootfs.
 *
 * Threads: cairn_run may be called from any thread, several at once on
 * different rootfs (two runs on one rootfs would remove each other's
 * stubs), but not from a thread that serves the FUSE filesystem used as
 * rootfs.  Between clone and exec the child only makes system calls on
 * data prepared beforehand, so it is safe in a multithreaded process.  It
 * dies (SIGKILL) if the calling thread goes away.
 *
 * The caller provides: root privileges (CAP_SYS_ADMIN in the initial user
 * namespace); a rootfs a non-root uid can use (a FUSE rootfs mounted with
 * allow_other, as cairn_fs does); a kernel with openat2, clone3 (or
 * clone) and the new mount API (5.12+).  There is no cgroup and no
 * seccomp filter: no resource limits beyond the builder's own.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <cairn/error.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cairn_run_network {
	CAIRN_RUN_NET_HOST = 0, /* the host's network namespace */
	CAIRN_RUN_NET_NONE,	/* a new network namespace with only lo (up) */
};

enum cairn_run_mount_type {
	CAIRN_RUN_BIND,	 /* a (recursive) bind of a host file or directory */
	CAIRN_RUN_TMPFS, /* a new tmpfs (nosuid, nodev) */
};

struct cairn_run_mount {
	enum cairn_run_mount_type type;
	const char *source; /* BIND: host path of a file or directory; TMPFS: unused */
	const char *target; /* absolute path inside the container, not "/" */
	bool readonly;	    /* the whole mount (and its submounts) read-only */
	uint64_t size;	    /* TMPFS: bytes; 0 = the kernel's default (half of RAM) */
	uint32_t mode;	    /* TMPFS: mode of its root; 0 = 01777 */
};

struct cairn_run_spec {
	/* Host directory that becomes /.  It stays the caller's: the run
	 * leaves in it only what the command did (and cwd, see below). */
	const char *rootfs;
	/* The command, NULL-terminated, argv[0] non-empty.  argv[0] without a
	 * '/' is looked up in the PATH of envp (default
	 * /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin, which
	 * is not added to the environment). */
	char *const *argv;
	/* The environment, NULL-terminated "NAME=value" strings; NULL = empty. */
	char *const *envp;
	/* Absolute working directory inside the container; NULL = "/".  When
	 * missing it is created (0755, owned by uid:gid) and kept, as BuildKit
	 * does for WORKDIR; it is not a stub. */
	const char *cwd;
	uid_t uid; /* the command's user and group (setresuid/setresgid) */
	gid_t gid;
	const gid_t *groups; /* supplementary groups (setgroups), n_groups of them */
	size_t n_groups;
	enum cairn_run_network network;
	const char *hostname; /* NULL: "buildkitsandbox"; also in /etc/hosts */
	/* Extra mounts, set up in order after the standard ones (so they may
	 * cover them, and a later one may sit inside an earlier one). */
	const struct cairn_run_mount *mounts;
	size_t n_mounts;
	/* The command's stdout and stderr (stdin is /dev/null).  A pipe must be
	 * drained by another thread while cairn_run waits. */
	int out_fd;
};

/*
 * Runs the command and waits until it and every process it started are
 * gone; *ret_status is the wait status (WIFEXITED, WEXITSTATUS,
 * WIFSIGNALED...).
 *
 * Returns 0, or < 0 with *err ("run: mounting /proc: Operation not
 * permitted") when the sandbox could not be set up; then the command did
 * not run.  The command's own failure is a status, "executable not found"
 * included: exit 127 (126 when it exists but cannot be executed) with a
 * runc-like message on out_fd.  Stubs are removed in every case.
 */
int cairn_run(const struct cairn_run_spec *spec, int *ret_status, cairn_error **err);

#ifdef __cplusplus
}
#endif
#endif
