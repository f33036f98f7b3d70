/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The result: the target stage's config finished as BuildKit's exporter
 * finishes it (--label values, history times filled in from the
 * neighbouring entries, "created" = the last history time), stored as
 * an image with the -t names, then written to every --output.
 *
 * History times: a layer step carries the time its layer was made (kept
 * in the cache record, so a fully cached rebuild makes the very same
 * image); config-only entries get their neighbours' times
 * (normalizeLayersAndHistory); SOURCE_DATE_EPOCH sets all of them.
 */
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cairn/layer.h>
#include <cairn/stream.h>

#include "solve.h"

DEFINE_CLEANUP_FUNC(cairn_batch, cairn_batch_free)
DEFINE_CLEANUP_FUNC(cairn_writer, cairn_writer_free)

static void fill_history_times(json_t *hist)
{
	json_t *created = NULL, *h;
	bool missing = false;
	size_t i;
	json_array_foreach(hist, i, h) {
		json_t *c = json_object_get(h, "created");
		if (c) {
			created = c;
			if (missing)
				break;
		} else {
			missing = true;
		}
	}
	missing = false;
	json_array_foreach(hist, i, h) {
		json_t *c = json_object_get(h, "created");
		if (c) {
			if (missing)
				created = c;
		} else {
			missing = true;
			if (created)
				json_object_set(h, "created", created);
		}
	}
}

static int finish_config(struct build *b, struct bstate *st)
{
	json_t *cfg = bstate_config(st);
	if (!cfg)
		return -ENOMEM;
	if (b->o->n_labels) {
		json_t *labels = json_object_get(cfg, "Labels");
		if (!json_is_object(labels)) {
			labels = json_object();
			if (!labels || json_object_set_new(cfg, "Labels", labels) < 0)
				return -ENOMEM;
		}
		for (size_t i = 0; i < b->o->n_labels; i++) {
			const char *kv = b->o->labels[i];
			const char *eq = strchr(kv, '=');
			_cleanup_free_ char *k = strndup(kv, eq ? (size_t) (eq - kv) : strlen(kv));
			if (!k || json_object_set_new(labels, k, json_string(eq ? eq + 1 : "")) < 0)
				return -ENOMEM;
		}
	}
	json_t *hist = json_object_get(st->image, "history");
	fill_history_times(hist);
	json_t *created = NULL, *h;
	size_t i;
	json_array_foreach(hist, i, h) if (json_object_get(h, "created")) created =
	    json_object_get(h, "created");
	char when[32];
	if (b->epoch >= 0 || !created) {
		time_rfc3339(b->epoch >= 0 ? b->epoch : b->now, when);
		return json_object_set_new(st->image, "created", json_string(when)) < 0 ? -ENOMEM : 0;
	}
	return json_object_set(st->image, "created", created) < 0 ? -ENOMEM : 0;
}

int build_image_commit(struct build *b, struct bstage *sg, char **ret_id, cairn_error **err)
{
	struct bstate *st = &sg->st;
	int r = finish_config(b, st);
	if (r < 0)
		return r;
	_cleanup_free_ char *cfg = json_dumps(st->image, JSON_COMPACT | JSON_SORT_KEYS);
	if (!cfg)
		return -ENOMEM;
	_cleanup_(cairn_batch_freep) cairn_batch *batch = NULL;
	if ((r = cairn_batch_new(b->store, &batch)) < 0)
		return cairn_error_from(err, r, "starting a store batch");
	size_t n_new = st->n_layers - st->n_base;
	_cleanup_free_ struct cairn_image_new_layer *nl = calloc(n_new + 1, sizeof(*nl));
	if (!nl)
		return -ENOMEM;
	for (size_t i = 0; i < n_new; i++) {
		const struct blayer *l = &st->layers[st->n_base + i];
		nl[i] = (struct cairn_image_new_layer){l->layer, l->diff_id, l->diff_size};
	}
	r = cairn_image_create(batch, st->base_image, st->n_base, cfg, strlen(cfg), nl, n_new,
			       b->o->tags, b->o->n_tags, ret_id, err);
	if (r >= 0)
		r = cairn_batch_commit(batch, err);
	return r;
}

/* ---- outputs ------------------------------------------------------------------------- */

/* The image's root filesystem as one tar: its layers applied in order on
 * an empty tree and committed (in a batch that is then abandoned, so
 * nothing is stored; contents are referenced, not copied). */
static int write_rootfs_tar(struct build *b, const struct bstate *st, int fd, cairn_error **err)
{
	cairn_fs *fs = NULL;
	_cleanup_(cairn_batch_freep) cairn_batch *batch = NULL;
	int r = cairn_fs_new(b->store, NULL, 0, NULL, &fs, err);
	for (size_t i = 0; r >= 0 && i < st->n_layers; i++)
		r = cairn_fs_apply(fs, &st->layers[i].layer, err);
	if (r >= 0 && (r = cairn_batch_new(b->store, &batch)) < 0)
		cairn_error_from(err, r, "starting a store batch");
	struct cairn_fs_commit_result res;
	if (r >= 0 && (r = cairn_fs_commit_begin(fs, batch, &res, err)) >= 0) {
		_cleanup_(cairn_writer_freep) cairn_writer *w = cairn_writer_fd(fd);
		struct cairn_tar_export_options eo = {.source_date_epoch = -1};
		r = w ? cairn_layer_export_tar_staged(batch, &res.layer, &eo, w, err) : -ENOMEM;
		if (r >= 0 && (r = cairn_writer_close(w)) < 0)
			cairn_error_from(err, r, "writing the root filesystem");
		cairn_fs_commit_end(fs, false);
	}
	cairn_fs_free(fs);
	return r;
}


static int output_rootfs(struct build *b, const struct bstate *st, const struct cairn_build_output *o,
			 cairn_error **err)
{
	if (o->type == CAIRN_OUTPUT_TAR) {
		bool out = strcmp(o->dest, "-") == 0;
		_cleanup_free_ char *tmp = NULL;
		if (!out && asprintf(&tmp, "%s.tmp", o->dest) < 0)
			return -ENOMEM;
		int fd = out ? dup(1) : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return cairn_error_set(err, -errno, "%s: %m", out ? "stdout" : tmp);
		int r = write_rootfs_tar(b, st, fd, err);
		if (close(fd) < 0 && r >= 0)
			r = cairn_error_set(err, -errno, "%s: %m", o->dest);
		if (!out && r >= 0 && rename(tmp, o->dest) < 0)
			r = cairn_error_set(err, -errno, "%s: %m", o->dest);
		if (!out && r < 0)
			unlink(tmp);
		return r;
	}
	/* local: the tar through a pipe into an extractor */
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		close(p[1]);
		cairn_error *e = NULL;
		int r = output_extract(p[0], o->dest, &e);
		if (r < 0)
			fprintf(stderr, "cairn: %s\n", e ? e->msg : cairn_strerror(r));
		_exit(r < 0 ? 1 : 0);
	}
	close(p[0]);
	int r = write_rootfs_tar(b, st, p[1], err);
	close(p[1]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (r >= 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		r = cairn_error_set(err, -EIO, "writing the root filesystem to %s failed", o->dest);
	return r;
}

/* The names an image output (or a save) uses: name=..., else the -t tags. */
static const char *const *output_names(struct build *b, const struct cairn_build_output *o,
				       size_t *ret_n)
{
	const char *const *names = (const char *const *) o->names;
	size_t n = 0;
	while (names && names[n])
		n++;
	if (!n) {
		names = b->o->tags;
		n = b->o->n_tags;
	}
	*ret_n = n;
	return names;
}

/* Names the image and pushes it under each name. */
static int push_names(struct build *b, const char *image_id, const char *const *names,
		      size_t n, cairn_error **err)
{
	if (!n)
		return cairn_error_set(err, -EINVAL,
				       "pushing needs a name: give -t NAME or --output "
				       "type=image,name=NAME,push=true");
	for (size_t i = 0; i < n; i++) {
		struct cairn_push_options po = {.reg = b->o->reg, .compression = -1};
		_cleanup_free_ char *digest = NULL;
		int r = cairn_image_tag(b->store, image_id, names[i], err);
		if (r >= 0)
			r = cairn_image_push(b->store, names[i], NULL, &po, &digest, err);
		if (r < 0)
			return r;
		progress_note(b->pr, "pushed %s@%s", names[i], digest);
	}
	return 0;
}

int build_outputs(struct build *b, const char *image_id, cairn_error **err)
{
	if (b->o->push) {
		int r = push_names(b, image_id, b->o->tags, b->o->n_tags, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < b->o->n_outputs; i++) {
		const struct cairn_build_output *o = &b->o->outputs[i];
		int r = 0;
		if (o->type == CAIRN_OUTPUT_IMAGE) {
			size_t n;
			const char *const *names = output_names(b, o, &n);
			/* names of an image output are names of the image too */
			for (size_t k = 0; k < n && o->names && r >= 0; k++)
				r = cairn_image_tag(b->store, image_id, names[k], err);
			if (r >= 0 && o->push && !(b->o->push && !o->names))
				r = push_names(b, image_id, names, n, err);
			if (r < 0)
				return r;
			continue;
		}
		if (o->type == CAIRN_OUTPUT_LOCAL || o->type == CAIRN_OUTPUT_TAR) {
			r = output_rootfs(b, &b->target->st, o, err);
		} else {
			struct cairn_save_options so = {
			    .format = o->type == CAIRN_OUTPUT_DOCKER ? CAIRN_SAVE_DOCKER
				      : o->tar			     ? CAIRN_SAVE_OCI_ARCHIVE
								     : CAIRN_SAVE_OCI_DIR,
			    .compression = o->compression,
			    .source_date_epoch = b->epoch,
			};
			size_t n;
			const char *const *names = output_names(b, o, &n);
			if (!n) {
				names = &image_id;
				n = 1;
			}
			r = cairn_image_save(b->store, names, n, o->dest, &so, err);
		}
		if (r < 0)
			return cairn_error_prefix(err, "output %s", o->dest ? o->dest : "");
		progress_note(b->pr, "exported to %s", o->dest);
	}
	return 0;
}
