/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cairn_run(): prepares everything in the parent (plan, /etc files, working
 * directory, mount stubs), clones the sandbox child, waits, and removes
 * the stubs again.  See run.h for what the command gets, run-child.c for
 * how.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "run-internal.h"

#define RUN_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define RUN_DEFAULT_HOSTNAME "buildkitsandbox"

struct run_ctx {
	arena strings;
	struct run_ops ops;
	struct run_stubs stubs;
	struct run_plan plan;
	int rootfd, null_fd, err_rd, err_wr;
	char tmpdir[PATH_MAX]; /* holds hosts and resolv.conf; "" = none */
	char hosts[PATH_MAX + 16], resolv[PATH_MAX + 16];
};

static void run_ctx_done(struct run_ctx *c)
{
	run_stubs_remove(c->rootfd, &c->stubs);
	if (c->tmpdir[0]) {
		unlink(c->hosts);
		unlink(c->resolv);
		rmdir(c->tmpdir);
	}
	closep(&c->rootfd);
	closep(&c->null_fd);
	closep(&c->err_rd);
	closep(&c->err_wr);
	free(c->ops.v);
	arena_free(&c->strings);
}

static int check_spec(const struct cairn_run_spec *spec, int *ret_status, cairn_error **err)
{
	if (!spec || !ret_status || !spec->rootfs || !spec->argv || !spec->argv[0] ||
	    !spec->argv[0][0])
		return cairn_error_set(err, -EINVAL, "run: no rootfs or no command");
	if (spec->cwd && spec->cwd[0] != '/')
		return cairn_error_set(err, -EINVAL, "run: working directory \"%s\" is not absolute",
				       spec->cwd);
	if (spec->out_fd < 0)
		return cairn_error_set(err, -EBADF, "run: no output descriptor");
	if (spec->network != CAIRN_RUN_NET_HOST && spec->network != CAIRN_RUN_NET_NONE)
		return cairn_error_set(err, -EINVAL, "run: unknown network mode %d", spec->network);
	if (spec->hostname && (!spec->hostname[0] || strlen(spec->hostname) > HOST_NAME_MAX))
		return cairn_error_set(err, -EINVAL, "run: invalid hostname \"%s\"", spec->hostname);
	if (spec->n_groups > NGROUPS_MAX || (spec->n_groups && !spec->groups))
		return cairn_error_set(err, -EINVAL, "run: invalid supplementary groups");
	if (spec->n_mounts && !spec->mounts)
		return cairn_error_set(err, -EINVAL, "run: no mounts array");
	return 0;
}

/* The PATH argv[0] is looked up in: the environment's (the last one wins,
 * as everywhere in the builder), else the default. */
static const char *find_path(char *const *envp)
{
	const char *path = RUN_DEFAULT_PATH;

	for (size_t i = 0; envp && envp[i]; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	return path;
}

static int write_new_file(const char *path, const void *data, size_t len)
{
	_cleanup_close_ int fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0)
		return -errno;
	if (fchmod(fd, 0644) < 0)
		return -errno;
	return write_all(fd, data, len);
}

/* The files bound on /etc/hosts and /etc/resolv.conf, as BuildKit makes
 * them: a fixed hosts file naming the hostname, the host's resolv.conf
 * (empty when the host has none). */
static int make_etc_files(struct run_ctx *c, const char *hostname, cairn_error **err)
{
	const char *tmp = getenv("TMPDIR");
	_cleanup_free_ char *hosts = NULL, *resolv = NULL;
	size_t resolv_len = 0;
	int r;

	if (!tmp || !*tmp)
		tmp = "/tmp";
	snprintf(c->tmpdir, sizeof(c->tmpdir), "%s/cairn-run-XXXXXX", tmp);
	if (!mkdtemp(c->tmpdir)) {
		r = -errno;
		c->tmpdir[0] = '\0';
		return cairn_error_set(err, r, "run: creating a directory in %s: %s", tmp,
				       strerror(-r));
	}
	snprintf(c->hosts, sizeof(c->hosts), "%s/hosts", c->tmpdir);
	snprintf(c->resolv, sizeof(c->resolv), "%s/resolv.conf", c->tmpdir);

	if (asprintf(&hosts, "127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		     hostname) < 0)
		return cairn_error_set(err, -ENOMEM, "run: out of memory");
	r = write_new_file(c->hosts, hosts, strlen(hosts));
	if (r < 0)
		return cairn_error_set(err, r, "run: writing %s: %s", c->hosts, strerror(-r));

	r = read_file("/etc/resolv.conf", 1 << 20, &resolv, &resolv_len);
	if (r < 0 && r != -ENOENT)
		return cairn_error_set(err, r, "run: reading /etc/resolv.conf: %s", strerror(-r));
	r = write_new_file(c->resolv, resolv ? resolv : "", resolv_len);
	if (r < 0)
		return cairn_error_set(err, r, "run: writing %s: %s", c->resolv, strerror(-r));
	return 0;
}

/* A missing working directory is made and kept (BuildKit's runc executor
 * does this with MkdirAllAndChown 0755 to the command's user). */
static int make_cwd(struct run_ctx *c, const char *cwd, uid_t uid, gid_t gid, cairn_error **err)
{
	const struct run_mkpath how = {.chown = true, .uid = uid, .gid = gid};
	_cleanup_close_ int fd = run_root_mkpath(c->rootfd, cwd, true, &how);
	struct stat st;

	if (fd < 0)
		return cairn_error_set(err, fd, "run: creating the working directory %s: %s", cwd,
				       strerror(-fd));
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
		return cairn_error_set(err, -ENOTDIR, "run: working directory %s: %s", cwd,
				       strerror(ENOTDIR));
	return 0;
}

static int make_stubs(struct run_ctx *c, cairn_error **err)
{
	const struct run_mkpath how = {.log = &c->stubs};

	for (size_t i = 0; i < c->ops.n; i++) {
		const struct run_op *op = &c->ops.v[i];
		if (!run_op_needs_stub(op))
			continue;
		_cleanup_close_ int fd = run_root_mkpath(c->rootfd, op->target, op->target_dir, &how);
		struct stat st;
		if (fd < 0)
			return cairn_error_set(err, fd, "run: creating the mount point %s: %s",
					       op->target, strerror(-fd));
		/* the kernel would only say EINVAL */
		if (fstat(fd, &st) == 0 && !!S_ISDIR(st.st_mode) != op->target_dir)
			return cairn_error_set(err, op->target_dir ? -ENOTDIR : -EISDIR,
					       "run: mount point %s is %s, the mount %s", op->target,
					       op->target_dir ? "not a directory" : "a directory",
					       op->target_dir ? "a directory" : "a file");
	}
	return 0;
}

/* A descriptor at 3 or above: the child puts its stdio on 0..2. */
static int fd_above_stdio(int *fd)
{
	if (*fd > 2)
		return 0;
	int nfd = fcntl(*fd, F_DUPFD_CLOEXEC, 3);
	if (nfd < 0)
		return -errno;
	close(*fd);
	*fd = nfd;
	return 0;
}

static int open_fds(struct run_ctx *c, const struct cairn_run_spec *spec, cairn_error **err)
{
	int p[2];

	c->rootfd = open(spec->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->rootfd < 0)
		return cairn_error_set(err, -errno, "run: rootfs %s: %s", spec->rootfs,
				       strerror(errno));
	c->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (c->null_fd < 0)
		return cairn_error_set(err, -errno, "run: opening /dev/null: %s", strerror(errno));
	/* non-blocking: the parent reads it only after the child is gone, and
	 * a record (< PIPE_BUF) always fits */
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return cairn_error_set(err, -errno, "run: pipe: %s", strerror(errno));
	c->err_rd = p[0];
	c->err_wr = p[1];
	if (fd_above_stdio(&c->err_rd) < 0 || fd_above_stdio(&c->err_wr) < 0)
		return cairn_error_set(err, -errno, "run: dup: %s", strerror(errno));
	return 0;
}

static void fill_plan(struct run_ctx *c, const struct cairn_run_spec *spec, const char *hostname)
{
	long max = sysconf(_SC_OPEN_MAX);

	c->plan = (struct run_plan){
		.rootfs = spec->rootfs,
		.argv = spec->argv,
		.envp = spec->envp,
		.path = find_path(spec->envp),
		.cwd = spec->cwd ? spec->cwd : "/",
		.hostname = hostname,
		.uid = spec->uid,
		.gid = spec->gid,
		.groups = spec->groups,
		.n_groups = spec->n_groups,
		.new_net = spec->network == CAIRN_RUN_NET_NONE,
		.ops = c->ops.v,
		.n_ops = c->ops.n,
		.out_fd = spec->out_fd,
		.null_fd = c->null_fd,
		.err_fd = c->err_wr,
		.max_fd = max > 0 && max < (1 << 20) ? (int) max : (1 << 20),
	};
	if (!c->plan.envp) {
		static char *const empty[] = {NULL};
		c->plan.envp = empty;
	}
}

/* clone3, or clone where seccomp profiles still refuse clone3 (ENOSYS).
 * Exit signal 0 rather than SIGCHLD: no other waitpid(-1) in the process
 * (and no SIGCHLD set to SIG_IGN) can take the child's status from us; we
 * wait with __WALL. */
static pid_t run_clone(uint64_t flags)
{
	struct clone_args args = {.flags = flags, .exit_signal = 0};
	long pid = syscall(SYS_clone3, &args, sizeof(args));

	if (pid < 0 && errno == ENOSYS) {
#if defined(__s390__) || defined(__CRIS__)
		pid = syscall(SYS_clone, 0, (unsigned long) flags, NULL, NULL, 0);
#else
		pid = syscall(SYS_clone, (unsigned long) flags, 0, NULL, NULL, 0);
#endif
	}
	return (pid_t) pid;
}

static int spawn_and_wait(struct run_ctx *c, int *ret_status, cairn_error **err)
{
	uint64_t flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
	struct run_child_error ce;
	sigset_t all, old;
	int status, e;

	if (c->plan.new_net)
		flags |= CLONE_NEWNET;
	/* no handler of ours may run in the child before it resets them */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid_t pid = run_clone(flags);
	if (pid == 0)
		run_child(&c->plan);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return cairn_error_set(err, -e, "run: creating the sandbox: %s", strerror(e));

	/* our copy of the write end would keep the pipe open */
	close(steal_fd(&c->err_wr));
	while (waitpid(pid, &status, __WALL) < 0)
		if (errno != EINTR)
			return cairn_error_set(err, -errno, "run: waiting for the command: %s",
					       strerror(errno));
	ssize_t n = read(c->err_rd, &ce, sizeof(ce));
	if (n == (ssize_t) sizeof(ce)) {
		ce.what[sizeof(ce.what) - 1] = '\0';
		return cairn_error_set(err, -ce.err, "run: %s: %s", ce.what, strerror(ce.err));
	}
	if (n > 0)
		return cairn_error_set(err, -EIO, "run: the sandbox setup died");
	*ret_status = status;
	return 0;
}

int cairn_run(const struct cairn_run_spec *spec, int *ret_status, cairn_error **err)
{
	_cleanup_(run_ctx_done) struct run_ctx c = {.rootfd = -1, .null_fd = -1, .err_rd = -1,
						    .err_wr = -1};
	const char *hostname;
	int r;

	r = check_spec(spec, ret_status, err);
	if (r < 0)
		return r;
	hostname = spec->hostname ? spec->hostname : RUN_DEFAULT_HOSTNAME;
	r = open_fds(&c, spec, err);
	if (r < 0)
		return r;
	r = make_etc_files(&c, hostname, err);
	if (r < 0)
		return r;
	r = run_plan_ops(&c.ops, &c.strings, spec, c.hosts, c.resolv, err);
	if (r < 0)
		return r;
	r = make_cwd(&c, spec->cwd ? spec->cwd : "/", spec->uid, spec->gid, err);
	if (r < 0)
		return r;
	/* from here on the stubs exist; run_ctx_done removes them whatever happens */
	r = make_stubs(&c, err);
	if (r < 0)
		return r;
	fill_plan(&c, spec, hostname);
	return spawn_and_wait(&c, ret_status, err);
}
