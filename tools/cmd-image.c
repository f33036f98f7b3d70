/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Image verbs: import, load, save, images, inspect, tag, rmi. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <unistd.h>

#include <cairn/image.h>

#include "cli.h"
#include "util.h"

int cmd_import(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"platform", required_argument, NULL, 'p'},
	    {"message", required_argument, NULL, 'm'},
	    {},
	};
	struct cairn_import_options o = {0};
	int c;
	while ((c = getopt_long(argc, argv, ":m:", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.platform = optarg;
			break;
		case 'm':
			o.message = optarg;
			break;
		default:
			return cli_bad_option(cli, c, argv);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage(cli, "expects FILE|- [NAME[:TAG]]");
	const char *file = argv[optind];
	o.name = argc - optind == 2 ? argv[optind + 1] : NULL;
	cairn_store *s = cli_store(cli);
	if (!s)
		return 1;
	_cleanup_error_ cairn_error *err = NULL;
	_cleanup_free_ char *id = NULL;
	int r = cairn_image_import_tar(s, file, &o, &id, &err);
	if (r < 0)
		return cli_fail(cli, err, r);
	printf("%s\n", id);
	return 0;
}

struct load_ctx {
	bool quiet;
	unsigned n;
};

static void on_loaded(const char *name, const char *id, void *userdata)
{
	struct load_ctx *ctx = userdata;
	ctx->n++;
	if (ctx->quiet)
		return;
	if (name)
		printf("Loaded image: %s\n", name);
	else
		printf("Loaded image ID: %s\n", id);
}

int cmd_load(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"input", required_argument, NULL, 'i'},
	    {"quiet", no_argument, NULL, 'q'},
	    {},
	};
	const char *input = "-";
	struct load_ctx ctx = {0};
	int c;
	while ((c = getopt_long(argc, argv, ":i:q", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			input = optarg;
			break;
		case 'q':
			ctx.quiet = true;
			break;
		default:
			return cli_bad_option(cli, c, argv);
		}
	}
	if (optind != argc)
		return cli_usage(cli, "unexpected argument \"%s\"", argv[optind]);
	if (strcmp(input, "-") == 0 && isatty(STDIN_FILENO))
		return cli_usage(cli, "no input: give -i PATH or pipe an archive to stdin");
	cairn_store *s = cli_store(cli);
	if (!s)
		return 1;
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_image_load(s, input, on_loaded, &ctx, &err);
	if (r < 0)
		return cli_fail(cli, err, r);
	return 0;
}

int cmd_save(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"format", required_argument, NULL, 'f'},
	    {"compression", required_argument, NULL, 'c'},
	    {},
	};
	struct cairn_save_options o = {
	    .format = CAIRN_SAVE_OCI_ARCHIVE, .compression = -1, .source_date_epoch = -1};
	const char *output = NULL;
	int c;
	while ((c = getopt_long(argc, argv, ":o:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			output = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "oci") == 0 || strcmp(optarg, "oci-archive") == 0)
				o.format = CAIRN_SAVE_OCI_ARCHIVE;
			else if (strcmp(optarg, "oci-dir") == 0)
				o.format = CAIRN_SAVE_OCI_DIR;
			else if (strcmp(optarg, "docker") == 0 ||
				 strcmp(optarg, "docker-archive") == 0)
				o.format = CAIRN_SAVE_DOCKER;
			else
				return cli_usage(
				    cli, "unknown format \"%s\" (oci, oci-dir, docker)", optarg);
			break;
		case 'c': {
			cairn_compression comp;
			if (strcmp(optarg, "uncompressed") == 0)
				comp = CAIRN_COMPRESS_NONE;
			else if (cairn_compression_parse(optarg, &comp) < 0 ||
				 (comp != CAIRN_COMPRESS_NONE && comp != CAIRN_COMPRESS_GZIP &&
				  comp != CAIRN_COMPRESS_ZSTD))
				return cli_usage(
				    cli, "unknown compression \"%s\" (gzip, zstd, none)", optarg);
			o.compression = (int) comp;
			break;
		}
		default:
			return cli_bad_option(cli, c, argv);
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "expects at least one image");
	if (!output) {
		if (o.format == CAIRN_SAVE_OCI_DIR)
			return cli_usage(cli, "--format oci-dir needs -o DIR");
		if (isatty(STDOUT_FILENO))
			return cli_usage(
			    cli, "refusing to write an archive to a terminal; give -o FILE");
		output = "-";
	}
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	if (sde && *sde) {
		char *end;
		long long v = strtoll(sde, &end, 10);
		if (*end || v < 0)
			return cli_usage(cli, "SOURCE_DATE_EPOCH=\"%s\" is not a number of seconds",
					 sde);
		o.source_date_epoch = v;
	}
	cairn_store *s = cli_store(cli);
	if (!s)
		return 1;
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_image_save(s, (const char *const *) argv + optind, (size_t) (argc - optind),
				 output, &o, &err);
	if (r < 0)
		return cli_fail(cli, err, r);
	return 0;
}

struct images_ctx {
	bool json, quiet, no_trunc;
	json_t *arr;
};

static int print_image(const struct cairn_image_summary *img, void *userdata)
{
	struct images_ctx *ctx = userdata;
	const char *hex = strncmp(img->id, "sha256:", 7) == 0 ? img->id + 7 : img->id;
	char shortid[13];
	snprintf(shortid, sizeof(shortid), "%.12s", hex);
	const char *idcol = ctx->no_trunc ? img->id : shortid;

	if (ctx->json) {
		json_t *names = json_array();
		for (char **n = img->names; n && *n; n++)
			json_array_append_new(names, json_string(*n));
		json_array_append_new(ctx->arr, json_pack("{s:s, s:o, s:I, s:I, s:s, s:i}", "Id",
							  img->id, "Names", names, "Created",
							  (json_int_t) img->created, "Size",
							  (json_int_t) img->size, "Platform",
							  img->platform ? img->platform : "",
							  "Layers", (int) img->layers));
		return 0;
	}
	if (ctx->quiet) {
		printf("%s\n", idcol);
		return 0;
	}
	char size[32], ago[64];
	cli_format_size(size, sizeof(size), (double) img->size);
	cli_format_ago(ago, sizeof(ago), img->created);
	if (!img->names || !img->names[0]) {
		printf("%-40s %-12s %-14s %-24s %s\n", "<none>", "<none>", idcol, ago, size);
		return 0;
	}
	for (char **n = img->names; *n; n++) {
		/* Split "repo:tag" at the last ':' after the last '/'. */
		const char *slash = strrchr(*n, '/');
		const char *colon = strrchr(slash ? slash : *n, ':');
		const char *at = strchr(*n, '@');
		int replen = colon ? (int) (colon - *n) : (int) strlen(*n);
		if (at && (!colon || at < colon))
			replen = (int) (at - *n);
		printf("%-40.*s %-12s %-14s %-24s %s\n", replen, *n,
		       colon && (!at || colon < at) ? colon + 1 : "<none>", idcol, ago, size);
	}
	return 0;
}

int cmd_images(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"no-trunc", no_argument, NULL, 'n'},
	    {},
	};
	struct images_ctx ctx = {0};
	int c;
	while ((c = getopt_long(argc, argv, ":q", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			ctx.json = true;
			break;
		case 'q':
			ctx.quiet = true;
			break;
		case 'n':
			ctx.no_trunc = true;
			break;
		default:
			return cli_bad_option(cli, c, argv);
		}
	}
	if (optind != argc)
		return cli_usage(cli, "unexpected argument \"%s\"", argv[optind]);
	cairn_store *s = cli_store(cli);
	if (!s)
		return 1;
	if (ctx.json)
		ctx.arr = json_array();
	else if (!ctx.quiet)
		printf("%-40s %-12s %-14s %-24s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED",
		       "SIZE");
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_image_list(s, print_image, &ctx, &err);
	if (r < 0) {
		json_decref(ctx.arr);
		return cli_fail(cli, err, r);
	}
	if (ctx.json) {
		char *out = json_dumps(ctx.arr, JSON_INDENT(2));
		printf("%s\n", out ? out : "[]");
		free(out);
		json_decref(ctx.arr);
	}
	return 0;
}

int cmd_inspect(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {},
	};
	int c;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c != 'j')
			return cli_bad_option(cli, c, argv);
	}
	if (argc - optind < 1)
		return cli_usage(cli, "expects at least one image");
	cairn_store *s = cli_store(cli);
	if (!s)
		return 1;
	/* Like docker inspect: a JSON array with one object per argument. */
	printf("[");
	for (int i = optind; i < argc; i++) {
		_cleanup_error_ cairn_error *err = NULL;
		_cleanup_free_ char *json = NULL;
		int r = cairn_image_inspect_json(s, argv[i], &json, &err);
		if (r < 0) {
			printf("]\n");
			return cli_fail(cli, err, r);
		}
		printf("%s%s", i > optind ? ",\n" : "\n", json);
	}
	printf("\n]\n");
	return 0;
}

int cmd_tag(struct cli *cli, int argc, char **argv)
{
	int c = getopt_long(argc, argv, ":", (struct option[]){{}}, NULL);
	if (c != -1)
		return cli_bad_option(cli, c, argv);
	if (argc - optind != 2)
		return cli_usage(cli, "expects SOURCE TARGET");
	cairn_store *s = cli_store(cli);
	if (!s)
		return 1;
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_image_tag(s, argv[optind], argv[optind + 1], &err);
	return r < 0 ? cli_fail(cli, err, r) : 0;
}

int cmd_rmi(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'f'},
	    {},
	};
	bool force = false;
	int c;
	while ((c = getopt_long(argc, argv, ":f", opts, NULL)) != -1) {
		if (c != 'f')
			return cli_bad_option(cli, c, argv);
		force = true;
	}
	if (optind >= argc)
		return cli_usage(cli, "expects at least one image");
	cairn_store *s = cli_store(cli);
	if (!s)
		return 1;
	int ret = 0;
	for (int i = optind; i < argc; i++) {
		_cleanup_error_ cairn_error *err = NULL;
		_cleanup_free_ char *deleted = NULL;
		int r = cairn_image_remove(s, argv[i], force, &deleted, &err);
		if (r < 0) {
			ret = cli_fail(cli, err, r);
			continue;
		}
		printf("Untagged: %s\n", argv[i]);
		if (deleted)
			printf("Deleted: %s\n", deleted);
	}
	return ret;
}
