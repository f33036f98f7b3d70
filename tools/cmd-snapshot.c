/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* `cairn snapshot ...`: containerd's snapshotter operations on the CLI. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <time.h>

#include <cairn/snapshot.h>

#include "cli.h"
#include "util.h"

struct sub {
	const char *name;
	int (*run)(struct cli *cli, cairn_store *s, bool json, int argc, char **argv);
	int min, max; /* positional arguments */
	const char *args;
};

static void print_json(json_t *j)
{
	_cleanup_free_ char *out = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	printf("%s\n", out ? out : "null");
	json_decref(j);
}

static int sub_prepare(struct cli *cli, cairn_store *s, bool json, int argc, char **argv)
{
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_snapshot_prepare(s, argv[0], argc > 1 ? argv[1] : NULL, &err);
	return r < 0 ? cli_fail(cli, err, r) : 0;
}

static int sub_view(struct cli *cli, cairn_store *s, bool json, int argc, char **argv)
{
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_snapshot_view(s, argv[0], argc > 1 ? argv[1] : NULL, &err);
	return r < 0 ? cli_fail(cli, err, r) : 0;
}

static int sub_mounts(struct cli *cli, cairn_store *s, bool json, int argc, char **argv)
{
	_cleanup_error_ cairn_error *err = NULL;
	_cleanup_free_ char *dir = NULL;
	struct cairn_snapshot_info info = {0};
	int r = cairn_snapshot_mounts(s, argv[0], &dir, &err);
	if (r >= 0)
		r = cairn_snapshot_stat(s, argv[0], &info, &err);
	if (r < 0)
		return cli_fail(cli, err, r);
	if (json) /* as containerd's Mounts: bind the served directory */
		print_json(json_pack("[{s:s, s:s, s:[s,s]}]", "type", "bind", "source", dir, "options",
				     "rbind", info.kind == CAIRN_SNAPSHOT_VIEW ? "ro" : "rw"));
	else
		printf("%s\n", dir);
	cairn_snapshot_info_clear(&info);
	return 0;
}

static int sub_unmount(struct cli *cli, cairn_store *s, bool json, int argc, char **argv)
{
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_snapshot_unmount(s, argv[0], &err);
	return r < 0 ? cli_fail(cli, err, r) : 0;
}

static int sub_commit(struct cli *cli, cairn_store *s, bool json, int argc, char **argv)
{
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_snapshot_commit(s, argv[0], argv[1], &err);
	return r < 0 ? cli_fail(cli, err, r) : 0;
}

static int sub_remove(struct cli *cli, cairn_store *s, bool json, int argc, char **argv)
{
	int ret = 0;
	for (int i = 0; i < argc; i++) {
		_cleanup_error_ cairn_error *err = NULL;
		int r = cairn_snapshot_remove(s, argv[i], &err);
		if (r < 0)
			ret = cli_fail(cli, err, r);
	}
	return ret;
}

static json_t *info_json(const struct cairn_snapshot_info *i)
{
	char created[32], updated[32];
	struct tm tm;
	time_t c = (time_t) i->created, u = (time_t) i->updated;
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&c, &tm));
	strftime(updated, sizeof(updated), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&u, &tm));
	return json_pack("{s:s, s:s?, s:s, s:s?, s:s, s:s, s:I, s:b, s:s?}", "Name", i->key, "Parent",
			 i->parent, "Kind", cairn_snapshot_kind_name(i->kind), "Image", i->image,
			 "Created", created, "Updated", updated, "Layers", (json_int_t) i->layers,
			 "Mounted", i->mounted, "Mountpoint", i->mountpoint);
}

struct ls_ctx {
	bool json;
	json_t *arr;
};

static int ls_one(const struct cairn_snapshot_info *i, void *userdata)
{
	struct ls_ctx *ctx = userdata;
	if (ctx->json)
		json_array_append_new(ctx->arr, info_json(i));
	else
		printf("%-30s %-30s %s\n", i->key, i->parent ? i->parent : i->image ? i->image : "",
		       cairn_snapshot_kind_name(i->kind));
	return 0;
}

static int sub_ls(struct cli *cli, cairn_store *s, bool json, int argc, char **argv)
{
	struct ls_ctx ctx = {.json = json, .arr = json ? json_array() : NULL};
	if (!json)
		printf("%-30s %-30s %s\n", "KEY", "PARENT", "KIND");
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_snapshot_walk(s, ls_one, &ctx, &err);
	if (r < 0) {
		json_decref(ctx.arr);
		return cli_fail(cli, err, r);
	}
	if (json)
		print_json(ctx.arr);
	return 0;
}

static int sub_stat(struct cli *cli, cairn_store *s, bool json, int argc, char **argv)
{
	_cleanup_error_ cairn_error *err = NULL;
	struct cairn_snapshot_info i;
	int r = cairn_snapshot_stat(s, argv[0], &i, &err);
	if (r < 0)
		return cli_fail(cli, err, r);
	print_json(info_json(&i));
	cairn_snapshot_info_clear(&i);
	return 0;
}

static int sub_usage(struct cli *cli, cairn_store *s, bool json, int argc, char **argv)
{
	_cleanup_error_ cairn_error *err = NULL;
	struct cairn_snapshot_usage u;
	int r = cairn_snapshot_usage(s, argv[0], &u, &err);
	if (r < 0)
		return cli_fail(cli, err, r);
	if (json) {
		print_json(json_pack("{s:s, s:I, s:I}", "Key", argv[0], "Size", (json_int_t) u.size,
				     "Inodes", (json_int_t) u.inodes));
	} else {
		char size[32];
		cli_format_size(size, sizeof(size), (double) u.size);
		printf("%-30s %-10s %s\n%-30s %-10s %llu\n", "KEY", "SIZE", "INODES", argv[0], size,
		       (unsigned long long) u.inodes);
	}
	return 0;
}

static int sub_diff(struct cli *cli, cairn_store *s, bool json, int argc, char **argv)
{
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_snapshot_diff(s, argv[0], argv[1], &err);
	return r < 0 ? cli_fail(cli, err, r) : 0;
}

static int sub_apply(struct cli *cli, cairn_store *s, bool json, int argc, char **argv)
{
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_snapshot_apply(s, argv[0], argv[1], &err);
	return r < 0 ? cli_fail(cli, err, r) : 0;
}

static const struct sub subs[] = {
    {"prepare", sub_prepare, 1, 2, "KEY [PARENT]"},
    {"view", sub_view, 1, 2, "KEY [PARENT]"},
    {"mounts", sub_mounts, 1, 1, "[--json] KEY"},
    {"unmount", sub_unmount, 1, 1, "KEY"},
    {"commit", sub_commit, 2, 2, "NAME KEY"},
    {"remove", sub_remove, 1, 1000, "KEY..."},
    {"rm", sub_remove, 1, 1000, "KEY..."},
    {"ls", sub_ls, 0, 0, "[--json]"},
    {"stat", sub_stat, 1, 1, "KEY"},
    {"usage", sub_usage, 1, 1, "[--json] KEY"},
    {"diff", sub_diff, 2, 2, "KEY -o LAYER.tar"},
    {"apply", sub_apply, 2, 2, "KEY LAYER.tar"},
};

int cmd_snapshot(struct cli *cli, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage(cli, "expects a command: prepare, view, mounts, unmount, commit, "
				      "remove, ls, stat, usage, diff, apply");
	const struct sub *sub = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(subs); i++)
		if (strcmp(subs[i].name, argv[1]) == 0)
			sub = &subs[i];
	if (!sub)
		return cli_usage(cli, "unknown command \"%s\"", argv[1]);
	/* --json may come anywhere, diff's -o FILE too; the rest is positional */
	bool json = false;
	const char *out = NULL, *bad = NULL;
	int n = 0;
	char **args = calloc((size_t) argc + 1, sizeof(*args));
	if (!args)
		return cli_fail(cli, NULL, -ENOMEM);
	for (int i = 2; i < argc; i++) {
		bool is_out = strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0;
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (is_out && sub->run == sub_diff && i + 1 < argc)
			out = argv[++i];
		else if (argv[i][0] == '-' && argv[i][1] && !bad)
			bad = argv[i];
		else
			args[n++] = argv[i];
	}
	if (out)
		args[n++] = (char *) out;
	int r;
	if (bad)
		r = cli_usage(cli, "unknown option \"%s\"", bad);
	else if (n < sub->min || n > sub->max || (sub->run == sub_diff && !out))
		r = cli_usage(cli, "snapshot %s expects %s", sub->name, sub->args);
	else {
		cairn_store *s = cli_store(cli);
		r = s ? sub->run(cli, s, json, n, args) : 1;
	}
	free(args);
	return r;
}
