/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * File data: the content cache (ROOT/cache/XX/<content id>: a content of
 * the store materialised once as a plain sparse file, shared by every
 * mount, disposable), the upper files (ROOT/tmp/fs-XXXXXX/<ino>: data
 * written in this mount) and copy-up between them.
 *
 * Upper files of removed small files are kept (ROOT/tmp/fs-XXXXXX/s<i>,
 * at most SPARE_MAX) and renamed into place for new ones: allocating an
 * inode is by far the dearest part of creating a file on ext4 once many
 * were deleted nearby (it skips recently deleted inodes one by one), and
 * builds create and delete files all the time.
 *
 * Small contents (at most MEM_MAX bytes, no holes) skip the content cache:
 * they are read into memory when first read, as a cache file would be
 * written, and kept for as long as the node's data is (the kernel's page
 * cache keeps them after that; no-open mode keeps the last 64 files' data).
 * A cache file costs an inode, which on ext4 is the dearest part.
 *
 * A cache file is written as an unnamed O_TMPFILE and linked into place
 * only when complete, so a name in the cache always holds the whole,
 * verified content (the store checks every chunk it reads).  Two mounts
 * materialising the same content race harmlessly: both files are equal.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fs-internal.h"

DEFINE_CLEANUP_FUNC(cairn_content, cairn_content_free)

#define COPY_BUF (1u << 20)
#define MEM_MAX (64u << 10)
#define SPARE_MAX 1024
#define SPARE_SIZE (64u << 10) /* larger files free their space at once */

void upper_name(const struct node *n, char buf[32])
{
	snprintf(buf, 32, "%" PRIx64, n->ino);
}

void cache_name(const cairn_id *id, char buf[64])
{
	char hex[2 * CAIRN_ID_LEN + 1];
	cairn_id_hex(id, hex);
	snprintf(buf, 64, "%.2s/%s", hex, hex);
}

struct fdata *fdata_get(struct node *n)
{
	struct fdata *d = n->data;
	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d)
			return NULL;
		pthread_mutex_init(&d->lock, NULL);
		d->fd = d->old_fd = -1;
		n->data = d;
	}
	d->refs++;
	return d;
}

void fdata_put(struct node *n)
{
	struct fdata *d = n->data;
	if (--d->refs > 0)
		return;
	if (d->fd >= 0)
		close(d->fd);
	if (d->old_fd >= 0)
		close(d->old_fd);
	free(d->mem);
	pthread_mutex_destroy(&d->lock);
	free(d);
	n->data = NULL;
}

/* ---- writing a content into a file ---------------------------------------- */

struct fill {
	cairn_content *c;
	int fd;
	uint8_t *buf;
};

static int fill_extent(uint64_t off, uint64_t len, bool hole, void *userdata)
{
	struct fill *f = userdata;
	if (hole)
		return 0;
	while (len > 0) {
		ssize_t n = cairn_content_pread(f->c, f->buf, MIN(len, (uint64_t) COPY_BUF), off);
		if (n <= 0)
			return n < 0 ? (int) n : CAIRN_E_CORRUPT;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = pwrite(f->fd, f->buf + done, (size_t) (n - done),
					   (off_t) off + done);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			done += w;
		}
		off += (uint64_t) n;
		len -= (uint64_t) n;
	}
	return 0;
}

/* Writes the content's data into fd (holes stay holes) and sets its size. */
static int content_to_fd(cairn_store *s, const cairn_id *id, int fd)
{
	_cleanup_(cairn_content_freep) cairn_content *c = NULL;
	int r = cairn_content_open(s, id, &c);
	if (r < 0)
		return r;
	struct fill f = {.c = c, .fd = fd, .buf = malloc(COPY_BUF)};
	if (!f.buf)
		return -ENOMEM;
	r = cairn_content_extents(c, fill_extent, &f);
	free(f.buf);
	if (r >= 0 && ftruncate(fd, (off_t) cairn_content_size(c)) < 0)
		r = -errno;
	return r;
}

/* Reads a small content without holes into d->mem; 0 when it is not one. */
static int mem_open(cairn_fs *fs, struct node *n, const cairn_id *id, struct fdata *d)
{
	uint64_t size, data;
	if (n->size > MEM_MAX)
		return 0;
	int r = cairn_content_stat(fs->store, id, &size, &data);
	if (r < 0)
		return r;
	if (size == 0 || size > MEM_MAX || data != size)
		return 0;
	void *m;
	size_t len;
	r = cairn_content_read_all(fs->store, id, &m, &len);
	if (r < 0)
		return r;
	d->mem_len = (uint32_t) len;
	__atomic_store_n(&d->mem, (uint8_t *) m, __ATOMIC_RELEASE);
	return 1;
}

/* Opens the cache file of a content, materialising it first when missing. */
static int cache_open(cairn_fs *fs, const cairn_id *id, int *ret_fd)
{
	char name[64];
	cache_name(id, name);
	int fd = openat(fs->cache_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		*ret_fd = fd;
		return 0;
	}
	if (errno != ENOENT)
		return -errno;
	name[2] = 0;
	if (mkdirat(fs->cache_fd, name, 0700) < 0 && errno != EEXIST)
		return -errno;
	_cleanup_close_ int tmp = openat(fs->cache_fd, name, O_TMPFILE | O_RDWR | O_CLOEXEC, 0400);
	name[2] = '/';
	if (tmp < 0)
		return -errno;
	int r = content_to_fd(fs->store, id, tmp);
	if (r < 0)
		return r;
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", tmp);
	if (linkat(AT_FDCWD, proc, fs->cache_fd, name, AT_SYMLINK_FOLLOW) < 0 && errno != EEXIST)
		return -errno;
	*ret_fd = steal_fd(&tmp);
	return 0;
}

/* ---- open for reading -------------------------------------------------------- */

/* Renames a spare upper file to name; false when there is none. */
static bool spare_take(cairn_fs *fs, const char *name)
{
	bool ok = false;
	pthread_mutex_lock(&fs->spare_lock);
	while (!ok && fs->n_spares > 0) {
		char s[16];
		snprintf(s, sizeof(s), "s%" PRIu32, --fs->n_spares);
		ok = renameat(fs->upper_fd, s, fs->upper_fd, name) == 0;
	}
	pthread_mutex_unlock(&fs->spare_lock);
	return ok;
}

static bool spare_put(cairn_fs *fs, const char *name)
{
	bool ok = false;
	pthread_mutex_lock(&fs->spare_lock);
	if (fs->n_spares < SPARE_MAX) {
		char s[16];
		snprintf(s, sizeof(s), "s%" PRIu32, fs->n_spares);
		ok = renameat(fs->upper_fd, name, fs->upper_fd, s) == 0;
		fs->n_spares += ok;
	}
	pthread_mutex_unlock(&fs->spare_lock);
	return ok;
}

static int upper_open(cairn_fs *fs, const struct node *n, int flags)
{
	char name[32];
	upper_name(n, name);
	int fd = openat(fs->upper_fd, name, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
	return fd < 0 ? -errno : fd;
}

int data_open_read(cairn_fs *fs, struct node *n, struct fdata *d)
{
	if (d->fd >= 0 || d->mem)
		return 0;
	pthread_mutex_lock(&fs->lock);
	uint32_t flags = n->flags;
	cairn_id id = n->content;
	pthread_mutex_unlock(&fs->lock);
	if (flags & N_UPPER) {
		int fd = upper_open(fs, n, O_RDWR);
		if (fd < 0)
			return fd;
		d->fd = fd;
		d->rw = true;
		return 0;
	}
	if (!(flags & N_CONTENT))
		return 0; /* empty */
	int r = mem_open(fs, n, &id, d);
	if (r != 0)
		return r < 0 ? r : 0;
	return cache_open(fs, &id, &d->fd);
}

int data_open_for_commit(cairn_fs *fs, struct node *n, int *ret_fd)
{
	if (n->flags & N_UPPER) {
		int fd = upper_open(fs, n, O_RDONLY);
		if (fd < 0)
			return fd;
		*ret_fd = fd;
		return 0;
	}
	char name[64];
	cache_name(&n->content, name);
	int fd = openat(fs->cache_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*ret_fd = fd;
	return 0;
}

/* ---- copy-up ------------------------------------------------------------------- */

/* Copies the data extents of src into dst (holes stay holes). */
static int copy_sparse(int src, int dst, uint64_t size)
{
	off_t pos = 0;
	while ((uint64_t) pos < size) {
		off_t data = lseek(src, pos, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -errno;
		off_t hole = lseek(src, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		off_t in = data, out = data;
		while (in < hole) {
			ssize_t n = copy_file_range(src, &in, dst, &out, (size_t) (hole - in), 0);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (n == 0)
				break;
		}
		pos = hole;
	}
	return 0;
}

int data_copy_up(cairn_fs *fs, struct node *n, struct fdata *d, bool truncate)
{
	pthread_mutex_lock(&fs->lock);
	uint32_t flags = n->flags;
	uint64_t size = n->size;
	cairn_id id = n->content;
	pthread_mutex_unlock(&fs->lock);
	if (flags & N_UPPER) {
		if (d->fd < 0 || !d->rw) {
			int fd = upper_open(fs, n, O_RDWR);
			if (fd < 0)
				return fd;
			if (d->fd >= 0)
				d->old_fd = d->fd;
			d->fd = fd;
			d->rw = true;
		}
		return 0;
	}
	char name[32];
	upper_name(n, name);
	spare_take(fs, name); /* else created: O_CREAT */
	_cleanup_close_ int fd = upper_open(fs, n, O_RDWR | O_CREAT | O_TRUNC);
	if (fd < 0)
		return fd;
	int r = 0;
	if (!truncate && (flags & N_CONTENT)) {
		if (d->fd >= 0)
			r = copy_sparse(d->fd, fd, size);
		else if (d->mem)
			r = write_all(fd, d->mem, d->mem_len); /* fd is new: at offset 0 */
		else /* straight from the store: no cache file for a copy-up */
			r = content_to_fd(fs->store, &id, fd);
		if (r >= 0 && ftruncate(fd, (off_t) size) < 0)
			r = -errno;
	}
	if (r < 0) {
		unlinkat(fs->upper_fd, name, 0);
		return r;
	}
	if (d->fd >= 0) {
		if (d->old_fd >= 0)
			close(d->old_fd);
		d->old_fd = d->fd;
	}
	d->fd = steal_fd(&fd);
	d->rw = true;
	pthread_mutex_lock(&fs->lock);
	n->flags |= N_UPPER | N_DIRTY_DATA;
	if (truncate)
		n->size = 0;
	pthread_mutex_unlock(&fs->lock);
	return 0;
}

void data_remove_upper(cairn_fs *fs, struct node *n)
{
	char name[32];
	upper_name(n, name);
	if (n->size > SPARE_SIZE || !spare_put(fs, name))
		unlinkat(fs->upper_fd, name, 0);
}

int64_t cairn_fs_cache_prune(cairn_store *s, const cairn_idset *live)
{
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/cache", cairn_store_root(s)) < 0)
		return -ENOMEM;
	_cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return errno == ENOENT ? 0 : -errno;
	int64_t freed = 0;
	for (unsigned i = 0; i < 256; i++) {
		char sub[3];
		snprintf(sub, sizeof(sub), "%02x", i);
		int sfd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd < 0)
			continue;
		DIR *dir = fdopendir(sfd);
		if (!dir) {
			close(sfd);
			continue;
		}
		struct dirent *de;
		while ((de = readdir(dir))) {
			struct stat st;
			cairn_id id;
			if (de->d_name[0] == '.' || fstatat(sfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (live && cairn_id_parse(de->d_name, &id) >= 0 && cairn_idset_has(live, &id))
				continue;
			if (unlinkat(sfd, de->d_name, 0) == 0)
				freed += (int64_t) st.st_blocks * 512;
		}
		closedir(dir);
		unlinkat(dfd, sub, AT_REMOVEDIR);
	}
	return freed;
}
