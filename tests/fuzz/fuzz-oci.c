/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: the OCI document readers (oci-layout, index, manifest,
 * config, media type sniffing) and the image layer's store records (image
 * and diff records), all fed the same bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "../../builder/oci/oci-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void touch_desc(const oci_desc *d)
{
	volatile size_t sink = strlen(d->media_type) + d->size + d->digest.b[0];
	if (d->has_platform)
		sink += strlen(d->platform.os) + strlen(d->platform.arch);
	(void) oci_desc_annotation(d, ANNOT_REF_NAME);
	(void) sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cairn_error *err = NULL;
	oci_index x;
	if (oci_index_parse(data, size, "index.json", &x, &err) == 0) {
		for (size_t i = 0; i < x.n; i++)
			touch_desc(&x.manifests[i]);
		oci_index_clear(&x);
	}
	cairn_error_free(err);
	err = NULL;

	oci_manifest m;
	if (oci_manifest_parse(data, size, "manifest", &m, &err) == 0) {
		touch_desc(&m.config);
		for (size_t i = 0; i < m.n_layers; i++)
			touch_desc(&m.layers[i]);
		oci_manifest_clear(&m);
	}
	cairn_error_free(err);
	err = NULL;

	oci_config c;
	if (oci_config_parse(data, size, "config", &c, &err) == 0) {
		char *p = oci_platform_string(&c.platform);
		free(p);
		oci_config_clear(&c);
	}
	cairn_error_free(err);
	err = NULL;

	(void) oci_layout_check(data, size, "oci-layout", NULL);
	(void) oci_json_sniff(data, size);

	img_rec r;
	if (img_rec_decode(
		"sha256:0000000000000000000000000000000000000000000000000000000000000000", data,
		size, &r) == 0) {
		char *enc = NULL;
		size_t len;
		if (img_rec_encode(&r, &enc, &len) == 0)
			free(enc);
		img_rec_clear(&r);
	}
	diff_rec d;
	if (diff_rec_decode(data, size, &d) == 0) {
		char *enc = NULL;
		size_t len;
		if (diff_rec_encode(&d, &enc, &len) == 0)
			free(enc);
	}
	return 0;
}
