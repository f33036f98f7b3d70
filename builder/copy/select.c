/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Phase 1: what the sources name.  Each source becomes one or more roots
 * (fsutil's ResolveWildcards: the components before the first wildcard
 * are resolved, then the tree below is walked in lexical order and every
 * path filepath.Match accepts is a match, a matching directory not being
 * entered), each root is resolved following a final symlink, and a
 * directory root brings its whole tree, walked in lexical order.
 *
 * Three filters, with two meanings:
 *  - the context's .dockerignore (paths relative to the source root): the
 *    build context is transferred without what it excludes, so an
 *    excluded file is absent, and an excluded directory exists only when
 *    an exception re-includes something below it (then with all its own
 *    metadata);
 *  - --exclude and --parents' include pattern (relative to each root):
 *    fsutil's copier skips what they filter out and creates a filtered-out
 *    directory only when something below it is copied ("implied").
 */
#include <dirent.h>
#include <fcntl.h>

#include "copy-internal.h"

#define NO_LEADER UINT32_MAX

typedef struct link_slot {
	dev_t dev;
	ino_t ino;
	uint32_t idx; /* NO_LEADER: empty */
} link_slot;

typedef struct walker {
	copy_selection *sel;
	const copy_options *opts;
	arena *a;
	size_t cap_entries, cap_roots;
	df_ignore *exclude;	 /* --exclude, relative to the root */
	df_ignore *include;	 /* --parents pattern, relative to the root */
	const char *include_pat; /* its text, to prune the walk */
	link_slot *links;	 /* (dev, ino) of the current root's files */
	size_t links_cap, links_n;
	const char *cmd;
	cairn_error **err;
} walker;

static int not_found(walker *w, const char *path)
{
	_cleanup_free_ char *q = quote_name(path, strlen(path));
	return cairn_error_set(w->err, -ENOENT, "%s failed: \"/%s\": not found", w->cmd,
			       q ? q : "");
}

static int fail(walker *w, int r, const char *what, const char *path)
{
	_cleanup_free_ char *q = quote_name(path, strlen(path));
	char buf[128];
	return cairn_error_set(w->err, r, "%s failed: %s /%s: %s", w->cmd, what, q ? q : "",
			       go_strerror(r, buf, sizeof(buf)));
}

/* ---- hardlinks ------------------------------------------------------------ */

static size_t link_hash(dev_t dev, ino_t ino, size_t cap)
{
	uint64_t h =
	    ((uint64_t) dev * 0x9e3779b97f4a7c15ull) ^ ((uint64_t) ino * 0xc2b2ae3d27d4eb4full);
	return (size_t) (h ^ (h >> 29)) & (cap - 1);
}

static void links_reset(walker *w)
{
	for (size_t i = 0; i < w->links_cap; i++)
		w->links[i].idx = NO_LEADER;
	w->links_n = 0;
}

/* The leader of (dev, ino) in the current root; makes idx the leader if
 * there is none yet. */
static int link_leader(walker *w, const struct stat *st, uint32_t idx, uint32_t *ret)
{
	if (w->links_n * 2 >= w->links_cap) {
		size_t ncap = w->links_cap ? w->links_cap * 2 : 64;
		link_slot *n = malloc(ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		for (size_t i = 0; i < ncap; i++)
			n[i].idx = NO_LEADER;
		for (size_t i = 0; i < w->links_cap; i++) {
			link_slot *s = &w->links[i];
			if (s->idx == NO_LEADER)
				continue;
			size_t h = link_hash(s->dev, s->ino, ncap);
			while (n[h].idx != NO_LEADER)
				h = (h + 1) & (ncap - 1);
			n[h] = *s;
		}
		free(w->links);
		w->links = n;
		w->links_cap = ncap;
	}
	size_t h = link_hash(st->st_dev, st->st_ino, w->links_cap);
	for (;; h = (h + 1) & (w->links_cap - 1)) {
		link_slot *s = &w->links[h];
		if (s->idx == NO_LEADER) {
			*s = (link_slot){st->st_dev, st->st_ino, idx};
			w->links_n++;
			*ret = NO_LEADER;
			return 0;
		}
		if (s->dev == st->st_dev && s->ino == st->st_ino) {
			*ret = s->idx;
			return 0;
		}
	}
}

/* ---- entries -------------------------------------------------------------- */

static int read_target(int dirfd, const char *name, arena *a, const char **ret)
{
	char buf[4096];
	ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf));
	if (n < 0)
		return -errno;
	if ((size_t) n >= sizeof(buf))
		return -ENAMETOOLONG; /* longer than any Linux symlink */
	*ret = arena_strndup(a, buf, (size_t) n);
	return *ret ? 0 : -ENOMEM;
}

/* Appends an entry; dirfd/name is the object (name "" for dirfd itself). */
static int add_entry(walker *w, int dirfd, const char *name, const char *src_path, const char *rel,
		     const struct stat *st, uint32_t depth, size_t *ret_idx)
{
	copy_selection *sel = w->sel;
	if (sel->n_entries >= NO_LEADER - 1)
		return -E2BIG;
	if (ARRAY_RESERVE(sel->entries, w->cap_entries, sel->n_entries + 1, 256) < 0)
		return -ENOMEM;
	copy_entry e = {.st = *st, .depth = depth, .link_leader = NO_LEADER};
	e.src_path = arena_strndup(w->a, src_path, strlen(src_path));
	e.rel = arena_strndup(w->a, rel, strlen(rel));
	if (!e.src_path || !e.rel)
		return -ENOMEM;
	if (S_ISLNK(st->st_mode)) {
		int r = read_target(dirfd, name, w->a, &e.link_target);
		if (r < 0)
			return fail(w, r, "readlink", src_path);
	}
	int r = xattrs_read(dirfd, name, w->a, &e.xattrs, &e.xattrs_len);
	if (r < 0 && r != -ENOENT)
		return fail(w, r, "listxattr", src_path);
	if (S_ISREG(st->st_mode) && st->st_nlink > 1) {
		r = link_leader(w, st, (uint32_t) sel->n_entries, &e.link_leader);
		if (r < 0)
			return r;
	}
	*ret_idx = sel->n_entries;
	sel->entries[sel->n_entries++] = e;
	return 0;
}

/* ---- filters -------------------------------------------------------------- */

static bool ignored(walker *w, const char *src_path)
{
	return w->opts->ignore && df_ignore_excluded(w->opts->ignore, src_path);
}

/* Whether --exclude or --parents filters rel out (only below a root). */
static bool filtered(walker *w, const char *rel)
{
	if (w->exclude && df_ignore_excluded(w->exclude, rel))
		return true;
	return w->include && !df_ignore_excluded(w->include, rel);
}

/* Could the include pattern match something below the directory rel?
 * Conservative: only a literal or simple-glob component that cannot match
 * prunes. */
static bool include_may_match_below(const char *pat, const char *rel)
{
	const char *p = pat, *r = rel;
	for (;;) {
		size_t pn = strcspn(p, "/"), rn = strcspn(r, "/");
		_cleanup_free_ char *pc = strndup(p, pn), *rc = strndup(r, rn);
		if (!pc || !rc)
			return true;
		if (strstr(pc, "**") || strpbrk(pc, "[\\"))
			return true;
		if (!go_match(pc, rc))
			return false;
		if (!p[pn])
			return false; /* the pattern ends at or above rel */
		p += pn + 1;
		if (!r[rn])
			return true;
		r += rn + 1;
	}
}

static bool may_descend(walker *w, const char *rel)
{
	if (w->exclude && df_ignore_excluded(w->exclude, rel) &&
	    !df_ignore_may_include_below(w->exclude, rel))
		return false;
	if (w->include && !df_ignore_excluded(w->include, rel) &&
	    !include_may_match_below(w->include_pat, rel))
		return false;
	return true;
}

/* ---- walking -------------------------------------------------------------- */

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

typedef struct names {
	char **v;
	size_t n;
} names;

static void names_free(names *n)
{
	for (size_t i = 0; i < n->n; i++)
		free(n->v[i]);
	free(n->v);
}

/* The entries of a directory, sorted as Go's os.ReadDir sorts them. */
static int read_names(int dfd, names *ret)
{
	int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	names n = {0};
	size_t cap = 0;
	struct dirent *de;
	int r = 0;
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (ARRAY_RESERVE(n.v, cap, n.n + 1, 32) < 0 || !(n.v[n.n] = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
		n.n++;
	}
	if (!r && errno)
		r = -errno;
	closedir(d);
	if (r < 0) {
		names_free(&n);
		return r;
	}
	if (n.n)
		qsort(n.v, n.n, sizeof(*n.v), cmp_name);
	*ret = n;
	return 0;
}

/* Whether the .dockerignore'd directory dfd (at src_path) has something
 * the context would still hold. */
static int ignored_dir_has_content(walker *w, int dfd, const char *src_path)
{
	names n = {0};
	int r = read_names(dfd, &n);
	for (size_t i = 0; r == 0 && i < n.n; i++) {
		_cleanup_free_ char *cs = path_join(src_path, n.v[i]);
		struct stat st;
		if (!cs)
			r = -ENOMEM;
		else if (fstatat(dfd, n.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		else if (!ignored(w, cs))
			r = 1;
		else if (S_ISDIR(st.st_mode) && df_ignore_may_include_below(w->opts->ignore, cs)) {
			int cfd =
			    openat(dfd, n.v[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0) {
				r = ignored_dir_has_content(w, cfd, cs);
				close(cfd);
			}
		}
	}
	names_free(&n);
	return r;
}

/* Whether dfd/name (at src_path, st its lstat) is in the context. */
static int present(walker *w, int dfd, const char *name, const char *src_path,
		   const struct stat *st)
{
	if (!ignored(w, src_path))
		return 1;
	if (!S_ISDIR(st->st_mode) || !df_ignore_may_include_below(w->opts->ignore, src_path))
		return 0;
	int cfd = *name ? openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			: fcntl(dfd, F_DUPFD_CLOEXEC, 3);
	if (cfd < 0)
		return -errno;
	int r = ignored_dir_has_content(w, cfd, src_path);
	close(cfd);
	return r;
}

static int walk_dir(walker *w, int dfd, const char *src_path, const char *rel, uint32_t depth,
		    bool *any);

static int walk_child(walker *w, int dfd, const char *name, const char *cs, const char *cr,
		      uint32_t depth, bool *any)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fail(w, -errno, "lstat", cs);
	bool ign = ignored(w, cs), filt = filtered(w, cr);
	size_t idx;
	if (!S_ISDIR(st.st_mode)) {
		if (ign || filt)
			return 0;
		*any = true;
		return add_entry(w, dfd, name, cs, cr, &st, depth, &idx);
	}
	if (ign && !df_ignore_may_include_below(w->opts->ignore, cs))
		return 0;
	if (filt && !may_descend(w, cr))
		return 0;
	size_t mark = w->sel->n_entries;
	int r = add_entry(w, dfd, name, cs, cr, &st, depth, &idx);
	if (r < 0)
		return r;
	int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cfd < 0)
		return fail(w, -errno, "open", cs);
	bool sub = false;
	r = walk_dir(w, cfd, cs, cr, depth + 1, &sub);
	close(cfd);
	if (r < 0)
		return r;
	if ((ign || filt) && !sub) {
		w->sel->n_entries = mark; /* nothing below: as if absent */
		return 0;
	}
	w->sel->entries[idx].implied = filt;
	*any = true;
	return 0;
}

static int walk_dir(walker *w, int dfd, const char *src_path, const char *rel, uint32_t depth,
		    bool *any)
{
	names n = {0};
	int r = read_names(dfd, &n);
	if (r < 0)
		return fail(w, r, "read directory", src_path);
	for (size_t i = 0; r >= 0 && i < n.n; i++) {
		_cleanup_free_ char *cs = path_join(src_path, n.v[i]);
		_cleanup_free_ char *cr = path_join(rel, n.v[i]);
		if (!cs || !cr)
			r = -ENOMEM;
		else
			r = walk_child(w, dfd, n.v[i], cs, cr, depth, any);
	}
	names_free(&n);
	return r;
}

/* ---- roots ---------------------------------------------------------------- */

/* Opens the parent of a resolved path and lstats it; *ret_pfd the parent
 * (the root itself for ""). */
static int lstat_resolved(walker *w, const char *path, int *ret_pfd, struct stat *st)
{
	_cleanup_free_ char *dir = path_dirname(path);
	if (!dir)
		return -ENOMEM;
	int pfd = open_in_root(w->sel->src_root_fd, *path ? dir : "", O_PATH | O_DIRECTORY, true);
	if (pfd < 0)
		return pfd;
	int r = *path ? fstatat(pfd, path_basename(path), st, AT_SYMLINK_NOFOLLOW) : fstat(pfd, st);
	if (r < 0) {
		r = -errno;
		close(pfd);
		return r;
	}
	*ret_pfd = pfd;
	return 0;
}

/* Adds the root that path (clean relative, as matched) names. */
static int select_root(walker *w, size_t source_index, const char *path)
{
	copy_selection *sel = w->sel;
	_cleanup_free_ char *res = NULL;
	int r = root_resolve(sel->src_root_fd, path, !w->opts->nofollow, w->opts->ignore, &res);
	if (r == -ENOENT || r == -ENOTDIR)
		return not_found(w, path);
	if (r < 0)
		return fail(w, r, "resolve", path);
	_cleanup_close_ int pfd = -1;
	struct stat st;
	r = lstat_resolved(w, res, &pfd, &st);
	if (r == -ENOENT || r == -ENOTDIR)
		return not_found(w, path);
	if (r < 0)
		return fail(w, r, "lstat", res);
	const char *name = *res ? path_basename(res) : "";
	r = present(w, pfd, name, res, &st);
	if (r < 0)
		return fail(w, r, "read directory", res);
	if (r == 0)
		return not_found(w, path);

	links_reset(w);
	if (ARRAY_RESERVE(sel->roots, w->cap_roots, sel->n_roots + 1, 8) < 0)
		return -ENOMEM;
	copy_root root = {
	    .source_index = source_index, .is_dir = S_ISDIR(st.st_mode), .first = sel->n_entries};
	root.name = arena_strndup(w->a, path_basename(path), strlen(path_basename(path)));
	if (!root.name)
		return -ENOMEM;
	size_t idx;
	r = add_entry(w, pfd, name, res, "", &st, 0, &idx);
	if (r < 0)
		return r;
	if (root.is_dir) {
		_cleanup_close_ int dfd =
		    open_in_root(sel->src_root_fd, res, O_RDONLY | O_DIRECTORY, true);
		if (dfd < 0)
			return fail(w, dfd, "open", res);
		bool any = false;
		r = walk_dir(w, dfd, res, "", 1, &any);
		if (r < 0)
			return r;
	}
	root.count = sel->n_entries - root.first;
	sel->roots[sel->n_roots++] = root;
	return 0;
}

typedef struct matches {
	char **v;
	size_t n, cap;
} matches;

/* filepath.Walk below base collecting what pattern matches (relative to
 * base); a matching directory is not entered.  A name cannot match deeper
 * than the pattern has '/' and classes (a class may match '/'). */
static int walk_matches(walker *w, int dfd, const char *base, const char *rel, const char *pattern,
			int depth_left, matches *m)
{
	names n = {0};
	int r = read_names(dfd, &n);
	if (r < 0)
		return fail(w, r, "read directory", base);
	for (size_t i = 0; r >= 0 && i < n.n; i++) {
		_cleanup_free_ char *cr = path_join(rel, n.v[i]);
		_cleanup_free_ char *cs = cr ? path_join(base, cr) : NULL;
		struct stat st;
		if (!cs) {
			r = -ENOMEM;
			break;
		}
		if (fstatat(dfd, n.v[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		r = present(w, dfd, n.v[i], cs, &st);
		if (r <= 0)
			continue;
		r = 0;
		if (go_match(pattern, cr)) {
			if (ARRAY_RESERVE(m->v, m->cap, m->n + 1, 16) < 0) {
				r = -ENOMEM;
				break;
			}
			m->v[m->n++] = steal_pointer(&cs);
			continue;
		}
		if (!S_ISDIR(st.st_mode) || depth_left <= 1)
			continue;
		int cfd = openat(dfd, n.v[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cfd < 0)
			continue;
		r = walk_matches(w, cfd, base, cr, pattern, depth_left - 1, m);
		close(cfd);
	}
	names_free(&n);
	return r;
}

/* One source (its copy part: for --parents the pivot). */
static int select_source(walker *w, size_t si, const char *src)
{
	_cleanup_free_ char *clean = path_clean_rel(src);
	if (!clean)
		return -ENOMEM;
	/* splitWildcards: the components before the first with a wildcard */
	size_t cut = 0;
	bool wild = false;
	for (const char *p = clean; *p;) {
		size_t len = strcspn(p, "/");
		_cleanup_free_ char *comp = strndup(p, len);
		if (!comp)
			return -ENOMEM;
		if (has_wildcards(comp)) {
			wild = true;
			break;
		}
		p += len;
		if (*p)
			p++;
		cut = (size_t) (p - clean);
	}
	if (!wild)
		return select_root(w, si, clean);
	_cleanup_free_ char *d1 = strndup(clean, cut ? cut - (clean[cut - 1] == '/') : 0);
	const char *d2 = clean + cut;
	_cleanup_free_ char *base = NULL;
	if (!d1)
		return -ENOMEM;
	int r = root_resolve(w->sel->src_root_fd, d1, !w->opts->nofollow, w->opts->ignore, &base);
	if (r < 0 && r != -ENOENT)
		return fail(w, r, "lstat", d1);
	_cleanup_close_ int pfd = -1;
	struct stat st;
	if (r >= 0)
		r = lstat_resolved(w, base, &pfd, &st);
	if (r >= 0)
		r = present(w, pfd, *base ? path_basename(base) : "", base, &st) > 0 ? 0 : -ENOENT;
	if (r < 0)
		return fail(w, r, "lstat", base ? base : d1);
	if (!S_ISDIR(st.st_mode))
		return 0; /* Walk of a file: nothing matches */
	int depth = 1;
	for (const char *p = d2; *p; p++)
		depth += *p == '/' || *p == '[';
	_cleanup_close_ int dfd =
	    open_in_root(w->sel->src_root_fd, base, O_RDONLY | O_DIRECTORY, true);
	if (dfd < 0)
		return fail(w, dfd, "open", base);
	matches m = {0};
	r = walk_matches(w, dfd, base, "", d2, depth, &m);
	for (size_t i = 0; i < m.n; i++) {
		if (r >= 0)
			r = select_root(w, si, m.v[i]);
		free(m.v[i]);
	}
	free(m.v);
	return r;
}

/* --parents: "pivot/./pattern" or "pattern" (pivot "/"). */
static int select_parents(walker *w, size_t si, const char *src)
{
	const char *piv = strstr(src, "/./");
	_cleanup_free_ char *pivot = piv ? strndup(src, (size_t) (piv - src)) : strdup("");
	_cleanup_free_ char *pattern = path_clean_rel(piv ? piv + 3 : src);
	if (!pivot || !pattern)
		return -ENOMEM;
	const char *pats[] = {pattern};
	int r = df_ignore_new(pats, 1, &w->include, w->err);
	if (r < 0)
		return r;
	w->include_pat = pattern;
	if (!has_wildcards(pivot) && !has_wildcards(pattern)) {
		/* RequiredPaths: the named path must exist */
		_cleanup_free_ char *p0 = path_clean_rel(pivot);
		_cleanup_free_ char *req = p0 ? path_join(p0, pattern) : NULL;
		_cleanup_free_ char *res = NULL;
		if (!req)
			r = -ENOMEM;
		else if (root_resolve(w->sel->src_root_fd, req, false, w->opts->ignore, &res) < 0)
			r = not_found(w, req);
		else {
			_cleanup_close_ int pfd = -1;
			struct stat st;
			if (lstat_resolved(w, res, &pfd, &st) < 0 ||
			    present(w, pfd, *res ? path_basename(res) : "", res, &st) <= 0)
				r = not_found(w, req);
		}
	}
	if (r >= 0)
		r = select_source(w, si, pivot);
	df_ignore_free(w->include);
	w->include = NULL;
	w->include_pat = NULL;
	return r;
}

int copy_select(int src_root_fd, const char *const *srcs, size_t n, const copy_options *opts,
		copy_selection **ret, cairn_error **err)
{
	copy_options none = {0};
	if (!opts)
		opts = &none;
	copy_selection *sel = calloc(1, sizeof(*sel));
	if (!sel || !(sel->priv = calloc(1, sizeof(*sel->priv)))) {
		free(sel);
		return -ENOMEM;
	}
	sel->src_root_fd = fcntl(src_root_fd, F_DUPFD_CLOEXEC, 3);
	sel->n_sources = n;
	walker w = {.sel = sel,
		    .opts = opts,
		    .a = &sel->priv->strings,
		    .err = err,
		    .cmd = opts->add ? "ADD" : "COPY"};
	int r = sel->src_root_fd < 0 ? -errno : 0;
	if (r >= 0 && opts->n_excludes)
		r = df_ignore_new(opts->excludes, opts->n_excludes, &w.exclude, err);
	for (size_t i = 0; r >= 0 && i < n; i++) {
		sel->several |= has_wildcards(srcs[i]);
		r = opts->parents ? select_parents(&w, i, srcs[i]) : select_source(&w, i, srcs[i]);
	}
	sel->several |= n > 1;
	if (r >= 0 && opts->classic_checks && sel->n_roots == 0)
		r = cairn_error_set(err, -ENOENT, "%s failed: no source files were specified",
				    w.cmd);
	df_ignore_free(w.exclude);
	free(w.links);
	if (r < 0) {
		cairn_error_from(err, r, "%s failed", w.cmd);
		copy_selection_free(sel);
		return r;
	}
	*ret = sel;
	return 0;
}

void copy_selection_free(copy_selection *sel)
{
	if (!sel)
		return;
	if (sel->src_root_fd >= 0)
		close(sel->src_root_fd);
	if (sel->priv)
		arena_free(&sel->priv->strings);
	free(sel->priv);
	free(sel->roots);
	free(sel->entries);
	free(sel);
}
