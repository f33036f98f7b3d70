/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * FastCDC content-defined chunking (Xia et al., "FastCDC: a Fast and
 * Efficient Content-Defined Chunking Approach for Data Deduplication",
 * USENIX ATC 2016), min/avg/max 16/64/256 KiB with normalized chunking:
 *
 *   fp = (fp << 1) + gear[byte]      for every byte from position 16 KiB on
 *   cut after the byte when          (fp & MASK_S) == 0 before 64 KiB,
 *                                    (fp & MASK_L) == 0 from 64 KiB on,
 *   or at 256 KiB.
 *
 * The scanner keeps (fp, position) between calls, so the cut points depend
 * only on the bytes, never on how a writer splits them.  The gear table
 * and masks are part of the store format: changing them changes every
 * chunk id.  The table was generated once with splitmix64 seeded with
 * 0x636169726e676561 ("cairngea"); the masks take every other bit from
 * bit 63 down (18 bits and 14 bits: log2(64 KiB) +- 2).
 */
#include "store-internal.h"

#define MASK_S 0xaaaaaaaaa0000000ull
#define MASK_L 0xaaaaaaa000000000ull

/* clang-format off */
static const uint64_t gear[256] = {
	0x8c3f8858532227a0ULL, 0x0704325d9a97613cULL, 0x3cb5e3232ccdc164ULL,
	0xeda1b6da6727eee6ULL, 0x8c46703c1de76ddcULL, 0x7a7f127112da57aaULL,
	0xb4b9ecc6a1dbde89ULL, 0xe8c50bdae2eda792ULL, 0x6b4acd09fcb923e0ULL,
	0x4a2545039f48c06aULL, 0x8f85e8a297a755c8ULL, 0x29ca64e44a6a554dULL,
	0xeea65c23a1aa54bfULL, 0x37bf9ba9744a3d47ULL, 0x9eb8b8e82dd21f65ULL,
	0x6726e82a7a0197acULL, 0x655ebd5d1b284d3aULL, 0x6c0c303339f735b2ULL,
	0xf5bbaa3fe572dc7bULL, 0x459d17c378e07bdaULL, 0x7bfe411b4538afa8ULL,
	0x9c1ff395bdc35091ULL, 0x005d3dbdd1ce2f90ULL, 0x4e9dafb0f81c34cbULL,
	0xf46a26b6b45afa73ULL, 0x0b593298298e1abaULL, 0xa66fb4c6ca9d866bULL,
	0x6557a45e3621b85aULL, 0x4333e8564e23ddeeULL, 0xfe039745948bbe9dULL,
	0x4b0d75fd5efc2e44ULL, 0x5eebc62695ac5138ULL, 0xcd433c7d10dd87fcULL,
	0x7963c3d27f5fa644ULL, 0x8fb6401dd9c71d0fULL, 0xe124d1845c441152ULL,
	0x37f7a6dc6c6c857bULL, 0x210cd3e041b6f31eULL, 0x5aee26828f15c942ULL,
	0xa1efd3caa2347a5eULL, 0xae4a6b70098b95a3ULL, 0xa66657640ce9d614ULL,
	0xdc1839b17695c5fcULL, 0xd0f55deb7c776983ULL, 0xd16597a261ee78eeULL,
	0x0031555c53df79bcULL, 0x8740aa7b3f9da562ULL, 0x96c6c107b1cac416ULL,
	0x6fab0fe122fbfe8bULL, 0xb369699cda885e5bULL, 0xe387f8a3b8105fb2ULL,
	0x1d94644e4beef737ULL, 0x05adfafb9f8a0eb9ULL, 0xc095ba020787187fULL,
	0x878615933759ca8aULL, 0x06847761e5ef01e5ULL, 0x7167fd80f085b09bULL,
	0x8fddcca120d6889bULL, 0x37d11b07e5b51f12ULL, 0x42fed7ddebf6ff40ULL,
	0x51a49a3a377fb65fULL, 0x1fed1aa64e078ea3ULL, 0x537d24f34c318641ULL,
	0xe30f6d192ec17d75ULL, 0xd49088796382ef1cULL, 0x34cb5c8d98827766ULL,
	0xf079ec6eeb824b9fULL, 0xeb0fc1aefa8e1d8dULL, 0x7f7b7f535541d345ULL,
	0xa62fdb7b892b1ee8ULL, 0x72aaa11d119f4434ULL, 0x102010d3ec8f54e1ULL,
	0xe0b457f650c756c5ULL, 0x0f819ae6d6442964ULL, 0x3a6f48c82322ca43ULL,
	0x83466081453470fbULL, 0xc97595ba3b8e6c47ULL, 0x9fedd84d77e1ff30ULL,
	0x98681752b6bce1e0ULL, 0x9fefb868d797ba9aULL, 0x73f11defb0509dd5ULL,
	0xb63a57c8381ca9d6ULL, 0x79e9ae53e08f8726ULL, 0xe947c045ee1338d2ULL,
	0xf23017168c899631ULL, 0x2c31528c4c72f39eULL, 0x2cac6079bc8952daULL,
	0xea778f8e53dc1869ULL, 0xe07d497e05749a9cULL, 0xa546147db516102cULL,
	0xf30bb5a1e6c7d2ffULL, 0xacd228f0ebaf94c0ULL, 0xcbb7f34a484682bbULL,
	0x4963354aadd03721ULL, 0x614dfb95740e5437ULL, 0x20fb52ec001cc514ULL,
	0x62b1cc21b8fe5dd9ULL, 0x336c4d53cd13bb42ULL, 0xd52d2a3b2129a077ULL,
	0x50eb21d795c56696ULL, 0xabf964699bf3fadeULL, 0x67ba380656e7ad3fULL,
	0x62220adc95d2afe8ULL, 0x1d1b2cf358b5cd5aULL, 0x48aedf4ce56401b9ULL,
	0xa897cb028631b368ULL, 0x0d1087d467af7a3cULL, 0xf5b51329ac78dfb5ULL,
	0xdeb55d56f221c607ULL, 0x7253a96058f2268bULL, 0x12dcded6e3eb2295ULL,
	0x90936f0a96f86607ULL, 0xac6d5075b92615f5ULL, 0x96b8ddd2a992c9a3ULL,
	0x4d8728fa281ea95bULL, 0x8bcc85e981341afaULL, 0xcfeb3e393a1ae489ULL,
	0x9b638a2ab6762842ULL, 0xf0e8aaf652a08863ULL, 0x6670908c196073e6ULL,
	0x20a4e39b624c3a2dULL, 0x9a5bd8467644cfbbULL, 0x27b3ad2a19e1df2aULL,
	0xd407fc7a7fe852dfULL, 0x71b0993eb261770aULL, 0xacd83ecffa370a50ULL,
	0x0bf7789d0e741b2aULL, 0x0ad4ea90a434e2adULL, 0x95e0a24ea9df22dfULL,
	0x151529834c517e81ULL, 0xb451bfce1113d25aULL, 0x299541139e130590ULL,
	0x793f04074d75aa18ULL, 0xdc050aadbdf365aeULL, 0x613debfe89274c34ULL,
	0xcdafa10b11ecf1f8ULL, 0x48c0f6530c8434abULL, 0x0c4625ebf6b8b359ULL,
	0x44792463f944cc8dULL, 0x946f966829cec654ULL, 0x113001ad8de19e69ULL,
	0x5b443a3aca8e601eULL, 0x3e574ab484e2c216ULL, 0x9f012a73676eca7dULL,
	0x94e109f2ed72be62ULL, 0xa955076b531a7117ULL, 0x7800bc2e62632c88ULL,
	0xa15f40d5dea3a007ULL, 0xa50b8ebbf0cb9037ULL, 0xbed85fb3287dec52ULL,
	0x4302fd461542bb25ULL, 0xb8eca6bcce52d8cbULL, 0xac698e5edd09c98dULL,
	0xd10beb3da88e91c7ULL, 0x24ca56da1c2ac3beULL, 0x7739da0955d73ad7ULL,
	0x025c67c416339856ULL, 0x2e335de97cd72a6dULL, 0x0164d1d4848f9a61ULL,
	0x40ba106a717f02fbULL, 0x8adfe783ad4e2489ULL, 0xcfe1d97c5fce6631ULL,
	0xf5fb0feaac617533ULL, 0x04c3eef055469f97ULL, 0x511076011bd36372ULL,
	0x2fb0688d68e3e3e8ULL, 0xeb0675e14eb6995bULL, 0x88fe4f85d51594bcULL,
	0x94f8c452abe32e3fULL, 0xba410546353abb56ULL, 0x7e1fe1192df842f0ULL,
	0xc26a52911f2de321ULL, 0x89af2a7684271aacULL, 0x85e2062a7a6f3462ULL,
	0xa830e06cb728b738ULL, 0xfc341216d640f89dULL, 0xed9d382379e4eab1ULL,
	0x66fd8547bca03121ULL, 0x8d2d20660f516248ULL, 0x8ea441c42cdb7d73ULL,
	0x51e58d3f5d9ed5c7ULL, 0xe7563d9bce57c42cULL, 0x4ea52fbc4ecb6105ULL,
	0xb79bc08d4d7ce69bULL, 0xfd585d758abd34a8ULL, 0x3a179a89c0743411ULL,
	0xd8ab93832ef5d8baULL, 0xdfc00dceff72381aULL, 0xc683961d272fdb83ULL,
	0x45028213bb72f18fULL, 0x25f6ec8abd1ad6eaULL, 0x7b2f8f2f7a9c68a3ULL,
	0x20d73c8b9cf6c096ULL, 0x7904ead9bba84e4fULL, 0x64d58f65580c3096ULL,
	0x7a13116590586cecULL, 0x897c67b9a104884cULL, 0x774f4978d4bbe3edULL,
	0xa1e3ae4d017c132bULL, 0x38491602cad6213eULL, 0x81afe8070bd48b92ULL,
	0x22f7674c7e1dbb91ULL, 0x4e6971bbf17eca80ULL, 0xc2f4066ce77268d4ULL,
	0xf0959f881be0b382ULL, 0x6c2c71af45c78ad9ULL, 0x0ecbae285d37f457ULL,
	0x5a29fc66ba2ba125ULL, 0xb646be5e438e1863ULL, 0x7d69c121d8ce570dULL,
	0x54c0b78a13143265ULL, 0xdc439c6bfbb7d679ULL, 0x25f3b8a8bc234b86ULL,
	0xe91ee93462329810ULL, 0xd0aa7d61d70af6b8ULL, 0x9e11865288c1beb9ULL,
	0xef60b02345658c94ULL, 0x618cbcf1b1ce272fULL, 0x5c53fbbb446127faULL,
	0x872031dfb8eff572ULL, 0x7a7c17dd3306360eULL, 0xea90c66c6bc81e5cULL,
	0xf29a52700609eb02ULL, 0x7d0a056beb3746e9ULL, 0x92e36408b41b71aeULL,
	0x8a9e1af51d48dffdULL, 0x1dfc81eb4c4c262fULL, 0xfe6fc2e95ef93753ULL,
	0x7bf6cce33facb52dULL, 0xfa010e592ad2a4b5ULL, 0x66d811476df6335cULL,
	0xacc0490dcdacb70bULL, 0x50f3ad75a6357a44ULL, 0x0e000197308dd86eULL,
	0xdc3ebedf1efe45e4ULL, 0xb7312f0f0d14bb7aULL, 0xc87406ee1eb856fdULL,
	0x73b2df6cc8012206ULL, 0x6ee77e5811608d86ULL, 0x87efc076ac480337ULL,
	0x2f1765d176ee05c4ULL, 0x1648ffaa43097b3aULL, 0xd694a2b6d47163f6ULL,
	0x2aec90a5d03e30b4ULL, 0x2fbf3b710aa5f794ULL, 0x1b6224f55b871d1cULL,
	0xab78ecb42a12c803ULL, 0x20d56aaeeb427f7fULL, 0x6599e0b9b47f9339ULL,
	0xa26277bfc4533c18ULL, 0x30308377dc04eb8aULL, 0x71104bab6a317a5bULL,
	0xf547fb9af1e2df70ULL, 0xc14b4b55ba98522dULL, 0x5853ae55608206e9ULL,
	0x8af200cb99400c6cULL,
};
/* clang-format on */

/* Scans p[i..lim) for a cut with mask m: two bytes per step, so that the
 * chain of dependent operations is one shift and one add per two bytes
 * (the first byte's fingerprint is computed beside it, for its test).
 * The cuts are those of the byte-wise rule.  Returns true at a cut, with
 * *ip just after the cut byte. */
static inline bool cdc_find(uint64_t *fpp, const uint8_t *p, size_t *ip, size_t lim, uint64_t m)
{
	uint64_t fp = *fpp;
	size_t i = *ip;
	for (; i + 1 < lim; i += 2) {
		uint64_t g0 = gear[p[i]], g1 = gear[p[i + 1]];
		uint64_t pair = (g0 << 1) + g1;
		uint64_t f1 = (fp << 1) + g0;
		fp = (fp << 2) + pair;
		if (!(f1 & m)) {
			*ip = i + 1;
			return true;
		}
		if (!(fp & m)) {
			*ip = i + 2;
			return true;
		}
	}
	if (i < lim) {
		fp = (fp << 1) + gear[p[i++]];
		if (!(fp & m)) {
			*ip = i;
			return true;
		}
	}
	*fpp = fp;
	*ip = i;
	return false;
}

size_t store_cdc_scan(struct cdc *c, const uint8_t *p, size_t n, bool *ret_cut)
{
	const size_t start = c->pos; /* chunk position of p[0] */
	uint64_t fp = c->fp;
	size_t i = 0;

	if (start < CHUNK_MIN)
		i = MIN(n, CHUNK_MIN - start);
	size_t lim = start < CHUNK_AVG ? MIN(n, CHUNK_AVG - start) : 0;
	if (i < lim && cdc_find(&fp, p, &i, lim, MASK_S))
		goto cut;
	lim = MIN(n, CHUNK_MAX - start);
	if (i < lim && cdc_find(&fp, p, &i, lim, MASK_L))
		goto cut;
	if (start + i == CHUNK_MAX)
		goto cut;
	c->fp = fp;
	c->pos = start + i;
	*ret_cut = false;
	return i;
cut:
	cdc_reset(c);
	*ret_cut = true;
	return i;
}
