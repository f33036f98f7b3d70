/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Concurrency: threads with separate batches, readers during map growth,
 * several processes importing into one store, and the store lock. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cairn/store.h>

#include "store-test.h"
#include "tap.h"

#define NCONT 12
#define CSIZE (1u << 20)

static char root[4200];

/* Content i of writer w: half shared between writers, half its own. */
static uint8_t *make_content(int w, int i)
{
	uint8_t *p = test_random(CSIZE, 1000 + (uint64_t) i);
	uint8_t *own = (i & 1) ? test_text(CSIZE / 2, 2000 + (uint64_t) w * 100 + (uint64_t) i)
			       : test_random(CSIZE / 2, 3000 + (uint64_t) w * 100 + (uint64_t) i);
	memcpy(p + CSIZE / 2, own, CSIZE / 2);
	free(own);
	return p;
}

struct writer_arg {
	cairn_store *s;
	int w;
	cairn_id ids[NCONT];
	int r;
};

static int write_contents(cairn_store *s, int w, cairn_id *ids)
{
	cairn_batch *b;
	int r = cairn_batch_new(s, &b);
	if (r < 0)
		return r;
	for (int i = 0; r >= 0 && i < NCONT; i++) {
		uint8_t *p = make_content(w, i);
		cairn_content_writer *cw;
		r = cairn_content_writer_new(b, &cw);
		for (size_t off = 0; r >= 0 && off < CSIZE; off += 30000)
			r = cairn_content_write(cw, p + off, MIN(30000, CSIZE - off));
		if (r >= 0)
			r = cairn_content_writer_finish(cw, &ids[i], NULL);
		else
			cairn_content_writer_free(cw);
		char key[32];
		int kl = snprintf(key, sizeof(key), "w%d-%d", w, i);
		if (r >= 0)
			r = cairn_batch_put(b, CAIRN_T_TAGS, key, (size_t) kl, &ids[i],
					    sizeof(ids[i]));
		free(p);
	}
	if (r >= 0)
		r = cairn_batch_commit(b, NULL);
	cairn_batch_free(b);
	return r;
}

static void *writer_thread(void *userdata)
{
	struct writer_arg *a = userdata;
	a->r = write_contents(a->s, a->w, a->ids);
	return NULL;
}

static bool check_contents(cairn_store *s, int w)
{
	for (int i = 0; i < NCONT; i++) {
		char key[32];
		int kl = snprintf(key, sizeof(key), "w%d-%d", w, i);
		void *idv, *got;
		size_t len;
		if (cairn_store_get(s, CAIRN_T_TAGS, key, (size_t) kl, &idv, &len) < 0)
			return false;
		int r = cairn_content_read_all(s, idv, &got, &len);
		free(idv);
		if (r < 0)
			return false;
		uint8_t *want = make_content(w, i);
		bool same = len == CSIZE && memcmp(got, want, CSIZE) == 0;
		free(want);
		free(got);
		if (!same)
			return false;
	}
	return true;
}

struct reader_arg {
	cairn_store *s;
	cairn_id id;
	const uint8_t *want;
	atomic_bool *stop;
	int bad, rounds;
};

static void *reader_thread(void *userdata)
{
	struct reader_arg *a = userdata;
	uint8_t *buf4 = malloc(CSIZE);
	uint64_t rng = (uint64_t) (uintptr_t) a;
	while (!*a->stop || a->rounds < 3) {
		cairn_content *c;
		if (cairn_content_open(a->s, &a->id, &c) < 0) {
			a->bad++;
			break;
		}
		uint64_t off = test_rng(&rng) % CSIZE;
		ssize_t n = cairn_content_pread(c, buf4, CSIZE, off);
		if (n != (ssize_t) (CSIZE - off) || memcmp(buf4, a->want + off, (size_t) n) != 0)
			a->bad++;
		cairn_content_free(c);
		a->rounds++;
	}
	free(buf4);
	return NULL;
}

static void test_threads(void)
{
	cairn_store *s;
	struct cairn_fsck_stats st;
	if (cairn_store_open(root, NULL, &s, NULL) < 0) {
		ok(0, "open");
		return;
	}
	/* a content the readers check while the writers grow the map */
	uint8_t *base = test_random(CSIZE, 77);
	cairn_batch *b;
	cairn_id base_id;
	cairn_batch_new(s, &b);
	cairn_batch_put_content(b, base, CSIZE, &base_id);
	cairn_batch_commit(b, NULL);
	cairn_batch_free(b);

	atomic_bool stop = false;
	struct reader_arg ra[2] = {{s, base_id, base, &stop, 0, 0},
				   {s, base_id, base, &stop, 0, 0}};
	struct writer_arg wa[2] = {{.s = s, .w = 0}, {.s = s, .w = 1}};
	pthread_t rt[2], wt[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&rt[i], NULL, reader_thread, &ra[i]);
	for (int i = 0; i < 2; i++)
		pthread_create(&wt[i], NULL, writer_thread, &wa[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(wt[i], NULL);
	stop = true;
	for (int i = 0; i < 2; i++)
		pthread_join(rt[i], NULL);
	is_int(wa[0].r, 0, "thread 0 committed");
	is_int(wa[1].r, 0, "thread 1 committed");
	ok(ra[0].bad == 0 && ra[1].bad == 0,
	   "readers saw the right bytes during growth (%d+%d reads)", ra[0].rounds, ra[1].rounds);
	ok(check_contents(s, 0) && check_contents(s, 1),
	   "every content of both threads reads back");
	is_int(cairn_store_fsck(s, test_report, NULL, &st), 0, "fsck clean");
	is_int(st.garbage_chunks, 0, "no garbage");
	cairn_store_free(s);
	free(base);
}

static void test_processes(void)
{
	pid_t pid[2];
	for (int i = 0; i < 2; i++) {
		pid[i] = fork();
		if (pid[i] == 0) {
			cairn_store *s;
			cairn_id ids[NCONT];
			if (cairn_store_open(root, NULL, &s, NULL) < 0)
				_exit(2);
			int r = write_contents(s, 10 + i, ids);
			cairn_store_free(s);
			_exit(r < 0 ? 1 : 0);
		}
	}
	for (int i = 0; i < 2; i++) {
		int status;
		waitpid(pid[i], &status, 0);
		ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d imported", i);
	}
	cairn_store *s;
	struct cairn_fsck_stats st;
	if (cairn_store_open(root, NULL, &s, NULL) < 0) {
		ok(0, "open");
		return;
	}
	ok(check_contents(s, 10) && check_contents(s, 11), "both children's contents read back");
	is_int(cairn_store_fsck(s, test_report, NULL, &st), 0, "fsck clean");
	cairn_store_free(s);
}

static int add_live(const cairn_id *id, void *userdata)
{
	return cairn_idset_add(userdata, id) < 0 ? -1 : 0;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void test_lock(void)
{
	int p[2];
	char c;
	cairn_store *s;
	if (pipe(p) < 0 || cairn_store_open(root, NULL, &s, NULL) < 0) {
		ok(0, "setup");
		return;
	}
	/* a batch in another process keeps the exclusive lock waiting */
	pid_t pid = fork();
	if (pid == 0) {
		cairn_store *cs;
		cairn_batch *b;
		if (cairn_store_open(root, NULL, &cs, NULL) < 0 || cairn_batch_new(cs, &b) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		usleep(300000);
		cairn_batch_free(b);
		cairn_store_free(cs);
		_exit(0);
	}
	if (read(p[0], &c, 1) != 1)
		ok(0, "child ready");
	double t0 = now();
	is_int(cairn_store_lock_exclusive(s), 0, "exclusive lock");
	ok(now() - t0 > 0.2, "waited for the other process's batch (%.2fs)", now() - t0);
	waitpid(pid, NULL, 0);

	/* and a batch in another process waits for the exclusive holder */
	pid = fork();
	if (pid == 0) {
		cairn_store *cs;
		cairn_batch *b;
		if (cairn_store_open(root, NULL, &cs, NULL) < 0)
			_exit(1);
		double t = now();
		if (cairn_batch_new(cs, &b) < 0)
			_exit(1);
		double waited = now() - t;
		cairn_batch_free(b);
		cairn_store_free(cs);
		_exit(waited > 0.2 ? 0 : 3);
	}
	usleep(400000);
	cairn_store_unlock_exclusive(s);
	int status;
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	   "batch_new waited for the exclusive lock");
	cairn_store_free(s);
	close(p[0]);
	close(p[1]);
}

/* kill -9 in the middle of an import: fsck stays clean, nothing half-done
 * is visible, and the next import works. */
static void test_kill(void)
{
	int p[2];
	char c;
	if (pipe(p) < 0) {
		ok(0, "pipe");
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		cairn_store *s;
		cairn_batch *b;
		cairn_content_writer *w;
		if (cairn_store_open(root, NULL, &s, NULL) < 0 || cairn_batch_new(s, &b) < 0)
			_exit(1);
		cairn_batch_put(b, CAIRN_T_IMAGES, "half", 4, "x", 1);
		cairn_content_writer_new(b, &w);
		uint64_t seed = 900;
		for (int i = 0;; i++) {
			uint8_t *d = test_random(1 << 20, seed++);
			cairn_content_write(w, d, 1 << 20);
			free(d);
			if (i == 24 && write(p[1], "x", 1) != 1) /* past a chunk transaction */
				_exit(1);
		}
	}
	if (read(p[0], &c, 1) != 1)
		ok(0, "child running");
	usleep(50000);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	close(p[1]);

	cairn_store *s;
	struct cairn_fsck_stats st;
	if (cairn_store_open(root, NULL, &s, NULL) < 0) {
		ok(0, "open after kill");
		return;
	}
	is_int(cairn_store_has(s, CAIRN_T_IMAGES, "half", 4), 0, "killed import not visible");
	is_int(cairn_store_fsck(s, test_report, NULL, &st), 0, "fsck clean after kill -9");
	ok(st.garbage_chunks > 0, "its chunks are garbage (%llu)",
	   (unsigned long long) st.garbage_chunks);
	struct cairn_sweep_stats sw;
	cairn_idset *live = cairn_idset_new();
	cairn_store_foreach_content(s, add_live, live);
	is_int(cairn_store_sweep(s, live, &sw), 0, "sweep");
	is_int(sw.chunks_removed, st.garbage_chunks, "sweep removes exactly the garbage");
	is_int(sw.contents_removed, 0, "and no content");
	ok(check_contents(s, 0) && check_contents(s, 10), "earlier contents intact");
	cairn_idset_free(live);
	cairn_store_free(s);
}

int main(void)
{
	snprintf(root, sizeof(root), "%s/store", tap_tmpdir());
	setenv("CAIRN_MAP_SIZE", "1048576", 1); /* every writer grows the map */
	test_threads();
	test_processes();
	test_lock();
	test_kill();
	return tap_done();
}
