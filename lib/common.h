/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Small definitions every lib/ module shares: branch hints, cache alignment,
 * hash table sizing, big-endian loads and stores for the wire formats, and the
 * 10-byte shard name (which is also the MoldUDP64 session). Free of DPDK types
 * so that lib/ can be unit-tested on plain memory.
 */
#ifndef MSH_COMMON_H
#define MSH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MSH_CACHE_LINE 64
#define MSH_CACHE_ALIGNED __attribute__((aligned(MSH_CACHE_LINE)))
#define MSH_LIKELY(x) __builtin_expect(!!(x), 1)
#define MSH_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MSH_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MSH_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MSH_MAX(a, b) ((a) > (b) ? (a) : (b))
#define MSH_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))

/**
 * Slots of an open-addressing hash table meant to hold up to @p max entries:
 * the smallest power of two that is at least 2 * @p max (a load factor of at
 * most 1/2 keeps linear probes short) and at least 8. Used by the dedupe and
 * name tables, so both size themselves alike.
 * @param max  at most 1u << 30, so that the result fits 32 bits
 * @return the number of slots; the table's mask is the result minus one.
 */
static inline uint32_t
msh_pow2_slots(uint32_t max)
{
	uint32_t n = 8;

	while (n < 2 * max)
		n <<= 1;
	return n;
}

/** Bytes of a message block's length field (MoldUDP64 block: length, then data). */
#define MSH_BLOCK_HDR_LEN 2

/** Length of a shard name on the wire (MoldUDP64 session). */
#define MSH_NAME_LEN 10

/** A shard name: 10 printable ASCII bytes, right-padded with spaces. */
struct msh_name {
	uint8_t b[MSH_NAME_LEN];
};

/**
 * Make a wire name from a C string: at most 10 printable ASCII characters, no
 * space inside (a space would be indistinguishable from the padding).
 * @return 0, or -EINVAL if the string is empty, too long or not printable.
 */
int msh_name_from_str(struct msh_name *n, const char *s);

/**
 * Check that 10 wire bytes form a valid name (printable, padded on the right).
 * @return true when valid.
 */
bool msh_name_valid(const struct msh_name *n);

/** Write the name without its padding into @p buf (at least 11 bytes). */
char *msh_name_to_str(const struct msh_name *n, char *buf);

static inline bool
msh_name_eq(const struct msh_name *a, const struct msh_name *b)
{
	return memcmp(a->b, b->b, MSH_NAME_LEN) == 0;
}

/* Big-endian loads and stores on possibly unaligned wire bytes. memcpy of a
 * fixed size compiles to one move plus bswap. */
/**
 * The name of reason @p code (0 or a negative enum value, as the parsers
 * return) in a table of @p n names indexed by the positive value, or
 * @p unknown when it is out of the table (INT_MIN included).
 */
static inline const char *
msh_reason_str(const char *const *names, size_t n, int code, const char *unknown)
{
	/* Negate in unsigned arithmetic so INT_MIN is not undefined. */
	unsigned int e = code < 0 ? 0u - (unsigned int)code : (unsigned int)code;

	return e < n && names[e] != NULL ? names[e] : unknown;
}

static inline uint16_t
msh_load_be16(const void *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return __builtin_bswap16(v);
}

static inline uint32_t
msh_load_be32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return __builtin_bswap32(v);
}

static inline uint64_t
msh_load_be64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return __builtin_bswap64(v);
}

static inline void
msh_store_be16(void *p, uint16_t v)
{
	v = __builtin_bswap16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
msh_store_be32(void *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void
msh_store_be64(void *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	memcpy(p, &v, sizeof(v));
}

/* Little-endian loads and stores for the project's local file formats
 * (spill files, the journal); a no-op swap on x86. */
static inline uint32_t
msh_load_le32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	return v;
}

static inline uint64_t
msh_load_le64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline void
msh_store_le32(void *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap32(v);
#endif
	memcpy(p, &v, sizeof(v));
}

static inline void
msh_store_le64(void *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, sizeof(v));
}

#endif /* MSH_COMMON_H */
