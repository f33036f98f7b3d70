/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cairn_build(): reads the Dockerfile and the context's ignore file,
 * plans the stages, runs the target (and, on the way, every stage it
 * needs), stores the image and writes the outputs.  See
 * include/cairn/build.h and docs/BUILD.md.
 */
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>

#include "solve.h"

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int read_all_fd(int fd, char **ret, size_t *ret_len)
{
	size_t cap = 8192, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > (64u << 20)) {
				free(buf);
				return -EFBIG;
			}
			char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int r = -errno;
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t) n;
	}
	buf[len] = 0;
	*ret = buf;
	*ret_len = len;
	return 0;
}

static int slurp_file(const char *path, char **ret, size_t *ret_len, cairn_error **err)
{
	int fd = strcmp(path, "-") == 0 ? dup(0) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_set(err, -errno, "%s: %m", path);
	int r = read_all_fd(fd, ret, ret_len);
	close(fd);
	return r < 0 ? cairn_error_set(err, r, "%s: %s", path, strerror(-r)) : 0;
}

/* <Dockerfile>.dockerignore beside the Dockerfile wins over the context's. */
static int load_ignore(struct build *b, const char *dockerfile, cairn_error **err)
{
	_cleanup_free_ char *own = NULL, *ctx = NULL;
	if (strcmp(dockerfile, "-") != 0 && asprintf(&own, "%s.dockerignore", dockerfile) < 0)
		return -ENOMEM;
	if (asprintf(&ctx, "%s/.dockerignore", b->o->context) < 0)
		return -ENOMEM;
	const char *path = own && access(own, F_OK) == 0 ? own : access(ctx, F_OK) == 0 ? ctx : NULL;
	if (!path)
		return 0;
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = slurp_file(path, &text, &len, err);
	if (r >= 0)
		r = df_ignore_parse(text, len, path, &b->ignore, err);
	return r;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void) st;
	(void) f;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void build_free(struct build *b)
{
	for (size_t i = 0; i < b->n_stages; i++) {
		struct bstage *sg = &b->stages[i];
		stage_fs_release(sg);
		free(sg->name);
		free(sg->display);
		free(sg->base);
		free(sg->platform);
		free(sg->cmds);
		free(sg->deps);
		bstate_clear(&sg->st);
	}
	free(b->stages);
	for (size_t i = 0; i < b->n_meta_args; i++) {
		free(b->meta_args[i].key);
		free(b->meta_args[i].value);
	}
	free(b->meta_args);
	strv_clear(&b->global_args);
	strv_clear(&b->build_args);
	strv_clear(&b->proxy_env);
	strv_clear(&b->pulled);
	free(b->platform);
	df_ast_free(b->ast);
	df_ignore_free(b->ignore);
	if (b->context_fd >= 0)
		close(b->context_fd);
	cairn_batch_free(b->file_batch);
	if (b->tmp) {
		nftw(b->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
		free(b->tmp);
	}
	progress_free(b->pr);
}

static int build_open(struct build *b, cairn_error **err)
{
	const struct cairn_build_options *o = b->o;
	_cleanup_free_ char *dfpath = NULL;
	if (!o->dockerfile && asprintf(&dfpath, "%s/Dockerfile", o->context) < 0)
		return -ENOMEM;
	const char *df = o->dockerfile ? o->dockerfile : dfpath;
	b->filename = o->dockerfile && strcmp(o->dockerfile, "-") ? o->dockerfile : "Dockerfile";
	b->context_fd = open(o->context, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b->context_fd < 0)
		return cairn_error_set(err, -errno, "build context %s: %m", o->context);
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = slurp_file(df, &text, &len, err);
	if (r >= 0 && len == 0)
		r = cairn_error_set(err, CAIRN_E_FORMAT, "%s: the Dockerfile cannot be empty",
				    b->filename);
	if (r >= 0)
		r = df_parse(text, len, b->filename, &b->ast, err);
	if (r < 0)
		return r;
	b->escape = b->ast->escape;
	if (b->ast->syntax)
		fprintf(o->progress_file ? o->progress_file : stderr,
			"note: # syntax=%s is ignored: cairn has its own Dockerfile frontend\n",
			b->ast->syntax);
	if ((r = load_ignore(b, df, err)) < 0)
		return r;
	if (asprintf(&b->tmp, "%s/tmp/build-XXXXXX", cairn_store_root(b->store)) < 0)
		return -ENOMEM;
	if (!mkdtemp(b->tmp)) {
		r = cairn_error_set(err, -errno, "%s: %m", b->tmp);
		free(b->tmp);
		b->tmp = NULL;
	}
	return r;
}

int cairn_build(cairn_store *s, const struct cairn_build_options *o,
		struct cairn_build_result *ret, cairn_error **err)
{
	double t0 = mono();
	struct build b = {.store = s, .o = o, .context_fd = -1, .epoch = o->source_date_epoch,
			  .now = (int64_t) time(NULL), .lock = PTHREAD_MUTEX_INITIALIZER,
			  .cond = PTHREAD_COND_INITIALIZER};
	int r = progress_new(o, &b.pr);
	if (r >= 0)
		r = build_open(&b, err);
	int target = r >= 0 ? solve_plan(&b, err) : r;
	if (target >= 0) {
		b.target = &b.stages[target];
		r = build_stages(&b, err);
	} else {
		r = target;
	}
	for (size_t i = 0; i < b.n_stages; i++)
		stage_fs_release(&b.stages[i]);
	_cleanup_free_ char *id = NULL;
	if (r >= 0)
		r = build_image_commit(&b, b.target, &id, err);
	if (b.file_batch) {
		cairn_batch_commit(b.file_batch, NULL); /* only a cache of hashes: failure is harmless */
	}
	if (r >= 0)
		r = build_outputs(&b, id, err);
	double secs = mono() - t0;
	if (r >= 0) {
		progress_summary(b.pr, &b.stats, secs);
		*ret = (struct cairn_build_result){
		    .image_id = steal_pointer(&id),
		    .stats = {b.stats.steps, b.stats.cached, b.stats.new_bytes, b.stats.reused_bytes,
			      secs},
		};
	}
	build_free(&b);
	if (r < 0)
		return cairn_error_from(err, r, "build failed");
	return 0;
}

void cairn_build_result_clear(struct cairn_build_result *r)
{
	free(r->image_id);
	free(r->manifest_digest);
	*r = (struct cairn_build_result){0};
}
