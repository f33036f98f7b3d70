/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The instructions that only change the image config (ENV, LABEL, CMD,
 * ENTRYPOINT, HEALTHCHECK, EXPOSE, VOLUME, USER, STOPSIGNAL, SHELL,
 * MAINTAINER, ONBUILD, ARG and the config half of WORKDIR), with
 * BuildKit's history lines ("ENV A=1", `CMD ["sh" "-c" "x"]`, ...), and
 * the loop that runs a stage's instructions.
 */
#include <ctype.h>
#include <signal.h>
#include <strings.h>

#include "shell.h"
#include "solve.h"

struct cfgctx {
	struct build *b;
	struct bstage *sg;
	const struct df_node *n;
	cairn_error **err;
};

static int no_flags(struct cfgctx *c)
{
	return parse_flags(c->b, c->n, NULL, 0, c->err);
}

static int history(struct cfgctx *c, const char *line)
{
	return history_add(c->b, &c->sg->st, line, true, -1);
}

static int expand(struct cfgctx *c, const char *in, char **ret)
{
	return expand_word(c->b, c->sg, c->n, in, ret, c->err);
}

static int config_set(struct cfgctx *c, const char *key, json_t *v)
{
	json_t *cfg = bstate_config(&c->sg->st);
	if (!v || !cfg || json_object_set_new(cfg, key, v) < 0)
		return -ENOMEM;
	return 0;
}

/* ENV and LABEL: the parser gives (key, value, delimiter) triples; keys
 * and values are expanded with the env as it was before the instruction.
 * *ret gets key, value, key, value... */
static int pairs(struct cfgctx *c, const char *what, char ***ret, size_t *ret_n)
{
	const struct df_node *n = c->n;
	if (n->n_args == 0 || n->n_args % 3)
		return build_error(c->b, n, CAIRN_E_FORMAT, c->err, "%s requires at least one argument",
				   what);
	size_t np = n->n_args / 3 * 2;
	char **v = calloc(np + 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < np; i++) {
		int r = expand(c, n->args[i / 2 * 3 + i % 2].data, &v[i]);
		if (r < 0) {
			for (size_t k = 0; k < i; k++)
				free(v[k]);
			free(v);
			return r;
		}
	}
	*ret = v;
	*ret_n = np;
	return 0;
}

static void free_words(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int do_env(struct cfgctx *c)
{
	char **v;
	size_t n;
	int r = no_flags(c);
	if (r < 0 || (r = pairs(c, "ENV", &v, &n)) < 0)
		return r;
	struct bstate *st = &c->sg->st;
	json_t *env = json_object_get(bstate_config(st), "Env");
	struct strv cfg = {0};
	size_t i;
	json_t *e;
	json_array_foreach(env, i, e)
		if (r >= 0 && json_string_value(e))
			r = strv_push(&cfg, json_string_value(e));
	_cleanup_free_ char *line = strdup("ENV");
	for (i = 0; r >= 0 && i < n; i += 2) {
		char *nl;
		if (!line || asprintf(&nl, "%s %s=%s", line, v[i], v[i + 1]) < 0) {
			r = -ENOMEM;
			break;
		}
		free(line);
		line = nl;
		r = strv_set_env(&st->env, v[i], v[i + 1]);
		if (r >= 0)
			r = strv_set_env(&cfg, v[i], v[i + 1]);
	}
	if (r >= 0)
		r = config_set(c, "Env", json_strv(cfg.v, cfg.n));
	if (r >= 0)
		r = history(c, line);
	strv_clear(&cfg);
	free_words(v, n);
	return r;
}

static int do_label(struct cfgctx *c)
{
	char **v;
	size_t n;
	int r = no_flags(c);
	if (r < 0 || (r = pairs(c, "LABEL", &v, &n)) < 0)
		return r;
	json_t *cfg = bstate_config(&c->sg->st);
	json_t *labels = json_object_get(cfg, "Labels");
	if (!json_is_object(labels)) {
		labels = json_object();
		if (!labels || json_object_set_new(cfg, "Labels", labels) < 0)
			r = -ENOMEM;
	}
	_cleanup_free_ char *line = strdup("LABEL");
	for (size_t i = 0; r >= 0 && i < n; i += 2) {
		char *nl;
		if (!line || asprintf(&nl, "%s %s=%s", line, v[i], v[i + 1]) < 0) {
			r = -ENOMEM;
			break;
		}
		free(line);
		line = nl;
		if (json_object_set_new(labels, v[i], json_string(v[i + 1])) < 0)
			r = -ENOMEM;
	}
	if (r >= 0)
		r = history(c, line);
	free_words(v, n);
	return r;
}

/* The shell of the stage: SHELL's, else /bin/sh -c. */
static json_t *stage_shell(struct bstate *st)
{
	json_t *sh = json_object_get(bstate_config(st), "Shell");
	if (json_is_array(sh) && json_array_size(sh) > 0)
		return json_deep_copy(sh);
	return json_pack("[s, s]", "/bin/sh", "-c");
}

/* CMD/ENTRYPOINT/RUN arguments: the JSON list, or the shell plus the line. */
json_t *command_args(struct bstate *st, const struct df_node *n, const char *shell_line)
{
	if (n->json) {
		json_t *a = json_array();
		for (size_t i = 0; a && i < n->n_args; i++)
			json_array_append_new(a, json_stringn(n->args[i].data, n->args[i].len));
		return a;
	}
	json_t *a = stage_shell(st);
	if (a && json_array_append_new(a, json_string(shell_line)) < 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static char *joined_args(const struct df_node *n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	for (size_t i = 0; i < n->n_args; i++)
		fprintf(f, "%s%s", i ? " " : "", n->args[i].data);
	fclose(f);
	return buf;
}

static int do_cmd_entrypoint(struct cfgctx *c, bool entrypoint, bool *cmd_set)
{
	int r = no_flags(c);
	if (r < 0)
		return r;
	_cleanup_free_ char *line = joined_args(c->n);
	json_t *a = line ? command_args(&c->sg->st, c->n, line) : NULL;
	if (!a)
		return -ENOMEM;
	_cleanup_free_ char *q = go_quote_list(a);
	_cleanup_free_ char *h = NULL;
	if (!q || asprintf(&h, "%s %s", entrypoint ? "ENTRYPOINT" : "CMD", q) < 0) {
		json_decref(a);
		return -ENOMEM;
	}
	json_t *cfg = bstate_config(&c->sg->st);
	if (entrypoint) {
		r = config_set(c, "Entrypoint", a);
		if (r >= 0 && !*cmd_set)
			json_object_del(cfg, "Cmd");
	} else {
		r = config_set(c, "Cmd", a);
		if (r >= 0)
			r = config_set(c, "ArgsEscaped", json_true());
		*cmd_set = true;
	}
	return r < 0 ? r : history(c, h);
}

/* ---- HEALTHCHECK -------------------------------------------------------------------- */

/* Go's time.ParseDuration, for the forms people write (1h2m3.5s, 500ms). */
static int parse_duration(const char *s, int64_t *ret)
{
	static const struct {
		const char *u;
		double ns;
	} units[] = {{"ns", 1}, {"us", 1e3}, {"µs", 1e3}, {"ms", 1e6},
		     {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
	double total = 0;
	if (strcmp(s, "0") == 0) {
		*ret = 0;
		return 0;
	}
	if (!*s)
		return -EINVAL;
	while (*s) {
		char *end;
		double v = strtod(s, &end);
		if (end == s || v < 0)
			return -EINVAL;
		size_t best = 0, bl = 0;
		for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
			size_t l = strlen(units[i].u);
			if (strncmp(end, units[i].u, l) == 0 && l > bl) {
				best = i;
				bl = l;
			}
		}
		if (!bl)
			return -EINVAL;
		total += v * units[best].ns;
		s = end + bl;
	}
	*ret = (int64_t) (total + 0.5);
	return 0;
}

/* Go's Duration.String() */
static void go_duration(int64_t ns, char out[48])
{
	if (ns == 0) {
		strcpy(out, "0s");
		return;
	}
	if (ns < 1000000000) {
		const char *u = ns < 1000 ? "ns" : ns < 1000000 ? "µs" : "ms";
		double d = ns < 1000 ? 1 : ns < 1000000 ? 1e3 : 1e6;
		snprintf(out, 48, "%g%s", (double) ns / d, u);
		return;
	}
	int64_t h = ns / 3600000000000LL, m = ns / 60000000000LL % 60;
	double sec = (double) (ns % 60000000000LL) / 1e9;
	char sb[24];
	snprintf(sb, sizeof(sb), "%.9f", sec);
	char *p = sb + strlen(sb) - 1;
	while (*p == '0')
		*p-- = 0;
	if (*p == '.')
		*p = 0;
	if (h)
		snprintf(out, 48, "%lldh%lldm%ss", (long long) h, (long long) m, sb);
	else if (m)
		snprintf(out, 48, "%lldm%ss", (long long) m, sb);
	else
		snprintf(out, 48, "%ss", sb);
}

static int health_flag(struct cfgctx *c, const struct flag *f, const char *key, json_t *hc,
		       int64_t *ret)
{
	*ret = 0;
	if (!f->value)
		return 0;
	if (parse_duration(f->value, ret) < 0)
		return build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
				   "time: invalid duration \"%s\"", f->value);
	if (*ret != 0 && *ret < 1000000)
		return build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
				   "%s cannot be less than 1ms", key);
	if (*ret)
		json_object_set_new(hc, key, json_integer(*ret));
	return 0;
}

static char *health_history(json_t *test, const int64_t d[4], long retries)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fputs("HEALTHCHECK {Test:[", f);
	size_t i;
	json_t *v;
	json_array_foreach(test, i, v) fprintf(f, "%s%s", i ? " " : "", json_string_value(v));
	char dur[4][48];
	for (i = 0; i < 4; i++)
		go_duration(d[i], dur[i]);
	fprintf(f, "] Interval:%s Timeout:%s StartPeriod:%s StartInterval:%s Retries:%ld}", dur[0],
		dur[1], dur[2], dur[3], retries);
	fclose(f);
	return buf;
}

static int do_healthcheck(struct cfgctx *c)
{
	struct flag fl[] = {{.name = "interval"}, {.name = "timeout"}, {.name = "start-period"},
			    {.name = "start-interval"}, {.name = "retries"}};
	const struct df_node *n = c->n;
	int r = parse_flags(c->b, n, fl, ARRAY_SIZE(fl), c->err);
	_cleanup_json_ json_t *hc = json_object();
	json_t *test = NULL;
	int64_t d[4] = {0};
	long retries = 0;
	if (r >= 0 && n->n_args == 0)
		r = build_error(c->b, n, CAIRN_E_FORMAT, c->err, "HEALTHCHECK requires an argument");
	if (r >= 0 && strcasecmp(n->args[0].data, "none") == 0) {
		if (n->n_args > 1 || n->n_flags)
			r = build_error(c->b, n, CAIRN_E_FORMAT, c->err,
					"HEALTHCHECK NONE takes no arguments");
		test = json_pack("[s]", "NONE");
	} else if (r >= 0 && strcasecmp(n->args[0].data, "cmd") == 0) {
		test = json_array();
		json_array_append_new(test, json_string(n->json ? "CMD" : "CMD-SHELL"));
		for (size_t i = 1; i < n->n_args; i++)
			json_array_append_new(test, json_string(n->args[i].data));
		static const char *const keys[] = {"Interval", "Timeout", "StartPeriod",
						   "StartInterval"};
		for (size_t i = 0; r >= 0 && i < 4; i++)
			r = health_flag(c, &fl[i], keys[i], hc, &d[i]);
		if (r >= 0 && fl[4].value) {
			char *end;
			retries = strtol(fl[4].value, &end, 10);
			if (*end || retries < 0)
				r = build_error(c->b, n, CAIRN_E_FORMAT, c->err,
						"--retries must be a number >= 0");
			else if (retries)
				json_object_set_new(hc, "Retries", json_integer(retries));
		}
	} else if (r >= 0) {
		r = build_error(c->b, n, CAIRN_E_FORMAT, c->err,
				"Unknown type \"%s\" in HEALTHCHECK (try CMD)", n->args[0].data);
	}
	flags_clear(fl, ARRAY_SIZE(fl));
	if (r < 0) {
		json_decref(test);
		return r;
	}
	_cleanup_free_ char *h = health_history(test, d, retries);
	json_object_set_new(hc, "Test", test);
	if (!h || (r = config_set(c, "Healthcheck", json_incref(hc))) < 0)
		return -ENOMEM;
	return history(c, h);
}

/* ---- EXPOSE, VOLUME, USER, STOPSIGNAL, SHELL, MAINTAINER ------------------------------ */

static int port_range(const char *s, unsigned long *a, unsigned long *b)
{
	char *end;
	*a = strtoul(s, &end, 10);
	if (end == s || *a > 65535)
		return -EINVAL;
	*b = *a;
	if (*end == '-') {
		const char *t = end + 1;
		*b = strtoul(t, &end, 10);
		if (end == t || *b > 65535 || *b < *a)
			return -EINVAL;
	}
	return *end ? -EINVAL : 0;
}

static int expose_one(struct cfgctx *c, const char *spec, json_t *ports, FILE *hist)
{
	const char *cp = strrchr(spec, ':');
	cp = cp ? cp + 1 : spec;
	_cleanup_free_ char *port = strndup(cp, strcspn(cp, "/"));
	const char *proto = strchr(cp, '/') ? strchr(cp, '/') + 1 : "tcp";
	char pl[16];
	snprintf(pl, sizeof(pl), "%s", proto);
	for (char *p = pl; *p; p++)
		*p = (char) tolower((unsigned char) *p);
	if (!port)
		return -ENOMEM;
	if (!*port)
		return build_error(c->b, c->n, CAIRN_E_FORMAT, c->err, "no port specified: %s<empty>",
				   spec);
	if (strcmp(pl, "tcp") && strcmp(pl, "udp") && strcmp(pl, "sctp"))
		return build_error(c->b, c->n, CAIRN_E_FORMAT, c->err, "invalid proto: %s", pl);
	unsigned long a, z;
	if (port_range(port, &a, &z) < 0)
		return build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
				   "invalid containerPort: %s", port);
	for (unsigned long p = a; p <= z; p++) {
		char k[32];
		snprintf(k, sizeof(k), "%lu/%s", p, pl);
		fprintf(hist, "%s%s", ftell(hist) > (long) strlen("EXPOSE [") ? " " : "", k);
		if (json_object_set_new(ports, k, json_object()) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The config's object field key (made when missing), and a history line
 * "WHAT [" being written to *ret_f. */
static int set_start(struct cfgctx *c, const char *key, const char *what, json_t **ret_obj,
		     FILE **ret_f, char **buf, size_t *len)
{
	json_t *cfg = bstate_config(&c->sg->st);
	json_t *o = json_object_get(cfg, key);
	if (!json_is_object(o)) {
		o = json_object();
		if (!o || json_object_set_new(cfg, key, o) < 0)
			return -ENOMEM;
	}
	*ret_obj = o;
	if (!(*ret_f = open_memstream(buf, len)))
		return -ENOMEM;
	fprintf(*ret_f, "%s [", what);
	return 0;
}

static int do_expose(struct cfgctx *c)
{
	json_t *ports;
	FILE *f;
	char *buf = NULL;
	size_t len = 0;
	int r = no_flags(c);
	if (r < 0 || (r = set_start(c, "ExposedPorts", "EXPOSE", &ports, &f, &buf, &len)) < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < c->n->n_args; i++) {
		char **words = NULL;
		size_t nw = 0;
		r = df_shell_words(c->n->args[i].data, c->b->escape, c->sg->st.env.v, &words, &nw,
				   c->err);
		if (r < 0)
			r = build_error_at(c->b, c->n, r, c->err);
		for (size_t k = 0; r >= 0 && k < nw; k++)
			r = expose_one(c, words[k], ports, f);
		df_shell_words_free(words);
	}
	fputc(']', f);
	fclose(f);
	if (r >= 0)
		r = history(c, buf);
	free(buf);
	return r;
}

static int do_volume(struct cfgctx *c)
{
	json_t *vols;
	FILE *f;
	char *buf = NULL;
	size_t len = 0;
	int r = no_flags(c);
	if (r < 0 || (r = set_start(c, "Volumes", "VOLUME", &vols, &f, &buf, &len)) < 0)
		return r;
	for (size_t i = 0; r >= 0 && i < c->n->n_args; i++) {
		_cleanup_free_ char *v = NULL;
		if ((r = expand(c, c->n->args[i].data, &v)) < 0)
			break;
		if (!*v) {
			r = build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
					"VOLUME specified can not be an empty string");
			break;
		}
		fprintf(f, "%s%s", i ? " " : "", v);
		if (json_object_set_new(vols, v, json_object()) < 0)
			r = -ENOMEM;
	}
	if (r >= 0 && c->n->n_args == 0)
		r = build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
				"VOLUME requires at least one argument");
	fputc(']', f);
	fclose(f);
	if (r >= 0)
		r = history(c, buf);
	free(buf);
	return r;
}

/* "USER x", "STOPSIGNAL x", "MAINTAINER x": one expanded word into a field. */
static int one_word(struct cfgctx *c, const char *what, const char *key, bool do_expand,
		    bool top)
{
	int r = no_flags(c);
	if (r < 0)
		return r;
	if (c->n->n_args != 1)
		return build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
				   "%s requires exactly one argument", what);
	_cleanup_free_ char *v = NULL;
	if (do_expand ? (r = expand(c, c->n->args[0].data, &v)) < 0 : !(v = strdup(c->n->args[0].data)))
		return r < 0 ? r : -ENOMEM;
	if (strcmp(what, "STOPSIGNAL") == 0) {
		char *end;
		long num = strtol(v, &end, 10);
		bool ok = *v && !*end && num > 0 && num < 65;
		const char *name = strncasecmp(v, "SIG", 3) == 0 ? v + 3 : v;
		for (int s = 1; !ok && s < NSIG; s++)
			ok = sigabbrev_np(s) && strcasecmp(sigabbrev_np(s), name) == 0;
		if (!ok)
			return build_error(c->b, c->n, CAIRN_E_FORMAT, c->err, "invalid signal: %s",
					   v);
	}
	if (top) {
		if (json_object_set_new(c->sg->st.image, key, json_string(v)) < 0)
			return -ENOMEM;
	} else if ((r = config_set(c, key, json_string(v))) < 0) {
		return r;
	}
	_cleanup_free_ char *h = NULL;
	if (asprintf(&h, "%s %s", what, v) < 0)
		return -ENOMEM;
	return history(c, h);
}

static int do_shell(struct cfgctx *c)
{
	int r = no_flags(c);
	if (r < 0)
		return r;
	if (!c->n->json)
		return build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
				   "SHELL requires the arguments to be in JSON form");
	if (c->n->n_args == 0)
		return build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
				   "SHELL requires at least one argument");
	json_t *a = command_args(&c->sg->st, c->n, NULL);
	_cleanup_free_ char *line = joined_args(c->n);
	_cleanup_free_ char *h = NULL;
	if (!a || !line || asprintf(&h, "SHELL [%s]", line) < 0)
		return -ENOMEM;
	if ((r = config_set(c, "Shell", a)) < 0)
		return r;
	return history(c, h);
}

static int do_onbuild(struct cfgctx *c)
{
	const struct df_node *t = c->n->next;
	if (!t || !t->keyword.len)
		return build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
				   "ONBUILD requires at least one argument");
	const char *kw = t->keyword.data;
	if (!strcmp(kw, "onbuild") || !strcmp(kw, "from") || !strcmp(kw, "maintainer")) {
		char up[16];
		size_t i = 0;
		for (; kw[i] && i < sizeof(up) - 1; i++)
			up[i] = (char) toupper((unsigned char) kw[i]);
		up[i] = 0;
		return build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
				   "%s isn't allowed as an ONBUILD trigger", up);
	}
	/* the trigger as written: the original line without "ONBUILD " */
	const char *o = instruction_rest(c->n);
	json_t *cfg = bstate_config(&c->sg->st);
	json_t *ob = json_object_get(cfg, "OnBuild");
	if (!json_is_array(ob)) {
		ob = json_array();
		if (!ob || json_object_set_new(cfg, "OnBuild", ob) < 0)
			return -ENOMEM;
	}
	return json_array_append_new(ob, json_string(o)) < 0 ? -ENOMEM : 0;
}

/* ---- ARG -------------------------------------------------------------------------- */

static int add_stage_arg(struct bstate *st, const char *key, const char *value)
{
	struct barg *v = realloc(st->args, (st->n_args + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	st->args = v;
	v[st->n_args] = (struct barg){strdup(key), value ? strdup(value) : NULL};
	if (!v[st->n_args].key || (value && !v[st->n_args].value))
		return -ENOMEM;
	st->n_args++;
	return 0;
}

static int do_arg(struct cfgctx *c)
{
	struct build *b = c->b;
	struct bstate *st = &c->sg->st;
	int r = no_flags(c);
	_cleanup_free_ char *line = strdup("ARG");
	for (size_t i = 0; r >= 0 && i < c->n->n_args; i++) {
		const char *a = c->n->args[i].data;
		size_t klen = strcspn(a, "=");
		_cleanup_free_ char *key = strndup(a, klen);
		_cleanup_free_ char *value = NULL;
		if (!key || !line)
			return -ENOMEM;
		const char *given = strv_get_env(&b->build_args, key);
		if (given)
			value = strdup(given);
		else if (a[klen] == '=')
			r = expand(c, a + klen + 1, &value);
		else if (strv_get_env(&b->global_args, key))
			value = strdup(strv_get_env(&b->global_args, key));
		if (r < 0)
			return r;
		if (value && (r = strv_set_env(&st->env, key, value)) < 0)
			return r;
		if ((r = add_stage_arg(st, key, value)) < 0)
			return r;
		char *nl;
		if (value ? asprintf(&nl, "%s %s=%s", line, key, value) < 0
			  : asprintf(&nl, "%s %s", line, key) < 0)
			return -ENOMEM;
		free(line);
		line = nl;
	}
	return r < 0 ? r : history(c, line);
}

/* ---- WORKDIR ------------------------------------------------------------------------ */

/* path.Join-style cleaning of an absolute path. */
char *clean_abs_path(const char *base, const char *p)
{
	_cleanup_free_ char *joined = NULL;
	if (asprintf(&joined, "%s/%s", *p == '/' ? "" : base, p) < 0)
		return NULL;
	char *out = malloc(strlen(joined) + 2);
	if (!out)
		return NULL;
	size_t o = 0;
	for (char *s = joined; *s;) {
		while (*s == '/')
			s++;
		size_t len = strcspn(s, "/");
		if (!len)
			break;
		if (len == 1 && s[0] == '.') {
		} else if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (o > 0 && out[--o] != '/')
				;
		} else {
			out[o++] = '/';
			memcpy(out + o, s, len);
			o += len;
		}
		s += len;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = 0;
	return out;
}

static int do_workdir(struct cfgctx *c)
{
	int r = no_flags(c);
	if (r < 0)
		return r;
	if (c->n->n_args != 1)
		return build_error(c->b, c->n, CAIRN_E_FORMAT, c->err,
				   "WORKDIR requires exactly one argument");
	_cleanup_free_ char *v = NULL;
	if ((r = expand(c, c->n->args[0].data, &v)) < 0)
		return r;
	json_t *cfg = bstate_config(&c->sg->st);
	const char *cur = json_string_value(json_object_get(cfg, "WorkingDir"));
	_cleanup_free_ char *wd = clean_abs_path(cur && *cur ? cur : "/", v);
	if (!wd || (r = config_set(c, "WorkingDir", json_string(wd))) < 0)
		return -ENOMEM;
	if (strcmp(wd, "/") == 0) {
		_cleanup_free_ char *h = NULL;
		return asprintf(&h, "WORKDIR %s", wd) < 0 ? -ENOMEM : history(c, h);
	}
	return step_workdir(c->b, c->sg, c->n, wd, c->err);
}

const char *instruction_rest(const struct df_node *n)
{
	const char *o = n->original.data;
	o += strspn(o, " \t");
	o += strcspn(o, " \t");
	return o + strspn(o, " \t");
}

/* ---- the table -------------------------------------------------------------------- */

int dispatch_config(struct build *b, struct bstage *sg, const struct df_node *n, bool *cmd_set,
		    cairn_error **err)
{
	struct cfgctx c = {b, sg, n, err};
	const char *kw = n->keyword.data;
	if (!strcmp(kw, "env"))
		return do_env(&c);
	if (!strcmp(kw, "label"))
		return do_label(&c);
	if (!strcmp(kw, "cmd"))
		return do_cmd_entrypoint(&c, false, cmd_set);
	if (!strcmp(kw, "entrypoint"))
		return do_cmd_entrypoint(&c, true, cmd_set);
	if (!strcmp(kw, "healthcheck"))
		return do_healthcheck(&c);
	if (!strcmp(kw, "expose"))
		return do_expose(&c);
	if (!strcmp(kw, "volume"))
		return do_volume(&c);
	if (!strcmp(kw, "user"))
		return one_word(&c, "USER", "User", true, false);
	if (!strcmp(kw, "stopsignal"))
		return one_word(&c, "STOPSIGNAL", "StopSignal", true, false);
	if (!strcmp(kw, "maintainer"))
		return one_word(&c, "MAINTAINER", "author", false, true);
	if (!strcmp(kw, "shell"))
		return do_shell(&c);
	if (!strcmp(kw, "onbuild"))
		return do_onbuild(&c);
	if (!strcmp(kw, "arg"))
		return do_arg(&c);
	if (!strcmp(kw, "workdir"))
		return do_workdir(&c);
	if (!strcmp(kw, "run"))
		return step_run(b, sg, n, err);
	if (!strcmp(kw, "copy") || !strcmp(kw, "add"))
		return step_copy(b, sg, n, kw[0] == 'a', err);
	return build_error(b, n, CAIRN_E_FORMAT, err, "unknown instruction: %s", kw);
}
