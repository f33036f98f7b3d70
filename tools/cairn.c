/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * cairn: the command line.  Global options come before the verb
 * (`cairn --root DIR images`); each verb parses its own options.
 */
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "util.h"

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "0.1.0"
#endif

static const struct verb verbs[] = {
    {"build", cmd_build, "Build an image from a Dockerfile (BuildKit semantics)",
     "cairn build [-f FILE] [-t NAME]... [--target STAGE] [--build-arg K[=V]]... [--no-cache]\n"
     "            [--no-cache-filter STAGE]... [--label K=V]... [--network default|none|host]\n"
     "            [--secret id=ID,src=PATH|env=VAR]... [--platform OS/ARCH]\n"
     "            [--progress auto|plain|tty|rawjson|quiet] [-o|--output SPEC]...\n"
     "            [--pull] [--push] [REGISTRY OPTIONS] [--iidfile F] [--metadata-file F] [-q]\n"
     "            CONTEXT\n"
     "  SPEC: type=image[,name=REF,push=true] | type=registry,name=REF |\n"
     "        type=oci,dest=F[,tar=false] | type=docker,dest=F |\n"
     "        type=local,dest=DIR | type=tar,dest=F | DIR ; compression=gzip|zstd|uncompressed"},
    {"import", cmd_import, "Create a single-layer image from a root filesystem tarball",
     "cairn import [--platform OS/ARCH] [-m MESSAGE] FILE|- [NAME[:TAG]]"},
    {"load", cmd_load, "Load images from an OCI archive, OCI layout or Docker archive",
     "cairn load [-q] [-i PATH]   (PATH: OCI archive, OCI layout directory, Docker archive; "
     "stdin when omitted)"},
    {"save", cmd_save, "Write images to an OCI archive, OCI layout or Docker archive",
     "cairn save [--format oci|oci-dir|docker] [--compression gzip|zstd|none] -o PATH NAME..."},
    {"pull", cmd_pull, "Download an image from a registry",
     "cairn pull [--platform OS/ARCH[/VARIANT]] [-a|--all-platforms] [-q] [REGISTRY OPTIONS] REF\n"
     "  REGISTRY OPTIONS: --tls-verify=false, --insecure-registry HOST[:PORT],\n"
     "                    --creds USER[:PASS], --authfile FILE, --cert-dir DIR"},
    {"push", cmd_push, "Upload an image to a registry",
     "cairn push [--compression-format gzip|zstd|none] [--digestfile FILE] [--chunked] [-q]\n"
     "           [REGISTRY OPTIONS] NAME [[docker://]DEST]"},
    {"login", cmd_login, "Store credentials for a registry",
     "cairn login [-u USER] [-p PASS | --password-stdin] [REGISTRY OPTIONS] [REGISTRY]"},
    {"logout", cmd_logout, "Remove stored credentials for a registry",
     "cairn logout [--authfile FILE] [REGISTRY]"},
    {"images", cmd_images, "List images", "cairn images [--json] [-q] [--no-trunc]"},
    {"inspect", cmd_inspect, "Show an image's manifest and config",
     "cairn inspect [--json] NAME..."},
    {"tag", cmd_tag, "Give an image another name", "cairn tag SOURCE TARGET"},
    {"rmi", cmd_rmi, "Remove image names (data is reclaimed by prune)", "cairn rmi [-f] NAME..."},
    {"du", cmd_du, "Show store usage and dedup ratio", "cairn du [--json]"},
    {"prune", cmd_prune, "Remove everything no image references", "cairn prune [--json]"},
    {"fsck", cmd_fsck, "Check every chunk and reference in the store",
     "cairn fsck [-q] [--replay]"},
    {"mount", cmd_mount, "Mount an image's filesystem as a writable workspace",
     "cairn mount [--ro] IMAGE|scratch DIR"},
    {"mounts", cmd_mounts, "List workspaces", "cairn mounts [--json] [-q]"},
    {"commit", cmd_commit, "Record a workspace's changes as a new image",
     "cairn commit [-q] DIR [NAME[:TAG]]"},
    {"diff", cmd_diff, "List a workspace's changes (A added, C changed, D deleted)",
     "cairn diff DIR"},
    {"umount", cmd_umount, "Unmount workspaces (uncommitted changes are discarded)",
     "cairn umount [-f|--force] DIR..."},
    {"snapshot", cmd_snapshot, "Snapshots for other build tools (containerd's model)",
     "cairn snapshot COMMAND ...   (see 'cairn snapshot --help')"},
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: cairn [--root DIR] COMMAND [OPTIONS]\n\n"
		"A container image builder with a chunk-deduplicated store.\n\n"
		"Global options:\n"
		"  --root DIR     store directory (default: $CAIRN_ROOT, /var/lib/cairn as root,\n"
		"                 $XDG_DATA_HOME/cairn otherwise)\n"
		"  -h, --help     show this help\n"
		"  --version      show the version\n\n"
		"Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		fprintf(f, "  %-9s %s\n", verbs[i].name, verbs[i].summary);
	fprintf(f, "\nRun 'cairn COMMAND --help' for a command's options.\n");
}

void cli_print_usage(const struct verb *v)
{
	printf("Usage: %s\n\n%s\n", v->usage, v->summary);
}

bool cli_help_requested(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return true;
	}
	return false;
}

const char *cli_root(struct cli *cli)
{
	if (cli->root_buf)
		return cli->root_buf;
	int r = 0;
	if (cli->root && !(cli->root_buf = realpath(cli->root, NULL))) {
		/* not there yet: made absolute, created on first use */
		char cwd[4096];
		if (cli->root[0] == '/')
			cli->root_buf = strdup(cli->root);
		else if (getcwd(cwd, sizeof(cwd)) && asprintf(&cli->root_buf, "%s/%s", cwd, cli->root) < 0)
			cli->root_buf = NULL;
		if (!cli->root_buf)
			r = -ENOMEM;
	} else if (!cli->root) {
		r = cairn_store_default_root(&cli->root_buf);
	}
	if (r < 0) {
		cli_fail(cli, NULL, r);
		return NULL;
	}
	return cli->root_buf;
}

cairn_store *cli_store(struct cli *cli)
{
	if (cli->store)
		return cli->store;
	const char *root = cli_root(cli);
	if (!root)
		return NULL;
	int r;
	cairn_error *err = NULL;
	r = cairn_store_open(root, NULL, &cli->store, &err);
	if (r < 0) {
		if (!err)
			cairn_error_from(&err, r, "cannot open store %s", root);
		cli_fail(cli, err, r);
		cairn_error_free(err);
		return NULL;
	}
	return cli->store;
}

int cli_fail(struct cli *cli, cairn_error *err, int r)
{
	const char *msg = err && err->msg ? err->msg : cairn_strerror(err ? err->code : r);
	fprintf(stderr, "cairn %s: %s\n", cli->verb ? cli->verb : "", msg);
	return 1;
}

int cli_usage(struct cli *cli, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, cli->verb ? "cairn %s: " : "cairn: ", cli->verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cli->verb)
		fprintf(stderr, " (see 'cairn %s --help')\n", cli->verb);
	else
		fprintf(stderr, " (see 'cairn --help')\n");
	return 2;
}

int cli_bad_option(struct cli *cli, int c, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	if (c == ':')
		return cli_usage(cli, "option \"%s\" needs an argument", arg);
	if (optopt)
		return cli_usage(cli, "unknown option \"-%c\"", optopt);
	return cli_usage(cli, "unknown option \"%s\"", arg);
}

void cli_format_size(char *buf, size_t len, double bytes)
{
	static const char *units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
	size_t u = 0;
	while (bytes >= 1000 && u + 1 < ARRAY_SIZE(units)) {
		bytes /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%.0f%s", bytes, units[u]);
	else
		snprintf(buf, len, "%.3g%s", bytes, units[u]);
}

void cli_format_ago(char *buf, size_t len, long long when)
{
	if (when <= 0) {
		snprintf(buf, len, "N/A");
		return;
	}
	long long d = (long long) time(NULL) - when;
	static const struct {
		long long secs;
		const char *unit;
	} steps[] = {{365LL * 86400, "year"}, {30LL * 86400, "month"}, {7 * 86400, "week"},
		     {86400, "day"},	      {3600, "hour"},	       {60, "minute"}};
	if (d < 60) {
		snprintf(buf, len, d < 2 ? "Less than a second ago" : "%lld seconds ago", d);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		long long n = d / steps[i].secs;
		if (n >= 1) {
			if (n == 1)
				snprintf(buf, len, "%s %s ago", i == 5 || i == 4 ? "About a" : "1",
					 steps[i].unit);
			else
				snprintf(buf, len, "%lld %ss ago", n, steps[i].unit);
			return;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {},
	};
	struct cli cli = {0};
	int c;

	/* '+': stop at the verb, which parses the rest itself. */
	opterr = 0; /* errors are reported in one line by cli_bad_option */
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			cli.root = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("cairn version %s\n", CAIRN_VERSION);
			return 0;
		default:
			return cli_bad_option(&cli, c, argv);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cli.verb = argv[optind];
	if (strcmp(cli.verb, "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(cli.verb, "version") == 0) {
		printf("cairn version %s\n", CAIRN_VERSION);
		return 0;
	}
	const struct verb *v = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (strcmp(verbs[i].name, cli.verb) == 0)
			v = &verbs[i];
	if (!v) {
		fprintf(stderr, "cairn: unknown command \"%s\" (see 'cairn --help')\n", cli.verb);
		return 2;
	}
	int vargc = argc - optind;
	char **vargv = argv + optind;
	if (cli_help_requested(vargc, vargv)) {
		cli_print_usage(v);
		return 0;
	}
	optind = 0; /* reinitialize getopt for the verb */
	int r = v->run(&cli, vargc, vargv);
	cairn_store_free(cli.store);
	free(cli.root_buf);
	return r;
}
