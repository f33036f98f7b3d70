/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Store verbs: du, prune, fsck. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

#include <cairn/image.h>

#include "cli.h"
#include "util.h"

static bool parse_json_flag(struct cli *cli, int argc, char **argv, bool *ret_json, int *ret)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {},
	};
	int c;
	*ret_json = false;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c != 'j') {
			*ret = cli_bad_option(cli, c, argv);
			return false;
		}
		*ret_json = true;
	}
	if (optind != argc) {
		*ret = cli_usage(cli, "unexpected argument \"%s\"", argv[optind]);
		return false;
	}
	return true;
}

static double ratio(uint64_t a, uint64_t b)
{
	return b ? (double) a / (double) b : 1.0;
}

int cmd_du(struct cli *cli, int argc, char **argv)
{
	bool json;
	int ret;
	if (!parse_json_flag(cli, argc, argv, &json, &ret))
		return ret;
	cairn_store *s = cli_store(cli);
	if (!s)
		return 1;
	struct cairn_du du;
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_du(s, &du, &err);
	if (r < 0)
		return cli_fail(cli, err, r);
	/* dedup: what users see vs. distinct chunk bytes; compression: chunk
	 * bytes vs. what is stored. */
	double dedup = ratio(du.logical_bytes, du.chunk_bytes);
	double comp = ratio(du.chunk_bytes, du.stored_bytes);
	if (json) {
		json_t *o = json_pack(
		    "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "images",
		    (json_int_t) du.images, "layers", (json_int_t) du.layers, "blobs",
		    (json_int_t) du.blobs, "contents", (json_int_t) du.contents, "chunks",
		    (json_int_t) du.chunks, "logical_bytes", (json_int_t) du.logical_bytes,
		    "unique_bytes", (json_int_t) du.unique_bytes, "chunk_bytes",
		    (json_int_t) du.chunk_bytes, "stored_bytes", (json_int_t) du.stored_bytes,
		    "file_bytes", (json_int_t) du.file_bytes, "reclaimable_contents",
		    (json_int_t) du.reclaimable_contents, "dedup_ratio", dedup, "compression_ratio",
		    comp);
		char *out = json_dumps(o, JSON_INDENT(2));
		printf("%s\n", out);
		free(out);
		json_decref(o);
		return 0;
	}
	char logical[32], unique[32], chunkb[32], stored[32], file[32];
	cli_format_size(logical, sizeof(logical), (double) du.logical_bytes);
	cli_format_size(unique, sizeof(unique), (double) du.unique_bytes);
	cli_format_size(chunkb, sizeof(chunkb), (double) du.chunk_bytes);
	cli_format_size(stored, sizeof(stored), (double) du.stored_bytes);
	cli_format_size(file, sizeof(file), (double) du.file_bytes);
	printf("Images:          %llu\n", (unsigned long long) du.images);
	printf("Layers:          %llu\n", (unsigned long long) du.layers);
	printf("Blobs:           %llu\n", (unsigned long long) du.blobs);
	printf("Contents:        %llu (%llu unreferenced, reclaimable by prune)\n",
	       (unsigned long long) du.contents, (unsigned long long) du.reclaimable_contents);
	printf("Chunks:          %llu\n", (unsigned long long) du.chunks);
	printf("Logical bytes:   %s\n", logical);
	printf("Unique bytes:    %s\n", unique);
	printf("Chunk bytes:     %s\n", chunkb);
	printf("Stored bytes:    %s\n", stored);
	printf("Store file:      %s\n", file);
	printf("Dedup ratio:     %.2fx\n", dedup);
	printf("Compression:     %.2fx\n", comp);
	return 0;
}

int cmd_prune(struct cli *cli, int argc, char **argv)
{
	bool json;
	int ret;
	if (!parse_json_flag(cli, argc, argv, &json, &ret))
		return ret;
	cairn_store *s = cli_store(cli);
	if (!s)
		return 1;
	struct cairn_prune_stats st;
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_prune(s, &st, &err);
	if (r < 0)
		return cli_fail(cli, err, r);
	if (json) {
		json_t *o =
		    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "images", (json_int_t) st.images,
			      "layers", (json_int_t) st.layers, "blobs", (json_int_t) st.blobs,
			      "contents", (json_int_t) st.contents, "chunks",
			      (json_int_t) st.chunks, "bytes_freed", (json_int_t) st.bytes_freed,
			      "cache_bytes_freed", (json_int_t) st.cache_bytes);
		char *out = json_dumps(o, JSON_INDENT(2));
		printf("%s\n", out);
		free(out);
		json_decref(o);
		return 0;
	}
	char freed[32];
	cli_format_size(freed, sizeof(freed), (double) st.bytes_freed);
	printf("Removed %llu layers, %llu blobs, %llu contents, %llu chunks\n",
	       (unsigned long long) st.layers, (unsigned long long) st.blobs,
	       (unsigned long long) st.contents, (unsigned long long) st.chunks);
	printf("Total reclaimed space: %s\n", freed);
	if (st.cache_bytes) {
		cli_format_size(freed, sizeof(freed), (double) st.cache_bytes);
		printf("Content cache freed: %s\n", freed);
	}
	return 0;
}

static void print_problem(const char *line, void *userdata)
{
	(void) userdata;
	printf("%s\n", line);
	fflush(stdout);
}

int cmd_fsck(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"quiet", no_argument, NULL, 'q'},
	    {"replay", no_argument, NULL, 'R'},
	    {},
	};
	bool quiet = false;
	unsigned flags = 0;
	int c;
	while ((c = getopt_long(argc, argv, ":q", opts, NULL)) != -1) {
		if (c == 'q')
			quiet = true;
		else if (c == 'R')
			flags |= CAIRN_FSCK_REPLAY;
		else
			return cli_bad_option(cli, c, argv);
	}
	if (optind != argc)
		return cli_usage(cli, "unexpected argument \"%s\"", argv[optind]);
	cairn_store *s = cli_store(cli);
	if (!s)
		return 1;
	struct cairn_fsck_stats st = {0};
	_cleanup_error_ cairn_error *err = NULL;
	int r = cairn_fsck(s, flags, print_problem, NULL, &st, &err);
	if (r < 0)
		return cli_fail(cli, err, r);
	if (r > 0) {
		fprintf(stderr, "cairn fsck: %d problem%s found in %s\n", r, r == 1 ? "" : "s",
			cairn_store_root(s));
		return 1;
	}
	if (!quiet)
		printf("%llu chunks, %llu contents checked; %llu unreferenced chunks "
		       "(reclaimable by prune); no problems\n",
		       (unsigned long long) st.chunks, (unsigned long long) st.contents,
		       (unsigned long long) st.garbage_chunks);
	return 0;
}
