/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Content record parsing: valid records, every kind of malformed record,
 * and random mutations (the parser must reject or accept, never misread). */
#include <stdlib.h>
#include <string.h>

#include "store-internal.h"
#include "store-test.h"
#include "tap.h"

/* Parses rec; returns segments or a negative error; sums lengths. */
static int parse(const uint8_t *rec, size_t len, uint64_t *ret_total)
{
	struct record_iter it;
	struct segment seg;
	uint64_t total = 0;
	int n = 0, r = store_record_iter_init(&it, rec, len);
	while (r >= 0 && (r = store_record_iter_next(&it, &seg)) > 0) {
		if (seg.len == 0 || (!seg.hole && seg.len > CHUNK_MAX))
			return -1000; /* the parser let a bad segment through */
		total += seg.len;
		n++;
	}
	if (r < 0)
		return r;
	if (total != it.size)
		return -1001;
	*ret_total = total;
	return n;
}

static void build(bytebuf *b, uint64_t size)
{
	b->len = 0;
	buf_put_u8(b, CONTENT_RECORD_V1);
	buf_put_varint(b, size);
}

int main(void)
{
	bytebuf b = {0};
	cairn_id id = {{1, 2, 3, 4}};
	uint64_t total;

	build(&b, 0);
	is_int(parse(b.data, b.len, &total), 0, "empty record");
	build(&b, 70000 + (1ull << 40));
	store_record_put_data(&b, &id, 70000);
	store_record_put_hole(&b, 1ull << 40);
	is_int(parse(b.data, b.len, &total), 2, "data + hole");
	ok(total == 70000 + (1ull << 40), "sizes add up");

	build(&b, 10);
	store_record_put_data(&b, &id, 5);
	is_int(parse(b.data, b.len, &total), CAIRN_E_CORRUPT, "size larger than segments");
	build(&b, 4);
	store_record_put_data(&b, &id, 5);
	is_int(parse(b.data, b.len, &total), CAIRN_E_CORRUPT, "segments beyond size");
	build(&b, CHUNK_MAX + 1);
	store_record_put_data(&b, &id, CHUNK_MAX + 1);
	is_int(parse(b.data, b.len, &total), CAIRN_E_CORRUPT, "data segment above 256 KiB");
	build(&b, 0);
	buf_put_varint(&b, 0);
	is_int(parse(b.data, b.len, &total), CAIRN_E_CORRUPT, "empty segment");
	build(&b, 5);
	store_record_put_data(&b, &id, 5);
	is_int(parse(b.data, b.len - 1, &total), CAIRN_E_CORRUPT, "truncated chunk id");
	build(&b, 5);
	b.data[0] = 2;
	is_int(parse(b.data, b.len, &total), CAIRN_E_CORRUPT, "unknown version");
	is_int(parse(b.data, 0, &total), CAIRN_E_CORRUPT, "empty value");
	uint8_t longvar[12] = {1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
	is_int(parse(longvar, sizeof(longvar), &total), CAIRN_E_CORRUPT, "overlong varint");
	build(&b, UINT64_MAX);
	store_record_put_hole(&b, (1ull << 62) - 1);
	store_record_put_hole(&b, (1ull << 62) - 1);
	store_record_put_hole(&b, (1ull << 62) - 1);
	store_record_put_hole(&b, (1ull << 62) - 1);
	store_record_put_hole(&b, 5);
	is_int(parse(b.data, b.len, &total), CAIRN_E_CORRUPT, "no overflow past UINT64_MAX");
	is_int(store_record_put_hole(&b, 1ull << 62), -EFBIG, "hole too large to encode");

	/* random mutations of a valid record */
	build(&b, 3 * 65536 + 100);
	store_record_put_data(&b, &id, 65536);
	store_record_put_hole(&b, 100);
	store_record_put_data(&b, &id, 65536);
	store_record_put_data(&b, &id, 65536);
	uint8_t *m = malloc(b.len + 8);
	uint64_t rng = 5;
	int bad = 0, accepted = 0;
	for (int i = 0; i < 200000; i++) {
		size_t len = b.len - test_rng(&rng) % 3;
		memcpy(m, b.data, b.len);
		for (int k = 0; k < 1 + (int) (test_rng(&rng) % 3); k++)
			m[test_rng(&rng) % len] ^= (uint8_t) (1u << (test_rng(&rng) % 8));
		int r = parse(m, len, &total);
		if (r == -1000 || r == -1001)
			bad++;
		else if (r >= 0)
			accepted++;
	}
	is_int(bad, 0, "mutations never yield bad segments (%d accepted as valid)", accepted);
	free(m);
	buf_clear(&b);
	return tap_done();
}
