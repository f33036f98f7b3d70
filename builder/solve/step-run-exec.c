/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Executing a RUN step: the user looked up in the image, --mount sources
 * made ready on the host (cache directories under ROOT/cache-mounts, a
 * stage or image mounted read-only for type=bind, a private copy of each
 * secret), the command run through builder/run with its output streamed
 * to the progress view, and the changes committed as the step's layer.
 *
 * Secrets go only into the sandbox (a read-only bind of a file under the
 * build's private tmp directory, removed at the end): never into the
 * key, the history or the layer (the mount stub is removed by the runner).
 */
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "copy.h"
#include "passwd.h"
#include "run.h"
#include "step-run.h"



struct prepared {
	struct cairn_run_mount *m;
	size_t n;
	struct strv paths; /* strings the mounts point into */
	cairn_fs **fs;	   /* stages mounted for type=bind,from= */
	size_t n_fs;
	struct strv dirs;  /* their mount points */
	int locks[16];	   /* cache directories held for sharing=locked|private */
	size_t n_locks;
};

static void prepared_clear(struct prepared *p)
{
	for (size_t i = 0; i < p->n_locks; i++)
		close(p->locks[i]); /* releases the flock */
	for (size_t i = 0; i < p->n_fs; i++)
		cairn_fs_free(p->fs[i]);
	for (size_t i = 0; i < p->dirs.n; i++)
		rmdir(p->dirs.v[i]);
	free(p->fs);
	free(p->m);
	strv_clear(&p->paths);
	strv_clear(&p->dirs);
}

static const char *keep(struct prepared *p, const char *s)
{
	return strv_push(&p->paths, s) < 0 ? NULL : p->paths.v[p->paths.n - 1];
}

static int add_mount(struct prepared *p, const struct cairn_run_mount *m)
{
	struct cairn_run_mount *v = realloc(p->m, (p->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->m = v;
	v[p->n++] = *m;
	return 0;
}

static unsigned long num(const char *s, unsigned long dflt, int base)
{
	if (!s)
		return dflt;
	char *end;
	unsigned long v = strtoul(s, &end, base);
	return *end ? dflt : v;
}

static int cache_dir(struct runctx *c, const struct runmount *rm, struct prepared *p)
{
	unsigned char h[32];
	unsigned len = 32;
	EVP_Digest(rm->id, strlen(rm->id), h, &len, EVP_sha256(), NULL);
	char hex[65];
	hex32(h, hex);
	_cleanup_free_ char *base = NULL, *dir = NULL;
	if (asprintf(&base, "%s/cache-mounts", cairn_store_root(c->b->store)) < 0 ||
	    asprintf(&dir, "%s/%s", base, hex) < 0)
		return -ENOMEM;
	mkdir(base, 0700);
	if (mkdir(dir, (mode_t) num(rm->mode, 0755, 8)) == 0) {
		if (chown(dir, (uid_t) num(rm->uid, 0, 10), (gid_t) num(rm->gid, 0, 10)) < 0 ||
		    chmod(dir, (mode_t) num(rm->mode, 0755, 8)) < 0)
			return cairn_error_set(c->err, -errno, "%s: %m", dir);
	} else if (errno != EEXIST) {
		return cairn_error_set(c->err, -errno, "%s: %m", dir);
	}
	/* sharing=locked: one user at a time; private: a fresh directory when
	 * the shared one is in use; shared (default): everyone at once */
	const char *sh = rm->sharing ? rm->sharing : "shared";
	if (strcmp(sh, "shared") != 0) {
		if (strcmp(sh, "locked") && strcmp(sh, "private"))
			return build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
					   "unsupported sharing value \"%s\" (shared, private, locked)", sh);
		if (p->n_locks == ARRAY_SIZE(p->locks))
			return build_error(c->b, c->n, -E2BIG, c->err, "too many cache mounts");
		int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return cairn_error_set(c->err, -errno, "%s: %m", dir);
		bool priv = strcmp(sh, "private") == 0;
		if (flock(fd, priv ? LOCK_EX | LOCK_NB : LOCK_EX) < 0) {
			close(fd);
			char *fresh = NULL;
			int r = build_tmpdir(c->b, "cache", &fresh, c->err);
			if (r < 0)
				return r;
			free(dir);
			dir = fresh;
			if (chown(dir, (uid_t) num(rm->uid, 0, 10), (gid_t) num(rm->gid, 0, 10)) < 0 ||
			    chmod(dir, (mode_t) num(rm->mode, 0755, 8)) < 0)
				return cairn_error_set(c->err, -errno, "%s: %m", dir);
		} else {
			p->locks[p->n_locks++] = fd;
		}
	}
	struct cairn_run_mount m = {.type = CAIRN_RUN_BIND, .source = keep(p, dir),
				    .target = rm->target, .readonly = rm->ro};
	return m.source ? add_mount(p, &m) : -ENOMEM;
}

static const struct cairn_build_secret *find_secret(struct build *b, const char *id)
{
	for (size_t i = 0; i < b->o->n_secrets; i++)
		if (!strcmp(b->o->secrets[i].id, id))
			return &b->o->secrets[i];
	return NULL;
}

static int secret_bytes(struct runctx *c, const struct cairn_build_secret *s, char **ret,
			size_t *ret_len)
{
	if (s->env) {
		const char *v = getenv(s->env);
		if (!v)
			return cairn_error_set(c->err, -ENOENT, "secret %s: $%s is not set", s->id,
					       s->env);
		*ret_len = strlen(v);
		return (*ret = strdup(v)) ? 0 : -ENOMEM;
	}
	_cleanup_close_ int fd = open(s->src, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size > (16 << 20))
		return cairn_error_set(c->err, fd < 0 ? -errno : -EFBIG, "secret %s: %s: %s", s->id,
				       s->src, fd < 0 ? strerror(errno) : "too large");
	char *buf = malloc((size_t) st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	ssize_t n = read(fd, buf, (size_t) st.st_size);
	if (n < 0) {
		free(buf);
		return cairn_error_set(c->err, -errno, "secret %s: %s: %m", s->id, s->src);
	}
	buf[n] = 0;
	*ret = buf;
	*ret_len = (size_t) n;
	return 0;
}

static int secret_mount(struct runctx *c, const struct runmount *rm, struct prepared *p,
			struct strv *env)
{
	const struct cairn_build_secret *s = rm->id ? find_secret(c->b, rm->id) : NULL;
	if (!s) {
		if (rm->required)
			return build_error(c->b, c->n, -ENOENT, c->err, "secret %s: not provided",
					   rm->id ? rm->id : "(no id)");
		return 0;
	}
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	int r = secret_bytes(c, s, &data, &len);
	if (r < 0)
		return r;
	if (rm->env && (r = strv_set_env(env, rm->env, data)) < 0)
		return r;
	if (!rm->target)
		return 0;
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "%s/secret-%u", c->b->tmp, __atomic_add_fetch(&c->b->tmp_seq, 1, __ATOMIC_RELAXED)) < 0)
		return -ENOMEM;
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
	if (fd < 0 || write(fd, data, len) != (ssize_t) len ||
	    fchown(fd, (uid_t) num(rm->uid, 0, 10), (gid_t) num(rm->gid, 0, 10)) < 0 ||
	    fchmod(fd, (mode_t) num(rm->mode, 0400, 8)) < 0)
		return cairn_error_set(c->err, -errno, "secret %s: %m", rm->id);
	explicit_bzero(data, len);
	struct cairn_run_mount m = {.type = CAIRN_RUN_BIND, .source = keep(p, path),
				    .target = rm->target, .readonly = true};
	return m.source ? add_mount(p, &m) : -ENOMEM;
}

/* bind,rw: a private copy of src (everything kept: owners, modes, links). */
static int bind_copy(struct runctx *c, const struct runmount *rm, struct prepared *p,
		     const char *src)
{
	_cleanup_free_ char *tmp = NULL, *parent = strdup(src);
	int r = build_tmpdir(c->b, "bind-rw", &tmp, c->err);
	if (r < 0 || !parent)
		return r < 0 ? r : -ENOMEM;
	char *slash = strrchr(parent, '/');
	const char *name = slash ? slash + 1 : parent;
	if (slash)
		*slash = 0;
	_cleanup_close_ int sfd = open(*parent ? parent : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0 || dfd < 0)
		return cairn_error_set(c->err, -errno, "bind mount copy of %s: %m", src);
	copy_options o = {.preserve_owner = true};
	copy_selection *sel = NULL;
	const char *srcs[] = {*name ? name : "."};
	r = copy_select(sfd, srcs, 1, &o, &sel, c->err);
	bool dir = r >= 0 && sel->n_roots == 1 && sel->roots[0].is_dir;
	_cleanup_free_ char *dest = NULL;
	if (r >= 0 && asprintf(&dest, "/%s", dir ? "" : name) < 0)
		r = -ENOMEM;
	if (r >= 0)
		r = copy_apply(sel, dfd, dest, &o, c->err);
	copy_selection_free(sel);
	_cleanup_free_ char *at = NULL;
	if (r >= 0 && asprintf(&at, "%s%s", tmp, dest) < 0)
		r = -ENOMEM;
	if (r < 0)
		return build_error_at(c->b, c->n, r, c->err);
	struct cairn_run_mount m = {.type = CAIRN_RUN_BIND, .source = keep(p, at),
				    .target = rm->target};
	return m.source ? add_mount(p, &m) : -ENOMEM;
}

/* type=bind: from the context (read-only) or a stage/image mounted read-only. */
static int bind_mount(struct runctx *c, const struct runmount *rm, struct prepared *p)
{
	const char *src = rm->source ? rm->source : "/";
	_cleanup_free_ char *root = NULL;
	if (rm->from) {
		cairn_fs *fs = NULL;
		char *dir = NULL;
		int r = mount_from(c->b, c->sg, c->n, rm->from, &fs, &dir, NULL, NULL, c->err);
		if (r < 0)
			return r;
		cairn_fs **v = realloc(p->fs, (p->n_fs + 1) * sizeof(*v));
		if (!v || strv_push(&p->dirs, dir) < 0) {
			cairn_fs_free(fs);
			rmdir(dir);
			free(dir);
			return -ENOMEM;
		}
		p->fs = v;
		v[p->n_fs++] = fs;
		root = dir;
	} else if (!(root = realpath(c->b->o->context, NULL))) {
		return cairn_error_set(c->err, -errno, "%s: %m", c->b->o->context);
	}
	_cleanup_free_ char *joined = NULL, *clean = clean_abs_path("/", src);
	if (!clean || asprintf(&joined, "%s%s", root, strcmp(clean, "/") ? clean : "") < 0)
		return -ENOMEM;
	/* the source must stay inside its root, symlinks included */
	_cleanup_free_ char *real = realpath(joined, NULL);
	size_t rl = strlen(root);
	if (!real || strncmp(real, root, rl) != 0 || (real[rl] && real[rl] != '/'))
		return build_error(c->b, c->n, -ENOENT, c->err, "mount source %s: %s", src,
				   real ? "outside its root" : strerror(errno));
	if (rm->rw) /* writes are allowed and thrown away: the command gets a copy */
		return bind_copy(c, rm, p, real);
	struct cairn_run_mount m = {.type = CAIRN_RUN_BIND, .source = keep(p, real),
				    .target = rm->target, .readonly = true};
	return m.source ? add_mount(p, &m) : -ENOMEM;
}

static uint64_t parse_size(const char *s)
{
	if (!s)
		return 0;
	char *end;
	double v = strtod(s, &end);
	switch (*end | 0x20) {
	case 'k': v *= 1024; break;
	case 'm': v *= 1024 * 1024; break;
	case 'g': v *= 1024.0 * 1024 * 1024; break;
	default: break;
	}
	return (uint64_t) v;
}

static int prepare_mounts(struct runctx *c, struct prepared *p, struct strv *env)
{
	int r = 0;
	for (size_t i = 0; r >= 0 && i < c->n_mounts; i++) {
		const struct runmount *rm = &c->mounts[i];
		_cleanup_free_ char *t = rm->target ? clean_abs_path(json_string_value(json_object_get(
					     bstate_config(&c->sg->st), "WorkingDir")) ?: "/",
					     rm->target) : NULL;
		struct runmount abs = *rm;
		abs.target = t ? (char *) keep(p, t) : NULL;
		if (!strcmp(rm->type, "cache"))
			r = cache_dir(c, &abs, p);
		else if (!strcmp(rm->type, "tmpfs")) {
			struct cairn_run_mount m = {.type = CAIRN_RUN_TMPFS, .target = abs.target,
						    .size = parse_size(rm->size)};
			r = add_mount(p, &m);
		} else if (!strcmp(rm->type, "secret"))
			r = secret_mount(c, &abs, p, env);
		else
			r = bind_mount(c, &abs, p);
	}
	if (r >= 0 && c->heredoc_dir) {
		struct cairn_run_mount m = {.type = CAIRN_RUN_BIND, .source = c->heredoc_dir,
					    .target = "/dev/pipes", .readonly = true};
		r = add_mount(p, &m);
	}
	return r;
}

struct reader {
	int fd;
	struct progress *pr;
	unsigned v;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	char buf[8192];
	ssize_t n;
	while ((n = read(rd->fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
		if (n > 0)
			progress_log(rd->pr, rd->v, buf, (size_t) n);
	return NULL;
}

static int run_status_error(struct runctx *c, struct step *s, int status)
{
	_cleanup_free_ char *tail = progress_tail(c->b->pr, s->vertex, 10);
	if (tail && *tail)
		progress_note(c->b->pr, "------\n%s\n------", tail);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	size_t i;
	json_t *a;
	json_array_foreach(c->argv, i, a) fprintf(f, "%s%s", i ? " " : "", json_string_value(a));
	fclose(f);
	int r;
	if (WIFEXITED(status))
		r = build_error(c->b, c->n, -ECANCELED, c->err,
				"process \"%s\" did not complete successfully: exit code: %d", buf,
				WEXITSTATUS(status));
	else
		r = build_error(c->b, c->n, -ECANCELED, c->err,
				"process \"%s\" did not complete successfully: killed by signal %d",
				buf, WTERMSIG(status));
	free(buf);
	return r;
}

static int run_spawn(struct runctx *c, struct step *s, struct cairn_run_spec *spec)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	struct reader rd = {p[0], c->b->pr, s->vertex};
	pthread_t t;
	if (pthread_create(&t, NULL, reader_main, &rd) != 0) {
		close(p[0]);
		close(p[1]);
		return -EAGAIN;
	}
	spec->out_fd = p[1];
	int status = 0;
	int r = cairn_run(spec, &status, c->err);
	close(p[1]);
	pthread_join(t, NULL);
	close(p[0]);
	if (r < 0)
		return build_error_at(c->b, c->n, r, c->err);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return run_status_error(c, s, status);
	return 0;
}

int run_execute(struct runctx *c, struct step *s)
{
	struct build *b = c->b;
	struct bstate *st = &c->sg->st;
	int r = step_fs(b, c->sg, c->err);
	if (r < 0)
		return r;
	_cleanup_close_ int root = open(c->sg->fs_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return cairn_error_set(c->err, -errno, "%s: %m", c->sg->fs_dir);
	const char *user = json_string_value(json_object_get(bstate_config(st), "User"));
	uid_t uid;
	gid_t gid;
	_cleanup_free_ gid_t *groups = NULL;
	size_t n_groups = 0;
	r = copy_lookup_user_groups(root, user ? user : "", &uid, &gid, &groups, &n_groups, c->err);
	if (r < 0)
		return build_error_at(b, c->n, r, c->err);
	struct strv env = {0};
	struct prepared p = {0};
	r = strv_copy(&env, &st->env);
	for (size_t i = 0; r >= 0 && i < b->proxy_env.n; i++) {
		const char *kv = b->proxy_env.v[i];
		_cleanup_free_ char *k = strndup(kv, strcspn(kv, "="));
		if (!k)
			r = -ENOMEM;
		else if (!strv_get_env(&env, k))
			r = strv_push(&env, kv);
	}
	if (r >= 0)
		r = prepare_mounts(c, &p, &env);
	_cleanup_(strv_clear) struct strv argv = {0};
	size_t i;
	json_t *a;
	json_array_foreach(c->argv, i, a) if (r >= 0) r = strv_push(&argv, json_string_value(a));
	if (r >= 0) {
		const char *wd = json_string_value(json_object_get(bstate_config(st), "WorkingDir"));
		struct cairn_run_spec spec = {
		    .rootfs = c->sg->fs_dir,
		    .argv = argv.v,
		    .envp = env.v,
		    .cwd = wd && *wd ? wd : "/",
		    .uid = uid,
		    .gid = gid,
		    .groups = groups,
		    .n_groups = n_groups,
		    .network = strcmp(c->network, "none") == 0 ? CAIRN_RUN_NET_NONE
							       : CAIRN_RUN_NET_HOST,
		    .mounts = p.m,
		    .n_mounts = p.n,
		};
		r = run_spawn(c, s, &spec);
	}
	for (size_t k = 0; k < env.n; k++)
		explicit_bzero(env.v[k], strlen(env.v[k])); /* secrets may be in it */
	strv_clear(&env);
	for (size_t k = 0; k < p.paths.n; k++)
		if (strstr(p.paths.v[k], "/secret-"))
			unlink(p.paths.v[k]);
	prepared_clear(&p);
	if (r >= 0)
		r = step_commit(b, s, c->err);
	return r;
}
