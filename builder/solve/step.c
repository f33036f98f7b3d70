/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What every layer step shares: its progress vertex, the cache lookup
 * (a hit appends the recorded layer, nothing runs), the writable
 * filesystem it works on, and the commit of what it changed as a layer
 * together with its cache record, in one store transaction.
 *
 * Each stage keeps one cairn filesystem mounted (sg->fs at sg->fs_dir).  A
 * step that must run re-uses it when it already shows the stage's state
 * (the previous step of the same stage committed onto it), else it is
 * rebuilt from the state's layers, which costs milliseconds: layers are
 * merged in memory, file data stays in the store.
 */
#include <sys/stat.h>

#include <cairn/layer.h>

#include "solve.h"

DEFINE_CLEANUP_FUNC(cairn_batch, cairn_batch_free)
DEFINE_CLEANUP_FUNC(cairn_layer, cairn_layer_free)

int build_tmpdir(struct build *b, const char *what, char **ret, cairn_error **err)
{
	char *d;
	if (asprintf(&d, "%s/%s-%u", b->tmp, what, __atomic_add_fetch(&b->tmp_seq, 1, __ATOMIC_RELAXED)) < 0)
		return -ENOMEM;
	if (mkdir(d, 0700) < 0) {
		int r = -errno;
		cairn_error_set(err, r, "creating %s: %s", d, strerror(-r));
		free(d);
		return r;
	}
	*ret = d;
	return 0;
}

void stage_fs_release(struct bstage *sg)
{
	if (sg->fs) {
		cairn_fs_free(sg->fs);
		sg->fs = NULL;
	}
	if (sg->fs_dir) {
		rmdir(sg->fs_dir);
		free(sg->fs_dir);
		sg->fs_dir = NULL;
	}
}

static bool fs_shows(cairn_fs *fs, const struct bstate *st)
{
	const cairn_id *ids;
	size_t n = cairn_fs_layers(fs, &ids);
	if (n != st->n_layers || cairn_fs_changed(fs))
		return false;
	for (size_t i = 0; i < n; i++)
		if (memcmp(&ids[i], &st->layers[i].layer, sizeof(ids[i])) != 0)
			return false;
	return true;
}

int step_fs(struct build *b, struct bstage *sg, cairn_error **err)
{
	if (sg->fs && fs_shows(sg->fs, &sg->st))
		return 0;
	stage_fs_release(sg);
	struct bstate *st = &sg->st;
	_cleanup_free_ cairn_id *ids = calloc(st->n_layers + 1, sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < st->n_layers; i++)
		ids[i] = st->layers[i].layer;
	struct cairn_fs_options fo = {.clamp_mtime = b->epoch >= 0, .mtime_clamp = b->epoch};
	int r = cairn_fs_new(b->store, ids, st->n_layers, &fo, &sg->fs, err);
	if (r >= 0)
		r = build_tmpdir(b, "root", &sg->fs_dir, err);
	if (r >= 0)
		r = cairn_fs_mount(sg->fs, sg->fs_dir, err);
	if (r < 0)
		stage_fs_release(sg);
	return r;
}

char *heredoc_text(const struct df_heredoc *h)
{
	char *out = malloc(h->content.len + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	bool bol = true;
	for (size_t i = 0; i < h->content.len; i++) {
		char ch = h->content.data[i];
		if (h->chomp && bol && ch == '\t')
			continue;
		bol = ch == '\n';
		out[o++] = ch;
	}
	out[o] = 0;
	return out;
}

int mount_from(struct build *b, struct bstage *sg, const struct df_node *n, const char *from,
	       cairn_fs **ret_fs, char **ret_dir, struct bstage **ret_stage, char **ret_image_id,
	       cairn_error **err)
{
	struct bstage *d = plan_find_stage(b, from, sg->index);
	_cleanup_free_ cairn_id *ids = NULL;
	_cleanup_free_ char *image_id = NULL;
	size_t nl = 0;
	int r = 0;
	if (d) {
		nl = d->st.n_layers;
		if (!(ids = calloc(nl + 1, sizeof(*ids))))
			return -ENOMEM;
		for (size_t i = 0; i < nl; i++)
			ids[i] = d->st.layers[i].layer;
	} else {
		cairn_image *img = NULL;
		cairn_error *e = NULL;
		r = build_image_open(b, from, sg->st.platform, &img, &e);
		if (r < 0 && (r == CAIRN_E_NOTFOUND || r == CAIRN_E_NETWORK || r == CAIRN_E_AUTH)) {
			/* BuildKit too looks for an image of that name at its registry */
			r = build_error(b, n, r, err,
					"--from=%s: no such stage, and no such image in the local "
					"store or its registry (%s)",
					from, e && e->msg ? e->msg : "not found");
			cairn_error_free(e);
			return r;
		}
		if (r < 0) {
			if (err && !*err)
				*err = e;
			else
				cairn_error_free(e);
			return build_error_at(b, n, r, err);
		}
		nl = cairn_image_layer_count(img);
		ids = calloc(nl + 1, sizeof(*ids));
		for (size_t i = 0; ids && i < nl; i++)
			cairn_image_layer(img, i, &ids[i], NULL);
		image_id = strdup(cairn_image_id(img));
		cairn_image_free(img);
		if (!ids || !image_id)
			return -ENOMEM;
	}
	struct cairn_fs_options fo = {.readonly = true};
	cairn_fs *fs = NULL;
	char *dir = NULL;
	r = cairn_fs_new(b->store, ids, nl, &fo, &fs, err);
	if (r >= 0)
		r = build_tmpdir(b, "from", &dir, err);
	if (r >= 0)
		r = cairn_fs_mount(fs, dir, err);
	if (r < 0) {
		cairn_fs_free(fs);
		if (dir)
			rmdir(dir);
		free(dir);
		return r;
	}
	*ret_fs = fs;
	*ret_dir = dir;
	if (ret_stage)
		*ret_stage = d;
	if (ret_image_id)
		*ret_image_id = steal_pointer(&image_id);
	return 0;
}

void step_clear(struct step *s)
{
	free(s->created_by);
	free(s->title);
	*s = (struct step){0};
}

static int add_layer(struct build *b, struct step *s, const struct blayer *l, int64_t created)
{
	int r = bstate_push_layer(&s->sg->st, l);
	if (r >= 0)
		r = history_add(b, &s->sg->st, s->created_by, false, created);
	memcpy(s->sg->st.key, s->key, 32);
	return r;
}

/* Opens the step's progress vertex ("[stage k/n] TITLE"). */
static unsigned step_vertex(struct build *b, struct step *s)
{
	struct bstage *sg = s->sg;
	_cleanup_free_ char *t = NULL;
	sg->done_steps++;
	if (b->n_stages > 1 || sg->name) {
		if (asprintf(&t, "[%s %u/%u] %s", sg->display, sg->done_steps, sg->total, s->title) < 0)
			t = NULL;
	} else if (asprintf(&t, "[%u/%u] %s", sg->done_steps, sg->total, s->title) < 0) {
		t = NULL;
	}
	s->vertex = progress_start(b->pr, t ? t : s->title);
	return s->vertex;
}

int step_cached(struct build *b, struct step *s, cairn_error **err)
{
	step_vertex(b, s);
	pthread_mutex_lock(&b->lock);
	b->stats.steps++;
	pthread_mutex_unlock(&b->lock);
	struct cache_rec c;
	if (s->sg->no_cache || cache_get(b->store, s->key, &c) < 0)
		return 0;
	int r = add_layer(b, s, &c.l, c.created);
	if (r < 0)
		return r;
	pthread_mutex_lock(&b->lock);
	b->stats.cached++;
	b->stats.reused_bytes += c.file_bytes;
	pthread_mutex_unlock(&b->lock);
	progress_cached(b->pr, s->vertex);
	return 1;
}

/* Bytes of the regular files of a staged layer (a hardlink group once). */
static uint64_t staged_file_bytes(cairn_batch *batch, const cairn_id *layer)
{
	_cleanup_(cairn_layer_freep) cairn_layer *l = NULL;
	if (cairn_layer_open_staged(batch, layer, &l, NULL) < 0)
		return 0;
	uint64_t sum = 0;
	uint32_t last_group = 0;
	for (size_t i = 0; i < cairn_layer_count(l); i++) {
		const cairn_entry *e = cairn_layer_entry(l, i);
		if (e->type != CAIRN_ENTRY_REG || (e->nlink_group && e->nlink_group <= last_group))
			continue;
		if (e->nlink_group)
			last_group = e->nlink_group;
		sum += e->size;
	}
	return sum;
}

int step_commit(struct build *b, struct step *s, cairn_error **err)
{
	_cleanup_(cairn_batch_freep) cairn_batch *batch = NULL;
	int r = cairn_batch_new(b->store, &batch);
	if (r < 0)
		return cairn_error_from(err, r, "starting a store batch");
	struct cairn_fs_commit_result res;
	if ((r = cairn_fs_commit_begin(s->sg->fs, batch, &res, err)) < 0)
		return r;
	struct cache_rec c = {
	    .l = {.layer = res.layer, .diff_id = res.diff_id, .diff_size = res.diff_size},
	    .created = b->epoch >= 0 ? b->epoch : (int64_t) time(NULL),
	};
	c.file_bytes = staged_file_bytes(batch, &res.layer);
	r = cache_put(batch, s->key, &c);
	if (r >= 0)
		r = cairn_batch_commit(batch, err);
	cairn_fs_commit_end(s->sg->fs, r >= 0);
	if (r < 0)
		return cairn_error_from(err, r, "recording the layer");
	pthread_mutex_lock(&b->lock);
	b->stats.new_bytes += res.new_bytes;
	pthread_mutex_unlock(&b->lock);
	return add_layer(b, s, &c.l, c.created);
}
