/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Stages on worker threads: a stage starts once its base stage and the
 * stages it copies from are built, so independent stages run at the same
 * time (BuildKit's solver does the same with its graph).  Each stage has
 * its own filesystem; the store takes concurrent batches; progress and
 * the shared counters are locked.  The first failure stops new stages
 * from starting and is the build's error.
 */
#include <unistd.h>

#include "solve.h"

#define MAX_WORKERS 4

static bool stage_ready(const struct bstage *sg)
{
	if (sg->base_stage && !sg->base_stage->built)
		return false;
	for (size_t i = 0; i < sg->n_deps; i++)
		if (!sg->deps[i]->built)
			return false;
	return true;
}

/* The next stage to start, or NULL; *ret_all_done when nothing is left. */
static struct bstage *pick(struct build *b, bool *ret_all_done)
{
	*ret_all_done = true;
	for (size_t i = 0; i < b->n_stages; i++) {
		struct bstage *sg = &b->stages[i];
		if (!sg->needed || sg->built)
			continue;
		*ret_all_done = false;
		if (!sg->started && stage_ready(sg))
			return sg;
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	struct build *b = arg;
	pthread_mutex_lock(&b->lock);
	for (;;) {
		bool done;
		struct bstage *sg = b->failed ? NULL : pick(b, &done);
		if (!sg) {
			if (b->failed || done)
				break;
			pthread_cond_wait(&b->cond, &b->lock);
			continue;
		}
		sg->started = true;
		pthread_mutex_unlock(&b->lock);
		cairn_error *e = NULL;
		int r = dispatch_stage(b, sg, &e);
		if (sg != b->target)
			stage_fs_release(sg); /* later stages mount what they need themselves */
		pthread_mutex_lock(&b->lock);
		if (r < 0 && !b->failed) {
			b->failed = r;
			b->fail_err = e;
		} else {
			cairn_error_free(e);
		}
		if (r >= 0)
			sg->built = true;
		pthread_cond_broadcast(&b->cond);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int build_stages(struct build *b, cairn_error **err)
{
	size_t n = 0;
	for (size_t i = 0; i < b->n_stages; i++)
		n += b->stages[i].needed;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t workers = MIN(n, (size_t) MAX(2, MIN(cpus, MAX_WORKERS)));
	pthread_t t[MAX_WORKERS];
	size_t started = 0;
	for (; started < workers; started++)
		if (pthread_create(&t[started], NULL, worker_main, b) != 0)
			break;
	if (started == 0)
		worker_main(b);
	for (size_t i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	if (b->failed) {
		if (err && !*err)
			*err = b->fail_err;
		else
			cairn_error_free(b->fail_err);
		b->fail_err = NULL;
		return b->failed;
	}
	return b->target->built ? 0 : -EIO;
}
