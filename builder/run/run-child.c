/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The sandbox child, between clone() and execve().
 *
 * It was cloned from a multithreaded process: any lock another thread held
 * (malloc's, stdio's, glibc's thread list) is held forever in this copy.
 * So: no allocation, no stdio, no strerror, and raw syscall() for
 * setgroups/setresgid/setresuid, whose glibc wrappers take the thread-list
 * lock to change the credentials of every thread.  Everything it needs was
 * prepared by the parent in the plan.
 *
 * Mounts use the new mount API (fsopen/fsmount, open_tree, move_mount onto
 * an fd): each target is resolved inside the rootfs to an O_PATH fd first,
 * so no mount ever follows a path that an image symlink could redirect.
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "run-internal.h"

#define CAPBIT(c) (UINT64_C(1) << (c))

/* Docker's default capability set (moby's oci/caps/defaults.go). */
static const uint64_t run_default_caps =
    CAPBIT(CAP_CHOWN) | CAPBIT(CAP_DAC_OVERRIDE) | CAPBIT(CAP_FSETID) | CAPBIT(CAP_FOWNER) |
    CAPBIT(CAP_MKNOD) | CAPBIT(CAP_NET_RAW) | CAPBIT(CAP_SETGID) | CAPBIT(CAP_SETUID) |
    CAPBIT(CAP_SETFCAP) | CAPBIT(CAP_SETPCAP) | CAPBIT(CAP_NET_BIND_SERVICE) |
    CAPBIT(CAP_SYS_CHROOT) | CAPBIT(CAP_KILL) | CAPBIT(CAP_AUDIT_WRITE);

/* runc's /dev: the nodes (here binds of the host's, see run.h) ... */
static const struct {
	const char *name, *host;
} run_dev_nodes[] = {
	{"null", "/dev/null"},	   {"zero", "/dev/zero"},	{"full", "/dev/full"},
	{"random", "/dev/random"}, {"urandom", "/dev/urandom"}, {"tty", "/dev/tty"},
};
/* ... its symlinks ... */
static const struct {
	const char *name, *target;
} run_dev_links[] = {
	{"fd", "/proc/self/fd"},
	{"stdin", "/proc/self/fd/0"},
	{"stdout", "/proc/self/fd/1"},
	{"stderr", "/proc/self/fd/2"},
	{"ptmx", "pts/ptmx"},
	{"core", "/proc/kcore"},
};
/* ... and the mount points of the filesystems mounted inside it. */
static const char *const run_dev_dirs[] = {"pts", "shm", "mqueue"};

static void write_all_raw(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t) n;
	}
}

/* Reports a setup failure to the parent ("what arg: errno") and exits. */
static _Noreturn void child_fail(const struct run_plan *p, int err, const char *what,
				 const char *arg)
{
	struct run_child_error e;

	memset(&e, 0, sizeof(e));
	e.err = err > 0 ? err : EIO;
	run_strlcat(e.what, what, sizeof(e.what));
	if (arg)
		run_strlcat(e.what, arg, sizeof(e.what));
	write_all_raw(p->err_fd, &e, sizeof(e));
	_exit(125);
}

/* ---- mount operations ---------------------------------------------------- */

static int fs_new(const char *type, const struct run_fsopt *opts, size_t n, uint64_t attr)
{
	_cleanup_close_ int fsfd = fsopen(type, FSOPEN_CLOEXEC);

	if (fsfd < 0)
		return -errno;
	for (size_t i = 0; i < n; i++) {
		unsigned cmd = opts[i].value ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG;
		if (fsconfig(fsfd, cmd, opts[i].key, opts[i].value, 0) < 0)
			return -errno;
	}
	if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, (unsigned) attr);
	return mfd < 0 ? -errno : mfd;
}

/* A detached recursive copy of the mount tree at dfd/path, with attr set. */
static int tree_clone(int dfd, const char *path, uint64_t attr)
{
	unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE;
	_cleanup_close_ int tree = open_tree(dfd, path, flags | (*path ? 0 : AT_EMPTY_PATH));

	if (tree < 0)
		return -errno;
	if (attr) {
		struct mount_attr a = {.attr_set = attr};
		if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0)
			return -errno;
	}
	return steal_fd(&tree);
}

/* Puts the detached mount mfd on the op's target, created if missing (that
 * only happens inside mounts made here: the parent made the stubs). */
static int attach(int rootfd, int mfd, const struct run_op *op)
{
	_cleanup_close_ int t = run_root_mkpath(rootfd, op->target, op->target_dir, NULL);

	if (t < 0)
		return t;
	if (move_mount(mfd, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

static int op_fs(int rootfd, const struct run_op *op)
{
	_cleanup_close_ int mfd = fs_new(op->fstype, op->opts, op->n_opts, op->attr);

	/* sysfs can be refused (e.g. a network namespace we don't own): then
	 * the host's, read-only, as runc does for rootless containers */
	if (mfd < 0 && op->source)
		mfd = tree_clone(AT_FDCWD, op->source, op->attr);
	if (mfd < 0)
		return mfd;
	return attach(rootfd, mfd, op);
}

static int op_bind(int rootfd, const struct run_op *op)
{
	_cleanup_close_ int tree = tree_clone(AT_FDCWD, op->source, op->attr);

	if (tree < 0)
		return tree;
	return attach(rootfd, tree, op);
}

/* Fills the fresh /dev tmpfs.  It is nodev, so the nodes are binds of the
 * host's (which keep working: nodev is a property of the mount). */
static int op_devnodes(int rootfd, const struct run_op *op)
{
	_cleanup_close_ int dfd = run_root_open(rootfd, op->target, O_PATH | O_DIRECTORY);

	if (dfd < 0)
		return dfd;
	for (size_t i = 0; i < ARRAY_SIZE(run_dev_nodes); i++) {
		const char *name = run_dev_nodes[i].name;
		int fd = openat(dfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
		if (fd < 0)
			return -errno;
		close(fd);
		_cleanup_close_ int tree =
		    open_tree(AT_FDCWD, run_dev_nodes[i].host, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
		if (tree < 0)
			return -errno;
		if (move_mount(tree, "", dfd, name, MOVE_MOUNT_F_EMPTY_PATH) < 0)
			return -errno;
	}
	for (size_t i = 0; i < ARRAY_SIZE(run_dev_links); i++)
		if (symlinkat(run_dev_links[i].target, dfd, run_dev_links[i].name) < 0)
			return -errno;
	for (size_t i = 0; i < ARRAY_SIZE(run_dev_dirs); i++)
		if (mkdirat(dfd, run_dev_dirs[i], 0755) < 0)
			return -errno;
	return 0;
}

/* Docker's masked paths: /dev/null over a file, an empty read-only tmpfs
 * over a directory. */
static int op_mask(int rootfd, const struct run_op *op)
{
	_cleanup_close_ int t = run_root_open(rootfd, op->target, O_PATH);
	_cleanup_close_ int mfd = -1;
	struct stat st;

	if (t == -ENOENT && op->optional)
		return 0;
	if (t < 0)
		return t;
	if (fstat(t, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		mfd = fs_new("tmpfs", NULL, 0, op->attr);
	else
		mfd = tree_clone(AT_FDCWD, "/dev/null", 0);
	if (mfd < 0)
		return mfd;
	if (move_mount(mfd, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

static int op_rdonly(int rootfd, const struct run_op *op)
{
	_cleanup_close_ int t = run_root_open(rootfd, op->target, O_PATH);
	_cleanup_close_ int tree = -1;

	if (t == -ENOENT && op->optional)
		return 0;
	if (t < 0)
		return t;
	tree = tree_clone(t, "", op->attr);
	if (tree < 0)
		return tree;
	if (move_mount(tree, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return -errno;
	return 0;
}

static const struct {
	int (*apply)(int rootfd, const struct run_op *op);
	const char *verb;
} run_op_table[] = {
	[RUN_OP_FS] = {op_fs, "mounting "},
	[RUN_OP_BIND] = {op_bind, "mounting "},
	[RUN_OP_DEVNODES] = {op_devnodes, "populating "},
	[RUN_OP_MASK] = {op_mask, "masking "},
	[RUN_OP_RDONLY] = {op_rdonly, "making read-only "},
};

/* ---- the steps ----------------------------------------------------------- */

/* Ignored signals stay ignored across execve: the command must not
 * inherit the builder's SIG_IGN for SIGPIPE and the like. */
static void reset_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (int sig = 1; sig < _NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void) sigaction(sig, &sa, NULL); /* EINVAL for glibc's own */
}

static void setup_stdio(const struct run_plan *p)
{
	/* out_fd or null_fd may be 0..2 themselves: lift them out first */
	int out = fcntl(p->out_fd, F_DUPFD_CLOEXEC, 3);
	int in = fcntl(p->null_fd, F_DUPFD_CLOEXEC, 3);

	if (out < 0 || in < 0)
		child_fail(p, errno, "setting up stdio", NULL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		child_fail(p, errno, "setting up stdio", NULL);
	close(in);
	close(out);
}

/* Makes the rootfs a mount of its own (pivot_root needs one), nodev so that
 * device nodes made by the command can't be opened.  Returns an fd of it. */
static int bind_rootfs(const struct run_plan *p)
{
	_cleanup_close_ int tree = tree_clone(AT_FDCWD, p->rootfs, MOUNT_ATTR_NODEV);

	if (tree < 0)
		child_fail(p, -tree, "binding the rootfs ", p->rootfs);
	if (move_mount(tree, "", AT_FDCWD, p->rootfs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		child_fail(p, errno, "binding the rootfs ", p->rootfs);
	int rootfd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		child_fail(p, errno, "opening the rootfs ", p->rootfs);
	return rootfd;
}

static void loopback_up(const struct run_plan *p)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		child_fail(p, errno, "bringing up lo", NULL);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		child_fail(p, errno, "bringing up lo", NULL);
	close(s);
}

/* pivot_root(".", ".") stacks the old root on the new one; detaching it
 * leaves no path to the host's tree (runc's trick, no put_old needed). */
static void enter_root(const struct run_plan *p, int rootfd)
{
	if (fchdir(rootfd) < 0)
		child_fail(p, errno, "entering the rootfs", NULL);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		child_fail(p, errno, "pivot_root", NULL);
	if (umount2(".", MNT_DETACH) < 0)
		child_fail(p, errno, "detaching the host root", NULL);
	if (chdir("/") < 0)
		child_fail(p, errno, "entering the new root", NULL);
	close(rootfd);
}

static void drop_caps(const struct run_plan *p)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2];

	for (int cap = 0; cap < 64; cap++) {
		if (run_default_caps & CAPBIT(cap))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
			if (errno == EINVAL) /* past the kernel's last capability */
				break;
			child_fail(p, errno, "dropping capabilities", NULL);
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		child_fail(p, errno, "clearing ambient capabilities", NULL);
	/* no inheritable set: root's exec then gets exactly the bounding set */
	if (syscall(SYS_capget, &h, d) < 0)
		child_fail(p, errno, "reading capabilities", NULL);
	d[0].inheritable = d[1].inheritable = 0;
	if (syscall(SYS_capset, &h, d) < 0)
		child_fail(p, errno, "clearing inheritable capabilities", NULL);
}

/* Raw syscalls: see the top of the file.  A non-root setresuid clears the
 * permitted and effective capabilities. */
static void set_creds(const struct run_plan *p)
{
	if (syscall(SYS_setgroups, p->n_groups, p->groups) < 0)
		child_fail(p, errno, "setgroups", NULL);
	if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0)
		child_fail(p, errno, "setresgid", NULL);
	if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0)
		child_fail(p, errno, "setresuid", NULL);
}

/* Nothing but 0, 1, 2 may reach the command: a descriptor of a host
 * directory would be a way out of the rootfs. */
static void cloexec_all(const struct run_plan *p)
{
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return;
	for (int fd = 3; fd <= p->max_fd; fd++)
		(void) fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* ---- exec ---------------------------------------------------------------- */

static _Noreturn void exec_failed(const char *name, const char *why, int status)
{
	char msg[RUN_PATH_MAX + 128] = "run: unable to start container process: exec: \"";

	run_strlcat(msg, name, sizeof(msg));
	run_strlcat(msg, "\": ", sizeof(msg));
	run_strlcat(msg, why, sizeof(msg));
	run_strlcat(msg, "\n", sizeof(msg));
	write_all_raw(2, msg, strlen(msg));
	_exit(status);
}

static _Noreturn void exec_error(const char *name, int err)
{
	const char *why = strerrordesc_np(err); /* a table lookup, no locale */

	exec_failed(name, why ? why : "exec failed", err == ENOENT ? 127 : 126);
}

/* Execs dir/name if it is a regular file with an execute bit (dir of
 * length n; empty means "."); returns when it is not there. */
static void try_exec_in(const struct run_plan *p, const char *dir, size_t n)
{
	const char *name = p->argv[0];
	char buf[RUN_PATH_MAX];
	struct stat st;

	if (n == 0) {
		dir = ".";
		n = 1;
	}
	if (n + strlen(name) + 2 > sizeof(buf))
		return;
	memcpy(buf, dir, n);
	buf[n] = '\0';
	run_strlcat(buf, "/", sizeof(buf));
	run_strlcat(buf, name, sizeof(buf));
	if (stat(buf, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
		return;
	execve(buf, p->argv, p->envp);
	exec_error(name, errno);
}

/* Looks argv[0] up as Go's exec.LookPath (runc) does: the first regular
 * file with an execute bit in PATH. */
static _Noreturn void exec_command(const struct run_plan *p)
{
	const char *name = p->argv[0];

	if (strchr(name, '/')) {
		execve(name, p->argv, p->envp);
		exec_error(name, errno);
	}
	for (const char *d = p->path; *p->path; d++) {
		const char *end = strchrnul(d, ':');
		try_exec_in(p, d, (size_t) (end - d));
		if (!*end)
			break;
		d = end;
	}
	exec_failed(name, "executable file not found in $PATH", 127);
}

_Noreturn void run_child(const struct run_plan *p)
{
	sigset_t none;
	int rootfd;

	reset_signals();
	/* die with the thread that waits for us, whatever happens to it */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		child_fail(p, errno, "setting the parent-death signal", NULL);
	setup_stdio(p);
	umask(0);
	/* our mounts must not propagate to the host, nor the host's to us */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(p, errno, "making the mounts private", NULL);
	rootfd = bind_rootfs(p);
	for (size_t i = 0; i < p->n_ops; i++) {
		const struct run_op *op = &p->ops[i];
		int r = run_op_table[op->kind].apply(rootfd, op);
		if (r < 0)
			child_fail(p, -r, run_op_table[op->kind].verb, op->target);
	}
	if (p->new_net)
		loopback_up(p);
	enter_root(p, rootfd);
	if (sethostname(p->hostname, strlen(p->hostname)) < 0)
		child_fail(p, errno, "setting the hostname", NULL);
	if (chdir(p->cwd) < 0)
		child_fail(p, errno, "changing to the working directory ", p->cwd);
	drop_caps(p);
	set_creds(p);
	/* a change of credentials cleared it */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		child_fail(p, errno, "setting the parent-death signal", NULL);
	umask(022);
	cloexec_all(p);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	exec_command(p);
}
