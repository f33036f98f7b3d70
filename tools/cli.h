/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

/* The cairn command line: global state shared by the verb handlers. */

#include <stdbool.h>

#include <cairn/error.h>
#include <cairn/store.h>

struct cli {
	const char *root; /* --root, or NULL for the default */
	const char *verb;
	cairn_store *store; /* opened on first use */
	char *root_buf;	    /* the resolved store root */
};

struct verb {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;
	const char *usage;
};

/* The store directory (--root, $CAIRN_ROOT or the default) without opening
 * it; prints the error and returns NULL on failure. */
const char *cli_root(struct cli *cli);
/* Opens the store on first use; prints the error and returns NULL on failure. */
cairn_store *cli_store(struct cli *cli);
/* Prints "cairn VERB: message" for err (or strerror(r)) and returns 1. */
int cli_fail(struct cli *cli, cairn_error *err, int r);
/* Prints "cairn VERB: fmt... (see 'cairn VERB --help')" and returns 2. */
int cli_usage(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports what getopt_long (opterr = 0, optstring starting with ':')
 * refused: an unknown option or a missing argument.  Returns 2. */
int cli_bad_option(struct cli *cli, int c, char **argv);
/* Human sizes: "12.3MB" (decimal, as docker prints). */
void cli_format_size(char *buf, size_t len, double bytes);
void cli_format_ago(char *buf, size_t len, long long when);
bool cli_help_requested(int argc, char **argv);
void cli_print_usage(const struct verb *v);

int cmd_build(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_load(struct cli *cli, int argc, char **argv);
int cmd_save(struct cli *cli, int argc, char **argv);
int cmd_images(struct cli *cli, int argc, char **argv);
int cmd_inspect(struct cli *cli, int argc, char **argv);
int cmd_tag(struct cli *cli, int argc, char **argv);
int cmd_rmi(struct cli *cli, int argc, char **argv);
int cmd_du(struct cli *cli, int argc, char **argv);
int cmd_prune(struct cli *cli, int argc, char **argv);
int cmd_fsck(struct cli *cli, int argc, char **argv);
int cmd_mount(struct cli *cli, int argc, char **argv);
int cmd_mounts(struct cli *cli, int argc, char **argv);
int cmd_commit(struct cli *cli, int argc, char **argv);
int cmd_diff(struct cli *cli, int argc, char **argv);
int cmd_umount(struct cli *cli, int argc, char **argv);
int cmd_snapshot(struct cli *cli, int argc, char **argv);
int cmd_pull(struct cli *cli, int argc, char **argv);
int cmd_push(struct cli *cli, int argc, char **argv);
int cmd_login(struct cli *cli, int argc, char **argv);
int cmd_logout(struct cli *cli, int argc, char **argv);

/* Registry options (pull, push, login, build): --tls-verify[=false],
 * --insecure-registry HOST, --creds U:P, --authfile F, --cert-dir D. */
enum {
	CLI_OPT_TLS_VERIFY = 0x1000,
	CLI_OPT_INSECURE,
	CLI_OPT_CREDS,
	CLI_OPT_AUTHFILE,
	CLI_OPT_CERT_DIR,
};
#include "registry.h"
struct cli_reg {
	struct reg_options o;
	const char *insecure[17];
	size_t n_insecure;
};
/* 1 when c was a registry option (stored), 0 when it is not one, < 0 for a bad value. */
int cli_reg_option(struct cli_reg *r, int c, const char *arg);

#endif
