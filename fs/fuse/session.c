/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A cairn filesystem's life: building the tree from layers, the upper and
 * cache directories, mounting (libfuse low-level session on its own
 * threads), the connection settings, kernel cache invalidation, unmounting
 * and freeing.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>

#include "ops.h"

/* ---- kernel notifications ------------------------------------------------------ */

static void notify_push(cairn_fs *fs, fuse_ino_t parent, fuse_ino_t ino, const char *name,
			size_t len)
{
	if (!fs->se || !fs->serving)
		return;
	if (ARRAY_RESERVE(fs->pending, fs->cap_pending, fs->n_pending + 1, 64) < 0)
		return; /* the kernel keeps a stale cache entry: degraded, not wrong for us */
	char *nm = name ? strndup(name, len) : NULL;
	if (name && !nm)
		return;
	fs->pending[fs->n_pending++] = (struct notify){parent, ino, nm, len};
}

void fs_inval_entry(cairn_fs *fs, struct node *parent, const char *name, size_t len)
{
	notify_push(fs, node_fuse_ino(fs, parent), 0, name, len);
}

void fs_inval_inode(cairn_fs *fs, struct node *n)
{
	notify_push(fs, 0, node_fuse_ino(fs, n), NULL, 0);
}

void fs_notify_flush(cairn_fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	struct notify *v = steal_pointer(&fs->pending);
	size_t n = fs->n_pending;
	fs->n_pending = fs->cap_pending = 0;
	struct fuse_session *se = fs->serving ? fs->se : NULL;
	pthread_mutex_unlock(&fs->lock);
	for (size_t i = 0; i < n; i++) {
		if (se && v[i].name)
			fuse_lowlevel_notify_inval_entry(se, v[i].parent, v[i].name, v[i].len);
		else if (se)
			fuse_lowlevel_notify_inval_inode(se, v[i].ino, 0, 0);
		free(v[i].name);
	}
	free(v);
}

void fs_changed(cairn_fs *fs)
{
	fs->changes++;
}

/* ---- connection ------------------------------------------------------------------ */

void op_init(void *userdata, struct fuse_conn_info *conn)
{
	cairn_fs *fs = userdata;
	const char *wb = getenv("CAIRN_FS_WRITEBACK");
	unsigned want = FUSE_CAP_ASYNC_READ | FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_DONT_MASK |
			FUSE_CAP_READDIRPLUS | FUSE_CAP_PARALLEL_DIROPS | FUSE_CAP_POSIX_ACL |
			FUSE_CAP_CACHE_SYMLINKS | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
			FUSE_CAP_SPLICE_READ;
	const char *no_open = getenv("CAIRN_FS_NO_OPEN");
	/* The writeback cache batches small writes, but makes the kernel
	 * forget st_blocks at every close (a GETATTR after each open of any
	 * file) and send the times it kept itself (a SETATTR per written
	 * file): more requests than it saves for builds.  Opt in with 1. */
	if (!fs->opts.readonly && wb && strcmp(wb, "1") == 0)
		want |= FUSE_CAP_WRITEBACK_CACHE;
	/* Without OPEN and RELEASE for files (the open handler answers
	 * ENOSYS once), reads and writes come by inode: an open is free.
	 * O_TRUNC then arrives as a SETATTR (an atomic O_TRUNC would be
	 * skipped by the kernel, there being no OPEN to carry it). */
	/* (with the writeback cache, writes arrive from the kernel's flusher,
	 * not the writer: only an open can tell whose a write is) */
	if ((conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) && !(want & FUSE_CAP_WRITEBACK_CACHE) &&
	    !(no_open && strcmp(no_open, "0") == 0)) {
		want |= FUSE_CAP_NO_OPEN_SUPPORT;
		want &= ~(unsigned) FUSE_CAP_ATOMIC_O_TRUNC;
		fs->no_open = true;
	}
	const char *no_opendir = getenv("CAIRN_FS_NO_OPENDIR");
	if ((conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) && !(no_opendir && strcmp(no_opendir, "0") == 0)) {
		want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
		fs->no_opendir = true;
	}
	conn->want |= want & conn->capable;
	/* the kernel may trust its caches: nothing changes behind its back */
	conn->want &= ~(unsigned) (FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_READDIRPLUS_AUTO);
	if (fs->no_open)
		conn->want &= ~(unsigned) FUSE_CAP_ATOMIC_O_TRUNC; /* libfuse asks for it by default */
	fs->writeback = conn->want & FUSE_CAP_WRITEBACK_CACHE;
	conn->max_write = 1u << 20;
	conn->max_readahead = 1u << 20;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	conn->time_gran = 1;
}

void op_destroy(void *userdata)
{
}

/* ---- building ---------------------------------------------------------------------- */

static int dir_open_at(const char *root, const char *sub, int *ret)
{
	_cleanup_free_ char *p = NULL;
	if (asprintf(&p, "%s/%s", root, sub) < 0)
		return -ENOMEM;
	int r = mkdir_p(p, 0700);
	if (r < 0)
		return r;
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret = fd;
	return 0;
}

/* ROOT/tmp/fs-XXXXXX, locked (flock) for as long as the fs lives. */
static int upper_create(cairn_fs *fs)
{
	const char *root = cairn_store_root(fs->store);
	_cleanup_free_ char *tmp = NULL;
	if (asprintf(&tmp, "%s/tmp", root) < 0)
		return -ENOMEM;
	int r = mkdir_p(tmp, 0700);
	if (r < 0)
		return r;
	/* ext4 then spreads the upper directories over its block groups (as
	 * it does the top-level ones): a new mount's files do not land among
	 * the inodes the last one deleted, which ext4 skips one by one */
	_cleanup_close_ int tfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fl = 0;
	if (tfd >= 0 && ioctl(tfd, FS_IOC_GETFLAGS, &fl) == 0 && !(fl & FS_TOPDIR_FL)) {
		fl |= FS_TOPDIR_FL;
		(void) ioctl(tfd, FS_IOC_SETFLAGS, &fl); /* ext2/3/4 only */
	}
	if (asprintf(&fs->upper_dir, "%s/fs-XXXXXX", tmp) < 0) {
		fs->upper_dir = NULL;
		return -ENOMEM;
	}
	if (!mkdtemp(fs->upper_dir))
		return -errno;
	fs->upper_fd = open(fs->upper_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->upper_fd < 0)
		return -errno;
	fs->lock_fd = openat(fs->upper_fd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fs->lock_fd < 0 || flock(fs->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return -errno;
	return 0;
}

static void upper_destroy(cairn_fs *fs)
{
	if (fs->upper_fd >= 0) {
		DIR *d = fdopendir(dup(fs->upper_fd));
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (de->d_name[0] != '.' || strcmp(de->d_name, ".lock") == 0)
				unlinkat(fs->upper_fd, de->d_name, 0);
		if (d)
			closedir(d);
		close(fs->upper_fd);
	}
	if (fs->upper_dir)
		rmdir(fs->upper_dir);
	if (fs->lock_fd >= 0)
		close(fs->lock_fd);
	free(fs->upper_dir);
}

int cairn_fs_new(cairn_store *s, const cairn_id *layers, size_t n,
		 const struct cairn_fs_options *opts, cairn_fs **ret, cairn_error **err)
{
	cairn_fs *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return -ENOMEM;
	fs->store = s;
	fs->opts = opts ? *opts : (struct cairn_fs_options){0};
	fs->upper_fd = fs->cache_fd = fs->lock_fd = -1;
	fs->end_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fs->next_ino = 1;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_rwlock_init(&fs->freeze, NULL);
	pthread_mutex_init(&fs->wait_lock, NULL);
	pthread_mutex_init(&fs->spare_lock, NULL);
	pthread_cond_init(&fs->wait_cond, NULL);
	int r = fs->end_fd < 0 ? -errno : 0;
	if (r >= 0 && !(fs->root = node_new(fs, S_IFDIR | 0755)))
		r = -ENOMEM;
	if (r >= 0) {
		fs->root->nlink = 1;
		fs->root->atime = fs->root->mtime = fs->root->ctime = (struct timespec){0};
	}
	if (r >= 0 && (r = upper_create(fs)) < 0)
		cairn_error_set(err, r, "cannot create the upper directory under %s/tmp: %s",
				cairn_store_root(s), cairn_strerror(r));
	if (r >= 0 && (r = dir_open_at(cairn_store_root(s), "cache", &fs->cache_fd)) < 0)
		cairn_error_set(err, r, "cannot create %s/cache: %s", cairn_store_root(s),
				cairn_strerror(r));
	for (size_t i = 0; r >= 0 && i < n; i++) {
		cairn_layer *l = NULL;
		r = cairn_layer_open(s, &layers[i], &l, err);
		if (r >= 0 && (r = fs_keep_layer(fs, l)) < 0)
			cairn_layer_free(l);
		if (r >= 0)
			r = merge_layer(fs, l, false, err);
	}
	if (r >= 0 && n && !(fs->chain = malloc(n * sizeof(*fs->chain))))
		r = -ENOMEM;
	if (r >= 0) {
		if (n)
			memcpy(fs->chain, layers, n * sizeof(*layers));
		fs->n_chain = n;
		struct flat f;
		r = flat_build(fs, &f);
		if (r >= 0)
			r = base_from_flat(fs, &f);
		fs->changes = 0;
	}
	if (r < 0) {
		cairn_error_from(err, r, "building the filesystem");
		cairn_fs_free(fs);
		return r;
	}
	*ret = fs;
	return 0;
}

void cairn_fs_free(cairn_fs *fs)
{
	if (!fs)
		return;
	cairn_fs_unmount(fs, CAIRN_FS_UMOUNT_LAZY);
	for (size_t i = 0; i < ARRAY_SIZE(fs->kept); i++)
		fs->kept[i] = NULL; /* their data goes with the nodes below */
	while (fs->all) {
		struct node *n = fs->all;
		if (n->data) {
			n->data->refs = 1;
			fdata_put(n);
		}
		n->flags &= ~N_UPPER; /* the directory goes below */
		node_free(fs, n);
	}
	for (size_t i = 0; i < fs->n_pending; i++)
		free(fs->pending[i].name);
	free(fs->pending);
	base_clear(&fs->base);
	for (size_t i = 0; i < fs->n_layers; i++)
		cairn_layer_free(fs->layers[i]);
	free(fs->layers);
	free(fs->chain);
	upper_destroy(fs);
	if (fs->cache_fd >= 0)
		close(fs->cache_fd);
	free(fs->mountpoint);
	if (fs->end_fd >= 0)
		close(fs->end_fd);
	pthread_mutex_destroy(&fs->lock);
	pthread_rwlock_destroy(&fs->freeze);
	pthread_mutex_destroy(&fs->wait_lock);
	pthread_mutex_destroy(&fs->spare_lock);
	pthread_cond_destroy(&fs->wait_cond);
	free(fs);
}

/* ---- mounting --------------------------------------------------------------------------- */

static void *serve(void *userdata)
{
	cairn_fs *fs = userdata;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	if (cfg) {
		fuse_loop_cfg_set_clone_fd(cfg, 0);
		unsigned max = fs->opts.max_threads ? fs->opts.max_threads : 16;
		/* workers are kept, not ended when idle: bursts of background
		 * requests (writeback, releases, forgets) would otherwise make
		 * libfuse start and end a thread (and its splice pipe) for each */
		fuse_loop_cfg_set_max_threads(cfg, max);
		fuse_loop_cfg_set_idle_threads(cfg, max);
	}
	fuse_session_loop_mt(fs->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	pthread_mutex_lock(&fs->wait_lock);
	fs->ended = true;
	pthread_cond_broadcast(&fs->wait_cond);
	pthread_mutex_unlock(&fs->wait_lock);
	uint64_t one = 1;
	(void) !write(fs->end_fd, &one, sizeof(one));
	return NULL;
}

static struct fuse_session *session_new(cairn_fs *fs, bool allow_other)
{
	char opts[256];
	snprintf(opts, sizeof(opts), "default_permissions,fsname=cairn,subtype=cairn%s%s",
		 allow_other ? ",allow_other" : "", fs->opts.readonly ? ",ro" : "");
	char *argv[] = {"cairn", "-o", opts, fs->opts.debug ? "-d" : NULL, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(fs->opts.debug ? 4 : 3, argv);
	struct fuse_session *se = fuse_session_new(&args, &cairn_fs_ops, sizeof(cairn_fs_ops), fs);
	fuse_opt_free_args(&args);
	return se;
}

int cairn_fs_mount(cairn_fs *fs, const char *dir, cairn_error **err)
{
	if (fs->se)
		return cairn_error_set(err, -EBUSY, "already mounted at %s", fs->mountpoint);
	/* allow_other lets every user (and the builder's RUN users) in, with the
	 * kernel checking permissions; without privilege it may be refused */
	bool other = true;
	for (int attempt = 0; attempt < 2; attempt++, other = false) {
		fs->se = session_new(fs, other);
		if (fs->se && fuse_session_mount(fs->se, dir) == 0)
			break;
		if (fs->se)
			fuse_session_destroy(fs->se);
		fs->se = NULL;
		if (geteuid() == 0)
			break;
	}
	if (!fs->se)
		return cairn_error_set(err, -EIO, "cannot mount a FUSE filesystem on %s "
						  "(is /dev/fuse available?)",
				       dir);
	if (!(fs->mountpoint = realpath(dir, NULL)) && !(fs->mountpoint = strdup(dir))) {
		cairn_fs_unmount(fs, CAIRN_FS_UMOUNT_LAZY);
		return -ENOMEM;
	}
	fs->serving = true;
	fs->ended = false;
	int r = -pthread_create(&fs->thread, NULL, serve, fs);
	if (r < 0) {
		fs->serving = false;
		fuse_session_unmount(fs->se);
		fuse_session_destroy(fs->se);
		fs->se = NULL;
		return cairn_error_set(err, r, "cannot start the filesystem threads");
	}
	fs->thread_started = true;
	return 0;
}

int cairn_fs_wait_fd(cairn_fs *fs)
{
	return fs->end_fd;
}

const char *cairn_fs_mountpoint(const cairn_fs *fs)
{
	return fs->se ? fs->mountpoint : NULL;
}

int cairn_fs_wait(cairn_fs *fs)
{
	pthread_mutex_lock(&fs->wait_lock);
	while (fs->thread_started && !fs->ended)
		pthread_cond_wait(&fs->wait_cond, &fs->wait_lock);
	pthread_mutex_unlock(&fs->wait_lock);
	return 0;
}

int cairn_fs_unmount(cairn_fs *fs, unsigned flags)
{
	if (!fs->se)
		return 0;
	pthread_mutex_lock(&fs->wait_lock);
	bool ended = fs->ended;
	pthread_mutex_unlock(&fs->wait_lock);
	if (!ended && geteuid() == 0) {
		int mf = flags & CAIRN_FS_UMOUNT_LAZY ? MNT_DETACH : 0;
		if (umount2(fs->mountpoint, mf) < 0 && errno != EINVAL && errno != ENOENT) {
			if (errno == EBUSY && !(flags & CAIRN_FS_UMOUNT_LAZY))
				return -EBUSY;
			umount2(fs->mountpoint, MNT_DETACH);
		}
	}
	fuse_session_exit(fs->se);
	if (!ended && geteuid() != 0)
		fuse_session_unmount(fs->se);
	if (fs->thread_started) {
		pthread_join(fs->thread, NULL);
		fs->thread_started = false;
	}
	pthread_mutex_lock(&fs->lock);
	fs->serving = false;
	pthread_mutex_unlock(&fs->lock);
	fuse_session_destroy(fs->se);
	fs->se = NULL;
	return 0;
}

/* ---- small queries ------------------------------------------------------------------------ */

size_t cairn_fs_layers(const cairn_fs *fs, const cairn_id **ret_layers)
{
	*ret_layers = fs->chain;
	return fs->n_chain;
}

bool cairn_fs_changed(cairn_fs *fs)
{
	pthread_mutex_lock(&fs->lock);
	bool c = fs->changes != 0;
	pthread_mutex_unlock(&fs->lock);
	return c;
}

int cairn_fs_usage(cairn_fs *fs, struct cairn_fs_usage *ret)
{
	*ret = (struct cairn_fs_usage){0};
	pthread_mutex_lock(&fs->lock);
	for (struct node *n = fs->all; n; n = n->next) {
		ret->inodes++;
		if (!(n->flags & N_UPPER))
			continue;
		char name[32];
		struct stat st;
		upper_name(n, name);
		ret->upper_files++;
		if (fstatat(fs->upper_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			ret->upper_bytes += (uint64_t) st.st_blocks * 512;
	}
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

int cairn_fs_apply(cairn_fs *fs, const cairn_id *layer, cairn_error **err)
{
	if (fs->opts.readonly)
		return cairn_error_set(err, -EROFS, "the filesystem is read-only");
	cairn_layer *l = NULL;
	int r = cairn_layer_open(fs->store, layer, &l, err);
	if (r < 0)
		return r;
	pthread_rwlock_rdlock(&fs->freeze);
	pthread_mutex_lock(&fs->lock);
	r = fs_keep_layer(fs, l);
	if (r < 0)
		cairn_layer_free(l);
	else
		r = merge_layer(fs, l, true, err);
	pthread_mutex_unlock(&fs->lock);
	pthread_rwlock_unlock(&fs->freeze);
	fs_notify_flush(fs);
	return r;
}

/* Removes an upper directory unless a live filesystem holds its lock (or
 * it is younger than min_age seconds: it may be starting). */
static bool upper_remove_unlocked(const char *path, time_t min_age)
{
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0)
		return false;
	struct stat st;
	int lock = openat(dfd, ".lock", O_RDWR | O_CLOEXEC);
	bool old = fstat(dfd, &st) == 0 && st.st_ctime <= time(NULL) - min_age;
	if (lock >= 0 && old && flock(lock, LOCK_EX | LOCK_NB) == 0) {
		cairn_fs tmp = {.upper_fd = dfd, .lock_fd = lock, .upper_dir = strdup(path)};
		upper_destroy(&tmp); /* closes dfd and lock */
		return true;
	}
	if (lock >= 0)
		close(lock);
	close(dfd);
	return false;
}

int cairn_fs_remove_upper(const char *path)
{
	return upper_remove_unlocked(path, 0) ? 1 : 0;
}

const char *cairn_fs_upper_dir(const cairn_fs *fs)
{
	return fs->upper_dir;
}

int cairn_fs_cleanup_stale(cairn_store *s)
{
	_cleanup_free_ char *tmp = NULL;
	if (asprintf(&tmp, "%s/tmp", cairn_store_root(s)) < 0)
		return -ENOMEM;
	DIR *d = opendir(tmp);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		_cleanup_free_ char *path = NULL;
		if (strncmp(de->d_name, "fs-", 3) != 0 ||
		    asprintf(&path, "%s/%s", tmp, de->d_name) < 0)
			continue;
		n += upper_remove_unlocked(path, 60);
	}
	closedir(d);
	return n;
}
