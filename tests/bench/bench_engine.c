/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Engine benchmark on one core, no DPDK: appends into a shard (one message a
 * call, and datagram-sized batches as the worker appends them), the full
 * publish action (dedupe + append), and reads of retained ranges as wire-ready
 * spans. Memory is faulted in before timing, and the shard evicts so that a
 * run never stops at the limit. Prints a Markdown table, or with --tsv one
 * line per figure for scripts. Timings never fail anything.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "shard.h"

#define SEGMENT (16u << 20)
#define MAX_BYTES (256ull << 20)
#define DATAGRAM 1400u

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *
region(size_t len)
{
	/* Hugepages when the host has them, as the appliance would; else
	 * transparent hugepages if allowed; either way faulted in up front. */
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB,
		       -1, 0);

	if (p == MAP_FAILED) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			exit(1);
		}
		madvise(p, len, MADV_HUGEPAGE);
	}
	memset(p, 0, len);
	return p;
}

struct bench {
	struct msh_shard *s;
	void *mem;
	size_t len;
	uint8_t blocks[DATAGRAM];
	uint32_t per_dgram, dgram_len;
	uint16_t msg;
};

static void
bench_setup(struct bench *b, uint16_t msg)
{
	struct msh_shard_conf c;

	memset(&c, 0, sizeof(c));
	msh_name_from_str(&c.name, "bench");
	c.segment_bytes = SEGMENT;
	c.max_bytes = MAX_BYTES;
	c.on_full = MSH_ON_FULL_EVICT;
	c.max_message = 1438;
	c.max_publishers = 1024;
	c.replicas = 1;
	c.acks = MSH_ACKS_ONE;
	b->len = msh_shard_footprint(&c);
	b->mem = region(b->len);
	b->s = msh_shard_init(b->mem, b->len, &c, 1);
	if (b->s == NULL) {
		perror("msh_shard_init");
		exit(1);
	}
	b->msg = msg;
	b->per_dgram = (DATAGRAM) / (2u + msg);
	b->dgram_len = b->per_dgram * (2u + msg);
	for (uint32_t i = 0, off = 0; i < b->per_dgram; i++, off += 2u + msg) {
		msh_store_be16(b->blocks + off, msg);
		memset(b->blocks + off + 2, (int)i, msg);
	}
}

static void
bench_teardown(struct bench *b)
{
	munmap(b->mem, b->len);
}

/* Fill the whole shard once so every slot is faulted and eviction runs. */
static void
warm(struct bench *b)
{
	uint64_t seq;
	uint64_t total = 2 * MAX_BYTES / b->dgram_len;

	for (uint64_t i = 0; i < total; i++)
		msh_shard_append(b->s, b->blocks, b->dgram_len, b->per_dgram, i, &seq);
}

enum mode { APPEND_ONE, APPEND_BATCH, PUBLISH_BATCH, READ, READ_COPY };
static const char *const mode_name[] = {"append, 1 msg/call", "append, batch/call",
					"publish (dedupe+append), batch",
					"read: wire-ready spans of <=1400 B (zero copy)",
					"read + copy each span into a packet buffer"};

static double
run(struct bench *b, enum mode m, uint64_t msgs)
{
	uint64_t t0, t1, seq, done = 0, before = b->s->next_seq;
	struct msh_pub_result r;
	struct msh_span sp;
	volatile uint64_t sink = 0;
	static uint8_t pkt[DATAGRAM];

	t0 = now_ns();
	switch (m) {
	case APPEND_ONE:
		for (; done < msgs; done++)
			msh_shard_append(b->s, b->blocks, 2u + b->msg, 1, done, &seq);
		break;
	case APPEND_BATCH:
		for (; done < msgs; done += b->per_dgram)
			msh_shard_append(b->s, b->blocks, b->dgram_len, b->per_dgram, done, &seq);
		break;
	case PUBLISH_BATCH: {
		uint64_t pseq = msh_dedupe_next(b->s->dedupe, 1);

		for (; done < msgs; done += b->per_dgram, pseq += b->per_dgram)
			msh_shard_publish(b->s, 1, pseq, b->blocks, b->dgram_len, b->per_dgram, done,
					  &r);
		break;
	}
	case READ:
	case READ_COPY: {
		uint64_t q = msh_shard_first_seq(b->s);
		int n;

		while (done < msgs) {
			n = msh_shard_read(b->s, q, UINT16_MAX, DATAGRAM, &sp);
			if (n <= 0) {
				q = msh_shard_first_seq(b->s);
				continue;
			}
			if (m == READ_COPY) {
				memcpy(pkt, sp.data, sp.len);
				sink += pkt[sp.len - 1];
			} else {
				sink += sp.data[0] + sp.len;
			}
			q += (uint64_t)n;
			done += (uint64_t)n;
		}
		break;
	}
	}
	t1 = now_ns();
	(void)sink;
	/* Not a timing check: a run that did not append what it timed would
	 * report a meaningless figure, so refuse to print it. */
	if (m <= PUBLISH_BATCH && b->s->next_seq - before != done) {
		fprintf(stderr, "bench_engine: %s appended %llu of %llu messages\n", mode_name[m],
			(unsigned long long)(b->s->next_seq - before), (unsigned long long)done);
		exit(1);
	}
	return (double)done * 1e9 / (double)(t1 - t0);
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	static const uint16_t sizes[] = {16, 32, 64, 256};
	uint64_t msgs = 20000000;
	int reps = 5, tsv = 0, opt;

	while ((opt = getopt(argc, argv, "n:r:th")) != -1) {
		switch (opt) {
		case 'n':
			msgs = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			reps = atoi(optarg);
			break;
		case 't':
			tsv = 1;
			break;
		default:
			printf("usage: %s [-n messages per run] [-r runs, median reported] [-t tsv]\n",
			       argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (reps < 1 || reps > 99 || msgs == 0) {
		fprintf(stderr, "bench_engine: -r takes 1..99 and -n a positive count\n");
		return 2;
	}
	if (!tsv) {
		printf("| operation | msg bytes | msgs/call | Mmsg/s (median of %d) | MB/s |\n", reps);
		printf("|---|---:|---:|---:|---:|\n");
	}
	for (size_t si = 0; si < MSH_ARRAY_SIZE(sizes); si++) {
		struct bench b;

		bench_setup(&b, sizes[si]);
		warm(&b);
		for (int m = APPEND_ONE; m <= READ_COPY; m++) {
			double r[99];

			for (int k = 0; k < reps; k++)
				r[k] = run(&b, (enum mode)m, msgs);
			qsort(r, (size_t)reps, sizeof(r[0]), cmp_double);
			double med = r[reps / 2];
			double mbs = med * sizes[si] / 1e6;
			uint32_t per = m == APPEND_ONE ? 1 : b.per_dgram;

			if (tsv)
				printf("%s\t%u\t%u\t%.2f\t%.1f\n", mode_name[m], sizes[si], per, med / 1e6,
				       mbs);
			else
				printf("| %s | %u | %u | %.2f | %.0f |\n", mode_name[m], sizes[si], per,
				       med / 1e6, mbs);
		}
		bench_teardown(&b);
	}
	return 0;
}
