/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Workspace verbs: mount, mounts, commit, diff, umount. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include <cairn/snapshot.h>

#include "cli.h"
#include "util.h"

int cmd_mount(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ro", no_argument, NULL, 'r'},
	    {"read-only", no_argument, NULL, 'r'},
	    {},
	};
	struct cairn_mount_options o = {0};
	int c;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c != 'r')
			return cli_bad_option(cli, c, argv);
		o.readonly = true;
	}
	if (argc - optind != 2)
		return cli_usage(cli, "expects IMAGE DIR");
	const char *root = cli_root(cli);
	if (!root)
		return 1;
	_cleanup_error_ cairn_error *err = NULL;
	const char *dir = argv[optind + 1];
	int r = cairn_workspace_mount(root, argv[optind], dir, &o, &err);
	if (r < 0)
		return cli_fail(cli, err, r);
	_cleanup_free_ char *abs = realpath(dir, NULL);
	printf("%s\n", abs ? abs : dir);
	return 0;
}

struct mounts_ctx {
	bool json, quiet;
	json_t *arr;
};

static int print_mount(const struct cairn_mount_info *m, void *userdata)
{
	struct mounts_ctx *ctx = userdata;
	if (ctx->json) {
		json_array_append_new(
		    ctx->arr, json_pack("{s:s, s:s, s:s?, s:s?, s:i, s:b, s:b}", "dir", m->dir,
					"image", m->image ? m->image : "scratch", "image_id",
					m->image_id, "snapshot", m->snapshot, "pid", (int) m->pid,
					"readonly", m->readonly, "stale", m->stale));
	} else if (ctx->quiet) {
		printf("%s\n", m->dir);
	} else {
		printf("%-40s %-30s %-8d %s%s\n", m->dir,
		       m->snapshot ? m->snapshot : m->image ? m->image : "scratch", (int) m->pid,
		       m->readonly ? "ro" : "rw", m->stale ? " (stale: daemon gone)" : "");
	}
	return 0;
}

int cmd_mounts(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"quiet", no_argument, NULL, 'q'},
	    {},
	};
	struct mounts_ctx ctx = {0};
	int c;
	while ((c = getopt_long(argc, argv, ":q", opts, NULL)) != -1) {
		if (c == 'j')
			ctx.json = true;
		else if (c == 'q')
			ctx.quiet = true;
		else
			return cli_bad_option(cli, c, argv);
	}
	if (optind != argc)
		return cli_usage(cli, "unexpected argument \"%s\"", argv[optind]);
	const char *root = cli_root(cli);
	if (!root)
		return 1;
	if (ctx.json)
		ctx.arr = json_array();
	else if (!ctx.quiet)
		printf("%-40s %-30s %-8s %s\n", "DIRECTORY", "IMAGE", "PID", "MODE");
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_workspace_list(root, print_mount, &ctx, &err);
	if (r >= 0 && ctx.json) {
		_cleanup_free_ char *out = json_dumps(ctx.arr, JSON_INDENT(2));
		printf("%s\n", out ? out : "[]");
	}
	json_decref(ctx.arr);
	return r < 0 ? cli_fail(cli, err, r) : 0;
}

int cmd_commit(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"quiet", no_argument, NULL, 'q'},
	    {},
	};
	bool quiet = false;
	int c;
	while ((c = getopt_long(argc, argv, ":q", opts, NULL)) != -1) {
		if (c != 'q')
			return cli_bad_option(cli, c, argv);
		quiet = true;
	}
	if (argc - optind < 1 || argc - optind > 2)
		return cli_usage(cli, "expects DIR [NAME[:TAG]]");
	const char *root = cli_root(cli);
	if (!root)
		return 1;
	_cleanup_error_ cairn_error *err = NULL;
	_cleanup_free_ char *id = NULL;
	struct cairn_fs_commit_result res;
	int r = cairn_workspace_commit(root, argv[optind], argc - optind == 2 ? argv[optind + 1] : NULL,
				       &id, &res, &err);
	if (r < 0)
		return cli_fail(cli, err, r);
	if (!quiet) {
		char size[32];
		cli_format_size(size, sizeof(size), (double) res.new_bytes);
		fprintf(stderr, "%llu entries, %llu new files (%s), %llu files re-used\n",
			(unsigned long long) res.entries, (unsigned long long) res.new_files, size,
			(unsigned long long) res.reused_files);
	}
	printf("%s\n", id);
	return 0;
}

static int print_change(cairn_change_kind kind, const char *path, void *userdata)
{
	printf("%c %s\n", (char) kind, path);
	return 0;
}

int cmd_diff(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {{}};
	int c;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1)
		return cli_bad_option(cli, c, argv);
	if (argc - optind != 1)
		return cli_usage(cli, "expects DIR");
	const char *root = cli_root(cli);
	if (!root)
		return 1;
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_workspace_diff(root, argv[optind], print_change, NULL, &err);
	return r < 0 ? cli_fail(cli, err, r) : 0;
}

int cmd_umount(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"force", no_argument, NULL, 'f'},
	    {"lazy", no_argument, NULL, 'f'},
	    {},
	};
	unsigned flags = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":fl", opts, NULL)) != -1) {
		if (c != 'f' && c != 'l')
			return cli_bad_option(cli, c, argv);
		flags |= CAIRN_UMOUNT_LAZY;
	}
	if (argc - optind < 1)
		return cli_usage(cli, "expects DIR...");
	const char *root = cli_root(cli);
	if (!root)
		return 1;
	int ret = 0;
	for (int i = optind; i < argc; i++) {
		_cleanup_error_ cairn_error *err = NULL;
		bool discarded = false;
		int r = cairn_workspace_unmount(root, argv[i], flags, &discarded, &err);
		if (r < 0)
			ret = cli_fail(cli, err, r);
		else if (discarded)
			fprintf(stderr, "cairn umount: %s: uncommitted changes discarded\n", argv[i]);
	}
	return ret;
}
