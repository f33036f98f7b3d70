/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `cairn pull`: an image from a registry into the store.
 *
 *   1. the reference's manifest (or index) is fetched; for an index, the
 *      child for the wanted platform (or, with all_platforms, every child);
 *   2. manifests, indexes and configs are written, verified, into an OCI
 *      layout under ROOT/tmp/pull-XXXXXX; layer blobs the store lacks are
 *      downloaded in parallel into ROOT/tmp/pull/sha256/HEX (".part" while
 *      in flight, locked, resumed by the next pull when interrupted) and
 *      hard-linked into the layout;
 *   3. the layout is loaded like `cairn load` in one batch (every digest
 *      checked again while the bytes are stored), with compressed layers
 *      new to the store kept as their blob, unpacked on first use
 *      (unpack.c); the reference is tagged;
 *   4. the layout and the downloaded files are removed.
 * Until the commit in 3 nothing is in the store; a failed or corrupted
 * download leaves only what ROOT/tmp holds.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>

#include "load.h"
#include "registry.h"

#define PULL_JOBS 4

struct pull_blob {
	cairn_digest digest;
	uint64_t size;
	const char *what;
	bool fetch; /* false: the store has it */
	bool json;  /* a config: the load reads it from the layout */
	uint64_t got;
	bool downloaded;
	int r;
	cairn_error *err;
};

struct pull_ctx {
	cairn_store *s;
	const struct cairn_pull_options *o;
	reg_client *rc;
	const char *repo;
	const char *label; /* the reference as given */
	char *cache;	   /* ROOT/tmp/pull/sha256 */
	char *dir;	   /* the layout */
	int dir_fd;	   /* open and locked while the pull runs */
	bool single;	   /* the reference named a manifest, not an index */
	cairn_digest config; /* of the last manifest walked */
	size_t n;
	struct pull_blob *b;
	/* workers */
	pthread_mutex_t lock;
	size_t next;
	bool failed;
	struct cairn_pull_result *res;
};

void xfer_emit(cairn_xfer_fn fn, void *userdata, pthread_mutex_t *lock,
	       enum cairn_xfer_event ev, const char *what, const cairn_digest *d, uint64_t done,
	       uint64_t total)
{
	if (!fn)
		return;
	struct cairn_xfer x = {ev, what, d, done, total};
	pthread_mutex_lock(lock);
	fn(&x, userdata);
	pthread_mutex_unlock(lock);
}

static void xfer(struct pull_ctx *c, enum cairn_xfer_event ev, const char *what,
		 const cairn_digest *d, uint64_t done, uint64_t total)
{
	xfer_emit(c->o->progress, c->o->userdata, &c->lock, ev, what, d, done, total);
}

void cairn_pull_result_clear(struct cairn_pull_result *r)
{
	free(r->id);
	free(r->name);
	free(r->digest);
	*r = (struct cairn_pull_result){0};
}

static int blob_add(struct pull_ctx *c, const oci_desc *d, const char *what, bool json)
{
	for (size_t i = 0; i < c->n; i++)
		if (memcmp(c->b[i].digest.b, d->digest.b, CAIRN_DIGEST_LEN) == 0)
			return 0;
	struct pull_blob *n = realloc(c->b, (c->n + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->b = n;
	/* a config the store has is copied into the layout from there */
	bool have = cairn_store_has(c->s, CAIRN_T_BLOBS, d->digest.b, CAIRN_DIGEST_LEN) > 0 ||
		    (!json && cairn_store_has(c->s, CAIRN_T_DIFFS, d->digest.b, CAIRN_DIGEST_LEN) > 0);
	n[c->n++] = (struct pull_blob){.digest = d->digest, .size = d->size, .what = what,
				       .fetch = !have, .json = json};
	return 0;
}

static int write_doc(struct pull_ctx *c, const cairn_digest *d, const char *data, size_t len,
		     cairn_error **err)
{
	char rel[80];
	_cleanup_free_ char *path = NULL;
	blob_path(d, rel);
	if (asprintf(&path, "%s/%s", c->dir, rel) < 0)
		return -ENOMEM;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return cairn_error_from(err, -errno, "creating %s", path);
	int r = write_all(fd, data, len);
	close(fd);
	return r < 0 ? cairn_error_from(err, r, "writing %s", path) : 0;
}

/* ---- the documents ---------------------------------------------------------------------- */

/* Fetches a manifest or index by digest, checking it against its descriptor. */
static int get_doc(struct pull_ctx *c, const oci_desc *d, struct reg_manifest *m,
		   cairn_error **err)
{
	_cleanup_free_ char *ds = cairn_digest_string(&d->digest);
	if (!ds)
		return -ENOMEM;
	int r = reg_manifest_get(c->rc, c->repo, ds, m, err);
	if (r < 0)
		return r;
	if (m->len != d->size)
		return cairn_error_set(err, CAIRN_E_DIGEST,
				       "%s: manifest %s: %zu bytes, the index says %llu", c->label,
				       ds, m->len, (unsigned long long) d->size);
	return write_doc(c, &m->digest, m->body, m->len, err);
}

static int walk_manifest(struct pull_ctx *c, const char *body, size_t len, cairn_error **err)
{
	oci_manifest m = {0};
	int r = oci_manifest_parse(body, len, "manifest", &m, err);
	if (r < 0)
		return cairn_error_prefix(err, "%s", c->label);
	if (m.config.size > OCI_JSON_MAX)
		r = cairn_error_set(err, CAIRN_E_FORMAT, "%s: config of %llu bytes is too large",
				    c->label, (unsigned long long) m.config.size);
	if (r >= 0) {
		c->config = m.config.digest;
		r = blob_add(c, &m.config, "config", true);
	}
	for (size_t i = 0; r >= 0 && i < m.n_layers; i++)
		r = blob_add(c, &m.layers[i], "layer", false);
	oci_manifest_clear(&m);
	return r;
}

static oci_kind doc_kind(const struct reg_manifest *m)
{
	oci_kind k = m->media_type ? oci_media_kind(m->media_type) : OCI_K_UNKNOWN;
	return k == OCI_K_INDEX || k == OCI_K_MANIFEST ? k : oci_json_sniff(m->body, m->len);
}

/* How well a descriptor's platform fits the wanted one (0: not at all). */
static int platform_score(const oci_desc *d, const oci_platform *want)
{
	if (!d->has_platform || !d->platform.os || !d->platform.arch ||
	    strcmp(d->platform.os, want->os) != 0 || strcmp(d->platform.arch, want->arch) != 0)
		return 0;
	const char *dv = d->platform.variant, *wv = want->variant;
	if (!wv && !dv)
		return 3;
	if (wv && dv)
		return strcmp(wv, dv) == 0 ? 3 : 0;
	/* arm64 is v8 whether said or not; otherwise one side unspecified */
	if (strcmp(want->arch, "arm64") == 0 && strcmp(wv ? wv : dv, "v8") == 0)
		return 3;
	return wv ? 1 : 2;
}

const oci_desc *oci_index_pick(const oci_index *x, const oci_platform *want)
{
	const oci_desc *best = NULL;
	int best_score = 0;
	for (size_t i = 0; want->os && want->arch && i < x->n; i++) {
		if (oci_media_kind(x->manifests[i].media_type) == OCI_K_INDEX)
			continue;
		int sc = platform_score(&x->manifests[i], want);
		if (sc > best_score) {
			best = &x->manifests[i];
			best_score = sc;
		}
	}
	return best;
}

static int pick_child(struct pull_ctx *c, const oci_index *x, const oci_desc **ret,
		      cairn_error **err)
{
	oci_platform want = {0};
	int r = c->o->platform ? oci_platform_parse(c->o->platform, &want)
			       : oci_platform_host(&want);
	if (r < 0) {
		oci_platform_clear(&want);
		return cairn_error_set(err, CAIRN_E_FORMAT,
				       "invalid platform \"%s\" (want os/arch[/variant])",
				       c->o->platform ? c->o->platform : "(host)");
	}
	const oci_desc *best = oci_index_pick(x, &want);
	if (!best) {
		_cleanup_free_ char *ws = oci_platform_string(&want);
		r = cairn_error_set(err, CAIRN_E_NOTFOUND,
				    "%s: no image for platform %s in the manifest list", c->label,
				    ws ? ws : "?");
	}
	oci_platform_clear(&want);
	*ret = best;
	return r;
}

static int walk_index(struct pull_ctx *c, const char *body, size_t len, int depth,
		      cairn_error **err)
{
	if (depth > OCI_MAX_DEPTH)
		return cairn_error_set(err, CAIRN_E_FORMAT, "%s: indexes nested too deep",
				       c->label);
	oci_index x = {0};
	int r = oci_index_parse(body, len, "index", &x, err);
	if (r < 0)
		return cairn_error_prefix(err, "%s", c->label);
	for (size_t i = 0; r >= 0 && i < x.n; i++) {
		const oci_desc *d = &x.manifests[i];
		oci_kind k = oci_media_kind(d->media_type);
		if (k != OCI_K_INDEX && k != OCI_K_MANIFEST) {
			r = blob_add(c, d, "blob", false);
			continue;
		}
		struct reg_manifest m = {0};
		r = get_doc(c, d, &m, err);
		if (r >= 0)
			r = k == OCI_K_INDEX ? walk_index(c, m.body, m.len, depth + 1, err)
					     : walk_manifest(c, m.body, m.len, err);
		reg_manifest_clear(&m);
	}
	oci_index_clear(&x);
	return r;
}

/* Resolves the reference; *ret_top gets the descriptor index.json lists. */
static int resolve(struct pull_ctx *c, const char *ref, oci_desc *ret_top, cairn_error **err)
{
	struct reg_manifest m = {0};
	int r = reg_manifest_get(c->rc, c->repo, ref, &m, err);
	if (r < 0)
		return r;
	if (!(c->res->digest = cairn_digest_string(&m.digest))) {
		reg_manifest_clear(&m);
		return -ENOMEM;
	}
	oci_kind k = doc_kind(&m);
	r = write_doc(c, &m.digest, m.body, m.len, err);
	const char *mt = m.media_type;
	if (r >= 0 && k == OCI_K_MANIFEST) {
		c->single = true;
		r = walk_manifest(c, m.body, m.len, err);
	} else if (r >= 0 && k == OCI_K_INDEX && c->o->all_platforms) {
		r = walk_index(c, m.body, m.len, 0, err);
	} else if (r >= 0 && k == OCI_K_INDEX) {
		oci_index x = {0};
		const oci_desc *child = NULL;
		struct reg_manifest cm = {0};
		if ((r = oci_index_parse(m.body, m.len, "index", &x, err)) < 0)
			cairn_error_prefix(err, "%s", c->label);
		if (r >= 0)
			r = pick_child(c, &x, &child, err);
		if (r >= 0)
			r = get_doc(c, child, &cm, err);
		if (r >= 0 && doc_kind(&cm) != OCI_K_MANIFEST)
			r = cairn_error_set(err, CAIRN_E_FORMAT,
					    "%s: the platform's entry is not an image manifest",
					    c->label);
		if (r >= 0)
			r = walk_manifest(c, cm.body, cm.len, err);
		if (r >= 0) {
			ret_top->digest = cm.digest;
			ret_top->size = cm.len;
			ret_top->media_type = strdup(child->media_type);
			r = ret_top->media_type ? 0 : -ENOMEM;
		}
		reg_manifest_clear(&cm);
		oci_index_clear(&x);
		reg_manifest_clear(&m);
		return r;
	} else if (r >= 0) {
		r = cairn_error_set(err, CAIRN_E_FORMAT,
				    "%s: unsupported manifest type %s (Docker schema 1 images "
				    "cannot be pulled)",
				    c->label, mt ? mt : "(none)");
	}
	if (r >= 0) {
		ret_top->digest = m.digest;
		ret_top->size = m.len;
		ret_top->media_type = strdup(mt ? mt : k == OCI_K_INDEX ? MT_OCI_INDEX
									 : MT_OCI_MANIFEST);
		r = ret_top->media_type ? 0 : -ENOMEM;
	}
	reg_manifest_clear(&m);
	return r;
}

/* ---- blob downloads ---------------------------------------------------------------------- */

struct fetch_progress {
	struct pull_ctx *c;
	struct pull_blob *b;
};

static void fetch_progress(void *userdata, uint64_t done, uint64_t total)
{
	struct fetch_progress *p = userdata;
	p->b->got = done;
	xfer(p->c, CAIRN_XFER_PROGRESS, p->b->what, &p->b->digest, done, total);
}

static int fetch_one(struct pull_ctx *c, struct pull_blob *b, cairn_error **err)
{
	char hex[2 * CAIRN_DIGEST_LEN + 1], rel[80];
	cairn_digest_hex(&b->digest, hex);
	blob_path(&b->digest, rel);
	_cleanup_free_ char *done = NULL, *part = NULL, *link_to = NULL;
	if (asprintf(&done, "%s/%s", c->cache, hex) < 0 ||
	    asprintf(&part, "%s/%s.part", c->cache, hex) < 0 ||
	    asprintf(&link_to, "%s/%s", c->dir, rel) < 0)
		return -ENOMEM;
	/* the .part file's lock serializes pulls of one blob; a lock taken on
	 * a .part that was renamed (or removed) meanwhile is taken again */
	for (int attempt = 0; attempt < 4; attempt++) {
		_cleanup_close_ int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return cairn_error_from(err, -errno, "creating %s", part);
		if (flock(fd, LOCK_EX) < 0)
			return cairn_error_from(err, -errno, "locking %s", part);
		struct stat st, pst;
		if (fstat(fd, &st) < 0)
			return cairn_error_from(err, -errno, "%s", part);
		if (stat(part, &pst) < 0 || pst.st_ino != st.st_ino || pst.st_dev != st.st_dev)
			continue;
		struct stat dst;
		if (stat(done, &dst) == 0 && (uint64_t) dst.st_size == b->size) {
			/* completed (and verified) by an earlier pull */
			xfer(c, CAIRN_XFER_EXISTS, b->what, &b->digest, b->size, b->size);
		} else {
			xfer(c, CAIRN_XFER_START, b->what, &b->digest, (uint64_t) st.st_size,
			     b->size);
			struct fetch_progress fp = {c, b};
			int r = reg_blob_fetch(c->rc, c->repo, &b->digest, b->size, fd,
					       fetch_progress, &fp, err);
			if (r < 0) {
				if (r == CAIRN_E_DIGEST)
					unlink(part);
				return r;
			}
			if (rename(part, done) < 0)
				return cairn_error_from(err, -errno, "renaming %s", part);
			b->downloaded = true;
			xfer(c, CAIRN_XFER_DONE, b->what, &b->digest, b->size, b->size);
		}
		if (link(done, link_to) == 0 || errno == EEXIST)
			return 0;
		if (errno != ENOENT) /* ENOENT: another pull committed and removed it */
			return cairn_error_from(err, -errno, "linking %s", link_to);
	}
	return cairn_error_set(err, -EBUSY, "%s: blob sha256:%.12s: gave up waiting for other pulls",
			       c->label, hex);
}

static void *fetch_worker(void *userdata)
{
	struct pull_ctx *c = userdata;
	for (;;) {
		pthread_mutex_lock(&c->lock);
		struct pull_blob *b = NULL;
		while (!c->failed && c->next < c->n && !b) {
			struct pull_blob *cand = &c->b[c->next++];
			if (cand->fetch)
				b = cand;
		}
		pthread_mutex_unlock(&c->lock);
		if (!b)
			return NULL;
		b->r = fetch_one(c, b, &b->err);
		if (b->r < 0) {
			pthread_mutex_lock(&c->lock);
			c->failed = true;
			pthread_mutex_unlock(&c->lock);
		}
	}
}

static int size_desc(const void *a, const void *b)
{
	const struct pull_blob *x = a, *y = b;
	return x->size < y->size ? 1 : x->size > y->size ? -1 : 0;
}

static int fetch_all(struct pull_ctx *c, cairn_error **err)
{
	/* biggest first: the long transfers start at once */
	qsort(c->b, c->n, sizeof(*c->b), size_desc);
	unsigned jobs = c->o->jobs ? c->o->jobs : PULL_JOBS, want = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (!c->b[i].fetch && c->b[i].json) {
			_cleanup_free_ char *doc = NULL;
			size_t len;
			int k = blob_read(c->s, &c->b[i].digest, OCI_JSON_MAX, &doc, &len, err);
			if (k >= 0)
				k = write_doc(c, &c->b[i].digest, doc, len, err);
			if (k < 0)
				return k;
		}
		if (!c->b[i].fetch) {
			c->res->present++;
			xfer(c, CAIRN_XFER_EXISTS, c->b[i].what, &c->b[i].digest, c->b[i].size,
			     c->b[i].size);
		} else {
			want++;
		}
	}
	if (jobs > want)
		jobs = want;
	pthread_t t[PULL_JOBS * 4];
	if (jobs > ARRAY_SIZE(t))
		jobs = ARRAY_SIZE(t);
	unsigned started = 0;
	for (; started < jobs; started++)
		if (pthread_create(&t[started], NULL, fetch_worker, c) != 0)
			break;
	if (jobs && !started)
		fetch_worker(c);
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
	int r = 0;
	for (size_t i = 0; i < c->n; i++) {
		struct pull_blob *b = &c->b[i];
		if (b->downloaded) {
			c->res->fetched++;
			c->res->bytes += b->size;
		} else if (b->fetch && b->r >= 0 && !c->failed) {
			c->res->fetched++; /* completed by an earlier, interrupted pull */
		}
		if (b->r < 0 && r >= 0) {
			r = b->r;
			if (err && !*err) {
				*err = b->err;
				b->err = NULL;
			}
		}
		cairn_error_free(b->err);
		b->err = NULL;
	}
	if (r < 0)
		return cairn_error_prefix(err, "pulling %s", c->label);
	return 0;
}

/* A --platform the user gave must be the platform of a single manifest
 * (as docker pull checks it); its config is in the layout by now. */
static int check_platform(struct pull_ctx *c, cairn_error **err)
{
	if (!c->single || !c->o->platform)
		return 0;
	char rel[80];
	_cleanup_free_ char *path = NULL, *buf = NULL;
	size_t len;
	blob_path(&c->config, rel);
	if (asprintf(&path, "%s/%s", c->dir, rel) < 0)
		return -ENOMEM;
	oci_platform want = {0};
	oci_config cfg = {0};
	int r = read_file(path, OCI_JSON_MAX, &buf, &len);
	if (r < 0)
		return cairn_error_from(err, r, "reading %s", path);
	if (oci_platform_parse(c->o->platform, &want) < 0)
		r = cairn_error_set(err, CAIRN_E_FORMAT,
				    "invalid platform \"%s\" (want os/arch[/variant])",
				    c->o->platform);
	if (r >= 0 && (r = oci_config_parse(buf, len, "config", &cfg, err)) < 0)
		cairn_error_prefix(err, "%s", c->label);
	oci_desc d = {.has_platform = true, .platform = cfg.platform};
	if (r >= 0 && cfg.platform.os && cfg.platform.arch && platform_score(&d, &want) == 0) {
		_cleanup_free_ char *have = oci_platform_string(&cfg.platform);
		r = cairn_error_set(err, CAIRN_E_NOTFOUND,
				    "%s: the image is for %s, not the requested %s", c->label,
				    have ? have : "?", c->o->platform);
	}
	oci_config_clear(&cfg);
	oci_platform_clear(&want);
	return r;
}

/* ---- the layout ------------------------------------------------------------------------------ */

static int write_index(struct pull_ctx *c, const oci_desc *top, const char *name,
		       const char *tag, cairn_error **err)
{
	_cleanup_json_ json_t *idx = json_object(), *ms = json_array();
	json_t *d = oci_desc_json(top->media_type, &top->digest, top->size);
	if (!idx || !ms || !d || json_array_append_new(ms, d) < 0)
		return -ENOMEM;
	if (name) {
		json_t *a = json_object();
		if (!a || json_object_set_new(d, "annotations", a) < 0 ||
		    json_object_set_new(a, ANNOT_CONTAINERD_NAME, json_string(name)) < 0 ||
		    json_object_set_new(a, ANNOT_REF_NAME, json_string(tag)) < 0)
			return -ENOMEM;
	}
	if (json_object_set_new(idx, "schemaVersion", json_integer(2)) < 0 ||
	    json_object_set_new(idx, "mediaType", json_string(MT_OCI_INDEX)) < 0 ||
	    json_object_set(idx, "manifests", ms) < 0)
		return -ENOMEM;
	_cleanup_free_ char *buf = NULL, *ip = NULL, *lp = NULL;
	size_t len;
	static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
	int r = oci_json_dump(idx, &buf, &len);
	if (r < 0 || asprintf(&ip, "%s/index.json", c->dir) < 0 ||
	    asprintf(&lp, "%s/oci-layout", c->dir) < 0)
		return -ENOMEM;
	r = write_file_atomic(ip, buf, len, 0600);
	if (r >= 0)
		r = write_file_atomic(lp, layout, sizeof(layout) - 1, 0600);
	return r < 0 ? cairn_error_from(err, r, "writing the pull's layout in %s", c->dir) : 0;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Removes the layouts of pulls that were killed: theirs is no longer locked. */
static void sweep_stale(const char *tmp)
{
	DIR *d = opendir(tmp);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "pull-", 5) != 0)
			continue;
		_cleanup_close_ int fd = openat(dirfd(d), de->d_name,
						O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		_cleanup_free_ char *path = NULL;
		struct stat st;
		/* an unlocked layout younger than a minute may be one being set up */
		if (fd < 0 || fstat(fd, &st) < 0 || st.st_mtime > time(NULL) - 60 ||
		    flock(fd, LOCK_EX | LOCK_NB) < 0 || asprintf(&path, "%s/%s", tmp, de->d_name) < 0)
			continue;
		nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	}
	if (d)
		closedir(d);
}

static void loaded(const char *name, const char *id, void *userdata)
{
	struct pull_ctx *c = userdata;
	free(c->res->id);
	c->res->id = strdup(id);
}

static void pull_ctx_clear(struct pull_ctx *c, bool committed)
{
	if (c->dir)
		nftw(c->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	/* downloads a failed pull completed stay for the next one */
	for (size_t i = 0; committed && i < c->n; i++) {
		char hex[2 * CAIRN_DIGEST_LEN + 1];
		_cleanup_free_ char *p = NULL, *part = NULL;
		cairn_digest_hex(&c->b[i].digest, hex);
		if (c->b[i].fetch && asprintf(&p, "%s/%s", c->cache, hex) >= 0 &&
		    asprintf(&part, "%s/%s.part", c->cache, hex) >= 0) {
			unlink(p);
			unlink(part);
		}
	}
	for (size_t i = 0; i < c->n; i++)
		cairn_error_free(c->b[i].err);
	free(c->b);
	free(c->dir);
	if (c->dir_fd >= 0)
		close(c->dir_fd);
	free(c->cache);
	reg_client_free(c->rc);
	pthread_mutex_destroy(&c->lock);
}

int cairn_image_pull(cairn_store *s, const char *input, const struct cairn_pull_options *o,
		     struct cairn_pull_result *ret, cairn_error **err)
{
	static const struct cairn_pull_options defaults = {0};
	struct cairn_pull_result res = {0};
	struct pull_ctx c = {
	    .s = s, .o = o ? o : &defaults, .label = input, .res = &res, .dir_fd = -1};
	pthread_mutex_init(&c.lock, NULL);
	cairn_ref ref = {0};
	oci_desc top = {0};
	_cleanup_free_ char *tmp = NULL;
	bool committed = false;
	int r = cairn_ref_parse(input, &ref, err);
	if (r >= 0)
		r = reg_client_new(ref.domain, c.o->reg, &c.rc, err);
	c.repo = ref.path;
	if (r >= 0 && ref.tag && !ref.digest && !(res.name = cairn_ref_string(&ref)))
		r = -ENOMEM;
	if (r >= 0 && (asprintf(&c.cache, "%s/tmp/pull/sha256", cairn_store_root(s)) < 0 ||
		       asprintf(&tmp, "%s/tmp", cairn_store_root(s)) < 0 ||
		       asprintf(&c.dir, "%s/pull-XXXXXX", tmp) < 0))
		r = -ENOMEM;
	if (r >= 0 && (r = mkdir_p(c.cache, 0700)) < 0)
		cairn_error_from(err, r, "creating %s", c.cache);
	if (r >= 0)
		sweep_stale(tmp);
	if (r >= 0 && !mkdtemp(c.dir)) {
		r = cairn_error_from(err, -errno, "creating %s", c.dir);
		free(c.dir);
		c.dir = NULL;
	}
	if (r >= 0 && ((c.dir_fd = open(c.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
		       flock(c.dir_fd, LOCK_EX) < 0))
		r = cairn_error_from(err, -errno, "locking %s", c.dir);
	if (r >= 0) {
		_cleanup_free_ char *bd = NULL;
		if (asprintf(&bd, "%s/blobs/sha256", c.dir) < 0)
			r = -ENOMEM;
		else if ((r = mkdir_p(bd, 0700)) < 0)
			cairn_error_from(err, r, "creating %s", bd);
	}
	if (r >= 0)
		r = resolve(&c, ref.digest ? ref.digest : ref.tag, &top, err);
	if (r >= 0)
		r = fetch_all(&c, err);
	if (r >= 0)
		r = check_platform(&c, err);
	if (r >= 0)
		r = write_index(&c, &top, res.name, ref.tag, err);
	if (r >= 0) {
		xfer(&c, CAIRN_XFER_STORE, "image", &top.digest, 0, 0);
		r = load_path(s, c.dir, true, loaded, &c, err);
		if (r >= 0)
			committed = true;
		else
			cairn_error_prefix(err, "pulling %s", input);
	}
	if (r >= 0 && !res.id)
		r = cairn_error_set(err, CAIRN_E_FORMAT, "pulling %s: no image in what the registry sent",
				    input);
	pull_ctx_clear(&c, committed);
	oci_desc_clear(&top);
	cairn_ref_clear(&ref);
	if (r < 0 || !ret)
		cairn_pull_result_clear(&res);
	else
		*ret = res;
	return r;
}
