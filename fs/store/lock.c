/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The store lock: flock(2) on ROOT/lock.  Every batch holds LOCK_SH on its
 * own open file description; prune/sweep hold LOCK_EX.  The thread that
 * holds the exclusive lock may still create batches (they skip LOCK_SH).
 *
 * flock locks belong to open file descriptions, which fork() shares: a
 * child that kept the parent's descriptors would keep the parent's lock
 * alive (and deadlock against it).  All lock descriptors are registered
 * here and closed in the child by a pthread_atfork handler.
 */
#include "store-internal.h"

#include <fcntl.h>
#include <sys/file.h>

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static int *reg_fds;
static size_t reg_n, reg_cap;

static void reg_prepare(void)
{
	pthread_mutex_lock(&reg_mu);
}

static void reg_parent(void)
{
	pthread_mutex_unlock(&reg_mu);
}

static void reg_child(void)
{
	for (size_t i = 0; i < reg_n; i++)
		close(reg_fds[i]);
	reg_n = 0;
	pthread_mutex_unlock(&reg_mu);
}

static void reg_init(void)
{
	pthread_atfork(reg_prepare, reg_parent, reg_child);
}

static int reg_add(int fd)
{
	int r = 0;
	pthread_once(&reg_once, reg_init);
	pthread_mutex_lock(&reg_mu);
	r = ARRAY_RESERVE(reg_fds, reg_cap, reg_n + 1, 16);
	if (r == 0)
		reg_fds[reg_n++] = fd;
	pthread_mutex_unlock(&reg_mu);
	return r;
}

static void reg_remove(int fd)
{
	pthread_mutex_lock(&reg_mu);
	for (size_t i = 0; i < reg_n; i++) {
		if (reg_fds[i] == fd) {
			reg_fds[i] = reg_fds[--reg_n];
			break;
		}
	}
	pthread_mutex_unlock(&reg_mu);
}

void store_lockfd_close(struct lockfd *l)
{
	if (l->fd >= 0 && l->pid == getpid()) {
		reg_remove(l->fd);
		close(l->fd);
	}
	l->fd = -1;
}

int store_lockfd_open(cairn_store *s, int op, struct lockfd *ret)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/lock", s->root) < 0)
		return -ENOMEM;
	struct lockfd l = {.fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600), .pid = getpid()};
	if (l.fd < 0)
		return -errno;
	int r = reg_add(l.fd);
	if (r < 0) {
		close(l.fd);
		return r;
	}
	while (op && flock(l.fd, op) < 0) {
		if (errno != EINTR) {
			r = -errno;
			store_lockfd_close(&l);
			return r;
		}
	}
	*ret = l;
	return 0;
}

bool store_excl_held_by_me(cairn_store *s)
{
	pthread_mutex_lock(&s->mu);
	bool mine = s->excl.fd >= 0 && pthread_equal(s->excl_owner, pthread_self());
	pthread_mutex_unlock(&s->mu);
	return mine;
}

int cairn_store_lock_exclusive(cairn_store *s)
{
	pthread_mutex_lock(&s->mu);
	bool deadlock = (s->excl.fd >= 0 && pthread_equal(s->excl_owner, pthread_self())) ||
			store_batch_list_has_locked_owner(s, pthread_self());
	pthread_mutex_unlock(&s->mu);
	if (deadlock)
		return -EDEADLK;

	struct lockfd l;
	int r = store_lockfd_open(s, LOCK_EX, &l);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->mu);
	s->excl = l;
	s->excl_owner = pthread_self();
	pthread_mutex_unlock(&s->mu);
	return 0;
}

void cairn_store_unlock_exclusive(cairn_store *s)
{
	struct lockfd l = {.fd = -1};
	pthread_mutex_lock(&s->mu);
	if (s->excl.fd >= 0 && pthread_equal(s->excl_owner, pthread_self())) {
		l = s->excl;
		s->excl.fd = -1;
	}
	pthread_mutex_unlock(&s->mu);
	store_lockfd_close(&l);
}
