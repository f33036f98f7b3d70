/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The workspace daemon: a process that serves one cairn filesystem and
 * answers control requests (commit, diff, status, apply, umount) on a unix
 * socket.  `cairn mount` forks it (twice, so that it is re-parented and
 * has no controlling terminal) and waits on a pipe until it serves or
 * says why it could not.  It ends when its filesystem is unmounted (by
 * `cairn umount`, by umount(8), or on SIGTERM/SIGINT); a snapshot's daemon
 * first keeps the changes as the snapshot's checkpoint.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include <cairn/image.h>
#include <cairn/layer.h>

#include "snapshot-internal.h"

DEFINE_CLEANUP_FUNC(cairn_batch, cairn_batch_free)

struct daemon {
	const struct ws_spec *spec;
	struct ws_paths paths;
	cairn_store *store;
	cairn_fs *fs;
	char *image_id; /* what commits stack on; NULL = scratch */
	cairn_id *applied; /* layers applied on top of the base (kept for prune) */
	size_t n_applied;
	int listen_fd, sig_fd;
	bool quit;	  /* unmounted: leave the loop */
	bool no_checkpoint; /* the snapshot was committed or removed */
};

/* ---- registry record -------------------------------------------------------------- */

static unsigned long long self_start_time(void)
{
	_cleanup_free_ char *stat = NULL;
	size_t len;
	if (read_file("/proc/self/stat", 4096, &stat, &len) < 0)
		return 0;
	const char *p = strrchr(stat, ')');
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	return p ? strtoull(p + 1, NULL, 10) : 0;
}

static int registry_write(struct daemon *d)
{
	const cairn_id *chain;
	size_t n = cairn_fs_layers(d->fs, &chain);
	json_t *layers = layers_json(chain, n);
	json_t *applied = layers_json(d->applied, d->n_applied);
	_cleanup_json_ json_t *j = json_pack(
	    "{s:s, s:s, s:s, s:s?, s:s?, s:I, s:I, s:b, s:o, s:o}", "dir", d->paths.dir, "upper",
	    cairn_fs_upper_dir(d->fs), "image",
	    d->spec->image ? d->spec->image : "scratch", "image_id", d->image_id, "snapshot",
	    d->spec->snapshot, "pid", (json_int_t) getpid(), "start",
	    (json_int_t) self_start_time(), "readonly", d->spec->readonly, "layers", layers,
	    "applied", applied);
	if (!j)
		return -ENOMEM;
	_cleanup_free_ char *s = json_dumps(j, JSON_COMPACT);
	return s ? write_file_atomic(d->paths.json, s, strlen(s), 0600) : -ENOMEM;
}

/* ---- requests ----------------------------------------------------------------------- */

typedef json_t *(*req_fn)(struct daemon *d, json_t *req, cairn_error **err);

static json_t *commit_result_json(const struct cairn_fs_commit_result *res)
{
	char layer[2 * CAIRN_ID_LEN + 1];
	cairn_id_hex(&res->layer, layer);
	_cleanup_free_ char *diff = cairn_digest_string(&res->diff_id);
	return json_pack("{s:b, s:s, s:s?, s:I, s:I, s:I, s:I}", "ok", 1, "layer", layer, "diff_id",
			 diff, "entries", (json_int_t) res->entries, "new_files",
			 (json_int_t) res->new_files, "new_bytes", (json_int_t) res->new_bytes,
			 "reused_files", (json_int_t) res->reused_files);
}

typedef int (*stage_fn)(struct daemon *d, cairn_batch *b, const struct cairn_fs_commit_result *res,
			void *ud, cairn_error **err);

/* Commits the fs's changes as a layer in one batch with whatever stage()
 * adds; with rebase the layer becomes the filesystem's new base. */
static int commit_layer(struct daemon *d, struct cairn_fs_commit_result *res, stage_fn stage,
			void *ud, bool rebase, cairn_error **err)
{
	_cleanup_(cairn_batch_freep) cairn_batch *b = NULL;
	int r = cairn_batch_new(d->store, &b);
	if (r < 0)
		return cairn_error_from(err, r, "starting a batch");
	if ((r = cairn_fs_commit_begin(d->fs, b, res, err)) < 0)
		return r;
	r = stage ? stage(d, b, res, ud, err) : 0;
	if (r >= 0)
		r = cairn_batch_commit(b, err);
	cairn_fs_commit_end(d->fs, r >= 0 && rebase);
	return r;
}

static int commit_with(struct daemon *d, struct cairn_fs_commit_result *res, stage_fn stage,
		       void *ud, cairn_error **err)
{
	return commit_layer(d, res, stage, ud, true, err);
}

static int stage_image(struct daemon *d, cairn_batch *b, const struct cairn_fs_commit_result *res,
		       void *ud, cairn_error **err)
{
	json_t *req = ud;
	struct cairn_image_commit_options o = {
	    .name = json_string_value(json_object_get(req, "name")),
	    .created_by = "cairn commit",
	    .comment = json_string_value(json_object_get(req, "comment")),
	    .created = -1,
	};
	char *id = NULL;
	int r = cairn_image_commit(b, d->image_id, &res->layer, &res->diff_id, res->diff_size, &o,
				   &id, err);
	if (r >= 0) {
		free(d->image_id);
		d->image_id = id;
	}
	return r;
}

static json_t *req_commit(struct daemon *d, json_t *req, cairn_error **err)
{
	if (d->spec->snapshot)
		return cairn_error_set(err, -EINVAL, "a snapshot is committed with 'cairn snapshot "
						     "commit'"),
		       NULL;
	_cleanup_free_ char *old = d->image_id ? strdup(d->image_id) : NULL;
	struct cairn_fs_commit_result res;
	if (commit_with(d, &res, stage_image, req, err) < 0) {
		free(d->image_id);
		d->image_id = steal_pointer(&old);
		return NULL;
	}
	registry_write(d);
	json_t *j = commit_result_json(&res);
	if (j)
		json_object_set_new(j, "id", json_string(d->image_id));
	return j;
}

static int stage_snapshot(struct daemon *d, cairn_batch *b, const struct cairn_fs_commit_result *res,
			  void *ud, cairn_error **err)
{
	return snap_stage_commit(b, d->spec->snapshot, ud, &res->layer, err);
}

static json_t *req_snapshot_commit(struct daemon *d, json_t *req, cairn_error **err)
{
	const char *name = json_string_value(json_object_get(req, "name"));
	if (!d->spec->snapshot || !name)
		return cairn_error_set(err, -EINVAL, "not a snapshot mount"), NULL;
	struct cairn_fs_commit_result res;
	if (commit_with(d, &res, stage_snapshot, (void *) name, err) < 0)
		return NULL;
	d->no_checkpoint = true;
	d->quit = true;
	return commit_result_json(&res);
}

/* The changes as a layer in the store, the base unchanged (snapshot diff). */
static json_t *req_layer(struct daemon *d, json_t *req, cairn_error **err)
{
	struct cairn_fs_commit_result res;
	if (commit_layer(d, &res, NULL, NULL, false, err) < 0)
		return NULL;
	return commit_result_json(&res);
}

static int diff_collect(cairn_change_kind kind, const char *path, void *userdata)
{
	char k[2] = {(char) kind, 0};
	return json_array_append_new(userdata, json_pack("[s,s]", k, path));
}

static json_t *req_diff(struct daemon *d, json_t *req, cairn_error **err)
{
	json_t *changes = json_array();
	if (!changes || cairn_fs_diff(d->fs, diff_collect, changes, err) < 0) {
		json_decref(changes);
		return NULL;
	}
	return json_pack("{s:b, s:o}", "ok", 1, "changes", changes);
}

static json_t *req_status(struct daemon *d, json_t *req, cairn_error **err)
{
	struct cairn_fs_usage u;
	cairn_fs_usage(d->fs, &u);
	return json_pack("{s:b, s:b, s:I, s:I, s:I}", "ok", 1, "changed", cairn_fs_changed(d->fs),
			 "inodes", (json_int_t) u.inodes, "upper_files", (json_int_t) u.upper_files,
			 "upper_bytes", (json_int_t) u.upper_bytes);
}

static json_t *req_apply(struct daemon *d, json_t *req, cairn_error **err)
{
	cairn_id layer;
	const char *hex = json_string_value(json_object_get(req, "layer"));
	if (!hex || cairn_id_parse(hex, &layer) < 0)
		return cairn_error_set(err, -EINVAL, "apply: bad layer id"), NULL;
	cairn_id *v = realloc(d->applied, (d->n_applied + 1) * sizeof(*v));
	if (!v)
		return cairn_error_set(err, -ENOMEM, "apply: out of memory"), NULL;
	d->applied = v;
	v[d->n_applied++] = layer;
	registry_write(d); /* prune must keep it */
	if (cairn_fs_apply(d->fs, &layer, err) < 0)
		return NULL;
	return json_pack("{s:b}", "ok", 1);
}

static json_t *req_umount(struct daemon *d, json_t *req, cairn_error **err)
{
	bool lazy = json_is_true(json_object_get(req, "lazy"));
	bool changed = cairn_fs_changed(d->fs);
	int r = cairn_fs_unmount(d->fs, lazy ? CAIRN_FS_UMOUNT_LAZY : 0);
	if (r == -EBUSY)
		return cairn_error_set(err, r, "%s: target is busy (processes use it; "
					       "'cairn umount --force' detaches it anyway)",
				       d->paths.dir),
		       NULL;
	d->quit = true;
	return json_pack("{s:b, s:b}", "ok", 1, "discarded", changed && !d->spec->snapshot);
}

static const struct {
	const char *op;
	req_fn fn;
	bool writes;
} requests[] = {
    {"commit", req_commit, true},   {"snapshot-commit", req_snapshot_commit, true},
    {"diff", req_diff, false},	    {"status", req_status, false},
    {"apply", req_apply, true},	    {"umount", req_umount, false},
    {"layer", req_layer, false},
};

static void serve_request(struct daemon *d, int fd)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid()))
		return;
	_cleanup_free_ char *line = NULL;
	_cleanup_json_ json_t *req = NULL, *reply = NULL;
	_cleanup_error_ cairn_error *err = NULL;
	if (ws_read_line(fd, 1 << 20, &line) < 0 || !(req = json_loads(line, 0, NULL)))
		return;
	const char *op = json_string_value(json_object_get(req, "op"));
	for (size_t i = 0; op && i < ARRAY_SIZE(requests); i++) {
		if (strcmp(op, requests[i].op) != 0)
			continue;
		if (requests[i].writes && d->spec->readonly)
			cairn_error_set(&err, -EROFS, "%s: mounted read-only", d->paths.dir);
		else
			reply = requests[i].fn(d, req, &err);
		break;
	}
	if (!reply)
		reply = json_pack("{s:b, s:s, s:i}", "ok", 0, "error",
				  err && err->msg ? err->msg : op ? "request failed" : "unknown request",
				  "code", err ? err->code : -EINVAL);
	if (reply)
		ws_send_json(fd, reply);
}

/* ---- setup and the loop --------------------------------------------------------------- */

static int listen_on(const char *path, int *ret)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	*ret = fd;
	return 0;
}

static int resolve_layers(struct daemon *d, cairn_id **ret, size_t *ret_n, cairn_error **err)
{
	const struct ws_spec *sp = d->spec;
	if (sp->snapshot) {
		struct snap_rec rec;
		int r = snap_get(d->store, sp->snapshot, &rec);
		if (r < 0)
			return cairn_error_set(err, r == -ENOENT ? CAIRN_E_NOTFOUND : r,
					       "snapshot \"%s\": %s", sp->snapshot,
					       r == -ENOENT ? "does not exist" : cairn_strerror(r));
		*ret = steal_pointer(&rec.layers);
		*ret_n = rec.n_layers;
		if (rec.has_checkpoint) {
			d->applied = malloc(sizeof(*d->applied));
			if (d->applied)
				d->applied[d->n_applied++] = rec.checkpoint;
		}
		snap_rec_clear(&rec);
		return 0;
	}
	*ret = NULL;
	*ret_n = 0;
	if (!sp->image || strcmp(sp->image, "scratch") == 0)
		return 0;
	cairn_image *img = NULL;
	int r = cairn_image_open(d->store, sp->image, &img, err);
	if (r < 0)
		return r;
	size_t n = cairn_image_layer_count(img);
	cairn_id *v = calloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; v && i < n; i++)
		cairn_image_layer(img, i, &v[i], NULL);
	d->image_id = strdup(cairn_image_id(img));
	cairn_image_free(img);
	if (!v || !d->image_id) {
		free(v);
		return -ENOMEM;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int daemon_setup(struct daemon *d, cairn_error **err)
{
	const struct ws_spec *sp = d->spec;
	int r = cairn_store_open(sp->root, NULL, &d->store, err);
	if (r < 0)
		return r;
	_cleanup_free_ cairn_id *layers = NULL;
	size_t n = 0;
	if ((r = resolve_layers(d, &layers, &n, err)) < 0)
		return r;
	struct cairn_fs_options o = {.readonly = sp->readonly, .debug = getenv("CAIRN_FS_DEBUG") != NULL};
	if ((r = cairn_fs_new(d->store, layers, n, &o, &d->fs, err)) < 0)
		return r;
	for (size_t i = 0; i < d->n_applied; i++)
		if ((r = cairn_fs_apply(d->fs, &d->applied[i], err)) < 0)
			return r;
	if ((r = listen_on(d->paths.sock, &d->listen_fd)) < 0)
		return cairn_error_set(err, r, "control socket %s: %s", d->paths.sock,
				       cairn_strerror(r));
	if ((r = cairn_fs_mount(d->fs, d->paths.dir, err)) < 0)
		return r;
	if ((r = registry_write(d)) < 0)
		return cairn_error_set(err, r, "writing %s: %s", d->paths.json, cairn_strerror(r));
	return 0;
}

/* An active snapshot's changes survive an unmount as its checkpoint. */
static int stage_checkpoint(struct daemon *d, cairn_batch *b,
			    const struct cairn_fs_commit_result *res, void *ud, cairn_error **err)
{
	return snap_stage_checkpoint(b, d->spec->snapshot, &res->layer);
}

static void checkpoint(struct daemon *d)
{
	if (!d->spec->snapshot || d->spec->readonly || d->no_checkpoint || !cairn_fs_changed(d->fs))
		return;
	struct cairn_fs_commit_result res;
	_cleanup_error_ cairn_error *err = NULL;
	if (commit_with(d, &res, stage_checkpoint, NULL, &err) < 0)
		fprintf(stderr, "cairn daemon: checkpoint of snapshot %s failed: %s\n",
			d->spec->snapshot, err ? err->msg : "?");
}

static void serve_loop(struct daemon *d)
{
	struct pollfd p[3] = {{.fd = d->listen_fd, .events = POLLIN},
			      {.fd = d->sig_fd, .events = POLLIN},
			      {.fd = cairn_fs_wait_fd(d->fs), .events = POLLIN}};
	while (!d->quit) {
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[2].revents) /* unmounted by someone */
			break;
		if (p[1].revents) {
			struct signalfd_siginfo si;
			(void) !read(d->sig_fd, &si, sizeof(si));
			cairn_fs_unmount(d->fs, CAIRN_FS_UMOUNT_LAZY);
			break;
		}
		if (p[0].revents) {
			int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				serve_request(d, fd);
				close(fd);
			} else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM ||
				   errno == ENOBUFS) {
				/* the connection stays queued: wait instead of spinning */
				struct timespec pause = {0, 100 * 1000 * 1000};
				nanosleep(&pause, NULL);
			}
		}
	}
}

static void daemon_run(const struct ws_spec *spec, struct ws_paths *paths, int report_fd)
{
	struct daemon d = {.spec = spec, .paths = *paths, .listen_fd = -1, .sig_fd = -1};
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	cairn_error *err = NULL;
	int r = d.sig_fd < 0 ? -errno : daemon_setup(&d, &err);
	if (r < 0) {
		const char *msg = err && err->msg ? err->msg : cairn_strerror(r);
		(void) !write(report_fd, msg, strlen(msg));
		close(report_fd);
		unlink(paths->sock);
		cairn_fs_free(d.fs);
		_exit(1);
	}
	(void) !write(report_fd, "", 1); /* a NUL byte: serving */
	close(report_fd);
	serve_loop(&d);
	cairn_fs_unmount(d.fs, CAIRN_FS_UMOUNT_LAZY);
	checkpoint(&d);
	unlink(paths->json);
	unlink(paths->sock);
	cairn_fs_free(d.fs);
	cairn_store_free(d.store);
	_exit(0);
}

/* In the daemon: stdio to /dev/null (stderr to the log), own session. */
static void detach(const struct ws_paths *p)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int log = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(log >= 0 ? log : null, 2);
	}
	if (chdir("/") < 0)
		_exit(1);
}

int ws_spawn(const struct ws_spec *spec, cairn_error **err)
{
	struct ws_paths paths;
	int r = ws_paths_get(spec->root, spec->dir, &paths);
	if (r < 0)
		return cairn_error_set(err, r, "%s: %s", spec->dir, cairn_strerror(r));
	_cleanup_free_ char *run = NULL;
	if (asprintf(&run, "%s/run/mounts", spec->root) < 0 || (r = mkdir_p(run, 0700)) < 0) {
		ws_paths_clear(&paths);
		return cairn_error_set(err, r < 0 ? r : -ENOMEM, "cannot create %s/run/mounts",
				       spec->root);
	}
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		ws_paths_clear(&paths);
		return cairn_error_set(err, -errno, "pipe: %m");
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		setsid();
		if (fork() != 0)
			_exit(0);
		detach(&paths);
		daemon_run(spec, &paths, pfd[1]);
	}
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		ws_paths_clear(&paths);
		return cairn_error_set(err, -errno, "fork: %m");
	}
	waitpid(pid, NULL, 0);
	char msg[1024];
	ssize_t n = read_full(pfd[0], msg, sizeof(msg) - 1);
	close(pfd[0]);
	if (n == 1 && msg[0] == 0)
		r = 0;
	else if (n > 0)
		msg[n] = 0, r = cairn_error_set(err, -EIO, "%s", msg);
	else
		r = cairn_error_set(err, -EIO, "%s: the filesystem daemon died while starting (see %s)",
				    paths.dir, paths.log);
	ws_paths_clear(&paths);
	return r;
}
