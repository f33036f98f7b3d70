/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Running a stage: its base (scratch, a stored image or an earlier
 * stage), ONBUILD triggers of the base, then every instruction through
 * the table below.  Instruction flags are checked against each
 * instruction's list; words are expanded with the stage's state env in
 * exactly the instructions BuildKit expands (dispatch-config.c, step-*.c).
 */
#include <ctype.h>
#include <strings.h>

#include "shell.h"
#include "solve.h"

/* ---- state ------------------------------------------------------------------------ */

void bstate_clear(struct bstate *st)
{
	json_decref(st->image);
	free(st->base_image);
	free(st->layers);
	strv_clear(&st->env);
	for (size_t i = 0; i < st->n_args; i++) {
		free(st->args[i].key);
		free(st->args[i].value);
	}
	free(st->args);
	free(st->platform);
	*st = (struct bstate){0};
}

int bstate_copy(struct bstate *dst, const struct bstate *src)
{
	*dst = (struct bstate){.n_base = src->n_base};
	memcpy(dst->key, src->key, sizeof(dst->key));
	dst->image = json_deep_copy(src->image);
	dst->layers = calloc(src->n_layers + 1, sizeof(*dst->layers));
	dst->args = calloc(src->n_args + 1, sizeof(*dst->args));
	if (!dst->image || !dst->layers || !dst->args)
		goto oom;
	memcpy(dst->layers, src->layers, src->n_layers * sizeof(*dst->layers));
	dst->n_layers = dst->cap_layers = src->n_layers;
	if ((src->base_image && !(dst->base_image = strdup(src->base_image))) ||
	    (src->platform && !(dst->platform = strdup(src->platform))) ||
	    strv_copy(&dst->env, &src->env) < 0)
		goto oom;
	for (size_t i = 0; i < src->n_args; i++, dst->n_args++) {
		dst->args[i].key = strdup(src->args[i].key);
		dst->args[i].value = src->args[i].value ? strdup(src->args[i].value) : NULL;
		if (!dst->args[i].key || (src->args[i].value && !dst->args[i].value)) {
			dst->n_args++;
			goto oom;
		}
	}
	return 0;
oom:
	bstate_clear(dst);
	return -ENOMEM;
}

json_t *bstate_config(struct bstate *st)
{
	json_t *c = json_object_get(st->image, "config");
	if (!json_is_object(c)) {
		c = json_object();
		if (!c || json_object_set_new(st->image, "config", c) < 0)
			return NULL;
	}
	return c;
}

int bstate_push_layer(struct bstate *st, const struct blayer *l)
{
	if (ARRAY_RESERVE(st->layers, st->cap_layers, st->n_layers + 1, 8) < 0)
		return -ENOMEM;
	st->layers[st->n_layers++] = *l;
	json_t *rootfs = json_object_get(st->image, "rootfs");
	json_t *ids = json_object_get(rootfs, "diff_ids");
	_cleanup_free_ char *d = cairn_digest_string(&l->diff_id);
	if (!d || !json_is_array(ids) || json_array_append_new(ids, json_string(d)) < 0)
		return -ENOMEM;
	return 0;
}

/* created < 0: filled in at the end from the neighbouring entries, as
 * BuildKit's exporter does (normalizeLayersAndHistory). */
int history_add(struct build *b, struct bstate *st, const char *created_by, bool empty_layer,
		int64_t created)
{
	json_t *hist = json_object_get(st->image, "history");
	if (!json_is_array(hist)) {
		hist = json_array();
		if (!hist || json_object_set_new(st->image, "history", hist) < 0)
			return -ENOMEM;
	}
	json_t *h = json_pack("{s:s, s:s}", "created_by", created_by, "comment",
			      "buildkit.dockerfile.v0");
	if (!h)
		return -ENOMEM;
	if (b->epoch >= 0)
		created = b->epoch;
	if (created >= 0) {
		char when[32];
		time_rfc3339(created, when);
		json_object_set_new(h, "created", json_string(when));
	}
	if (empty_layer)
		json_object_set_new(h, "empty_layer", json_true());
	return json_array_append_new(hist, h) < 0 ? -ENOMEM : 0;
}

void time_rfc3339(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t) t;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- flags and words ---------------------------------------------------------------- */

int parse_flags(struct build *b, const struct df_node *n, struct flag *flags, size_t n_flags,
		cairn_error **err)
{
	for (size_t i = 0; i < n->n_flags; i++) {
		const char *f = n->flags[i].data + 2;
		size_t len = strcspn(f, "=");
		struct flag *fl = NULL;
		for (size_t k = 0; k < n_flags; k++)
			if (strlen(flags[k].name) == len && strncmp(flags[k].name, f, len) == 0)
				fl = &flags[k];
		if (!fl)
			return build_error(b, n, CAIRN_E_FORMAT, err, "unknown flag: --%.*s",
					   (int) len, f);
		const char *v = f[len] == '=' ? f + len + 1 : "true";
		if (fl->given && !fl->multi)
			return build_error(b, n, CAIRN_E_FORMAT, err,
					   "duplicate flag specified: --%s", fl->name);
		char *nv;
		if (fl->value ? asprintf(&nv, "%s\n%s", fl->value, v) < 0 : !(nv = strdup(v)))
			return -ENOMEM;
		free(fl->value);
		fl->value = nv;
		fl->given = true;
	}
	return 0;
}

void flags_clear(struct flag *flags, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(flags[i].value);
		flags[i].value = NULL;
	}
}

int expand_word(struct build *b, struct bstage *sg, const struct df_node *n, const char *in,
		char **ret, cairn_error **err)
{
	int r = df_shell_word(in, b->escape, sg->st.env.v, ret, err);
	return r < 0 ? build_error_at(b, n, r, err) : 0;
}

/* Go's %q of a []string, as BuildKit's history prints CMD and ENTRYPOINT. */
static void go_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\t': fputs("\\t", f); break;
		case '\r': fputs("\\r", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\x%02x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

char *go_quote_list(json_t *arr)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	fputc('[', f);
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		if (i)
			fputc(' ', f);
		go_quote(f, json_string_value(v) ? json_string_value(v) : "");
	}
	fputc(']', f);
	fclose(f);
	return buf;
}

json_t *json_strv(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* ---- base --------------------------------------------------------------------------- */

static void key_simple(const char *kind, const char *value, uint8_t out[32])
{
	keyhash *k = key_new(NULL, kind);
	key_str(k, "value", value);
	key_finish(k, out);
}

/* The config fields BuildKit keeps (it reads configs into its own struct). */
static json_t *filter_config(json_t *img, const char *platform)
{
	static const char *const top[] = {"author", "architecture", "os", "os.version",
					  "os.features", "variant", "config", "rootfs", "history"};
	static const char *const cfg[] = {"User",	"ExposedPorts", "Env",	       "Entrypoint",
					  "Cmd",	"Volumes",	"WorkingDir",  "Labels",
					  "StopSignal", "ArgsEscaped",	"Healthcheck", "OnBuild",
					  "Shell"};
	json_t *out = json_object();
	for (size_t i = 0; out && i < ARRAY_SIZE(top); i++) {
		json_t *v = json_object_get(img, top[i]);
		if (v && !json_is_null(v))
			json_object_set(out, top[i], v);
	}
	json_t *c = json_object_get(img, "config");
	json_t *nc = json_object();
	for (size_t i = 0; nc && json_is_object(c) && i < ARRAY_SIZE(cfg); i++) {
		json_t *v = json_object_get(c, cfg[i]);
		if (v && !json_is_null(v))
			json_object_set(nc, cfg[i], v);
	}
	if (!out || !nc || json_object_set_new(out, "config", nc) < 0) {
		json_decref(out);
		return NULL;
	}
	(void) platform;
	return out;
}

static json_t *empty_image(const char *platform)
{
	char os[64] = "", arch[64] = "", variant[64] = "";
	sscanf(platform, "%63[^/]/%63[^/]/%63s", os, arch, variant);
	json_t *img = json_pack("{s:s, s:s, s:{s:[s], s:s}, s:{s:s, s:[]}, s:[]}", "architecture",
				arch, "os", os, "config", "Env",
				"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				"WorkingDir", "/", "rootfs", "type", "layers", "diff_ids", "history");
	if (img && *variant)
		json_object_set_new(img, "variant", json_string(variant));
	return img;
}

/* Whether name looks like something a registry could have (not an image id). */
static bool pullable(const char *name)
{
	cairn_ref ref;
	if (cairn_ref_parse(name, &ref, NULL) < 0)
		return false;
	cairn_ref_clear(&ref);
	size_t n = strlen(name);
	bool hex = n >= 12;
	for (size_t i = 0; hex && i < n; i++)
		hex = (name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f');
	return !hex && strncmp(name, "sha256:", 7) != 0;
}

int build_image_open(struct build *b, const char *name, const char *platform,
		     cairn_image **ret, cairn_error **err)
{
	bool again = false;
	if (b->o->pull && pullable(name)) {
		/* --pull: once per name and platform in a build */
		_cleanup_free_ char *k = NULL;
		if (asprintf(&k, "%s\n%s", name, platform ? platform : "") < 0)
			return -ENOMEM;
		pthread_mutex_lock(&b->lock);
		again = !strv_contains(&b->pulled, k);
		int r = again ? strv_push(&b->pulled, k) : 0;
		pthread_mutex_unlock(&b->lock);
		if (r < 0)
			return r;
	}
	int r = again ? CAIRN_E_NOTFOUND : cairn_image_open_platform(b->store, name, platform, ret, err);
	if (r != CAIRN_E_NOTFOUND || !pullable(name))
		return r;
	if (err) {
		cairn_error_free(*err);
		*err = NULL;
	}
	struct cairn_pull_options po = {.platform = platform, .reg = b->o->reg};
	struct cairn_pull_result res = {0};
	progress_note(b->pr, "pulling %s", name);
	r = cairn_image_pull(b->store, name, &po, &res, err);
	if (r >= 0) {
		progress_note(b->pr, "pulled %s (%s): %u blobs fetched, %u already present", name,
			      res.digest, res.fetched, res.present);
		r = cairn_image_open_platform(b->store, res.id, platform, ret, err);
	} else if (!again) {
		cairn_error_prefix(err, "image \"%s\" is not in the local store and could not be pulled",
				   name);
	}
	cairn_pull_result_clear(&res);
	return r;
}

static int init_from_image(struct build *b, struct bstage *sg, const char *platform,
			   cairn_error **err)
{
	cairn_image *img = NULL;
	int r = build_image_open(b, sg->base, sg->platform, &img, err);
	if (r == CAIRN_E_NOTFOUND && !(err && *err))
		return build_error(b, sg->from, r, err,
				   "image \"%s\" is not in the local store (bring it in with "
				   "`cairn pull`, `cairn load`, `cairn import` or `cairn build -t`)",
				   sg->base);
	if (r < 0)
		return build_error_at(b, sg->from, r, err);
	size_t len;
	const char *cfg = cairn_image_config(img, &len);
	json_error_t je;
	_cleanup_json_ json_t *j = json_loadb(cfg, len, 0, &je);
	struct bstate *st = &sg->st;
	if (j)
		st->image = filter_config(j, platform);
	if (!(st->base_image = strdup(cairn_image_id(img))) || !st->image) {
		cairn_image_free(img);
		return -ENOMEM;
	}
	st->n_base = cairn_image_layer_count(img);
	for (size_t i = 0; r >= 0 && i < st->n_base; i++) {
		struct blayer l = {0};
		r = cairn_image_layer(img, i, &l.layer, &l.diff_id);
		if (r >= 0 && ARRAY_RESERVE(st->layers, st->cap_layers, st->n_layers + 1, 8) < 0)
			r = -ENOMEM;
		if (r >= 0)
			st->layers[st->n_layers++] = l;
	}
	key_simple("image", cairn_image_id(img), st->key);
	cairn_image_free(img);
	return r;
}

/* PATH always set (BuildKit); the state env starts as the config's Env. */
static int init_env(struct bstate *st)
{
	json_t *c = bstate_config(st);
	if (!c)
		return -ENOMEM;
	json_t *env = json_object_get(c, "Env");
	if (!json_is_array(env)) {
		env = json_array();
		if (!env || json_object_set_new(c, "Env", env) < 0)
			return -ENOMEM;
	}
	size_t i;
	json_t *v;
	bool path = false;
	json_array_foreach(env, i, v) {
		const char *s = json_string_value(v);
		if (!s)
			continue;
		path |= strncmp(s, "PATH=", 5) == 0;
		if (strv_push(&st->env, s) < 0)
			return -ENOMEM;
	}
	if (!path) {
		const char *p = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
		if (json_array_append_new(env, json_string(p)) < 0 || strv_push(&st->env, p) < 0)
			return -ENOMEM;
	}
	return 0;
}

int stage_init(struct build *b, struct bstage *sg, cairn_error **err)
{
	struct bstate *st = &sg->st;
	const char *platform = sg->platform ? sg->platform : b->platform;
	int r;
	if (sg->base_stage) {
		/* its OnBuild triggers are this stage's to run (take_triggers) */
		return bstate_copy(st, &sg->base_stage->st);
	}
	if (strcasecmp(sg->base, "scratch") == 0) {
		if (!(st->image = empty_image(platform)))
			return -ENOMEM;
		key_simple("scratch", platform, st->key);
	} else if ((r = init_from_image(b, sg, platform, err)) < 0) {
		return r;
	}
	if (!(st->platform = strdup(platform)))
		return -ENOMEM;
	json_object_del(st->image, "created");
	return init_env(st);
}

/* ---- the stage loop ------------------------------------------------------------------- */

/* ONBUILD triggers the base recorded (config OnBuild): taken out of the
 * config and parsed, to run before the stage's own instructions. */
static int take_triggers(struct build *b, struct bstage *sg, struct df_ast ***ret_asts,
			 size_t *ret_n, cairn_error **err)
{
	json_t *cfg = bstate_config(&sg->st);
	json_t *ob = json_object_get(cfg, "OnBuild");
	*ret_asts = NULL;
	*ret_n = 0;
	if (!json_is_array(ob) || json_array_size(ob) == 0) {
		json_object_del(cfg, "OnBuild");
		return 0;
	}
	size_t n = json_array_size(ob);
	struct df_ast **asts = calloc(n, sizeof(*asts));
	if (!asts)
		return -ENOMEM;
	*ret_asts = asts;
	for (size_t i = 0; i < n; i++) {
		const char *t = json_string_value(json_array_get(ob, i));
		int r = df_parse(t ? t : "", t ? strlen(t) : 0, b->filename, &asts[i], err);
		if (r < 0)
			return build_error_at(b, sg->from, r, err);
		++*ret_n;
		if (asts[i]->n_nodes != 1)
			return build_error(b, sg->from, CAIRN_E_FORMAT, err,
					   "onbuild trigger should be a single expression");
		asts[i]->nodes[0].start_line = sg->from->start_line;
		asts[i]->nodes[0].end_line = sg->from->end_line;
	}
	json_object_del(cfg, "OnBuild");
	return 0;
}

static int stage_from_progress(struct build *b, struct bstage *sg)
{
	if (sg->base_stage || strcasecmp(sg->base, "scratch") == 0)
		return 0;
	_cleanup_free_ char *title = NULL;
	cairn_ref ref;
	_cleanup_free_ char *name = NULL;
	if (cairn_ref_parse(sg->base, &ref, NULL) >= 0) {
		name = cairn_ref_string(&ref);
		cairn_ref_clear(&ref);
	}
	++sg->done_steps;
	if ((b->n_stages > 1 || sg->name)
		    ? asprintf(&title, "[%s %u/%u] FROM %s", sg->display, sg->done_steps, sg->total,
			       name ? name : sg->base) < 0
		    : asprintf(&title, "[%u/%u] FROM %s", sg->done_steps, sg->total,
			       name ? name : sg->base) < 0)
		return -ENOMEM;
	unsigned v = progress_start(b->pr, title);
	progress_done(b->pr, v, 0);
	return 0;
}

int dispatch_stage(struct build *b, struct bstage *sg, cairn_error **err)
{
	if (sg->built)
		return 0;
	int r = 0;
	if (sg->base_stage)
		r = dispatch_stage(b, sg->base_stage, err);
	for (size_t i = 0; r >= 0 && i < sg->n_deps; i++)
		r = dispatch_stage(b, sg->deps[i], err);
	if (r >= 0)
		r = stage_init(b, sg, err);
	if (r >= 0)
		r = stage_from_progress(b, sg);
	struct df_ast **trig = NULL;
	size_t n_trig = 0;
	if (r >= 0)
		r = take_triggers(b, sg, &trig, &n_trig, err);
	sg->total += (unsigned) n_trig;
	bool cmd_set = false;
	for (size_t i = 0; r >= 0 && i < n_trig; i++)
		r = dispatch_config(b, sg, &trig[i]->nodes[0], &cmd_set, err);
	for (size_t i = 0; i < n_trig; i++)
		df_ast_free(trig[i]);
	free(trig);
	for (size_t i = 0; r >= 0 && i < sg->n_cmds; i++)
		r = dispatch_config(b, sg, sg->cmds[i], &cmd_set, err);
	return r;
}
