/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cairn build: `docker buildx build`'s flags, onto cairn_build().
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cairn/build.h>
#include <cairn/image.h>

#include "cli.h"
#include "util.h"

struct list {
	const char **v;
	size_t n;
};

static int list_add(struct list *l, const char *s)
{
	const char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	v[l->n++] = s;
	return 0;
}

static int parse_progress(const char *s, cairn_progress_mode *ret)
{
	static const struct {
		const char *name;
		cairn_progress_mode m;
	} modes[] = {{"auto", CAIRN_PROGRESS_AUTO},	  {"plain", CAIRN_PROGRESS_PLAIN},
		     {"tty", CAIRN_PROGRESS_TTY},	  {"rawjson", CAIRN_PROGRESS_RAWJSON},
		     {"quiet", CAIRN_PROGRESS_QUIET}};
	for (size_t i = 0; i < ARRAY_SIZE(modes); i++)
		if (!strcmp(s, modes[i].name)) {
			*ret = modes[i].m;
			return 0;
		}
	return -EINVAL;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	if (!f)
		return -errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -errno;
}

/* buildx's --metadata-file keys */
static int write_metadata(cairn_store *s, const char *path, const char *id,
			  const struct cairn_build_options *o)
{
	_cleanup_free_ char *inspect = NULL;
	json_t *digest = NULL;
	json_error_t je;
	json_t *j = cairn_image_inspect_json(s, id, &inspect, NULL) >= 0
			? json_loads(inspect, 0, &je)
			: NULL;
	if (j)
		digest = json_object_get(j, "Digest");
	json_t *m = json_pack("{s:s}", "containerimage.config.digest", id);
	if (m && digest)
		json_object_set(m, "containerimage.digest", digest);
	if (m && o->n_tags) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);
		for (size_t i = 0; f && i < o->n_tags; i++) {
			cairn_ref ref;
			_cleanup_free_ char *full = NULL;
			if (cairn_ref_parse(o->tags[i], &ref, NULL) >= 0) {
				full = cairn_ref_string(&ref);
				cairn_ref_clear(&ref);
			}
			fprintf(f, "%s%s", i ? "," : "", full ? full : o->tags[i]);
		}
		if (f)
			fclose(f);
		json_object_set_new(m, "image.name", json_string(buf ? buf : ""));
		free(buf);
	}
	json_decref(j);
	_cleanup_free_ char *text = m ? json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(m);
	return text ? write_text(path, text) : -ENOMEM;
}

struct build_cli {
	struct cairn_build_options o;
	struct list tags, args, labels, nocf, outputs_s, secrets_s;
	const char *iidfile, *metadata;
	bool quiet;
	struct cli_reg reg;
};

static int build_parse(struct cli *cli, struct build_cli *b, int argc, char **argv)
{
	enum { O_TARGET = 256, O_BUILD_ARG, O_NO_CACHE, O_NO_CACHE_FILTER, O_LABEL, O_NETWORK,
	       O_SECRET, O_PROGRESS, O_IIDFILE, O_METADATA, O_PLATFORM, O_PULL, O_LOAD, O_PUSH };
	static const struct option opts[] = {
	    {"file", required_argument, NULL, 'f'},
	    {"tag", required_argument, NULL, 't'},
	    {"target", required_argument, NULL, O_TARGET},
	    {"build-arg", required_argument, NULL, O_BUILD_ARG},
	    {"no-cache", no_argument, NULL, O_NO_CACHE},
	    {"no-cache-filter", required_argument, NULL, O_NO_CACHE_FILTER},
	    {"label", required_argument, NULL, O_LABEL},
	    {"network", required_argument, NULL, O_NETWORK},
	    {"secret", required_argument, NULL, O_SECRET},
	    {"progress", required_argument, NULL, O_PROGRESS},
	    {"output", required_argument, NULL, 'o'},
	    {"iidfile", required_argument, NULL, O_IIDFILE},
	    {"metadata-file", required_argument, NULL, O_METADATA},
	    {"platform", required_argument, NULL, O_PLATFORM},
	    {"pull", no_argument, NULL, O_PULL},
	    {"load", no_argument, NULL, O_LOAD},
	    {"push", no_argument, NULL, O_PUSH},
	    {"tls-verify", optional_argument, NULL, CLI_OPT_TLS_VERIFY},
	    {"insecure-registry", required_argument, NULL, CLI_OPT_INSECURE},
	    {"creds", required_argument, NULL, CLI_OPT_CREDS},
	    {"authfile", required_argument, NULL, CLI_OPT_AUTHFILE},
	    {"cert-dir", required_argument, NULL, CLI_OPT_CERT_DIR},
	    {"quiet", no_argument, NULL, 'q'},
	    {},
	};
	int c, r = 0;
	while (r >= 0 && (c = getopt_long(argc, argv, ":f:t:o:q", opts, NULL)) != -1) {
		switch (c) {
		case 'f': b->o.dockerfile = optarg; break;
		case 't': r = list_add(&b->tags, optarg); break;
		case O_TARGET: b->o.target = optarg; break;
		case O_BUILD_ARG: r = list_add(&b->args, optarg); break;
		case O_NO_CACHE: b->o.no_cache = true; break;
		case O_NO_CACHE_FILTER: r = list_add(&b->nocf, optarg); break;
		case O_LABEL: r = list_add(&b->labels, optarg); break;
		case O_NETWORK: b->o.network = optarg; break;
		case O_SECRET: r = list_add(&b->secrets_s, optarg); break;
		case O_PROGRESS:
			if (parse_progress(optarg, &b->o.progress) < 0)
				return cli_usage(cli, "--progress: auto, plain, tty, rawjson or quiet");
			break;
		case 'o': r = list_add(&b->outputs_s, optarg); break;
		case O_IIDFILE: b->iidfile = optarg; break;
		case O_METADATA: b->metadata = optarg; break;
		case O_PLATFORM:
			if (strchr(optarg, ','))
				return cli_usage(cli, "--platform: one platform per build for now");
			b->o.platform = optarg;
			break;
		case O_PULL: b->o.pull = true; break;
		case O_PUSH: b->o.push = true; break;
		case O_LOAD: /* the image always goes into the store */
			break;
		case 'q': b->quiet = true; break;
		default: {
			int k = cli_reg_option(&b->reg, c, optarg);
			if (k < 0)
				return cli_usage(cli, "invalid value \"%s\" for a registry option",
						 optarg ? optarg : "");
			if (k == 0)
				return cli_bad_option(cli, c, argv);
			b->o.reg = &b->reg.o;
		}
		}
	}
	if (r < 0)
		return cli_fail(cli, NULL, r);
	if (argc - optind != 1)
		return cli_usage(cli, "expects one CONTEXT directory");
	if (b->o.network && strcmp(b->o.network, "default") && strcmp(b->o.network, "none") &&
	    strcmp(b->o.network, "host"))
		return cli_usage(cli, "--network: default, none or host");
	b->o.context = argv[optind];
	if (b->quiet)
		b->o.progress = CAIRN_PROGRESS_QUIET;
	return 0;
}

static void build_cli_clear(struct build_cli *b)
{
	for (size_t i = 0; i < b->o.n_outputs; i++)
		cairn_build_output_clear((struct cairn_build_output *) &b->o.outputs[i]);
	free((void *) b->o.outputs);
	for (size_t i = 0; i < b->o.n_secrets; i++)
		cairn_build_secret_clear((struct cairn_build_secret *) &b->o.secrets[i]);
	free((void *) b->o.secrets);
	free(b->tags.v);
	free(b->args.v);
	free(b->labels.v);
	free(b->nocf.v);
	free(b->outputs_s.v);
	free(b->secrets_s.v);
}

static int build_specs(struct build_cli *b, cairn_error **err)
{
	struct cairn_build_output *outs = calloc(b->outputs_s.n + 1, sizeof(*outs));
	struct cairn_build_secret *secs = calloc(b->secrets_s.n + 1, sizeof(*secs));
	b->o.outputs = outs;
	b->o.secrets = secs;
	if (!outs || !secs)
		return -ENOMEM;
	for (size_t i = 0; i < b->outputs_s.n; i++, b->o.n_outputs++) {
		int r = cairn_build_output_parse(b->outputs_s.v[i], &outs[i], err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < b->secrets_s.n; i++, b->o.n_secrets++) {
		int r = cairn_build_secret_parse(b->secrets_s.v[i], &secs[i], err);
		if (r < 0)
			return r;
	}
	b->o.tags = b->tags.v;
	b->o.n_tags = b->tags.n;
	b->o.build_args = b->args.v;
	b->o.n_build_args = b->args.n;
	b->o.labels = b->labels.v;
	b->o.n_labels = b->labels.n;
	b->o.no_cache_filter = b->nocf.v;
	b->o.n_no_cache_filter = b->nocf.n;
	/* SOURCE_DATE_EPOCH: the build arg wins over the environment (buildx passes the env) */
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	for (size_t i = 0; i < b->args.n; i++)
		if (!strncmp(b->args.v[i], "SOURCE_DATE_EPOCH=", 18))
			sde = b->args.v[i] + 18;
	b->o.source_date_epoch = -1;
	if (sde && *sde) {
		char *end;
		long long v = strtoll(sde, &end, 10);
		if (*end || v < 0)
			return cairn_error_set(err, -EINVAL, "SOURCE_DATE_EPOCH=%s: not a number of seconds",
					       sde);
		b->o.source_date_epoch = v;
	}
	return 0;
}

int cmd_build(struct cli *cli, int argc, char **argv)
{
	struct build_cli b = {0};
	int r = build_parse(cli, &b, argc, argv);
	if (r != 0) {
		build_cli_clear(&b);
		return r;
	}
	_cleanup_error_ cairn_error *err = NULL;
	cairn_store *s = NULL;
	struct cairn_build_result res = {0};
	r = build_specs(&b, &err);
	if (r >= 0 && !(s = cli_store(cli))) {
		build_cli_clear(&b);
		return 1;
	}
	b.o.reg = &b.reg.o;
	if (r >= 0)
		r = cairn_build(s, &b.o, &res, &err);
	if (r >= 0 && b.iidfile && (r = write_text(b.iidfile, res.image_id)) < 0)
		cairn_error_set(&err, r, "--iidfile %s: %s", b.iidfile, strerror(-r));
	if (r >= 0 && b.metadata && (r = write_metadata(s, b.metadata, res.image_id, &b.o)) < 0)
		cairn_error_set(&err, r, "--metadata-file %s: %s", b.metadata, strerror(-r));
	if (r >= 0 && b.quiet)
		printf("%s\n", res.image_id);
	cairn_build_result_clear(&res);
	build_cli_clear(&b);
	return r < 0 ? cli_fail(cli, err, r) : 0;
}
