/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * WORKDIR /x (other than /): BuildKit makes a mkdir -p file op, owned by
 * the current USER, so it is a layer step of its own (an empty layer when
 * the directory exists).  Components resolve inside the root: a symlink
 * in the image is followed as the image sees it.
 */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "passwd.h"
#include "solve.h"

static int open_in_root(int root, const char *path)
{
	struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	int fd = (int) syscall(SYS_openat2, root, path, &how, sizeof(how));
	return fd < 0 ? -errno : fd;
}

static int workdir_mkdir(struct build *b, int root, const char *wd, uid_t uid, gid_t gid,
		   cairn_error **err)
{
	_cleanup_free_ char *p = strdup(wd);
	if (!p)
		return -ENOMEM;
	for (char *s = p + 1;; s++) {
		bool end = !*s;
		if (*s != '/' && !end)
			continue;
		*s = 0;
		int fd = open_in_root(root, p);
		if (fd == -ENOENT) {
			char *slash = strrchr(p, '/');
			*slash = 0;
			int parent = open_in_root(root, *p ? p : "/");
			*slash = '/';
			if (parent < 0)
				return cairn_error_set(err, parent, "WORKDIR %s: %s", wd, strerror(-parent));
			int k = mkdirat(parent, slash + 1, 0755);
			if (k == 0 && (fchownat(parent, slash + 1, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
				       (b->epoch >= 0 &&
					utimensat(parent, slash + 1,
						  (struct timespec[2]){{.tv_sec = b->epoch},
								       {.tv_sec = b->epoch}},
						  AT_SYMLINK_NOFOLLOW) < 0)))
				k = -1;
			int e = errno;
			close(parent);
			if (k < 0 && e != EEXIST)
				return cairn_error_set(err, -e, "WORKDIR %s: %s", wd, strerror(e));
		} else if (fd < 0) {
			return cairn_error_set(err, fd, "WORKDIR %s: %s", wd, strerror(-fd));
		} else {
			close(fd);
		}
		if (end)
			return 0;
		*s = '/';
	}
}

int step_workdir(struct build *b, struct bstage *sg, const struct df_node *n, const char *wd,
		 cairn_error **err)
{
	struct step s = {.sg = sg, .n = n};
	const char *user = json_string_value(json_object_get(bstate_config(&sg->st), "User"));
	int r = 0;
	if (asprintf(&s.created_by, "WORKDIR %s", wd) < 0 || asprintf(&s.title, "WORKDIR %s", wd) < 0)
		r = -ENOMEM;
	if (r >= 0) {
		keyhash *k = key_new(sg->st.key, "workdir");
		key_str(k, "dir", wd);
		key_str(k, "user", user);
		key_finish(k, s.key);
		r = step_cached(b, &s, err);
	}
	if (r == 0 && (r = step_fs(b, sg, err)) >= 0) {
		_cleanup_close_ int root = open(sg->fs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		uid_t uid = 0;
		gid_t gid = 0;
		_cleanup_free_ gid_t *groups = NULL;
		size_t ng = 0;
		if (root < 0)
			r = cairn_error_set(err, -errno, "%s: %m", sg->fs_dir);
		else if (user && *user)
			r = copy_lookup_user_groups(root, user, &uid, &gid, &groups, &ng, err);
		if (r >= 0)
			r = workdir_mkdir(b, root, wd, uid, gid, err);
		if (r < 0)
			r = build_error_at(b, n, r, err);
		else
			r = step_commit(b, &s, err);
	}
	if (s.vertex)
		progress_done(b->pr, s.vertex, r < 0 ? r : 0);
	step_clear(&s);
	return r < 0 ? r : 0;
}
