/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Workspaces: `cairn mount / umount / commit / diff / mounts` on top of
 * the daemon (daemon.c), its registry and its control socket.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "snapshot-internal.h"

int cairn_workspace_mount(const char *root, const char *image, const char *dir,
			  const struct cairn_mount_options *opts, cairn_error **err)
{
	struct ws_paths p;
	int r = ws_paths_get(root, dir, &p);
	if (r < 0)
		return cairn_error_set(err, r, "%s: %s", dir, cairn_strerror(r));
	_cleanup_json_ json_t *rec = NULL;
	if (ws_record_read(&p, &rec) >= 0) {
		if (ws_record_alive(rec)) {
			r = cairn_error_set(err, -EBUSY,
					    "%s: already a cairn workspace (pid %lld); "
					    "'cairn umount %s' first",
					    p.dir,
					    (long long) json_integer_value(json_object_get(rec, "pid")),
					    dir);
			ws_paths_clear(&p);
			return r;
		}
		ws_cleanup_stale(&p, rec); /* its daemon died: the mount is dead */
	}
	ws_detach_if_stale(p.dir);
	struct stat st;
	if (stat(p.dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		r = cairn_error_set(err, -ENOTDIR, "%s: %s", dir,
				    errno == ENOENT ? "no such directory" : "not a directory");
		ws_paths_clear(&p);
		return r;
	}
	struct ws_spec spec = {.root = root,
			       .image = image ? image : "scratch",
			       .dir = p.dir,
			       .readonly = opts && opts->readonly};
	r = ws_spawn(&spec, err);
	ws_paths_clear(&p);
	return r;
}

/* Waits (up to ~10 s) for a daemon to exit after it said it would. */
static void wait_exit(pid_t pid)
{
	for (int i = 0; i < 1000 && pid_running(pid); i++)
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
}

int cairn_workspace_unmount(const char *root, const char *dir, unsigned flags,
			    bool *ret_discarded, cairn_error **err)
{
	struct ws_paths p;
	int r = ws_paths_get(root, dir, &p);
	if (r < 0)
		return cairn_error_set(err, r, "%s: %s", dir, cairn_strerror(r));
	_cleanup_json_ json_t *rec = NULL;
	bool discarded = false;
	if (ws_record_read(&p, &rec) < 0) {
		struct stat st;
		bool dead = stat(p.dir, &st) < 0 && errno == ENOTCONN;
		if (dead)
			ws_cleanup_stale(&p, rec);
		else
			r = cairn_error_set(err, -ENOENT, "%s: not a cairn workspace", dir);
	} else if (!ws_record_alive(rec)) {
		ws_cleanup_stale(&p, rec);
		discarded = true; /* whatever it had went with it */
	} else {
		pid_t pid = (pid_t) json_integer_value(json_object_get(rec, "pid"));
		_cleanup_json_ json_t *req =
		    json_pack("{s:s, s:b}", "op", "umount", "lazy", !!(flags & CAIRN_UMOUNT_LAZY));
		json_t *reply = NULL;
		cairn_error *cerr = NULL;
		r = ws_call(root, p.dir, req, &reply, &cerr);
		if (r >= 0) {
			discarded = json_is_true(json_object_get(reply, "discarded"));
			json_decref(reply);
			wait_exit(pid);
		} else if (r == -ECONNREFUSED || r == -ENOENT ||
			   ((flags & CAIRN_UMOUNT_LAZY) && r != -EBUSY)) {
			/* it died just now, or does not answer and we were told to force */
			kill(pid, SIGKILL);
			wait_exit(pid);
			ws_cleanup_stale(&p, rec);
			discarded = true;
			r = 0;
		}
		if (r < 0 && err && !*err)
			*err = steal_pointer(&cerr);
		cairn_error_free(cerr);
	}
	ws_paths_clear(&p);
	if (r >= 0 && ret_discarded)
		*ret_discarded = discarded;
	return r;
}

int cairn_workspace_commit(const char *root, const char *dir, const char *name, char **ret_id,
			   struct cairn_fs_commit_result *ret, cairn_error **err)
{
	_cleanup_json_ json_t *req = json_pack("{s:s, s:s?}", "op", "commit", "name", name);
	_cleanup_json_ json_t *reply = NULL;
	if (!req)
		return -ENOMEM;
	int r = ws_call(root, dir, req, &reply, err);
	if (r < 0)
		return r;
	const char *id = json_string_value(json_object_get(reply, "id"));
	if (ret) {
		*ret = (struct cairn_fs_commit_result){
		    .entries = (uint64_t) json_integer_value(json_object_get(reply, "entries")),
		    .new_files = (uint64_t) json_integer_value(json_object_get(reply, "new_files")),
		    .new_bytes = (uint64_t) json_integer_value(json_object_get(reply, "new_bytes")),
		    .reused_files =
			(uint64_t) json_integer_value(json_object_get(reply, "reused_files")),
		};
		const char *layer = json_string_value(json_object_get(reply, "layer"));
		const char *diff = json_string_value(json_object_get(reply, "diff_id"));
		if (layer)
			cairn_id_parse(layer, &ret->layer);
		if (diff)
			cairn_digest_parse(diff, false, &ret->diff_id);
	}
	if (ret_id && !(*ret_id = strdup(id ? id : "")))
		return -ENOMEM;
	return 0;
}

int cairn_workspace_diff(const char *root, const char *dir, cairn_change_fn fn, void *userdata,
			 cairn_error **err)
{
	_cleanup_json_ json_t *req = json_pack("{s:s}", "op", "diff");
	_cleanup_json_ json_t *reply = NULL;
	int r = ws_call(root, dir, req, &reply, err);
	if (r < 0)
		return r;
	json_t *changes = json_object_get(reply, "changes");
	size_t i;
	json_t *c;
	json_array_foreach(changes, i, c)
	{
		const char *k = json_string_value(json_array_get(c, 0));
		const char *path = json_string_value(json_array_get(c, 1));
		if (!k || !path)
			return cairn_error_set(err, -EPROTO, "%s: garbled diff from its daemon", dir);
		if ((r = fn((cairn_change_kind) k[0], path, userdata)) != 0)
			return r;
	}
	return 0;
}

static int list_one(const char *root, const char *name, cairn_mount_fn fn, void *userdata)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	size_t len;
	if (asprintf(&path, "%s/run/mounts/%s", root, name) < 0)
		return -ENOMEM;
	if (read_file(path, 1 << 20, &buf, &len) < 0)
		return 0; /* gone meanwhile */
	_cleanup_json_ json_t *j = json_loadb(buf, len, 0, NULL);
	if (!json_is_object(j))
		return 0;
	struct cairn_mount_info m = {
	    .dir = (char *) json_string_value(json_object_get(j, "dir")),
	    .image = (char *) json_string_value(json_object_get(j, "image")),
	    .image_id = (char *) json_string_value(json_object_get(j, "image_id")),
	    .snapshot = (char *) json_string_value(json_object_get(j, "snapshot")),
	    .pid = (pid_t) json_integer_value(json_object_get(j, "pid")),
	    .readonly = json_is_true(json_object_get(j, "readonly")),
	    .stale = !ws_record_alive(j),
	};
	return m.dir ? fn(&m, userdata) : 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

int cairn_workspace_list(const char *root, cairn_mount_fn fn, void *userdata, cairn_error **err)
{
	_cleanup_free_ char *dir = NULL;
	if (asprintf(&dir, "%s/run/mounts", root) < 0)
		return -ENOMEM;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : cairn_error_set(err, -errno, "%s: %m", dir);
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	int r = 0;
	while (r >= 0 && (de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		if (ARRAY_RESERVE(names, cap, n + 1, 16) < 0 || !(names[n] = strdup(de->d_name)))
			r = -ENOMEM;
		else
			n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; r >= 0 && i < n; i++)
		r = list_one(root, names[i], fn, userdata);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}
