/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Runs every file of a corpus directory through LLVMFuzzerTestOneInput as
 * ordinary TAP tests, so the corpus is a regression suite without clang. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
		return 2;
	}
	char **files = NULL;
	size_t n = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			perror(argv[i]);
			return 2;
		}
		if (!S_ISDIR(st.st_mode)) {
			files = realloc(files, (n + 1) * sizeof(*files));
			files[n++] = strdup(argv[i]);
			continue;
		}
		DIR *d = opendir(argv[i]);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			files = realloc(files, (n + 1) * sizeof(*files));
			if (asprintf(&files[n], "%s/%s", argv[i], de->d_name) < 0)
				return 99;
			n++;
		}
		if (d)
			closedir(d);
	}
	qsort(files, n, sizeof(*files), cmp);
	for (size_t i = 0; i < n; i++) {
		char *data = NULL;
		size_t len = 0;
		int r = read_file(files[i], 64 << 20, &data, &len);
		if (r < 0) {
			printf("not ok %zu - %s: %s\n", i + 1, files[i], strerror(-r));
			continue;
		}
		LLVMFuzzerTestOneInput((const uint8_t *) data, len);
		printf("ok %zu - %s\n", i + 1, files[i]);
		fflush(stdout);
		free(data);
		free(files[i]);
	}
	printf("1..%zu\n", n);
	free(files);
	return 0;
}
