/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target: what a registry sends that cairn parses before any digest
 * can vouch for it: manifest lists / indexes (with the pull's platform
 * choice), manifests, WWW-Authenticate challenges and Location headers,
 * all fed the same bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../builder/oci/oci-internal.h"
#include "../../builder/registry/registry-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cairn_error *err = NULL;
	oci_index x;
	if (oci_index_parse(data, size, "index", &x, &err) == 0) {
		static const char *const plats[] = {"linux/amd64", "linux/arm64", "linux/arm/v7",
						    "linux/arm64/v8", "windows/amd64"};
		for (size_t i = 0; i < sizeof(plats) / sizeof(plats[0]); i++) {
			oci_platform p = {0};
			if (oci_platform_parse(plats[i], &p) >= 0) {
				const oci_desc *d = oci_index_pick(&x, &p);
				volatile size_t sink = d ? d->size + strlen(d->media_type) : 0;
				(void) sink;
			}
			oci_platform_clear(&p);
		}
		oci_index_clear(&x);
	}
	cairn_error_free(err);
	err = NULL;
	oci_manifest m;
	if (oci_manifest_parse(data, size, "manifest", &m, &err) == 0)
		oci_manifest_clear(&m);
	cairn_error_free(err);
	(void) oci_json_sniff(data, size);

	/* headers are NUL-terminated strings */
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	struct reg_challenge ch = {0};
	if (reg_parse_challenge(s, &ch) == 0) {
		volatile size_t sink = (ch.realm ? strlen(ch.realm) : 0) +
				       (ch.scope ? strlen(ch.scope) : 0);
		(void) sink;
	}
	reg_challenge_clear(&ch);
	free(reg_url_resolve("http://127.0.0.1:5000/v2/a/blobs/uploads/x?state=1", s, "digest=sha256:00"));
	free(reg_url_host(s));
	free(s);
	return 0;
}
