/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Subscription table and SUBSCRIBE token (see sub.h). SipHash-2-4 is written
 * out here (public-domain reference algorithm by Aumasson and Bernstein)
 * because DPDK's hashes (CRC32C, jhash) are not keyed PRFs and lib/ stays free
 * of DPDK; a token must not be forgeable by someone who has seen others.
 */
#include <errno.h>

#include "sub.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
	do {                                                                   \
		v0 += v1;                                                      \
		v1 = ROTL(v1, 13);                                             \
		v1 ^= v0;                                                      \
		v0 = ROTL(v0, 32);                                             \
		v2 += v3;                                                      \
		v3 = ROTL(v3, 16);                                             \
		v3 ^= v2;                                                      \
		v0 += v3;                                                      \
		v3 = ROTL(v3, 21);                                             \
		v3 ^= v0;                                                      \
		v2 += v1;                                                      \
		v1 = ROTL(v1, 17);                                             \
		v1 ^= v2;                                                      \
		v2 = ROTL(v2, 32);                                             \
	} while (0)

static inline uint64_t
load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v; /* x86-64 is little-endian, as SipHash's reference reads */
}

uint64_t
msh_siphash24(const struct msh_token_key *key, const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t v0 = 0x736f6d6570736575ull ^ key->k0;
	uint64_t v1 = 0x646f72616e646f6dull ^ key->k1;
	uint64_t v2 = 0x6c7967656e657261ull ^ key->k0;
	uint64_t v3 = 0x7465646279746573ull ^ key->k1;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = load_le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t k = 0; k < left; k++)
		b |= (uint64_t)in[i + k] << (8 * k);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t
msh_token_make(const struct msh_token_key *key, uint32_t ip, uint16_t port,
	       const struct msh_name *shard, uint64_t bucket)
{
	uint8_t buf[4 + 2 + MSH_NAME_LEN + 8];
	uint64_t t;

	memcpy(buf, &ip, 4);
	memcpy(buf + 4, &port, 2);
	memcpy(buf + 6, shard->b, MSH_NAME_LEN);
	memcpy(buf + 6 + MSH_NAME_LEN, &bucket, 8);
	t = msh_siphash24(key, buf, sizeof(buf));
	return t ? t : 1;
}

bool
msh_token_check(const struct msh_token_key *key, uint32_t ip, uint16_t port,
		const struct msh_name *shard, uint64_t bucket, uint64_t token)
{
	if (token == 0)
		return false;
	return token == msh_token_make(key, ip, port, shard, bucket) ||
	       (bucket > 0 && token == msh_token_make(key, ip, port, shard, bucket - 1));
}

size_t
msh_subs_footprint(uint32_t max)
{
	return (size_t)max * sizeof(struct msh_sub);
}

void
msh_subs_init(struct msh_subs *t, void *mem, uint32_t max)
{
	t->max = max;
	t->n = 0;
	t->sub = mem;
	memset(mem, 0, msh_subs_footprint(max));
}

/* A shard has tens of subscribers, not thousands: a linear scan over a
 * contiguous array beats a hash here and keeps fan-out iteration trivial. */
struct msh_sub *
msh_subs_find(struct msh_subs *t, uint32_t ip, uint16_t port)
{
	for (uint32_t i = 0; i < t->max; i++)
		if (t->sub[i].used && t->sub[i].ip == ip && t->sub[i].port == port)
			return &t->sub[i];
	return NULL;
}

struct msh_sub *
msh_subs_find_ip(struct msh_subs *t, uint32_t ip)
{
	for (uint32_t i = 0; i < t->max; i++)
		if (t->sub[i].used && t->sub[i].ip == ip)
			return &t->sub[i];
	return NULL;
}

struct msh_sub *
msh_subs_add(struct msh_subs *t, uint32_t ip, uint16_t port, const uint8_t mac[6],
	     uint64_t next_seq, uint64_t now, uint64_t lease)
{
	struct msh_sub *free_slot = NULL;

	for (uint32_t i = 0; i < t->max; i++) {
		struct msh_sub *s = &t->sub[i];

		if (s->used && s->ip == ip && s->port == port) {
			errno = EEXIST;
			return NULL;
		}
		if (!s->used && free_slot == NULL)
			free_slot = s;
	}
	if (free_slot == NULL) {
		errno = ENOSPC;
		return NULL;
	}
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	free_slot->ip = ip;
	free_slot->port = port;
	memcpy(free_slot->mac, mac, 6);
	free_slot->next_seq = next_seq;
	free_slot->reported_seq = next_seq;
	free_slot->created = now;
	free_slot->last_tx = now;
	free_slot->lease_end = now + lease;
	free_slot->rt_last = now;
	t->n++;
	return free_slot;
}

void
msh_subs_del(struct msh_subs *t, struct msh_sub *s)
{
	if (s->used) {
		s->used = false;
		t->n--;
	}
}

uint32_t
msh_subs_expire(struct msh_subs *t, uint64_t now)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < t->max; i++)
		if (t->sub[i].used && t->sub[i].lease_end < now) {
			msh_subs_del(t, &t->sub[i]);
			n++;
		}
	return n;
}

uint32_t
msh_sub_rt_take(struct msh_sub *s, uint32_t want, uint64_t now, uint64_t hz, uint32_t rate)
{
	uint32_t n;

	if (now > s->rt_last) {
		s->rt_tokens += (double)(now - s->rt_last) * rate / (double)hz;
		if (s->rt_tokens > rate)
			s->rt_tokens = rate;
		s->rt_last = now;
	}
	n = s->rt_tokens >= want ? want : (uint32_t)s->rt_tokens;
	s->rt_tokens -= n;
	return n;
}
