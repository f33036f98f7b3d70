/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * `cairn import FILE [NAME]` (docker import): a root filesystem tarball
 * becomes a single-layer image.
 *
 * Everything (layer, diff record, config blob, image record, tag) goes
 * into one batch and becomes visible in one commit.  As with `docker
 * import`, the layer is the input tarball itself: the diff_id is the
 * sha256 of the uncompressed input (computed while importing), and the
 * importer records a tar-split, so save reproduces the tar byte for byte
 * from the layer's contents and the split's literal bytes (headers,
 * padding) without a second copy of the file data.
 */
#include <fcntl.h>
#include <stdint.h>
#include <time.h>

#include <cairn/image.h>

#include "oci-internal.h"

/* The config does not name the input file (as `docker import`, which
 * always reads a stream): the same tar, plain or compressed, from a file
 * or stdin, at the same time gives the same image. */
static int config_build(const oci_platform *p, const cairn_digest *diff_id, int64_t created,
			const char *message, char **ret, size_t *ret_len)
{
	char when[32];
	_cleanup_free_ char *diff = cairn_digest_string(diff_id);
	oci_time_format(created, when);
	if (!diff)
		return -ENOMEM;
	json_t *hist = json_pack("{s:s, s:s}", "created", when, "created_by", "cairn import");
	if (hist && message && json_object_set_new(hist, "comment", json_string(message)) < 0)
		json_decref(steal_pointer(&hist));
	_cleanup_json_ json_t *c =
	    json_pack("{s:s, s:s, s:s}", "created", when, "architecture", p->arch, "os", p->os);
	if (!c || !hist) {
		json_decref(hist);
		return -ENOMEM;
	}
	if ((p->variant && json_object_set_new(c, "variant", json_string(p->variant)) < 0) ||
	    json_object_set_new(c, "config", json_object()) < 0 ||
	    json_object_set_new(
		c, "rootfs", json_pack("{s:s, s:[s]}", "type", "layers", "diff_ids", diff)) < 0 ||
	    json_object_set_new(c, "history", json_pack("[o]", hist)) < 0)
		return -ENOMEM;
	return oci_json_dump(c, ret, ret_len);
}

struct import_job {
	const char *file;
	const struct cairn_import_options *opts;
	char *name; /* normalized, or NULL */
	oci_platform platform;
	int64_t created;
	struct cairn_tar_import_result res;
};

static int import_layer(cairn_batch *b, struct import_job *j, cairn_error **err)
{
	bool std_in = strcmp(j->file, "-") == 0;
	_cleanup_close_ int fd = std_in ? -1 : open(j->file, O_RDONLY | O_CLOEXEC);
	if (!std_in && fd < 0)
		return cairn_error_set(err, -errno, "%s: %s", j->file, strerror(errno));
	struct cairn_tar_import_options io = {.name = std_in ? "stdin" : j->file,
					      .tar_split = true};
	int r = cairn_layer_import_tar(b, cairn_read_fd, (void *) (intptr_t) (std_in ? 0 : fd), &io,
				       &j->res, err);
	if (r < 0)
		return cairn_error_from(err, r, "%s", io.name);
	return 0;
}

static int import_records(cairn_store *s, cairn_batch *b, struct import_job *j, char *ret_id,
			  cairn_error **err)
{
	cairn_digest diff_id = j->res.diff_id, config;
	diff_rec old;
	int r;
	if (diff_get(s, &diff_id, &old) < 0) {
		diff_rec d = {.layer = j->res.layer,
			      .size = j->res.diff_size,
			      .from_split = true,
			      .split = j->res.tar_split};
		if ((r = diff_put(b, &diff_id, &d)) < 0)
			return r;
	}
	_cleanup_free_ char *cfg = NULL;
	size_t cfg_len;
	r = config_build(&j->platform, &diff_id, j->created, j->opts->message, &cfg, &cfg_len);
	if (r >= 0)
		r = blob_put_bytes(b, cfg, cfg_len, &config);
	if (r < 0)
		return r;
	img_rec rec = {.toplevel = true, .n_layers = 1, .created = j->created};
	img_layer layer = {.diff_id = diff_id};
	rec.layers = &layer;
	rec.platform = j->platform;
	image_id_from_digest(&config, rec.id);
	rec.config = (img_desc){true, (char *) MT_OCI_CONFIG, config, cfg_len};
	r = img_put(b, &rec);
	if (r >= 0 && j->name)
		r = tag_put(b, j->name, rec.id);
	if (r < 0)
		return r;
	memcpy(ret_id, rec.id, IMAGE_ID_LEN + 1);
	return 0;
}

static int import_prepare(struct import_job *j, cairn_error **err)
{
	const struct cairn_import_options *o = j->opts;
	if (o->changes && o->changes[0])
		return cairn_error_set(err, -EOPNOTSUPP, "import: --change is not supported yet");
	if (o->name) {
		cairn_ref ref;
		int r = cairn_ref_parse(o->name, &ref, err);
		if (r < 0)
			return r;
		bool digest = ref.digest != NULL;
		j->name = cairn_ref_string(&ref);
		cairn_ref_clear(&ref);
		if (digest)
			return cairn_error_set(err, CAIRN_E_FORMAT,
					       "\"%s\": an image name cannot contain a digest",
					       o->name);
		if (!j->name)
			return -ENOMEM;
	}
	int r = o->platform ? oci_platform_parse(o->platform, &j->platform)
			    : oci_platform_host(&j->platform);
	if (r < 0)
		return cairn_error_set(err, CAIRN_E_FORMAT,
				       "invalid platform \"%s\" (want os/arch[/variant])",
				       o->platform ? o->platform : "(host)");
	return 0;
}

int cairn_image_import_tar(cairn_store *s, const char *file,
			   const struct cairn_import_options *opts, char **ret_id,
			   cairn_error **err)
{
	static const struct cairn_import_options none = {0};
	struct import_job j = {.file = file, .opts = opts ? opts : &none, .created = oci_created_time()};
	_cleanup_(cairn_batch_freep) cairn_batch *b = NULL;
	char id[IMAGE_ID_LEN + 1];
	int r = import_prepare(&j, err);
	if (r >= 0 && (r = cairn_batch_new(s, &b)) < 0)
		cairn_error_from(err, r, "starting a batch");
	if (r >= 0)
		r = import_layer(b, &j, err);
	if (r >= 0)
		r = import_records(s, b, &j, id, err);
	if (r >= 0)
		r = cairn_batch_commit(b, err);
	free(j.name);
	oci_platform_clear(&j.platform);
	if (r < 0)
		return cairn_error_from(err, r, "importing %s", file);
	if (ret_id && !(*ret_id = strdup(id)))
		return -ENOMEM;
	return 0;
}
