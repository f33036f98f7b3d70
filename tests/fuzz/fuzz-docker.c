/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: the reader of Docker archives' manifest.json, and reference
 * parsing of every RepoTag it yields. */
#include <stdint.h>
#include <stdlib.h>

#include "../../builder/oci/oci-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cairn_error *err = NULL;
	docker_manifest m;
	if (docker_manifest_parse(data, size, "manifest.json", &m, &err) == 0) {
		for (size_t i = 0; i < m.n; i++) {
			volatile size_t sink = strlen(m.images[i].config);
			for (size_t k = 0; k < m.images[i].n_layers; k++)
				sink += strlen(m.images[i].layers[k]);
			for (size_t k = 0; k < m.images[i].n_tags; k++) {
				char *norm = NULL;
				if (ref_parse_string(m.images[i].tags[k], &norm, NULL) == 0)
					free(norm);
			}
			(void) sink;
		}
		docker_manifest_clear(&m);
	}
	cairn_error_free(err);
	/* the bytes as a reference, too */
	if (size < 512) {
		char s[512];
		memcpy(s, data, size);
		s[size] = 0;
		cairn_ref r;
		if (cairn_ref_parse(s, &r, NULL) == 0) {
			char *f = cairn_ref_familiar(&r), *n = cairn_ref_string(&r);
			free(f);
			free(n);
			cairn_ref_clear(&r);
		}
	}
	return 0;
}
