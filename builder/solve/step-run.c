/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * RUN: the command line (shell or exec form, heredocs as BuildKit turns
 * them into commands), its cache key, and its execution on the stage's
 * filesystem through builder/run, with --mount (cache, bind, tmpfs,
 * secret) and --network.
 *
 * Key: parent state, argv, the state env (ENV and ARG values: proxy
 * build args are left out, as BuildKit does), user, working directory,
 * network, the mounts (a cache mount by id, a bind mount by what it
 * binds, a secret by id only) and the platform.
 */
#include <fcntl.h>
#include <pthread.h>
#include <strings.h>
#include <sys/stat.h>

#include "passwd.h"
#include "run.h"
#include "step-run.h"



static void runmount_clear(struct runmount *m)
{
	char **f[] = {&m->type, &m->target, &m->source, &m->from, &m->id, &m->sharing,
		      &m->mode, &m->uid, &m->gid, &m->size, &m->env};
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		free(*f[i]);
	*m = (struct runmount){0};
}

static bool truthy(const char *v)
{
	return !v || !strcasecmp(v, "true") || !strcmp(v, "1");
}

static int mount_parse(struct build *b, const struct df_node *n, const char *spec,
		       struct runmount *m, cairn_error **err)
{
	_cleanup_free_ char *s = strdup(spec);
	if (!s)
		return -ENOMEM;
	char *save = NULL;
	for (char *kv = strtok_r(s, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		const char *v = eq ? eq + 1 : NULL;
		if (eq)
			*eq = 0;
		struct {
			const char *k;
			char **dst;
		} fields[] = {{"type", &m->type},     {"target", &m->target}, {"dst", &m->target},
			      {"destination", &m->target}, {"source", &m->source}, {"src", &m->source},
			      {"from", &m->from},     {"id", &m->id},	      {"sharing", &m->sharing},
			      {"mode", &m->mode},     {"uid", &m->uid},	      {"gid", &m->gid},
			      {"size", &m->size},     {"env", &m->env}};
		bool done = false;
		for (size_t i = 0; i < ARRAY_SIZE(fields) && !done; i++)
			if (!strcasecmp(kv, fields[i].k) && v) {
				free(*fields[i].dst);
				if (!(*fields[i].dst = strdup(v)))
					return -ENOMEM;
				done = true;
			}
		if (done)
			continue;
		if (!strcasecmp(kv, "ro") || !strcasecmp(kv, "readonly"))
			m->ro = truthy(v);
		else if (!strcasecmp(kv, "rw") || !strcasecmp(kv, "readwrite"))
			m->rw = truthy(v);
		else if (!strcasecmp(kv, "required"))
			m->required = truthy(v);
		else
			return build_error(b, n, CAIRN_E_FORMAT, err, "unexpected key '%s' in '%s'", kv,
					   spec);
	}
	if (!m->type && !(m->type = strdup("bind")))
		return -ENOMEM;
	if (strcmp(m->type, "secret") == 0 && !m->target && m->id && !m->env &&
	    asprintf(&m->target, "/run/secrets/%s", m->id) < 0)
		return -ENOMEM;
	if (!m->target && strcmp(m->type, "secret") != 0)
		return build_error(b, n, CAIRN_E_FORMAT, err, "mount %s: target is required", spec);
	if (strcmp(m->type, "cache") == 0 && !m->id && !(m->id = strdup(m->target)))
		return -ENOMEM;
	static const char *const types[] = {"bind", "cache", "tmpfs", "secret"};
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (!strcmp(m->type, types[i]))
			return 0;
	if (!strcmp(m->type, "ssh"))
		return build_error(b, n, CAIRN_E_FORMAT, err,
				   "RUN --mount=type=ssh is not supported by cairn");
	return build_error(b, n, CAIRN_E_FORMAT, err, "unsupported mount type \"%s\"", m->type);
}


/* Heredocs, as dispatchRun: one heredoc with a shebang becomes a file
 * run from /dev/pipes; one without is the shell's script; several are
 * re-joined into the shell command line. */
static int heredoc_args(struct runctx *c, json_t **ret_argv, bool *prepend_shell)
{
	const struct df_node *n = c->n;
	const struct df_heredoc *h = &n->heredocs[0];
	_cleanup_free_ char *data = heredoc_text(h);
	if (!data)
		return -ENOMEM;
	/* the command is the heredoc alone (MustParseHeredoc(args[0])) */
	const char *a0 = n->args[0].data;
	bool whole = strncmp(a0, "<<", 2) == 0 && !strpbrk(a0, " \t");
	if (n->n_heredocs == 1 && whole && strncmp(data, "#!", 2) == 0) {
		int r = build_tmpdir(c->b, "heredoc", &c->heredoc_dir, c->err);
		if (r < 0)
			return r;
		_cleanup_free_ char *p = NULL;
		if (asprintf(&p, "%s/%s", c->heredoc_dir, h->name.data) < 0)
			return -ENOMEM;
		_cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
		if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t) strlen(data))
			return cairn_error_set(c->err, -errno, "writing %s: %m", p);
		*ret_argv = json_pack("[s+]", "/dev/pipes/", h->name.data);
		*prepend_shell = false;
		return *ret_argv ? 0 : -ENOMEM;
	}
	if (n->n_heredocs == 1 && whole) {
		*ret_argv = json_pack("[s]", data);
		return *ret_argv ? 0 : -ENOMEM;
	}
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fputs(n->args[0].data, f);
	for (size_t i = 0; i < n->n_heredocs; i++)
		fprintf(f, "\n%s%s", n->heredocs[i].content.data, n->heredocs[i].name.data); /* the shell chomps <<- itself */
	fclose(f);
	*ret_argv = json_pack("[s]", buf);
	free(buf);
	return *ret_argv ? 0 : -ENOMEM;
}

static int run_argv(struct runctx *c)
{
	const struct df_node *n = c->n;
	if (n->n_args == 0)
		return build_error(c->b, n, CAIRN_E_FORMAT, c->err, "RUN requires at least one argument");
	if (n->json) {
		c->argv = command_args(&c->sg->st, n, NULL);
		return c->argv ? 0 : -ENOMEM;
	}
	bool shell = true;
	json_t *words = NULL;
	int r = n->n_heredocs ? heredoc_args(c, &words, &shell)
			      : ((words = json_pack("[s]", n->args[0].data)) ? 0 : -ENOMEM);
	if (r < 0)
		return r;
	if (!shell) {
		c->argv = words;
		return 0;
	}
	c->argv = command_args(&c->sg->st, n, json_string_value(json_array_get(words, 0)));
	json_decref(words);
	return c->argv ? 0 : -ENOMEM;
}

static int run_flags(struct runctx *c)
{
	struct flag fl[] = {{.name = "mount", .multi = true}, {.name = "network"},
			    {.name = "security"}};
	int r = parse_flags(c->b, c->n, fl, ARRAY_SIZE(fl), c->err);
	if (r >= 0 && fl[2].value && strcmp(fl[2].value, "sandbox") != 0)
		r = build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
				"RUN --security=%s is not supported", fl[2].value);
	const char *net = fl[1].value ? fl[1].value : c->b->o->network ? c->b->o->network : "default";
	if (r >= 0 && strcmp(net, "default") && strcmp(net, "none") && strcmp(net, "host"))
		r = build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
				"unsupported network mode \"%s\" (default, none, host)", net);
	if (r >= 0 && !(c->network = strdup(net)))
		r = -ENOMEM;
	char *save = NULL;
	for (char *m = fl[0].value ? strtok_r(fl[0].value, "\n", &save) : NULL; r >= 0 && m;
	     m = strtok_r(NULL, "\n", &save)) {
		_cleanup_free_ char *ex = NULL;
		struct runmount *v = realloc(c->mounts, (c->n_mounts + 1) * sizeof(*v));
		if (!v) {
			r = -ENOMEM;
			break;
		}
		c->mounts = v;
		v[c->n_mounts] = (struct runmount){0};
		r = expand_word(c->b, c->sg, c->n, m, &ex, c->err);
		if (r >= 0)
			r = mount_parse(c->b, c->n, ex, &v[c->n_mounts], c->err);
		c->n_mounts++;
	}
	flags_clear(fl, ARRAY_SIZE(fl));
	return r;
}

/* "RUN |2 A=1 B=2 /bin/sh -c make # buildkit" (runCommandString) */
static char *run_history(struct runctx *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	struct bstate *st = &c->sg->st;
	fputs("RUN ", f);
	/* one entry per distinct ARG name, the last declaration's position kept */
	size_t n = 0;
	for (size_t i = 0; i < st->n_args; i++) {
		bool dup = false;
		for (size_t k = 0; k < i; k++)
			dup |= strcmp(st->args[k].key, st->args[i].key) == 0;
		n += !dup;
	}
	if (n)
		fprintf(f, "|%zu ", n);
	for (size_t i = 0; i < st->n_args; i++) {
		bool dup = false;
		for (size_t k = 0; k < i; k++)
			dup |= strcmp(st->args[k].key, st->args[i].key) == 0;
		if (dup)
			continue;
		const char *v = strv_get_env(&st->env, st->args[i].key);
		fprintf(f, "%s=%s ", st->args[i].key, v ? v : st->args[i].value ? st->args[i].value : "");
	}
	size_t i;
	json_t *a;
	json_array_foreach(c->argv, i, a) fprintf(f, "%s%s", i ? " " : "", json_string_value(a));
	fputs(" # buildkit", f);
	fclose(f);
	return buf;
}

static const char *cfg_str(struct bstate *st, const char *key, const char *dflt)
{
	const char *v = json_string_value(json_object_get(bstate_config(st), key));
	return v && *v ? v : dflt;
}

static void run_key(struct runctx *c, uint8_t out[32])
{
	struct bstate *st = &c->sg->st;
	keyhash *k = key_new(st->key, "run");
	size_t i;
	json_t *a;
	json_array_foreach(c->argv, i, a) key_str(k, "arg", json_string_value(a));
	key_strv(k, "env", st->env.v);
	key_str(k, "user", cfg_str(st, "User", "root"));
	key_str(k, "cwd", cfg_str(st, "WorkingDir", "/"));
	key_str(k, "network", c->network);
	key_str(k, "platform", st->platform);
	for (size_t m = 0; m < c->n_mounts; m++) {
		struct runmount *rm = &c->mounts[m];
		key_str(k, "mount", rm->type);
		key_str(k, "target", rm->target);
		key_str(k, "id", rm->id);
		key_str(k, "source", rm->source);
		key_str(k, "from", rm->from);
		key_str(k, "mode", rm->mode);
		key_str(k, "uid", rm->uid);
		key_str(k, "gid", rm->gid);
		key_str(k, "env", rm->env);
		key_str(k, "rw", rm->rw ? "1" : "0");
		if (rm->from) {
			struct bstage *d = plan_find_stage(c->b, rm->from, c->b->n_stages);
			if (d)
				key_bytes(k, "from-key", d->st.key, 32);
		}
	}
	if (c->heredoc_dir) {
		const struct df_heredoc *h = &c->n->heredocs[0];
		key_bytes(k, "heredoc", h->content.data, h->content.len);
	}
	key_finish(k, out);
}


int step_run(struct build *b, struct bstage *sg, const struct df_node *n, cairn_error **err)
{
	struct runctx c = {.b = b, .sg = sg, .n = n, .err = err};
	struct step s = {.sg = sg, .n = n};
	int r = run_flags(&c);
	if (r >= 0)
		r = run_argv(&c);
	if (r >= 0 && (!(s.created_by = run_history(&c)) ||
		       asprintf(&s.title, "RUN %s", instruction_rest(n)) < 0))
		r = -ENOMEM;
	if (r >= 0) {
		run_key(&c, s.key);
		r = step_cached(b, &s, err);
	}
	if (r == 0)
		r = run_execute(&c, &s);
	if (r >= 0)
		progress_done(b->pr, s.vertex, 0);
	else if (s.vertex)
		progress_done(b->pr, s.vertex, r);
	json_decref(c.argv);
	for (size_t i = 0; i < c.n_mounts; i++)
		runmount_clear(&c.mounts[i]);
	free(c.mounts);
	free(c.network);
	if (c.heredoc_dir) { /* one file in it */
		_cleanup_free_ char *f = NULL;
		if (asprintf(&f, "%s/%s", c.heredoc_dir, n->heredocs[0].name.data) >= 0)
			unlink(f);
		rmdir(c.heredoc_dir);
		free(c.heredoc_dir);
	}
	step_clear(&s);
	return r < 0 ? r : 0;
}
