/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * COPY and ADD: flags, sources (the context, another stage or image
 * mounted read-only, heredoc documents, ADD's URLs), the cache key and
 * the copy onto the stage's filesystem (builder/copy does the copying).
 *
 * Key: the parent state, the destination (absolute), the flags as
 * written, and what the sources hold: for the context the selected
 * files' contents and metadata (copy_checksum, with file hashes kept by
 * inode and mtime so that unchanged files are not read again); for
 * another stage its state key (which decides its contents); for heredocs
 * and URLs their bytes.
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include <strings.h>
#include <sys/stat.h>

#include "copy.h"
#include "shell.h"
#include "solve.h"


enum { F_FROM, F_CHOWN, F_CHMOD, F_LINK, F_EXCLUDE, F_PARENTS, F_CHECKSUM, F_KEEPGIT, F_UNPACK };

/* One group of sources that share a source root. */
struct srcgroup {
	int root_fd;
	bool own_fd;
	struct strv srcs;
	bool context;
	copy_selection *sel;
};

struct copyctx {
	struct build *b;
	struct bstage *sg;
	const struct df_node *n;
	bool add;
	struct flag fl[9];
	char **words; /* expanded sources and dest */
	size_t n_words;
	char *dest;   /* absolute */
	struct srcgroup g[3]; /* context (or --from), heredocs, URLs */
	char *tmp;	      /* heredoc documents and downloads */
	cairn_fs *from_fs;
	char *from_dir;
	struct bstage *from_stage;
	char *from_image_id;
	copy_options co;
	struct timespec epoch;
	struct strv excludes;
	struct strv hist_srcs; /* sources as history shows them */
	uint8_t extra[32];     /* sha256 of heredoc and URL bytes */
	bool has_extra;
	cairn_error **err;
};

static void copyctx_clear(struct copyctx *c)
{
	flags_clear(c->fl, ARRAY_SIZE(c->fl));
	for (size_t i = 0; i < c->n_words; i++)
		free(c->words[i]);
	free(c->words);
	free(c->dest);
	for (size_t i = 0; i < ARRAY_SIZE(c->g); i++) {
		copy_selection_free(c->g[i].sel);
		if (c->g[i].own_fd && c->g[i].root_fd >= 0)
			close(c->g[i].root_fd);
		strv_clear(&c->g[i].srcs);
	}
	if (c->from_fs)
		cairn_fs_free(c->from_fs);
	if (c->from_dir) {
		rmdir(c->from_dir);
		free(c->from_dir);
	}
	free(c->from_image_id);
	strv_clear(&c->excludes);
	strv_clear(&c->hist_srcs);
	free(c->tmp); /* removed with the build's tmp directory */
}

static int copy_flags(struct copyctx *c)
{
	static const char *const names[] = {"from",    "chown",    "chmod",	  "link",  "exclude",
					    "parents", "checksum", "keep-git-dir", "unpack"};
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		c->fl[i] = (struct flag){.name = names[i], .multi = i == F_EXCLUDE};
	size_t n = c->add ? ARRAY_SIZE(names) : F_CHECKSUM;
	int r = parse_flags(c->b, c->n, c->fl, n, c->err);
	if (r < 0)
		return r;
	if (c->fl[F_CHECKSUM].value && !c->add)
		return build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
				   "checksum can't be specified for COPY");
	for (int f = F_CHOWN; f <= F_CHMOD; f++)
		if (c->fl[f].value) {
			char *v;
			if ((r = expand_word(c->b, c->sg, c->n, c->fl[f].value, &v, c->err)) < 0)
				return r;
			free(c->fl[f].value);
			c->fl[f].value = v;
		}
	char *save = NULL;
	for (char *e = c->fl[F_EXCLUDE].value ? strtok_r(c->fl[F_EXCLUDE].value, "\n", &save) : NULL;
	     e; e = strtok_r(NULL, "\n", &save)) {
		_cleanup_free_ char *v = NULL;
		if ((r = expand_word(c->b, c->sg, c->n, e, &v, c->err)) < 0 ||
		    (r = strv_push(&c->excludes, v)) < 0)
			return r;
	}
	return 0;
}

static bool is_url(const char *s)
{
	return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8);
}

static const struct df_heredoc *heredoc_of(const struct df_node *n, const char *word)
{
	if (strncmp(word, "<<", 2) != 0)
		return NULL;
	const char *name = word + 2 + (word[2] == '-');
	for (size_t i = 0; i < n->n_heredocs; i++)
		if (!strcmp(n->heredocs[i].name.data, name) ||
		    (strlen(name) >= 2 && (name[0] == '"' || name[0] == '\'') &&
		     !strncmp(n->heredocs[i].name.data, name + 1, strlen(name) - 2)))
			return &n->heredocs[i];
	return NULL;
}

/* pathRelativeToWorkingDir: absolute, cleaned, a trailing '/' kept. */
static int dest_path(struct copyctx *c, const char *d)
{
	const char *wd = json_string_value(json_object_get(bstate_config(&c->sg->st), "WorkingDir"));
	if (!*d || !strcmp(d, "."))
		d = "./";
	size_t len = strlen(d);
	bool slash = d[len - 1] == '/' || (len >= 2 && !strcmp(d + len - 2, "/."));
	_cleanup_free_ char *p = clean_abs_path(wd && *wd ? wd : "/", d);
	if (!p)
		return -ENOMEM;
	if (asprintf(&c->dest, "%s%s", p, slash && strcmp(p, "/") ? "/" : "") < 0)
		return -ENOMEM;
	return 0;
}

static int write_heredoc(struct copyctx *c, const struct df_heredoc *h, EVP_MD_CTX *md)
{
	int r = 0;
	if (!c->tmp && (r = build_tmpdir(c->b, "copy", &c->tmp, c->err)) < 0)
		return r;
	_cleanup_free_ char *content = NULL, *text = heredoc_text(h);
	if (!text)
		return -ENOMEM;
	if (h->expand) {
		/* BuildKit expands an unquoted heredoc of COPY/ADD with the stage's env */
		r = df_shell_word(text, c->b->escape, c->sg->st.env.v, &content, c->err);
		if (r < 0) {
			content = NULL;
			r = 0;
		}
	}
	const char *data = content ? content : text;
	size_t len = strlen(data);
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/%s", c->tmp, h->name.data) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, data, len) != (ssize_t) len)
		return cairn_error_set(c->err, -errno, "%s: %m", path);
	fchmod(fd, 0644);
	EVP_DigestUpdate(md, h->name.data, h->name.len + 1);
	EVP_DigestUpdate(md, data, len);
	return strv_push(&c->g[1].srcs, h->name.data);
}

static int split_sources(struct copyctx *c)
{
	const struct df_node *n = c->n;
	if (n->n_args < 2)
		return build_error(c->b, n, CAIRN_E_FORMAT, c->err, "%s requires at least two arguments",
				   c->add ? "ADD" : "COPY");
	c->words = calloc(n->n_args, sizeof(*c->words));
	if (!c->words)
		return -ENOMEM;
	for (size_t i = 0; i < n->n_args; i++, c->n_words++) {
		/* heredoc markers are not words to expand */
		const char *a = n->args[i].data;
		int r = heredoc_of(n, a) ? ((c->words[i] = strdup(a)) ? 0 : -ENOMEM)
					 : expand_word(c->b, c->sg, n, a, &c->words[i], c->err);
		if (r < 0)
			return r;
	}
	int r = dest_path(c, c->words[c->n_words - 1]);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		r = -ENOMEM;
	for (size_t i = 0; r >= 0 && i + 1 < c->n_words; i++) {
		const char *w = c->words[i];
		const struct df_heredoc *h = heredoc_of(n, w);
		if (h) {
			r = write_heredoc(c, h, md);
			c->has_extra = true;
			if (r >= 0)
				r = strv_pushf(&c->hist_srcs, "<<%s", h->name.data);
			continue;
		}
		if ((r = strv_push(&c->hist_srcs, w)) < 0)
			break;
		if (is_url(w)) {
			if (!c->add) {
				r = build_error(c->b, n, CAIRN_E_FORMAT, c->err,
						"source can't be a URL for COPY");
				break;
			}
			if (!c->tmp && (r = build_tmpdir(c->b, "copy", &c->tmp, c->err)) < 0)
				break;
			_cleanup_free_ char *name = NULL;
			uint8_t sha[32];
			r = fetch_url(c->b, w, c->tmp, c->fl[F_CHECKSUM].value, &name, sha, c->err);
			if (r < 0) {
				r = build_error_at(c->b, n, r, c->err);
				break;
			}
			EVP_DigestUpdate(md, w, strlen(w) + 1);
			EVP_DigestUpdate(md, sha, 32);
			c->has_extra = true;
			r = strv_push(&c->g[2].srcs, name);
			continue;
		}
		r = strv_push(&c->g[0].srcs, w);
	}
	if (md) {
		unsigned len = 32;
		EVP_DigestFinal_ex(md, c->extra, &len);
		EVP_MD_CTX_free(md);
	}
	if (r >= 0 && c->fl[F_CHECKSUM].value && (c->g[2].srcs.n != 1 || c->n_words != 2))
		r = build_error(c->b, n, CAIRN_E_FORMAT, c->err,
				"checksum requires a single HTTP(S) source");
	return r;
}

/* --from: an earlier stage, or an image from the store, mounted read-only. */
static int open_from(struct copyctx *c)
{
	int r = mount_from(c->b, c->sg, c->n, c->fl[F_FROM].value, &c->from_fs, &c->from_dir,
			   &c->from_stage, &c->from_image_id, c->err);
	if (r >= 0 && (c->g[0].root_fd = open(c->from_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		r = cairn_error_set(c->err, -errno, "%s: %m", c->from_dir);
	c->g[0].own_fd = true;
	return r;
}

static int select_groups(struct copyctx *c)
{
	c->co = (copy_options){
	    .chown = c->fl[F_CHOWN].value,
	    .chmod = c->fl[F_CHMOD].value,
	    .excludes = (const char *const *) c->excludes.v,
	    .n_excludes = c->excludes.n,
	    .parents = c->fl[F_PARENTS].value && strcmp(c->fl[F_PARENTS].value, "false"),
	    .add = c->add,
	    .link = c->fl[F_LINK].value && strcmp(c->fl[F_LINK].value, "false"),
	    .chown_strict = true,
	};
	if (c->b->epoch >= 0) {
		c->epoch = (struct timespec){.tv_sec = c->b->epoch};
		c->co.epoch = &c->epoch;
	}
	int r = 0;
	for (size_t i = 0; i < ARRAY_SIZE(c->g); i++)
		c->g[i].root_fd = -1;
	if (c->g[0].srcs.n) {
		if (c->fl[F_FROM].value) {
			r = open_from(c);
			c->co.preserve_owner = true;
		} else {
			c->g[0].root_fd = c->b->context_fd;
			c->g[0].context = true;
			c->co.ignore = c->b->ignore;
		}
	}
	for (size_t i = 1; r >= 0 && i < ARRAY_SIZE(c->g); i++)
		if (c->g[i].srcs.n) {
			c->g[i].own_fd = true;
			if ((c->g[i].root_fd = open(c->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
				r = cairn_error_set(c->err, -errno, "%s: %m", c->tmp);
		}
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(c->g); i++) {
		if (!c->g[i].srcs.n)
			continue;
		copy_options o = c->co;
		if (i > 0) {
			o.ignore = NULL;
			o.preserve_owner = false;
			o.add = false; /* URLs and heredocs are never extracted */
		}
		r = copy_select(c->g[i].root_fd, (const char *const *) c->g[i].srcs.v,
				c->g[i].srcs.n, &o, &c->g[i].sel, c->err);
		if (r < 0)
			r = build_error_at(c->b, c->n, r, c->err);
	}
	return r;
}

/* The content checksum of what a --from source selects.  The stage's key
 * (or the image id) decides it, so it is remembered under that: a stage
 * that did not change costs nothing; one rebuilt is checksummed again,
 * and a rebuild to identical files still hits, as in BuildKit. */
static int from_checksum(struct copyctx *c, uint8_t sum[32])
{
	uint8_t memo[32];
	keyhash *k = key_new(NULL, "copy-from-memo");
	if (c->from_stage)
		key_bytes(k, "stage", c->from_stage->st.key, 32);
	else
		key_str(k, "image", c->from_image_id);
	key_strv(k, "srcs", c->g[0].srcs.v);
	key_strv(k, "exclude", c->excludes.v);
	key_str(k, "chmod", c->co.chmod);
	key_str(k, "chown", c->co.chown);
	key_str(k, "parents", c->co.parents ? "1" : "0");
	key_str(k, "add", c->co.add ? "1" : "0");
	key_finish(k, memo);
	if (memo_get(c->b->store, memo, sum) >= 0)
		return 0;
	int r = copy_checksum(c->g[0].sel, &c->co, copy_hash_file_default, NULL, sum, c->err);
	if (r >= 0)
		memo_put(c->b->store, memo, sum); /* only a shortcut: failure is harmless */
	return r;
}

static int copy_key(struct copyctx *c, uint8_t out[32])
{
	keyhash *k = key_new(c->sg->st.key, c->add ? "add" : "copy");
	key_str(k, "dest", c->dest);
	for (size_t i = 0; i < ARRAY_SIZE(c->fl); i++)
		if (i != F_EXCLUDE)
			key_str(k, c->fl[i].name, c->fl[i].value);
	key_strv(k, "exclude", c->excludes.v);
	key_strv(k, "srcs", c->g[0].srcs.v);
	key_str(k, "platform", c->sg->st.platform);
	if (c->has_extra)
		key_bytes(k, "extra", c->extra, 32);
	int r = 0;
	uint8_t sum[32];
	if (c->from_stage || c->from_image_id)
		r = from_checksum(c, sum);
	else if (c->g[0].sel)
		r = copy_checksum(c->g[0].sel, &c->co, context_hash_file, c->b, sum, c->err);
	if (c->g[0].sel)
		key_bytes(k, "content", sum, 32);
	key_finish(k, out);
	return r < 0 ? build_error_at(c->b, c->n, r, c->err) : 0;
}

static char *copy_history(struct copyctx *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fputs(c->add ? "ADD" : "COPY", f);
	if (c->co.parents)
		fputs(" --parents", f);
	if (c->fl[F_CHOWN].value)
		fprintf(f, " --chown=%s", c->fl[F_CHOWN].value);
	if (c->fl[F_CHMOD].value)
		fprintf(f, " --chmod=%s", c->fl[F_CHMOD].value);
	for (size_t i = 0; i < c->hist_srcs.n; i++)
		fprintf(f, " %s", c->hist_srcs.v[i]);
	fprintf(f, " %s # buildkit", c->words[c->n_words - 1]);
	fclose(f);
	return buf;
}

static int copy_execute(struct copyctx *c, struct step *s)
{
	int r = step_fs(c->b, c->sg, c->err);
	if (r < 0)
		return r;
	_cleanup_close_ int fd = open(c->sg->fs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return cairn_error_set(c->err, -errno, "%s: %m", c->sg->fs_dir);
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(c->g); i++) {
		if (!c->g[i].sel)
			continue;
		copy_options o = c->co;
		if (i > 0) {
			o.ignore = NULL;
			o.preserve_owner = false;
			o.add = false;
		}
		r = copy_apply(c->g[i].sel, fd, c->dest, &o, c->err);
		if (r < 0)
			r = build_error_at(c->b, c->n, r, c->err);
	}
	if (r >= 0)
		r = step_commit(c->b, s, c->err);
	return r;
}

int step_copy(struct build *b, struct bstage *sg, const struct df_node *n, bool add,
	      cairn_error **err)
{
	struct copyctx c = {.b = b, .sg = sg, .n = n, .add = add, .err = err};
	for (size_t i = 0; i < ARRAY_SIZE(c.g); i++)
		c.g[i].root_fd = -1;
	struct step s = {.sg = sg, .n = n};
	const char *o = instruction_rest(n);
	int r = copy_flags(&c);
	if (r >= 0)
		r = split_sources(&c);
	if (r >= 0)
		r = select_groups(&c);
	if (r >= 0 && (!(s.created_by = copy_history(&c)) ||
		       asprintf(&s.title, "%s %s", add ? "ADD" : "COPY", o) < 0))
		r = -ENOMEM;
	if (r >= 0)
		r = copy_key(&c, s.key);
	if (r >= 0)
		r = step_cached(b, &s, err);
	if (r == 0)
		r = copy_execute(&c, &s);
	if (s.vertex)
		progress_done(b->pr, s.vertex, r < 0 ? r : 0);
	copyctx_clear(&c);
	step_clear(&s);
	return r < 0 ? r : 0;
}
