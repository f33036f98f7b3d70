/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The snapshotter (containerd's model, see cairn/snapshot.h).  A mounted
 * active snapshot is served by a workspace daemon, which is asked to
 * commit, apply or produce its diff; an unmounted one is worked on in
 * this process: a cairn_fs built from its parent's layers and its
 * checkpoint, never mounted.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include <cairn/image.h>
#include <cairn/layer.h>
#include <cairn/stream.h>

#include "snapshot-internal.h"

DEFINE_CLEANUP_FUNC(cairn_batch, cairn_batch_free)
DEFINE_CLEANUP_FUNC(cairn_fs, cairn_fs_free)
DEFINE_CLEANUP_FUNC(cairn_writer, cairn_writer_free)

static int not_found(cairn_error **err, const char *key, int r)
{
	if (r == -ENOENT)
		return cairn_error_set(err, CAIRN_E_NOTFOUND, "snapshot \"%s\": does not exist", key);
	return cairn_error_set(err, r, "snapshot \"%s\": %s", key, cairn_strerror(r));
}

static int get_rec(cairn_store *s, const char *key, struct snap_rec *ret, cairn_error **err)
{
	int r = snap_get(s, key, ret);
	return r < 0 ? not_found(err, key, r) : 0;
}

/* The live daemon's mount directory of a snapshot, or NULL. */
static char *mounted_dir(cairn_store *s, const char *key)
{
	char *dir = NULL;
	if (snap_mountpoint(cairn_store_root(s), key, false, &dir) < 0)
		return NULL;
	struct ws_paths p;
	_cleanup_json_ json_t *rec = NULL;
	bool live = false;
	if (ws_paths_get(cairn_store_root(s), dir, &p) >= 0) {
		live = ws_record_read(&p, &rec) >= 0 && ws_record_alive(rec);
		if (!live && rec)
			ws_cleanup_stale(&p, rec);
		ws_paths_clear(&p);
	}
	if (!live) {
		free(dir);
		return NULL;
	}
	return dir;
}

/* ---- prepare / view ---------------------------------------------------------------- */

static int resolve_parent(cairn_store *s, const char *parent, struct snap_rec *rec,
			  cairn_error **err)
{
	if (!parent)
		return 0;
	struct snap_rec p;
	if (snap_get(s, parent, &p) >= 0) {
		int r = 0;
		if (p.kind != CAIRN_SNAPSHOT_COMMITTED)
			r = cairn_error_set(err, -EINVAL,
					    "snapshot \"%s\": a parent must be committed", parent);
		else if (!(rec->parent = strdup(parent)))
			r = -ENOMEM;
		rec->layers = steal_pointer(&p.layers);
		rec->n_layers = p.n_layers;
		rec->image = steal_pointer(&p.image);
		snap_rec_clear(&p);
		return r;
	}
	cairn_image *img = NULL;
	_cleanup_error_ cairn_error *ierr = NULL;
	if (cairn_image_open(s, parent, &img, &ierr) < 0)
		return cairn_error_set(err, CAIRN_E_NOTFOUND,
				       "parent \"%s\": neither a committed snapshot nor an image",
				       parent);
	size_t n = cairn_image_layer_count(img);
	rec->layers = calloc(n ? n : 1, sizeof(*rec->layers));
	for (size_t i = 0; rec->layers && i < n; i++)
		cairn_image_layer(img, i, &rec->layers[i], NULL);
	rec->n_layers = n;
	rec->image = strdup(cairn_image_id(img));
	cairn_image_free(img);
	return rec->layers && rec->image ? 0 : -ENOMEM;
}

static int create(cairn_store *s, const char *key, const char *parent, cairn_snapshot_kind kind,
		  cairn_error **err)
{
	if (!*key)
		return cairn_error_set(err, -EINVAL, "a snapshot key cannot be empty");
	struct snap_rec rec = {0};
	if (snap_get(s, key, &rec) >= 0) {
		snap_rec_clear(&rec);
		return cairn_error_set(err, CAIRN_E_EXISTS, "snapshot \"%s\": already exists", key);
	}
	rec = (struct snap_rec){.kind = kind, .created = time(NULL)};
	rec.updated = rec.created;
	int r = resolve_parent(s, parent, &rec, err);
	if (r >= 0 && !(rec.key = strdup(key)))
		r = -ENOMEM;
	_cleanup_(cairn_batch_freep) cairn_batch *b = NULL;
	if (r >= 0)
		r = cairn_batch_new(s, &b);
	if (r >= 0)
		r = snap_put(b, &rec);
	if (r >= 0)
		r = cairn_batch_commit(b, err);
	snap_rec_clear(&rec);
	return r < 0 ? cairn_error_from(err, r, "snapshot \"%s\"", key) : 0;
}

int cairn_snapshot_prepare(cairn_store *s, const char *key, const char *parent, cairn_error **err)
{
	return create(s, key, parent, CAIRN_SNAPSHOT_ACTIVE, err);
}

int cairn_snapshot_view(cairn_store *s, const char *key, const char *parent, cairn_error **err)
{
	return create(s, key, parent, CAIRN_SNAPSHOT_VIEW, err);
}

/* ---- mounts ------------------------------------------------------------------------------ */

int cairn_snapshot_mounts(cairn_store *s, const char *key, char **ret_dir, cairn_error **err)
{
	struct snap_rec rec;
	int r = get_rec(s, key, &rec, err);
	if (r < 0)
		return r;
	cairn_snapshot_kind kind = rec.kind;
	snap_rec_clear(&rec);
	if (kind == CAIRN_SNAPSHOT_COMMITTED)
		return cairn_error_set(err, -EINVAL,
				       "snapshot \"%s\": committed snapshots are not mounted; "
				       "prepare or view one on it",
				       key);
	char *dir = mounted_dir(s, key);
	if (dir) {
		*ret_dir = dir;
		return 0;
	}
	if ((r = snap_mountpoint(cairn_store_root(s), key, true, &dir)) < 0)
		return cairn_error_set(err, r, "snapshot \"%s\": mount point: %s", key,
				       cairn_strerror(r));
	struct ws_spec spec = {.root = cairn_store_root(s),
			       .snapshot = key,
			       .dir = dir,
			       .readonly = kind == CAIRN_SNAPSHOT_VIEW};
	if ((r = ws_spawn(&spec, err)) < 0) {
		free(dir);
		return r;
	}
	*ret_dir = dir;
	return 0;
}

int cairn_snapshot_unmount(cairn_store *s, const char *key, cairn_error **err)
{
	_cleanup_free_ char *dir = mounted_dir(s, key);
	if (!dir)
		return 0;
	return cairn_workspace_unmount(cairn_store_root(s), dir, 0, NULL, err);
}

/* ---- an unmounted active snapshot, in this process ---------------------------------------- */

static int open_fs(cairn_store *s, const struct snap_rec *rec, cairn_fs **ret, cairn_error **err)
{
	cairn_fs *fs = NULL;
	int r = cairn_fs_new(s, rec->layers, rec->n_layers, NULL, &fs, err);
	if (r >= 0 && rec->has_checkpoint)
		r = cairn_fs_apply(fs, &rec->checkpoint, err);
	if (r < 0) {
		cairn_fs_free(fs);
		return r;
	}
	*ret = fs;
	return 0;
}

/* Commits fs's changes as a layer in b and calls stage; returns the layer. */
static int fs_to_layer(cairn_fs *fs, cairn_batch *b, struct cairn_fs_commit_result *res,
		       cairn_error **err)
{
	int r = cairn_fs_commit_begin(fs, b, res, err);
	if (r < 0)
		return r;
	cairn_fs_commit_end(fs, false);
	return 0;
}

int cairn_snapshot_commit(cairn_store *s, const char *name, const char *key, cairn_error **err)
{
	if (!*name)
		return cairn_error_set(err, -EINVAL, "a snapshot name cannot be empty");
	_cleanup_free_ char *dir = mounted_dir(s, key);
	if (dir) {
		_cleanup_json_ json_t *req =
		    json_pack("{s:s, s:s}", "op", "snapshot-commit", "name", name);
		_cleanup_json_ json_t *reply = NULL;
		return ws_call(cairn_store_root(s), dir, req, &reply, err);
	}
	struct snap_rec rec;
	int r = get_rec(s, key, &rec, err);
	if (r < 0)
		return r;
	_cleanup_(cairn_fs_freep) cairn_fs *fs = NULL;
	_cleanup_(cairn_batch_freep) cairn_batch *b = NULL;
	struct cairn_fs_commit_result res;
	if (rec.kind != CAIRN_SNAPSHOT_ACTIVE)
		r = cairn_error_set(err, -EINVAL,
				    "snapshot \"%s\": only an active snapshot can be committed", key);
	if (r >= 0)
		r = open_fs(s, &rec, &fs, err);
	snap_rec_clear(&rec);
	if (r >= 0 && (r = cairn_batch_new(s, &b)) < 0)
		return cairn_error_from(err, r, "starting a batch");
	if (r >= 0)
		r = fs_to_layer(fs, b, &res, err);
	if (r >= 0)
		r = snap_stage_commit(b, key, name, &res.layer, err);
	if (r >= 0)
		r = cairn_batch_commit(b, err);
	return r;
}

/* ---- remove, stat, walk ---------------------------------------------------------------------- */

struct children {
	const char *key;
	char *child;
};

static int find_child(const void *key, size_t klen, const void *val, size_t vlen, void *userdata)
{
	struct children *c = userdata;
	_cleanup_json_ json_t *j = json_loadb(val, vlen, 0, NULL);
	const char *parent = json_string_value(json_object_get(j, "parent"));
	if (parent && strcmp(parent, c->key) == 0) {
		c->child = strndup(key, klen);
		return 1;
	}
	return 0;
}

static void remove_mountpoint(cairn_store *s, const char *key)
{
	_cleanup_free_ char *dir = NULL;
	if (snap_mountpoint(cairn_store_root(s), key, false, &dir) < 0)
		return;
	rmdir(dir);
	char *slash = strrchr(dir, '/');
	if (slash) {
		*slash = 0;
		rmdir(dir);
	}
}

int cairn_snapshot_remove(cairn_store *s, const char *key, cairn_error **err)
{
	struct snap_rec rec;
	int r = get_rec(s, key, &rec, err);
	if (r < 0)
		return r;
	cairn_snapshot_kind kind = rec.kind;
	snap_rec_clear(&rec);
	if (kind == CAIRN_SNAPSHOT_COMMITTED) {
		struct children c = {.key = key};
		cairn_store_foreach(s, CAIRN_T_SNAPSHOTS, find_child, &c);
		if (c.child) {
			r = cairn_error_set(err, -ENOTEMPTY,
					    "snapshot \"%s\": snapshot \"%s\" is based on it", key,
					    c.child);
			free(c.child);
			return r;
		}
	}
	_cleanup_free_ char *dir = mounted_dir(s, key);
	if (dir && (r = cairn_workspace_unmount(cairn_store_root(s), dir, CAIRN_UMOUNT_LAZY, NULL,
						err)) < 0)
		return r;
	_cleanup_(cairn_batch_freep) cairn_batch *b = NULL;
	if ((r = cairn_batch_new(s, &b)) < 0 || (r = snap_del(b, key)) < 0 ||
	    (r = cairn_batch_commit(b, err)) < 0)
		return cairn_error_from(err, r, "snapshot \"%s\"", key);
	remove_mountpoint(s, key);
	return 0;
}

void cairn_snapshot_info_clear(struct cairn_snapshot_info *i)
{
	free(i->key);
	free(i->parent);
	free(i->image);
	free(i->mountpoint);
	*i = (struct cairn_snapshot_info){0};
}

static void info_from_rec(cairn_store *s, struct snap_rec *rec, struct cairn_snapshot_info *i)
{
	*i = (struct cairn_snapshot_info){
	    .key = steal_pointer(&rec->key),
	    .parent = steal_pointer(&rec->parent),
	    .image = steal_pointer(&rec->image),
	    .kind = rec->kind,
	    .created = rec->created,
	    .updated = rec->updated,
	    .layers = rec->n_layers,
	};
	if (i->kind != CAIRN_SNAPSHOT_COMMITTED)
		i->mountpoint = mounted_dir(s, i->key);
	i->mounted = i->mountpoint != NULL;
}

int cairn_snapshot_stat(cairn_store *s, const char *key, struct cairn_snapshot_info *ret,
			cairn_error **err)
{
	struct snap_rec rec;
	int r = get_rec(s, key, &rec, err);
	if (r < 0)
		return r;
	info_from_rec(s, &rec, ret);
	snap_rec_clear(&rec);
	return 0;
}

struct walk {
	cairn_store *s;
	cairn_snapshot_fn fn;
	void *userdata;
};

static int walk_one(const void *key, size_t klen, const void *val, size_t vlen, void *userdata)
{
	struct walk *w = userdata;
	_cleanup_free_ char *k = strndup(key, klen);
	struct snap_rec rec;
	if (!k || snap_get(w->s, k, &rec) < 0)
		return 0; /* removed meanwhile */
	struct cairn_snapshot_info i;
	info_from_rec(w->s, &rec, &i);
	snap_rec_clear(&rec);
	int r = w->fn(&i, w->userdata);
	cairn_snapshot_info_clear(&i);
	return r;
}

int cairn_snapshot_walk(cairn_store *s, cairn_snapshot_fn fn, void *userdata, cairn_error **err)
{
	struct walk w = {s, fn, userdata};
	int r = cairn_store_foreach(s, CAIRN_T_SNAPSHOTS, walk_one, &w);
	return r < 0 ? cairn_error_from(err, r, "listing snapshots") : r;
}

/* ---- usage, diff, apply ---------------------------------------------------------------------- */

/* The layer that holds the snapshot's own changes: a committed one's top
 * layer, an active one's checkpoint (after asking its daemon for a fresh
 * one when mounted).  *ret_none: there are no changes at all. */
static int changes_layer(cairn_store *s, const char *key, cairn_id *ret, bool *ret_none,
			 cairn_error **err)
{
	struct snap_rec rec;
	int r = get_rec(s, key, &rec, err);
	if (r < 0)
		return r;
	*ret_none = false;
	_cleanup_free_ char *dir = rec.kind != CAIRN_SNAPSHOT_COMMITTED ? mounted_dir(s, key) : NULL;
	if (dir) {
		_cleanup_json_ json_t *req = json_pack("{s:s}", "op", "layer");
		_cleanup_json_ json_t *reply = NULL;
		r = ws_call(cairn_store_root(s), dir, req, &reply, err);
		const char *hex = r >= 0 ? json_string_value(json_object_get(reply, "layer")) : NULL;
		if (r >= 0 && (!hex || cairn_id_parse(hex, ret) < 0))
			r = cairn_error_set(err, -EPROTO, "snapshot \"%s\": bad reply", key);
	} else if (rec.kind == CAIRN_SNAPSHOT_COMMITTED) {
		if (rec.n_layers)
			*ret = rec.layers[rec.n_layers - 1];
		*ret_none = rec.n_layers == 0;
	} else if (rec.has_checkpoint) {
		*ret = rec.checkpoint;
	} else {
		*ret_none = true;
	}
	snap_rec_clear(&rec);
	return r;
}

int cairn_snapshot_usage(cairn_store *s, const char *key, struct cairn_snapshot_usage *ret,
			 cairn_error **err)
{
	cairn_id layer;
	bool none;
	int r = changes_layer(s, key, &layer, &none, err);
	if (r < 0)
		return r;
	*ret = (struct cairn_snapshot_usage){0};
	if (none)
		return 0;
	struct cairn_layer_info info;
	if ((r = cairn_layer_info(s, &layer, &info)) < 0)
		return cairn_error_from(err, r, "snapshot \"%s\": layer", key);
	ret->size = info.file_bytes;
	ret->inodes = info.entries;
	return 0;
}

int cairn_snapshot_diff(cairn_store *s, const char *key, const char *path, cairn_error **err)
{
	cairn_id layer;
	bool none;
	int r = changes_layer(s, key, &layer, &none, err);
	if (r < 0)
		return r;
	bool out = strcmp(path, "-") == 0;
	_cleanup_free_ char *tmp = NULL;
	if (!out && asprintf(&tmp, "%s.tmp", path) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = out ? dup(1) : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return cairn_error_set(err, -errno, "%s: %m", out ? "stdout" : tmp);
	_cleanup_(cairn_writer_freep) cairn_writer *w = cairn_writer_fd(fd);
	if (!w)
		return -ENOMEM;
	if (none) {
		static const char zeros[1024];
		r = cairn_writer_write(w, zeros, sizeof(zeros)); /* an empty tar */
	} else {
		r = cairn_layer_export_tar(s, &layer, NULL, w, err);
	}
	if (r >= 0 && !out && (fsync(fd) < 0 || rename(tmp, path) < 0))
		r = cairn_error_set(err, -errno, "%s: %m", path);
	if (r < 0 && !out)
		unlink(tmp);
	return r < 0 ? cairn_error_from(err, r, "snapshot \"%s\": diff", key) : 0;
}

static int import_layer(cairn_store *s, const char *path, cairn_id *ret, cairn_error **err)
{
	bool in = strcmp(path, "-") == 0;
	_cleanup_close_ int fd = in ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_set(err, -errno, "%s: %m", path);
	_cleanup_(cairn_batch_freep) cairn_batch *b = NULL;
	int r = cairn_batch_new(s, &b);
	if (r < 0)
		return cairn_error_from(err, r, "starting a batch");
	struct cairn_tar_import_options o = {.name = in ? "stdin" : path};
	struct cairn_tar_import_result res;
	r = cairn_layer_import_tar(b, cairn_read_fd, (void *) (intptr_t) fd, &o, &res, err);
	if (r >= 0)
		r = cairn_batch_commit(b, err);
	if (r >= 0)
		*ret = res.layer;
	return r;
}

int cairn_snapshot_apply(cairn_store *s, const char *key, const char *path, cairn_error **err)
{
	struct snap_rec rec;
	int r = get_rec(s, key, &rec, err);
	if (r < 0)
		return r;
	if (rec.kind != CAIRN_SNAPSHOT_ACTIVE) {
		snap_rec_clear(&rec);
		return cairn_error_set(err, -EINVAL, "snapshot \"%s\": not active", key);
	}
	cairn_id layer;
	if ((r = import_layer(s, path, &layer, err)) < 0) {
		snap_rec_clear(&rec);
		return r;
	}
	_cleanup_free_ char *dir = mounted_dir(s, key);
	if (dir) {
		snap_rec_clear(&rec);
		char hex[2 * CAIRN_ID_LEN + 1];
		cairn_id_hex(&layer, hex);
		_cleanup_json_ json_t *req = json_pack("{s:s, s:s}", "op", "apply", "layer", hex);
		_cleanup_json_ json_t *reply = NULL;
		return ws_call(cairn_store_root(s), dir, req, &reply, err);
	}
	/* not mounted: the new checkpoint is the old one with the layer applied */
	_cleanup_(cairn_fs_freep) cairn_fs *fs = NULL;
	_cleanup_(cairn_batch_freep) cairn_batch *b = NULL;
	struct cairn_fs_commit_result res;
	r = open_fs(s, &rec, &fs, err);
	snap_rec_clear(&rec);
	if (r >= 0)
		r = cairn_fs_apply(fs, &layer, err);
	if (r >= 0 && (r = cairn_batch_new(s, &b)) < 0)
		return cairn_error_from(err, r, "starting a batch");
	if (r >= 0)
		r = fs_to_layer(fs, b, &res, err);
	if (r >= 0)
		r = snap_stage_checkpoint(b, key, &res.layer);
	if (r >= 0)
		r = cairn_batch_commit(b, err);
	return r < 0 ? cairn_error_from(err, r, "snapshot \"%s\": apply", key) : 0;
}

/* ---- prune and fsck support ------------------------------------------------------------------- */

struct mark {
	cairn_store *s;
	cairn_idset *set;
	cairn_report_fn report;
	void *userdata;
	int problems;
};

static void mark_one(struct mark *m, const char *what, const char *name, const cairn_id *id)
{
	if (m->set) {
		cairn_idset_add(m->set, id);
		return;
	}
	if (cairn_store_has(m->s, CAIRN_T_LAYERS, id->b, CAIRN_ID_LEN) > 0)
		return;
	char hex[2 * CAIRN_ID_LEN + 1], line[512];
	cairn_id_hex(id, hex);
	snprintf(line, sizeof(line), "%s \"%s\": layer %s missing", what, name, hex);
	m->report(line, m->userdata);
	m->problems++;
}

static int mark_snapshot(const void *key, size_t klen, const void *val, size_t vlen, void *userdata)
{
	struct mark *m = userdata;
	_cleanup_free_ char *k = strndup(key, klen);
	struct snap_rec rec;
	if (!k)
		return -ENOMEM;
	if (snap_get(m->s, k, &rec) < 0) {
		if (m->report) {
			char line[512];
			snprintf(line, sizeof(line), "snapshot \"%s\": record does not parse", k);
			m->report(line, m->userdata);
			m->problems++;
		}
		return 0;
	}
	for (size_t i = 0; i < rec.n_layers; i++)
		mark_one(m, "snapshot", k, &rec.layers[i]);
	if (rec.has_checkpoint)
		mark_one(m, "snapshot", k, &rec.checkpoint);
	snap_rec_clear(&rec);
	return 0;
}

static int mark_workspace(const struct cairn_mount_info *mi, void *userdata)
{
	struct mark *m = userdata;
	struct ws_paths p;
	_cleanup_json_ json_t *rec = NULL;
	if (mi->stale || ws_paths_get(cairn_store_root(m->s), mi->dir, &p) < 0)
		return 0;
	int r = ws_record_read(&p, &rec);
	ws_paths_clear(&p);
	if (r < 0)
		return 0;
	static const char *const keys[] = {"layers", "applied"};
	for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
		cairn_id *v = NULL;
		size_t n = 0;
		if (layers_from_json(json_object_get(rec, keys[k]), &v, &n) >= 0)
			for (size_t i = 0; i < n; i++)
				mark_one(m, "workspace", mi->dir, &v[i]);
		free(v);
	}
	return 0;
}

static int mark_all(struct mark *m, cairn_error **err)
{
	int r = cairn_store_foreach(m->s, CAIRN_T_SNAPSHOTS, mark_snapshot, m);
	if (r >= 0)
		r = cairn_workspace_list(cairn_store_root(m->s), mark_workspace, m, err);
	return r < 0 ? cairn_error_from(err, r, "walking snapshots and workspaces") : 0;
}

int cairn_snapshot_mark(cairn_store *s, cairn_idset *layers, cairn_error **err)
{
	struct mark m = {.s = s, .set = layers};
	return mark_all(&m, err);
}

int cairn_snapshot_check(cairn_store *s, cairn_report_fn report, void *userdata, cairn_error **err)
{
	struct mark m = {.s = s, .report = report, .userdata = userdata};
	int r = mark_all(&m, err);
	return r < 0 ? r : m.problems;
}
