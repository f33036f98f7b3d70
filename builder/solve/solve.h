/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_SOLVE_H
#define CAIRN_SOLVE_H

/*
 * builder/solve internals: the build plan (stages and their
 * instructions), the state a stage carries from one instruction to the
 * next, cache keys, step execution and progress.
 *
 * A stage's state is the image being built: its config (the whole OCI
 * config JSON, history included), its layers (those of the base image,
 * then one per layer step) and the cache key of its filesystem state
 * (`key`): a layer step's key hashes the parent's key with everything
 * that decides what the step does; config-only instructions (ENV, LABEL,
 * CMD...) change the config, not the key, as in BuildKit, where they make
 * no LLB operation.  Besides the config's Env, the stage keeps BuildKit's
 * "state env" (`env`): ENV and ARG values in order, which RUN sees and
 * which expansion reads.
 */

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include <cairn/build.h>
#include <cairn/error.h>
#include <cairn/fs.h>
#include <cairn/image.h>
#include <cairn/store.h>

#include "ignore.h"
#include "parser.h"
#include "util.h"

#define _cleanup_json_ _cleanup_(json_decrefp)

struct strv {
	char **v; /* NULL-terminated */
	size_t n, cap;
};
int strv_push(struct strv *s, const char *str);
int strv_pushf(struct strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int strv_set_env(struct strv *s, const char *key, const char *value); /* replace or append K=V */
const char *strv_get_env(const struct strv *s, const char *key);
int strv_copy(struct strv *dst, const struct strv *src);
void strv_clear(struct strv *s);
bool strv_contains(const struct strv *s, const char *str);

struct blayer {
	cairn_id layer;
	cairn_digest diff_id;
	uint64_t diff_size;
};

struct barg {
	char *key;
	char *value; /* NULL: declared without a value */
};

struct bstate {
	json_t *image;	    /* the OCI image config being built */
	char *base_image;   /* id of the image the stage started from, or NULL */
	size_t n_base;	    /* layers that come from base_image */
	struct blayer *layers; /* all layers, bottom first */
	size_t n_layers, cap_layers;
	uint8_t key[32];    /* cache key of the filesystem state */
	struct strv env;    /* state env (ENV and ARG values) */
	struct barg *args;  /* ARGs declared in the stage (history's |N K=V) */
	size_t n_args;
	char *platform;	    /* "linux/amd64" */
};
void bstate_clear(struct bstate *st);
int bstate_copy(struct bstate *dst, const struct bstate *src);
json_t *bstate_config(struct bstate *st); /* the "config" object (created if missing) */
int bstate_push_layer(struct bstate *st, const struct blayer *l);

struct bstage {
	size_t index;
	char *name;	  /* AS name, lower-cased, or NULL */
	char *display;	  /* name for progress: name or "stage-N" */
	char *base;	  /* FROM image after expansion */
	char *platform;	  /* --platform after expansion, or NULL */
	const struct df_node *from;
	const struct df_node **cmds;
	size_t n_cmds;
	struct bstage *base_stage; /* FROM names an earlier stage */
	struct bstage **deps;	   /* COPY --from / RUN --mount from= stages */
	size_t n_deps;
	unsigned total; /* layer steps, for "[stage k/n]" */
	unsigned done_steps;
	bool needed, built, started, no_cache;
	struct bstate st;
	/* the stage's writable filesystem, re-based when a step needs another parent */
	cairn_fs *fs;
	char *fs_dir;
};

struct bstats {
	unsigned steps, cached;
	uint64_t new_bytes, reused_bytes;
};

struct progress;

struct build {
	cairn_store *store;
	const struct cairn_build_options *o;
	const char *filename; /* "Dockerfile" as the user named it, for messages */
	struct df_ast *ast;
	char escape;
	struct bstage *stages;
	size_t n_stages;
	struct bstage *target;
	struct strv global_args;  /* meta ARGs before the first FROM, plus predefined */
	struct strv build_args;	  /* --build-arg K=V (resolved) */
	struct strv proxy_env;	  /* proxy build args: RUN env, not key or history */
	struct strv pulled;	  /* --pull: "NAME\nPLATFORM" pulled by this build (lock) */
	struct barg *meta_args;	  /* declared global ARGs (for stage ARG inheritance) */
	size_t n_meta_args;
	char *platform;		  /* target platform */
	int context_fd;
	df_ignore *ignore;
	struct progress *pr;
	cairn_batch *file_batch; /* context file hashes learnt (cache.c), committed at the end */
	struct bstats stats;
	int64_t epoch;		  /* SOURCE_DATE_EPOCH or -1 */
	int64_t now;
	char *tmp;		  /* ROOT/tmp/build-XXXXXX: mount points, heredoc files */
	unsigned tmp_seq; /* atomic */
	/* stages run on worker threads: lock guards stats, file_batch and the schedule */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int failed;	      /* first error code (its message in *fail_err) */
	cairn_error *fail_err;
};

/* ---- plan (plan.c) ---------------------------------------------------------------- */

int solve_plan(struct build *b, cairn_error **err);
/* "Dockerfile:LINE: msg" */
int build_error(struct build *b, const struct df_node *n, int code, cairn_error **err,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Prefixes an error from below with "Dockerfile:LINE: ". */
int build_error_at(struct build *b, const struct df_node *n, int code, cairn_error **err);
/* Opens an image for FROM / --from: pulled when not in the store (and
 * once per build with --pull). */
int build_image_open(struct build *b, const char *name, const char *platform,
		     cairn_image **ret, cairn_error **err);
/* Finds a stage by name or index ("0"); NULL if none. */
struct bstage *plan_find_stage(struct build *b, const char *name, size_t before);

/* ---- instructions (dispatch.c, dispatch-config.c) ---------------------------------- */

struct flag {
	const char *name; /* without "--" */
	char *value;	  /* NULL when not given */
	bool given;
	bool multi;	  /* may repeat: values joined with '\n' */
};
int parse_flags(struct build *b, const struct df_node *n, struct flag *flags, size_t n_flags,
		cairn_error **err);
void flags_clear(struct flag *flags, size_t n);
/* ProcessWord with the stage's state env. */
int expand_word(struct build *b, struct bstage *sg, const struct df_node *n, const char *in,
		char **ret, cairn_error **err);
int dispatch_stage(struct build *b, struct bstage *sg, cairn_error **err);
int dispatch_config(struct build *b, struct bstage *sg, const struct df_node *n, bool *handled,
		    cairn_error **err);
int history_add(struct build *b, struct bstate *st, const char *created_by, bool empty_layer,
		int64_t created);
void time_rfc3339(int64_t t, char out[32]);
/* ["a","b"] as Go's %q of a []string prints it: ["a" "b"] */
char *go_quote_list(json_t *arr);
json_t *json_strv(char *const *v, size_t n);
int stage_init(struct build *b, struct bstage *sg, cairn_error **err);

/* CMD/ENTRYPOINT/RUN words: the JSON list, or the stage's shell plus the line. */
json_t *command_args(struct bstate *st, const struct df_node *n, const char *shell_line);
/* path.Join of base and p ("/" when empty), absolute and clean. */
char *clean_abs_path(const char *base, const char *p);

/* The instruction's original line after its keyword. */
const char *instruction_rest(const struct df_node *n);
/* A heredoc's text, with leading tabs stripped from each line for <<-
 * (ChompHeredocContent); malloc'd. */
char *heredoc_text(const struct df_heredoc *h);

/* ---- steps (step.c, step-run.c, step-copy.c) ---------------------------------------- */

struct step {
	struct bstage *sg;
	const struct df_node *n;
	char *created_by; /* history */
	char *title;	  /* progress: "RUN echo hi" */
	uint8_t key[32];
	unsigned vertex;
};
/* Looks the step's key up; a hit appends the cached layer.  Returns 1 on a hit. */
int step_cached(struct build *b, struct step *s, cairn_error **err);
/* The writable filesystem of sg's current state, mounted (b->fs_dir). */
int step_fs(struct build *b, struct bstage *sg, cairn_error **err);
/* Commits b->fs as the step's layer and records it in the cache. */
int step_commit(struct build *b, struct step *s, cairn_error **err);
void step_clear(struct step *s);
/* --from=NAME of COPY and RUN --mount: an earlier stage (by name or index)
 * or an image from the store, mounted read-only on a fresh directory.
 * *ret_stage / *ret_image_id (may be NULL) say which it was. */
int mount_from(struct build *b, struct bstage *sg, const struct df_node *n, const char *from,
	       cairn_fs **ret_fs, char **ret_dir, struct bstage **ret_stage, char **ret_image_id,
	       cairn_error **err);
int step_run(struct build *b, struct bstage *sg, const struct df_node *n, cairn_error **err);
int step_copy(struct build *b, struct bstage *sg, const struct df_node *n, bool add,
	      cairn_error **err);
int step_workdir(struct build *b, struct bstage *sg, const struct df_node *n, const char *wd,
		 cairn_error **err);
void stage_fs_release(struct bstage *sg);
/* Runs every stage the target needs, independent ones in parallel. */
int build_stages(struct build *b, cairn_error **err);
/* A fresh directory under b->tmp. */
int build_tmpdir(struct build *b, const char *what, char **ret, cairn_error **err);

/* ---- cache (cache.c) -------------------------------------------------------------- */

typedef struct keyhash keyhash; /* incremental sha256 of a cache key */
keyhash *key_new(const uint8_t parent[32], const char *kind);
void key_str(keyhash *k, const char *field, const char *value);
void key_strv(keyhash *k, const char *field, char *const *v);
void key_bytes(keyhash *k, const char *field, const void *data, size_t len);
void key_finish(keyhash *k, uint8_t out[32]);
struct cache_rec {
	struct blayer l;
	int64_t created;
	uint64_t file_bytes;
};
int cache_get(cairn_store *s, const uint8_t key[32], struct cache_rec *ret);
int cache_put(cairn_batch *batch, const uint8_t key[32], const struct cache_rec *r);
/* Remembered checksums ('M' records): key -> 32 bytes. */
int memo_get(cairn_store *s, const uint8_t key[32], uint8_t out[32]);
void memo_put(cairn_store *s, const uint8_t key[32], const uint8_t sum[32]);
/* Content hash of a context file, through a stat-keyed record (a file
 * whose inode, size, mtime and ctime did not change is not re-read). */
int context_hash_file(void *userdata, int dirfd, const char *name, const struct stat *st,
		      uint8_t out[16]);
void hex32(const uint8_t in[32], char out[65]);

/* ---- image (image.c) -------------------------------------------------------------- */

int build_image_commit(struct build *b, struct bstage *sg, char **ret_id, cairn_error **err);
int build_outputs(struct build *b, const char *image_id, cairn_error **err);
/* Extracts a tar from tar_fd into dir (created if missing), safely. */
int output_extract(int tar_fd, const char *dir, cairn_error **err);
/* ADD URL: downloads into dir, checks --checksum; *ret_name: the file name. */
int fetch_url(struct build *b, const char *url, const char *dir, const char *checksum,
	      char **ret_name, uint8_t ret_sha[32], cairn_error **err);

/* ---- progress (progress.c) -------------------------------------------------------- */

int progress_new(const struct cairn_build_options *o, struct progress **ret);
void progress_free(struct progress *p);
/* A vertex: "#N [stage k/n] INSTR"; returns its number. */
unsigned progress_start(struct progress *p, const char *title);
void progress_cached(struct progress *p, unsigned v);
void progress_log(struct progress *p, unsigned v, const char *data, size_t len);
void progress_done(struct progress *p, unsigned v, int error);
void progress_note(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The last lines of a vertex's output (for error messages), malloc'd. */
char *progress_tail(struct progress *p, unsigned v, unsigned lines);
void progress_summary(struct progress *p, const struct bstats *st, double seconds);

#endif
