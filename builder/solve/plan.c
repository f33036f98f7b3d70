/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The build plan: the Dockerfile's stages, the meta ARGs before the first
 * FROM (with the predefined platform ARGs), each stage's base (scratch,
 * an image, or an earlier stage) and the stages it copies from, and which
 * stages the target needs (BuildKit's reachability: the others are not
 * built).
 */
#include <ctype.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/utsname.h>

#include "shell.h"
#include "solve.h"

static const char *const instructions[] = {
    "add",     "arg",	 "cmd",	       "copy",	 "entrypoint", "env",	 "expose",
    "from",    "healthcheck", "label", "maintainer", "onbuild", "run",	  "shell",
    "stopsignal", "user", "volume",    "workdir",
};

int build_error(struct build *b, const struct df_node *n, int code, cairn_error **err,
		const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n)
		return cairn_error_set(err, code, "%s:%d: %s", b->filename, n->start_line, msg);
	return cairn_error_set(err, code, "%s: %s", b->filename, msg);
}

int build_error_at(struct build *b, const struct df_node *n, int code, cairn_error **err)
{
	if (err && *err)
		return cairn_error_prefix(err, "%s:%d", b->filename, n->start_line);
	return build_error(b, n, code, err, "%s", cairn_strerror(code));
}

/* Levenshtein distance, for "did you mean" (short words only). */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 31 || lb > 31)
		return SIZE_MAX;
	size_t d[32][32];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			size_t c = d[i - 1][j - 1] + (tolower((unsigned char) a[i - 1]) != b[j - 1]);
			c = MIN(c, d[i - 1][j] + 1);
			d[i][j] = MIN(c, d[i][j - 1] + 1);
		}
	return d[la][lb];
}

static bool known_instruction(const char *kw)
{
	for (size_t i = 0; i < ARRAY_SIZE(instructions); i++)
		if (strcmp(kw, instructions[i]) == 0)
			return true;
	return false;
}

static int unknown_instruction(struct build *b, const struct df_node *n, cairn_error **err)
{
	const char *best = NULL;
	size_t bd = SIZE_MAX;
	for (size_t i = 0; i < ARRAY_SIZE(instructions); i++) {
		size_t d = distance(n->keyword.data, instructions[i]);
		if (d < bd) {
			bd = d;
			best = instructions[i];
		}
	}
	char word[64];
	snprintf(word, sizeof(word), "%s", n->original.data);
	word[strcspn(word, " \t")] = 0;
	if (best && bd <= 2) {
		char up[32];
		size_t i = 0;
		for (; best[i] && i < sizeof(up) - 1; i++)
			up[i] = (char) toupper((unsigned char) best[i]);
		up[i] = 0;
		return build_error(b, n, CAIRN_E_FORMAT, err,
				   "unknown instruction: %s (did you mean %s?)", word, up);
	}
	return build_error(b, n, CAIRN_E_FORMAT, err, "unknown instruction: %s", word);
}

/* ---- meta ARGs -------------------------------------------------------------------- */

static const char *go_arch(const char *machine, const char **variant)
{
	*variant = NULL;
	if (strcmp(machine, "x86_64") == 0)
		return "amd64";
	if (strcmp(machine, "aarch64") == 0) {
		return "arm64";
	}
	if (strncmp(machine, "armv7", 5) == 0) {
		*variant = "v7";
		return "arm";
	}
	if (strcmp(machine, "i686") == 0 || strcmp(machine, "i386") == 0)
		return "386";
	return machine;
}

static int host_platform(char **ret)
{
	struct utsname u;
	if (uname(&u) < 0)
		return -errno;
	const char *variant;
	const char *arch = go_arch(u.machine, &variant);
	int r = variant ? asprintf(ret, "linux/%s/%s", arch, variant)
			: asprintf(ret, "linux/%s", arch);
	return r < 0 ? -ENOMEM : 0;
}

/* PLATFORM, OS, ARCH, VARIANT args for a prefix ("BUILD", "TARGET"). */
static int platform_args(struct strv *env, const char *prefix, const char *platform)
{
	char os[64] = "", arch[64] = "", variant[64] = "";
	sscanf(platform, "%63[^/]/%63[^/]/%63s", os, arch, variant);
	int r = strv_pushf(env, "%sPLATFORM=%s", prefix, platform);
	if (r >= 0)
		r = strv_pushf(env, "%sOS=%s", prefix, os);
	if (r >= 0)
		r = strv_pushf(env, "%sARCH=%s", prefix, arch);
	if (r >= 0)
		r = strv_pushf(env, "%sVARIANT=%s", prefix, variant);
	return r;
}

static bool is_proxy_arg(const char *k, size_t len)
{
	static const char *const proxies[] = {"http_proxy", "https_proxy", "ftp_proxy",
					      "no_proxy", "all_proxy"};
	for (size_t i = 0; i < ARRAY_SIZE(proxies); i++)
		if (strlen(proxies[i]) == len && strncasecmp(k, proxies[i], len) == 0)
			return true;
	return false;
}

static int resolve_build_args(struct build *b, cairn_error **err)
{
	for (size_t i = 0; i < b->o->n_build_args; i++) {
		const char *a = b->o->build_args[i];
		const char *eq = strchr(a, '=');
		int r;
		if (eq)
			r = strv_push(&b->build_args, a);
		else if (getenv(a))
			r = strv_pushf(&b->build_args, "%s=%s", a, getenv(a));
		else
			continue; /* docker: a name without value and not in the environment is ignored */
		if (r < 0)
			return r;
		const char *kv = b->build_args.v[b->build_args.n - 1];
		size_t klen = strcspn(kv, "=");
		if (klen == 0)
			return cairn_error_set(err, -EINVAL, "--build-arg \"%s\": no name", a);
		if (is_proxy_arg(kv, klen) && (r = strv_push(&b->proxy_env, kv)) < 0)
			return r;
	}
	return 0;
}

/* The value of --build-arg key, or NULL. */
static const char *build_arg(struct build *b, const char *key)
{
	return strv_get_env(&b->build_args, key);
}

static int meta_arg(struct build *b, const struct df_node *n, cairn_error **err)
{
	for (size_t i = 0; i < n->n_args; i++) {
		const char *a = n->args[i].data;
		size_t klen = strcspn(a, "=");
		_cleanup_free_ char *key = strndup(a, klen);
		_cleanup_free_ char *value = NULL;
		if (!key)
			return -ENOMEM;
		const char *given = build_arg(b, key);
		int r = 0;
		if (given)
			value = strdup(given);
		else if (a[klen] == '=')
			r = df_shell_word(a + klen + 1, b->escape, b->global_args.v, &value, err);
		if (r < 0)
			return build_error_at(b, n, r, err);
		if ((given || a[klen] == '=') && !value)
			return -ENOMEM;
		if (value && (r = strv_set_env(&b->global_args, key, value)) < 0)
			return r;
		struct barg *na = realloc(b->meta_args, (b->n_meta_args + 1) * sizeof(*na));
		if (!na)
			return -ENOMEM;
		b->meta_args = na;
		na[b->n_meta_args++] = (struct barg){steal_pointer(&key), steal_pointer(&value)};
	}
	return 0;
}

/* ---- stages ----------------------------------------------------------------------- */

static bool valid_stage_name(const char *s)
{
	if (!islower((unsigned char) *s))
		return false;
	for (; *s; s++)
		if (!islower((unsigned char) *s) && !isdigit((unsigned char) *s) && !strchr("-_.", *s))
			return false;
	return true;
}

struct bstage *plan_find_stage(struct build *b, const char *name, size_t before)
{
	char *end;
	unsigned long idx = strtoul(name, &end, 10);
	if (*name && !*end && isdigit((unsigned char) *name))
		return idx < before ? &b->stages[idx] : NULL;
	for (size_t i = 0; i < before; i++)
		if (b->stages[i].name && strcasecmp(b->stages[i].name, name) == 0)
			return &b->stages[i];
	return NULL;
}

static int stage_from(struct build *b, const struct df_node *n, struct bstage *sg,
		      cairn_error **err)
{
	struct flag fl[] = {{.name = "platform"}};
	int r = parse_flags(b, n, fl, ARRAY_SIZE(fl), err);
	if (r < 0)
		return r;
	if (fl[0].value)
		r = df_shell_word(fl[0].value, b->escape, b->global_args.v, &sg->platform, err);
	flags_clear(fl, ARRAY_SIZE(fl));
	if (r < 0)
		return build_error_at(b, n, r, err);
	if (n->n_args != 1 && !(n->n_args == 3 && strcasecmp(n->args[1].data, "as") == 0))
		return build_error(b, n, CAIRN_E_FORMAT, err,
				   "FROM requires either one or three arguments");
	if ((r = df_shell_word(n->args[0].data, b->escape, b->global_args.v, &sg->base, err)) < 0)
		return build_error_at(b, n, r, err);
	if (!*sg->base)
		return build_error(b, n, CAIRN_E_FORMAT, err, "base name (%s) should not be blank",
				   n->args[0].data);
	if (n->n_args == 3) {
		if (!(sg->name = strdup(n->args[2].data)))
			return -ENOMEM;
		for (char *p = sg->name; *p; p++)
			*p = (char) tolower((unsigned char) *p);
		if (!valid_stage_name(sg->name))
			return build_error(b, n, CAIRN_E_FORMAT, err,
					   "invalid name for build stage: \"%s\", name can't start "
					   "with a number or contain symbols",
					   n->args[2].data);
		if (plan_find_stage(b, sg->name, sg->index))
			return build_error(b, n, CAIRN_E_FORMAT, err, "duplicate stage name \"%s\"",
					   sg->name);
	}
	sg->from = n;
	if (sg->name)
		r = asprintf(&sg->display, "%s", sg->name);
	else
		r = asprintf(&sg->display, "stage-%zu", sg->index);
	return r < 0 ? -ENOMEM : 0;
}

static int stage_add_cmd(struct bstage *sg, const struct df_node *n)
{
	const struct df_node **v = realloc(sg->cmds, (sg->n_cmds + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	sg->cmds = v;
	v[sg->n_cmds++] = n;
	const char *k = n->keyword.data;
	if (!strcmp(k, "run") || !strcmp(k, "copy") || !strcmp(k, "add") || !strcmp(k, "workdir"))
		sg->total++;
	return 0;
}

static int split_stages(struct build *b, cairn_error **err)
{
	struct df_ast *ast = b->ast;
	for (size_t i = 0; i < ast->n_nodes; i++) {
		const struct df_node *n = &ast->nodes[i];
		const char *kw = n->keyword.data;
		if (!*kw)
			continue;
		if (!known_instruction(kw))
			return unknown_instruction(b, n, err);
		int r;
		if (strcmp(kw, "from") == 0) {
			struct bstage *v = realloc(b->stages, (b->n_stages + 1) * sizeof(*v));
			if (!v)
				return -ENOMEM;
			b->stages = v;
			struct bstage *sg = &v[b->n_stages];
			*sg = (struct bstage){.index = b->n_stages++};
			r = stage_from(b, n, sg, err);
		} else if (b->n_stages == 0) {
			if (strcmp(kw, "arg") != 0)
				return build_error(b, n, CAIRN_E_FORMAT, err,
						   "no build stage in current context");
			r = meta_arg(b, n, err);
		} else {
			r = stage_add_cmd(&b->stages[b->n_stages - 1], n);
		}
		if (r < 0)
			return r;
	}
	if (b->n_stages == 0)
		return build_error(b, NULL, CAIRN_E_FORMAT, err,
				   "dockerfile contains no stages to build");
	return 0;
}

/* The stage --from names: earlier stages only (BuildKit); a name no stage
 * has is an image (an implicit stage with no instructions). */
static int add_dep(struct build *b, struct bstage *sg, const struct df_node *n, const char *from,
		   cairn_error **err)
{
	if (strchr(from, '$'))
		return build_error(b, n, CAIRN_E_FORMAT, err,
				   "variable expansion is not supported for --from, define a new "
				   "stage with FROM using ARG from global scope as a workaround");
	if (sg->name && strcasecmp(from, sg->name) == 0)
		return build_error(b, n, CAIRN_E_FORMAT, err,
				   "circular dependency detected on stage: %s", sg->name);
	struct bstage *d = plan_find_stage(b, from, sg->index);
	if (!d) {
		char *end;
		strtoul(from, &end, 10);
		if (isdigit((unsigned char) *from) && !*end)
			return build_error(b, n, CAIRN_E_FORMAT, err, "invalid stage index %s",
					   from);
		if (plan_find_stage(b, from, b->n_stages))
			return build_error(b, n, CAIRN_E_FORMAT, err,
					   "cannot copy from stage \"%s\", it needs to be defined "
					   "before current stage \"%s\"",
					   from, sg->display);
		return 0; /* an image: resolved when the step runs */
	}
	struct bstage **v = realloc(sg->deps, (sg->n_deps + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	sg->deps = v;
	v[sg->n_deps++] = d;
	return 0;
}

/* After every stage is known (b->stages no longer moves): bases and deps. */
static int find_deps(struct build *b, struct bstage *sg, cairn_error **err)
{
	if (!isdigit((unsigned char) *sg->base)) /* FROM 0 is an image called "0" */
		sg->base_stage = plan_find_stage(b, sg->base, sg->index);
	for (size_t i = 0; i < sg->n_cmds; i++) {
		const struct df_node *n = sg->cmds[i];
		for (size_t f = 0; f < n->n_flags; f++) {
			const char *fl = n->flags[f].data;
			int r = 0;
			if (strncmp(fl, "--from=", 7) == 0 &&
			    (!strcmp(n->keyword.data, "copy") || !strcmp(n->keyword.data, "add")))
				r = add_dep(b, sg, n, fl + 7, err);
			else if (strncmp(fl, "--mount=", 8) == 0 && !strcmp(n->keyword.data, "run")) {
				const char *p = strstr(fl, "from=");
				if (p && (p == fl + 8 || p[-1] == ',')) {
					_cleanup_free_ char *v = strndup(p + 5, strcspn(p + 5, ","));
					r = v ? add_dep(b, sg, n, v, err) : -ENOMEM;
				}
			}
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static void mark_needed(struct bstage *sg)
{
	if (sg->needed)
		return;
	sg->needed = true;
	if (sg->base_stage)
		mark_needed(sg->base_stage);
	for (size_t i = 0; i < sg->n_deps; i++)
		mark_needed(sg->deps[i]);
}

static int predefined_args(struct build *b)
{
	_cleanup_free_ char *host = NULL;
	int r = host_platform(&host);
	if (r < 0)
		return r;
	if (!(b->platform = strdup(b->o->platform ? b->o->platform : host)))
		return -ENOMEM;
	if ((r = platform_args(&b->global_args, "BUILD", host)) < 0)
		return r;
	return platform_args(&b->global_args, "TARGET", b->platform);
}

int solve_plan(struct build *b, cairn_error **err)
{
	int r = resolve_build_args(b, err);
	if (r >= 0)
		r = predefined_args(b);
	if (r >= 0)
		r = split_stages(b, err);
	for (size_t i = 0; r >= 0 && i < b->n_stages; i++)
		r = find_deps(b, &b->stages[i], err);
	if (r < 0)
		return r;
	struct bstage *target = &b->stages[b->n_stages - 1];
	if (b->o->target) {
		target = NULL;
		for (size_t i = 0; i < b->n_stages; i++)
			if (b->stages[i].name && strcasecmp(b->stages[i].name, b->o->target) == 0)
				target = &b->stages[i];
		if (!target)
			return cairn_error_set(err, -EINVAL, "target stage \"%s\" could not be found",
					       b->o->target);
	}
	for (size_t i = 0; i < b->n_stages; i++) {
		struct bstage *sg = &b->stages[i];
		for (size_t k = 0; k < b->o->n_no_cache_filter; k++)
			if (sg->name && strcasecmp(sg->name, b->o->no_cache_filter[k]) == 0)
				sg->no_cache = true;
		if (b->o->no_cache)
			sg->no_cache = true;
		if (!sg->base_stage && strcasecmp(sg->base, "scratch") != 0)
			sg->total++;
	}
	mark_needed(target);
	return (int) (target - b->stages);
}
