/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The list of setup operations for one run: the standard container mounts
 * as runc sets them up for BuildKit's default spec, then the caller's, then
 * Docker's masked and read-only paths (last, so that nothing mounted later
 * uncovers them).
 */
#include <sys/mount.h>
#include <sys/stat.h>

#include "run-internal.h"

#define RO_NOSUID_NODEV_NOEXEC                                                                     \
	(MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

static const struct run_op run_std_ops[] = {
	{
		.kind = RUN_OP_FS,
		.target = "/proc",
		.target_dir = true,
		.fstype = "proc",
		.attr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
	},
	{
		.kind = RUN_OP_FS,
		.target = "/dev",
		.target_dir = true,
		.fstype = "tmpfs",
		.opts = {{"mode", "755"}, {"size", "65536k"}},
		.n_opts = 2,
		.attr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
	},
	{.kind = RUN_OP_DEVNODES, .target = "/dev"},
	{
		.kind = RUN_OP_FS,
		.target = "/dev/pts",
		.target_dir = true,
		.fstype = "devpts",
		.opts = {{"newinstance", NULL}, {"ptmxmode", "0666"}, {"mode", "0620"}, {"gid", "5"}},
		.n_opts = 4,
		.attr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
	},
	{
		.kind = RUN_OP_FS,
		.target = "/dev/shm",
		.target_dir = true,
		.fstype = "tmpfs",
		.opts = {{"mode", "1777"}, {"size", "65536k"}},
		.n_opts = 2,
		.attr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
	},
	{
		.kind = RUN_OP_FS,
		.target = "/dev/mqueue",
		.target_dir = true,
		.fstype = "mqueue",
		.attr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
	},
	{
		.kind = RUN_OP_FS,
		.target = "/sys",
		.target_dir = true,
		.fstype = "sysfs",
		.attr = RO_NOSUID_NODEV_NOEXEC,
		.source = "/sys",
	},
};

/* containerd's default spec (which BuildKit uses) */
static const char *const run_masked_paths[] = {
	"/proc/acpi",	     "/proc/asound",	 "/proc/kcore",	      "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi",	     "/sys/firmware",	 "/sys/devices/virtual/powercap",
};
static const char *const run_readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

char *run_clean_path(arena *a, const char *path)
{
	size_t len = strlen(path), n = 0;
	char *out = arena_alloc(a, len + 2);

	if (!out)
		return NULL;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t cl = (size_t) (end - p);
		if (cl == 0 || (cl == 1 && p[0] == '.')) {
			/* nothing */
		} else if (cl == 2 && p[0] == '.' && p[1] == '.') {
			while (n > 0 && out[--n] != '/')
				;
		} else {
			out[n++] = '/';
			memcpy(out + n, p, cl);
			n += cl;
		}
		p = end;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return out;
}

/* Below /dev, /proc or /sys the target lies in a filesystem the child
 * mounts itself: nothing to prepare in the rootfs. */
bool run_op_needs_stub(const struct run_op *op)
{
	static const char *const own[] = {"/dev/", "/proc/", "/sys/"};

	if (op->kind != RUN_OP_FS && op->kind != RUN_OP_BIND)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(own); i++)
		if (strncmp(op->target, own[i], strlen(own[i])) == 0)
			return false;
	return true;
}

static struct run_op *ops_add(struct run_ops *ops)
{
	if (ARRAY_RESERVE(ops->v, ops->cap, ops->n + 1, 32) < 0)
		return NULL;
	struct run_op *op = &ops->v[ops->n++];
	*op = (struct run_op){0};
	return op;
}

static int add_file_bind(struct run_ops *ops, const char *source, const char *target)
{
	struct run_op *op = ops_add(ops);

	if (!op)
		return -ENOMEM;
	*op = (struct run_op){
		.kind = RUN_OP_BIND,
		.target = target,
		.source = source,
		.attr = RO_NOSUID_NODEV_NOEXEC,
	};
	return 0;
}

static int plan_bind(struct run_op *op, const struct cairn_run_mount *m, cairn_error **err)
{
	struct stat st;

	if (!m->source)
		return cairn_error_set(err, -EINVAL, "run: bind on %s without a source", op->target);
	if (stat(m->source, &st) < 0) {
		int r = -errno;
		return cairn_error_set(err, r, "run: bind source %s: %s", m->source, strerror(-r));
	}
	op->kind = RUN_OP_BIND;
	op->source = m->source;
	op->target_dir = S_ISDIR(st.st_mode);
	op->attr = MOUNT_ATTR_NODEV | (m->readonly ? MOUNT_ATTR_RDONLY : 0);
	return 0;
}

static int plan_tmpfs(struct run_op *op, arena *a, const struct cairn_run_mount *m)
{
	char mode[16], size[32];

	op->kind = RUN_OP_FS;
	op->fstype = "tmpfs";
	op->target_dir = true;
	op->attr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (m->readonly ? MOUNT_ATTR_RDONLY : 0);
	snprintf(mode, sizeof(mode), "%o", m->mode ? m->mode : 01777);
	op->opts[op->n_opts++] = (struct run_fsopt){"mode", arena_strndup(a, mode, strlen(mode))};
	if (m->size) {
		snprintf(size, sizeof(size), "%llu", (unsigned long long) m->size);
		op->opts[op->n_opts++] = (struct run_fsopt){"size", arena_strndup(a, size, strlen(size))};
	}
	for (size_t i = 0; i < op->n_opts; i++)
		if (!op->opts[i].value)
			return -ENOMEM;
	return 0;
}

static int add_user_mount(struct run_ops *ops, arena *a, const struct cairn_run_mount *m,
			  cairn_error **err)
{
	struct run_op *op = ops_add(ops);

	if (!op)
		return -ENOMEM;
	if (!m->target || m->target[0] != '/')
		return cairn_error_set(err, -EINVAL, "run: mount target \"%s\" is not absolute",
				       m->target ? m->target : "");
	op->target = run_clean_path(a, m->target);
	if (!op->target)
		return -ENOMEM;
	if (strcmp(op->target, "/") == 0)
		return cairn_error_set(err, -EINVAL, "run: cannot mount over /");
	switch (m->type) {
	case CAIRN_RUN_BIND:
		return plan_bind(op, m, err);
	case CAIRN_RUN_TMPFS:
		return plan_tmpfs(op, a, m);
	}
	return cairn_error_set(err, -EINVAL, "run: mount on %s: unknown type %d", op->target,
			       (int) m->type);
}

static int add_protections(struct run_ops *ops)
{
	for (size_t i = 0; i < ARRAY_SIZE(run_masked_paths); i++) {
		struct run_op *op = ops_add(ops);
		if (!op)
			return -ENOMEM;
		*op = (struct run_op){.kind = RUN_OP_MASK, .target = run_masked_paths[i],
				      .attr = RO_NOSUID_NODEV_NOEXEC, .optional = true};
	}
	for (size_t i = 0; i < ARRAY_SIZE(run_readonly_paths); i++) {
		struct run_op *op = ops_add(ops);
		if (!op)
			return -ENOMEM;
		*op = (struct run_op){.kind = RUN_OP_RDONLY, .target = run_readonly_paths[i],
				      .attr = RO_NOSUID_NODEV_NOEXEC, .optional = true};
	}
	return 0;
}

int run_plan_ops(struct run_ops *ops, arena *a, const struct cairn_run_spec *spec,
		 const char *hosts, const char *resolv, cairn_error **err)
{
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(run_std_ops); i++) {
		struct run_op *op = ops_add(ops);
		if (!op)
			return cairn_error_set(err, -ENOMEM, "run: out of memory");
		*op = run_std_ops[i];
	}
	if (add_file_bind(ops, hosts, "/etc/hosts") < 0 ||
	    add_file_bind(ops, resolv, "/etc/resolv.conf") < 0)
		return cairn_error_set(err, -ENOMEM, "run: out of memory");
	for (size_t i = 0; i < spec->n_mounts; i++) {
		r = add_user_mount(ops, a, &spec->mounts[i], err);
		if (r < 0)
			return cairn_error_from(err, r, "run: mount %s", spec->mounts[i].target);
	}
	if (add_protections(ops) < 0)
		return cairn_error_set(err, -ENOMEM, "run: out of memory");
	return 0;
}
