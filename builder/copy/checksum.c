/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Phase 2: the identity of a COPY/ADD.  A sha256 over a canonical record
 * stream: a version tag, the options that change the result, then per
 * root and per entry (in selection order) everything copy_apply writes
 * except times (and the mtimes of the source never enter).  Each record
 * is a tag byte followed by length-prefixed fields, so that no two
 * selections give the same stream.
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include <xxhash.h>

#include "copy-internal.h"

#define HASH_BUF (256 * 1024)

int copy_hash_file_default(void *userdata, int dirfd, const char *name, const struct stat *st,
			   uint8_t out[16])
{
	(void) userdata;
	(void) st;
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	_cleanup_free_ uint8_t *buf = malloc(HASH_BUF);
	XXH3_state_t *s = XXH3_createState();
	if (!buf || !s) {
		XXH3_freeState(s);
		return -ENOMEM;
	}
	XXH3_128bits_reset(s);
	int r = 0;
	for (;;) {
		ssize_t n = read(fd, buf, HASH_BUF);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		XXH3_128bits_update(s, buf, (size_t) n);
	}
	if (r >= 0) {
		XXH128_canonical_t c;
		XXH128_canonicalFromHash(&c, XXH3_128bits_digest(s));
		memcpy(out, c.digest, 16);
	}
	XXH3_freeState(s);
	return r;
}

typedef struct hasher {
	EVP_MD_CTX *md;
	int src_root_fd;
	char *pdir; /* the source directory pfd is open on */
	int pfd;
} hasher;

static void put_u64(hasher *h, uint64_t v)
{
	uint8_t b[8];
	put_be64(b, v);
	EVP_DigestUpdate(h->md, b, 8);
}

static void put_bytes(hasher *h, const void *p, size_t n)
{
	put_u64(h, n);
	if (n)
		EVP_DigestUpdate(h->md, p, n);
}

static void put_str(hasher *h, const char *s)
{
	put_bytes(h, s ? s : "", s ? strlen(s) : 0);
}

static void put_tag(hasher *h, char tag)
{
	EVP_DigestUpdate(h->md, &tag, 1);
}

static char kind_of(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return 'f';
	case S_IFDIR:
		return 'd';
	case S_IFLNK:
		return 'l';
	case S_IFIFO:
		return 'p';
	case S_IFCHR:
		return 'c';
	case S_IFBLK:
		return 'b';
	case S_IFSOCK:
		return 's';
	default:
		return '?';
	}
}

/* An fd of the source directory holding path (cached: siblings share it). */
static int parent_fd(hasher *h, const char *path)
{
	_cleanup_free_ char *dir = path_dirname(path);
	if (!dir)
		return -ENOMEM;
	if (h->pdir && !strcmp(h->pdir, dir))
		return h->pfd;
	int fd = open_in_root(h->src_root_fd, dir, O_PATH | O_DIRECTORY, true);
	if (fd < 0)
		return fd;
	if (h->pfd >= 0)
		close(h->pfd);
	free(h->pdir);
	h->pfd = fd;
	h->pdir = steal_pointer(&dir);
	return fd;
}

static int hash_entry(hasher *h, const copy_selection *sel, const copy_root *root,
		      const copy_entry *e, const copy_options *opts, const copy_chmod *chmod,
		      copy_hash_fn fn, void *ud, cairn_error **err)
{
	mode_t m = e->st.st_mode;
	put_tag(h, 'E');
	put_str(h, e->rel);
	put_tag(h, kind_of(m));
	put_u64(h, S_ISLNK(m) ? 0 : chmod ? copy_chmod_apply(chmod, m) : (m & 07777));
	put_tag(h, e->implied ? 'i' : '-');
	if (opts->preserve_owner && !(opts->chown && *opts->chown)) {
		put_u64(h, e->st.st_uid);
		put_u64(h, e->st.st_gid);
	}
	if (S_ISCHR(m) || S_ISBLK(m))
		put_u64(h, (uint64_t) e->st.st_rdev);
	if (S_ISLNK(m))
		put_str(h, e->link_target);
	put_bytes(h, e->xattrs, e->xattrs_len);
	if (!S_ISREG(m))
		return 0;
	if (e->link_leader != UINT32_MAX) {
		put_tag(h, 'h');
		put_u64(h, e->link_leader - root->first);
		return 0;
	}
	uint8_t digest[16];
	int pfd = parent_fd(h, e->src_path);
	int r = pfd < 0 ? pfd : fn(ud, pfd, path_basename(e->src_path), &e->st, digest);
	if (r < 0) {
		_cleanup_free_ char *q = quote_name(e->src_path, strlen(e->src_path));
		char buf[128];
		return cairn_error_set(err, r, "%s failed: hashing /%s: %s",
				       opts->add ? "ADD" : "COPY", q ? q : "",
				       go_strerror(r, buf, sizeof(buf)));
	}
	put_tag(h, 'c');
	put_u64(h, (uint64_t) e->st.st_size);
	EVP_DigestUpdate(h->md, digest, 16);
	(void) sel;
	return 0;
}

int copy_checksum(const copy_selection *sel, const copy_options *opts, copy_hash_fn hash_fn,
		  void *userdata, uint8_t out[32], cairn_error **err)
{
	copy_options none = {0};
	if (!opts)
		opts = &none;
	copy_chmod chmod;
	bool has_chmod = opts->chmod && *opts->chmod;
	if (has_chmod) {
		int r = copy_chmod_parse(opts->chmod, &chmod, err);
		if (r < 0)
			return r;
	}
	hasher h = {.md = EVP_MD_CTX_new(), .src_root_fd = sel->src_root_fd, .pfd = -1};
	if (!h.md || EVP_DigestInit_ex(h.md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h.md);
		return -ENOMEM;
	}
	put_str(&h, "cairn-copy-v1");
	put_str(&h, opts->chown && *opts->chown ? opts->chown : "");
	put_str(&h, has_chmod ? opts->chmod : "");
	put_u64(&h,
		(opts->add ? 1u : 0u) | (opts->preserve_owner ? 2u : 0u) | (opts->epoch ? 4u : 0u));
	if (opts->epoch) {
		put_u64(&h, (uint64_t) opts->epoch->tv_sec);
		put_u64(&h, (uint64_t) opts->epoch->tv_nsec);
	}
	put_u64(&h, sel->n_sources);
	int r = 0;
	for (size_t i = 0; r >= 0 && i < sel->n_roots; i++) {
		const copy_root *root = &sel->roots[i];
		put_tag(&h, 'R');
		put_u64(&h, root->source_index);
		put_str(&h, root->name);
		put_u64(&h, root->count);
		for (size_t j = 0; r >= 0 && j < root->count; j++)
			r = hash_entry(&h, sel, root, &sel->entries[root->first + j], opts,
				       has_chmod ? &chmod : NULL,
				       hash_fn ? hash_fn : copy_hash_file_default, userdata, err);
	}
	unsigned len = 0;
	if (r >= 0 && EVP_DigestFinal_ex(h.md, out, &len) != 1)
		r = -EIO;
	EVP_MD_CTX_free(h.md);
	if (h.pfd >= 0)
		close(h.pfd);
	free(h.pdir);
	return r;
}
