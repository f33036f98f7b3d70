/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_STEP_RUN_H
#define CAIRN_STEP_RUN_H

/* Shared by step-run.c (parsing, key) and step-run-exec.c (execution). */

#include "solve.h"

struct runmount {
	char *type, *target, *source, *from, *id, *sharing, *mode, *uid, *gid, *size, *env;
	bool ro, rw, required;
};

struct runctx {
	struct build *b;
	struct bstage *sg;
	const struct df_node *n;
	json_t *argv;
	struct runmount *mounts;
	size_t n_mounts;
	char *network;
	char *heredoc_dir; /* a shebang heredoc is run from a file mounted at /dev/pipes */
	cairn_error **err;
};

int run_execute(struct runctx *c, struct step *s);

#endif
