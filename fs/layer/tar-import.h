/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef CAIRN_TAR_IMPORT_H
#define CAIRN_TAR_IMPORT_H

/* State shared by the two halves of the tar importer: tar-import.c (the
 * pipeline, the placement of entries in the layer) and tar-entry.c (one
 * archive entry -> one cairn_entry). */

#include <archive.h>
#include <archive_entry.h>

#include "layer-internal.h"

struct opaque_dir {
	const char *path; /* arena */
	size_t len;
};

struct tar_import {
	cairn_batch *batch;
	const char *name; /* for messages */
	cairn_error **err;
	cairn_layer_builder *lb;
	pathmap map;
	/* input pipeline: fn -> (tee to blob) -> reader (decompress, digests)
	 * -> (tee to the tar-split) -> tar */
	cairn_read_fn fn;
	void *userdata;
	cairn_content_writer *blob;
	bool blob_undecided; /* keep_blob + tar_split: raw bytes wait in pending */
	bytebuf pending;
	tar_split *split;
	bool split_file; /* the current entry's data is a file range of the split */
	cairn_reader *reader;
	struct archive *a;
	uint8_t *buf;
	int read_error;
	bool input_eof;
	/* the entry being imported (archive name, for messages) and the last one */
	const char *cur;
	bytebuf prev;
	bool have_prev;
	bytebuf path; /* normalized path scratch, NUL-terminated */
	uint32_t groups;
	ssize_t root; /* index of the root entry, -1 if none */
	bool root_opaque;
	struct opaque_dir *opaque;
	size_t n_opaque, cap_opaque;
};

/* Sets *t->err to "NAME: entry "X": message" and returns code. */
int tar_fail(struct tar_import *t, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Turns a libarchive failure into a message: truncation, decompression
 * errors, read errors, damaged headers. */
int tar_archive_fail(struct tar_import *t, const char *what);
/* Normalizes an archive path into out (NUL-terminated, "" = the root);
 * on failure *why says what is wrong. */
int tar_path_normalize(const char *in, bytebuf *out, const char **why);
/* Fills e from the archive entry (not path, not hardlink resolution):
 * type, metadata, xattrs, link target, content.  A whiteout only gets
 * its metadata. */
int tar_entry_read(struct tar_import *t, struct archive_entry *ae, cairn_entry *e, bool whiteout);

#endif
