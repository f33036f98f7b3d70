/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_BUILD_H
#define CAIRN_BUILD_H

/*
 * `cairn build`: Dockerfile builds with BuildKit's semantics.
 *
 * A build parses the Dockerfile, resolves the stages the target needs,
 * and runs their instructions in order.  RUN runs on a writable cairn
 * filesystem of the parent state in namespaces (builder/run), COPY/ADD
 * copy onto one (builder/copy), WORKDIR creates its directory; each of
 * them records its changes as one layer.  Every such step has a cache
 * key (docs/BUILD.md): when the store has a result for the key the step
 * is not run.  The result is an image in the store (named by opts->tags,
 * or untagged), which the outputs then write where they are asked to.
 */

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <cairn/error.h>
#include <cairn/store.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cairn_progress_mode {
	CAIRN_PROGRESS_AUTO = 0, /* tty when stderr is a terminal, else plain */
	CAIRN_PROGRESS_PLAIN,
	CAIRN_PROGRESS_TTY,
	CAIRN_PROGRESS_RAWJSON,
	CAIRN_PROGRESS_QUIET,
} cairn_progress_mode;

typedef enum cairn_output_type {
	CAIRN_OUTPUT_IMAGE = 0, /* into the store under the tags (always done) */
	CAIRN_OUTPUT_OCI,	/* OCI archive, or layout directory with tar=false */
	CAIRN_OUTPUT_DOCKER,	/* docker load archive */
	CAIRN_OUTPUT_LOCAL,	/* the root filesystem into a directory */
	CAIRN_OUTPUT_TAR,	/* the root filesystem as a tar */
} cairn_output_type;

struct cairn_build_output {
	cairn_output_type type;
	char *dest;	  /* file or directory; "-" = stdout for archives */
	bool tar;	  /* OCI: archive (true, default) or directory */
	int compression;  /* cairn_compression, -1 = default (gzip) */
	char **names;	  /* name=... (NULL: the tags) */
	bool push;	  /* image: push=true (type=registry) */
};

struct cairn_build_secret {
	char *id;
	char *src; /* file, or NULL */
	char *env; /* environment variable, or NULL */
};

struct cairn_build_options {
	const char *context;	/* directory */
	const char *dockerfile; /* NULL: CONTEXT/Dockerfile; "-": stdin */
	const char *target;	/* stage name, NULL = the last */
	const char *const *tags;
	size_t n_tags;
	const char *const *build_args; /* "K=V", or "K" (from the environment) */
	size_t n_build_args;
	const char *const *labels; /* "K=V" */
	size_t n_labels;
	bool no_cache;
	const char *const *no_cache_filter; /* stage names */
	size_t n_no_cache_filter;
	const char *network; /* default network: "default", "none", "host" */
	const char *platform; /* NULL: the host's */
	const struct cairn_build_secret *secrets;
	size_t n_secrets;
	const struct cairn_build_output *outputs;
	size_t n_outputs;
	cairn_progress_mode progress;
	FILE *progress_file; /* NULL: stderr */
	int64_t source_date_epoch; /* -1: unset (SOURCE_DATE_EPOCH in the environment is read by the CLI) */
	bool pull;		   /* --pull: FROM images are resolved at their registry again */
	bool push;		   /* --push: every tag is pushed */
	const struct reg_options *reg; /* registry options, or NULL */
};

struct cairn_build_stats {
	unsigned steps;	 /* steps that make a layer (RUN, COPY, ADD, WORKDIR) */
	unsigned cached; /* of those, answered by the cache */
	uint64_t new_bytes;    /* bytes of file data stored by this build */
	uint64_t reused_bytes; /* bytes of layer file data taken from the cache */
	double seconds;
};

struct cairn_build_result {
	char *image_id; /* "sha256:<config digest>" */
	char *manifest_digest; /* of the default OCI manifest (as `cairn save` writes it) */
	struct cairn_build_stats stats;
};
void cairn_build_result_clear(struct cairn_build_result *r);

int cairn_build(cairn_store *s, const struct cairn_build_options *opts,
		struct cairn_build_result *ret, cairn_error **err);

/* Parses a `--output` value ("type=oci,dest=out.tar", or a bare path:
 * type=local).  Frees with cairn_build_output_clear. */
int cairn_build_output_parse(const char *spec, struct cairn_build_output *ret, cairn_error **err);
void cairn_build_output_clear(struct cairn_build_output *o);
/* Parses a `--secret` value ("id=ID,src=PATH" or "id=ID,env=VAR"). */
int cairn_build_secret_parse(const char *spec, struct cairn_build_secret *ret, cairn_error **err);
void cairn_build_secret_clear(struct cairn_build_secret *s);

/* For prune: adds every layer a build cache entry holds to layers. */
int cairn_build_cache_mark(cairn_store *s, cairn_idset *layers, cairn_error **err);

#ifdef __cplusplus
}
#endif
#endif
