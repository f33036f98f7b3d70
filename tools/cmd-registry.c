/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cairn pull, push, login, logout. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cairn/image.h>

#include "cli.h"
#include "registry.h"
#include "util.h"

/* ---- registry options shared with build ------------------------------------------------------ */

int cli_reg_option(struct cli_reg *r, int c, const char *arg)
{
	switch (c) {
	case CLI_OPT_TLS_VERIFY:
		if (!arg || strcmp(arg, "true") == 0 || strcmp(arg, "1") == 0)
			r->o.tls_verify_off = false;
		else if (strcmp(arg, "false") == 0 || strcmp(arg, "0") == 0)
			r->o.tls_verify_off = true;
		else
			return -EINVAL;
		return 1;
	case CLI_OPT_INSECURE:
		if (r->n_insecure + 1 >= ARRAY_SIZE(r->insecure))
			return -E2BIG;
		r->insecure[r->n_insecure++] = arg;
		r->insecure[r->n_insecure] = NULL;
		r->o.insecure = r->insecure;
		return 1;
	case CLI_OPT_CREDS:
		r->o.creds = arg;
		return 1;
	case CLI_OPT_AUTHFILE:
		r->o.auth_file = arg;
		return 1;
	case CLI_OPT_CERT_DIR:
		r->o.cert_dir = arg;
		return 1;
	default:
		return 0;
	}
}

/* ---- progress ------------------------------------------------------------------------------------ */

struct xfer_view {
	bool quiet, tty;
	const char *verb; /* "Pulling", "Pushing" */
	uint64_t bytes;
};

static void show(const struct cairn_xfer *x, void *userdata)
{
	struct xfer_view *v = userdata;
	if (v->quiet)
		return;
	char hex[2 * CAIRN_DIGEST_LEN + 1], size[32];
	cairn_digest_hex(x->digest, hex);
	cli_format_size(size, sizeof(size), (double) x->total);
	const char *what = NULL;
	switch (x->event) {
	case CAIRN_XFER_START:
		return;
	case CAIRN_XFER_PROGRESS:
		if (v->tty)
			fprintf(stderr, "\r%.12s: %s %3d%% of %s\033[K", hex, v->verb,
				x->total ? (int) (x->done * 100 / x->total) : 100, size);
		return;
	case CAIRN_XFER_DONE:
		what = strcmp(v->verb, "Pulling") == 0 ? "downloaded" : "pushed";
		break;
	case CAIRN_XFER_EXISTS:
		what = "already exists";
		break;
	case CAIRN_XFER_MOUNTED:
		what = "mounted from another repository";
		break;
	case CAIRN_XFER_STORE:
		fprintf(stderr, "%sstoring image sha256:%.12s\n", v->tty ? "\r\033[K" : "", hex);
		return;
	}
	fprintf(stderr, "%s%s %.12s: %s (%s)\n", v->tty ? "\r\033[K" : "", x->what, hex, what,
		size);
}

/* ---- pull ------------------------------------------------------------------------------------------ */

#define REG_LONG_OPTIONS                                                              \
	{"tls-verify", optional_argument, NULL, CLI_OPT_TLS_VERIFY},                  \
	    {"insecure-registry", required_argument, NULL, CLI_OPT_INSECURE},         \
	    {"creds", required_argument, NULL, CLI_OPT_CREDS},                        \
	    {"authfile", required_argument, NULL, CLI_OPT_AUTHFILE},                  \
	{                                                                             \
		"cert-dir", required_argument, NULL, CLI_OPT_CERT_DIR                 \
	}

static int reg_opt_or_fail(struct cli *cli, struct cli_reg *reg, int c, char **argv)
{
	int k = cli_reg_option(reg, c, optarg);
	if (k < 0)
		return cli_usage(cli, "invalid value \"%s\" for --%s", optarg ? optarg : "",
				 c == CLI_OPT_TLS_VERIFY ? "tls-verify" : "insecure-registry");
	if (k == 0)
		return cli_bad_option(cli, c, argv);
	return 0;
}

int cmd_pull(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"platform", required_argument, NULL, 'P'},
	    {"all-platforms", no_argument, NULL, 'a'},
	    {"quiet", no_argument, NULL, 'q'},
	    REG_LONG_OPTIONS,
	    {},
	};
	struct cli_reg reg = {0};
	struct xfer_view view = {.verb = "Pulling", .tty = isatty(STDERR_FILENO)};
	struct cairn_pull_options o = {.reg = &reg.o, .progress = show, .userdata = &view};
	int c;
	while ((c = getopt_long(argc, argv, ":aq", opts, NULL)) != -1) {
		switch (c) {
		case 'P':
			o.platform = optarg;
			break;
		case 'a':
			o.all_platforms = true;
			break;
		case 'q':
			view.quiet = true;
			break;
		default: {
			int k = reg_opt_or_fail(cli, &reg, c, argv);
			if (k)
				return k;
		}
		}
	}
	if (optind + 1 != argc)
		return cli_usage(cli, optind == argc ? "missing image reference"
						     : "too many arguments");
	cairn_store *s = cli_store(cli);
	if (!s)
		return 1;
	_cleanup_error_ cairn_error *err = NULL;
	struct cairn_pull_result res = {0};
	int r = cairn_image_pull(s, argv[optind], &o, &res, &err);
	if (r < 0)
		return cli_fail(cli, err, r);
	if (!view.quiet) {
		char size[32];
		cli_format_size(size, sizeof(size), (double) res.bytes);
		fprintf(stderr, "%s%s: %u blobs fetched (%s), %u already present; digest %s\n",
			view.tty ? "\r\033[K" : "", res.name ? res.name : argv[optind],
			res.fetched, size, res.present, res.digest);
	}
	printf("%s\n", res.id);
	cairn_pull_result_clear(&res);
	return 0;
}

/* ---- push ------------------------------------------------------------------------------------------ */

int cmd_push(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"compression-format", required_argument, NULL, 'c'},
	    {"digestfile", required_argument, NULL, 'D'},
	    {"chunked", no_argument, NULL, 'C'},
	    {"quiet", no_argument, NULL, 'q'},
	    REG_LONG_OPTIONS,
	    {},
	};
	struct cli_reg reg = {0};
	struct xfer_view view = {.verb = "Pushing", .tty = isatty(STDERR_FILENO)};
	struct cairn_push_options o = {
	    .reg = &reg.o, .compression = -1, .progress = show, .userdata = &view};
	const char *digestfile = NULL;
	int c;
	while ((c = getopt_long(argc, argv, ":q", opts, NULL)) != -1) {
		switch (c) {
		case 'c': {
			cairn_compression comp;
			if (cairn_compression_parse(optarg, &comp) < 0 ||
			    (comp != CAIRN_COMPRESS_GZIP && comp != CAIRN_COMPRESS_ZSTD &&
			     comp != CAIRN_COMPRESS_NONE))
				return cli_usage(cli, "unknown compression \"%s\" (gzip, zstd, none)",
						 optarg);
			o.compression = (int) comp;
			break;
		}
		case 'D':
			digestfile = optarg;
			break;
		case 'C':
			o.chunked = true;
			break;
		case 'q':
			view.quiet = true;
			break;
		default: {
			int k = reg_opt_or_fail(cli, &reg, c, argv);
			if (k)
				return k;
		}
		}
	}
	if (optind == argc || argc - optind > 2)
		return cli_usage(cli, optind == argc ? "missing image name" : "too many arguments");
	const char *name = argv[optind], *dest = optind + 1 < argc ? argv[optind + 1] : NULL;
	cairn_store *s = cli_store(cli);
	if (!s)
		return 1;
	_cleanup_error_ cairn_error *err = NULL;
	_cleanup_free_ char *digest = NULL;
	int r = cairn_image_push(s, name, dest, &o, &digest, &err);
	if (r < 0)
		return cli_fail(cli, err, r);
	if (digestfile) {
		r = write_file_atomic(digestfile, digest, strlen(digest), 0644);
		if (r < 0) {
			fprintf(stderr, "cairn push: writing %s: %s\n", digestfile, strerror(-r));
			return 1;
		}
	}
	printf("%s\n", digest);
	return 0;
}

/* ---- login / logout ----------------------------------------------------------------------------- */

/* "https://host/v1/" -> "host" (malloc'd). */
static char *registry_host(const char *arg)
{
	const char *p = arg;
	if (strncmp(p, "https://", 8) == 0)
		p += 8;
	else if (strncmp(p, "http://", 7) == 0)
		p += 7;
	size_t n = strcspn(p, "/");
	char *h = strndup(p, n);
	if (h && (strcmp(h, "index.docker.io") == 0 || strcmp(h, "registry-1.docker.io") == 0)) {
		free(h);
		h = strdup("docker.io");
	}
	return h;
}

int cmd_login(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"username", required_argument, NULL, 'u'},
	    {"password", required_argument, NULL, 'p'},
	    {"password-stdin", no_argument, NULL, 'S'},
	    REG_LONG_OPTIONS,
	    {},
	};
	struct cli_reg reg = {0};
	const char *user = NULL, *pass = NULL;
	bool from_stdin = false;
	int c;
	while ((c = getopt_long(argc, argv, ":u:p:", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			user = optarg;
			break;
		case 'p':
			pass = optarg;
			break;
		case 'S':
			from_stdin = true;
			break;
		default: {
			int k = reg_opt_or_fail(cli, &reg, c, argv);
			if (k)
				return k;
		}
		}
	}
	if (argc - optind > 1)
		return cli_usage(cli, "too many arguments");
	if (from_stdin && pass)
		return cli_usage(cli, "--password and --password-stdin are mutually exclusive");
	_cleanup_free_ char *host = registry_host(optind < argc ? argv[optind] : "docker.io");
	_cleanup_free_ char *line = NULL, *uline = NULL;
	if (!host)
		return cli_fail(cli, NULL, -ENOMEM);
	if (!user) {
		if (!isatty(STDIN_FILENO) || from_stdin)
			return cli_usage(cli, "give the user name with -u USER");
		size_t cap = 0;
		fprintf(stderr, "Username: ");
		ssize_t n = getline(&uline, &cap, stdin);
		if (n <= 0)
			return cli_usage(cli, "no user name");
		uline[strcspn(uline, "\r\n")] = 0;
		user = uline;
	}
	if (!pass) {
		size_t cap = 0;
		if (!from_stdin && !isatty(STDIN_FILENO))
			return cli_usage(cli, "give the password with -p or --password-stdin");
		if (!from_stdin) {
			char *pw = getpass("Password: ");
			if (!pw || !(line = strdup(pw)))
				return cli_usage(cli, "no password");
		} else if (getline(&line, &cap, stdin) <= 0) {
			return cli_usage(cli, "no password on stdin");
		}
		line[strcspn(line, "\r\n")] = 0;
		pass = line;
	}
	if (!*user || !*pass)
		return cli_usage(cli, "user name and password must not be empty");
	_cleanup_error_ cairn_error *err = NULL;
	int r = reg_login(host, user, pass, &reg.o, &err);
	if (line)
		explicit_bzero(line, strlen(line));
	if (r < 0)
		return cli_fail(cli, err, r);
	printf("Login Succeeded!\n");
	return 0;
}

int cmd_logout(struct cli *cli, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"authfile", required_argument, NULL, CLI_OPT_AUTHFILE},
	    {},
	};
	struct cli_reg reg = {0};
	int c;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		int k = reg_opt_or_fail(cli, &reg, c, argv);
		if (k)
			return k;
	}
	if (argc - optind > 1)
		return cli_usage(cli, "too many arguments");
	_cleanup_free_ char *host = registry_host(optind < argc ? argv[optind] : "docker.io");
	if (!host)
		return cli_fail(cli, NULL, -ENOMEM);
	_cleanup_error_ cairn_error *err = NULL;
	int r = reg_logout(host, &reg.o, &err);
	if (r < 0)
		return cli_fail(cli, err, r);
	printf("Removed login credentials for %s\n", host);
	return 0;
}
