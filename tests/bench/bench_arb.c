/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * A/B arbitration (lib/arb) on one core, no DPDK, no network: a MoldUDP64 feed
 * of N messages in full 1400-byte packets is built in memory, then fed to the
 * arbiter the way a worker would (msh_mold_parse, then msh_arb_rx) on line A
 * alone, on A and B without loss (every B packet a duplicate), and on A and B
 * with independent 5% loss per line and B up to 8 packets behind (gaps held
 * and filled). The sink either only counts (the arbitration's own cost) or
 * appends to a shard (lib/shard, evicting) as a feed's shard would. Prints a
 * Markdown table: ns per upstream message and million upstream messages per
 * second, median of the runs. Timings never fail anything.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arb.h"
#include "shard.h"
#include "wire.h"

#define PKT 1400u

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct feed {
	uint8_t *buf;    /* packets, PKT bytes apart */
	uint32_t *len;   /* bytes of each */
	uint32_t n_pkts;
	uint64_t msgs;
};

static void
feed_build(struct feed *f, uint64_t msgs, uint32_t size)
{
	uint32_t per = (PKT - MSH_MOLD_HDR_LEN) / (size + MSH_BLOCK_HDR_LEN);
	struct msh_name n;
	uint64_t seq = 1;

	msh_name_from_str(&n, "FEED");
	f->n_pkts = (uint32_t)((msgs + per - 1) / per);
	f->buf = malloc((size_t)f->n_pkts * PKT);
	f->len = malloc(sizeof(uint32_t) * f->n_pkts);
	if (f->buf == NULL || f->len == NULL) {
		perror("malloc");
		exit(1);
	}
	for (uint32_t p = 0; p < f->n_pkts; p++) {
		uint8_t *b = f->buf + (size_t)p * PKT;
		uint32_t c = (uint32_t)(msgs - seq + 1 < per ? msgs - seq + 1 : per), off;

		msh_mold_hdr_build(b, MSH_MOLD_HDR_LEN, &n, seq, (uint16_t)c);
		off = MSH_MOLD_HDR_LEN;
		for (uint32_t i = 0; i < c; i++) {
			msh_store_be16(b + off, (uint16_t)size);
			memset(b + off + 2, (int)((seq + i) & 0xff), size);
			off += 2 + size;
		}
		f->len[p] = off;
		seq += c;
	}
	f->msgs = msgs;
}

struct sink {
	uint64_t msgs;
	struct msh_shard *s; /* NULL: count only */
};

static int
sink_emit(void *arg, uint64_t seq, const uint8_t *blocks, uint32_t len, uint32_t count)
{
	struct sink *k = arg;
	uint64_t first;

	(void)seq;
	k->msgs += count;
	if (k->s != NULL)
		return msh_shard_append(k->s, blocks, len, count, 0, &first);
	return 0;
}

enum scenario { ONE_LINE, TWO_LINES, TWO_LOSSY };

static const char *const scenario_str[] = {
	"A only, no loss",
	"A and B, no loss (B all duplicates)",
	"A and B, 5% loss each, B up to 8 packets behind",
};

/* One run: ns per upstream message. */
static double
run(const struct feed *f, enum scenario sc, struct msh_shard *s, uint32_t seed)
{
	struct msh_arb_conf c = {.gap_timeout_ns = 1000000000ull,
				 .max_jump = 1u << 30,
				 .hold_pkts = 256,
				 .max_packet = PKT,
				 .skew_slots = 4096};
	size_t alen = msh_arb_footprint(&c);
	void *mem = NULL;
	struct msh_arb *a;
	struct sink k = {.s = s};
	uint8_t *drop;
	uint32_t bi = 0;
	uint64_t t0, t1;

	if (posix_memalign(&mem, 64, alen) != 0 || (a = msh_arb_init(mem, alen, &c)) == NULL) {
		perror("arb");
		exit(1);
	}
	/* Loss decided up front: bit 0 lost on A, bit 1 on B (never both on
	 * the first packet, so the feed starts at 1). */
	drop = calloc(f->n_pkts, 1);
	srandom(seed);
	if (sc == TWO_LOSSY)
		for (uint32_t p = 1; p < f->n_pkts; p++)
			drop[p] = (uint8_t)((random() % 100 < 5) | ((random() % 100 < 5) << 1));
	t0 = now_ns();
	for (uint32_t p = 0; p < f->n_pkts; p++) {
		struct msh_mold m;

		if (!(drop[p] & 1) && msh_mold_parse(f->buf + (size_t)p * PKT, f->len[p], &m) == 0)
			msh_arb_rx(a, 0, &m, p, sink_emit, &k);
		if (sc == ONE_LINE)
			continue;
		/* B: the same packet (no loss), or up to 8 behind. */
		while (bi <= p && (sc == TWO_LINES || p - bi >= 8 || (p + bi) % 3 == 0)) {
			if (!(drop[bi] & 2) &&
			    msh_mold_parse(f->buf + (size_t)bi * PKT, f->len[bi], &m) == 0)
				msh_arb_rx(a, 1, &m, p, sink_emit, &k);
			bi++;
		}
	}
	for (; bi < f->n_pkts && sc != ONE_LINE; bi++) {
		struct msh_mold m;

		if (!(drop[bi] & 2) && msh_mold_parse(f->buf + (size_t)bi * PKT, f->len[bi], &m) == 0)
			msh_arb_rx(a, 1, &m, f->n_pkts, sink_emit, &k);
	}
	msh_arb_flush(a, f->n_pkts, sink_emit, &k); /* what both lines lost at the end */
	t1 = now_ns();
	if (k.msgs + a->stats.gap_msgs_lost != f->msgs) {
		fprintf(stderr, "bench_arb: %lu emitted + %lu lost != %lu (next %lu, held %u, gap %d, "
			"refused %lu)\n", (unsigned long)k.msgs,
			(unsigned long)a->stats.gap_msgs_lost, (unsigned long)f->msgs,
			(unsigned long)a->next_seq, a->n_held, a->gap_open,
			(unsigned long)a->stats.emit_refused);
		exit(1);
	}
	free(drop);
	free(mem);
	return (double)(t1 - t0) / (double)f->msgs;
}

static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

static struct msh_shard *
shard_new(void **mem, size_t *len)
{
	struct msh_shard_conf sc;

	memset(&sc, 0, sizeof(sc));
	msh_name_from_str(&sc.name, "FEED");
	sc.segment_bytes = 16u << 20;
	sc.max_bytes = 256ull << 20;
	sc.on_full = MSH_ON_FULL_EVICT;
	sc.max_message = 1400;
	sc.max_publishers = 16;
	*len = msh_shard_footprint(&sc);
	if (posix_memalign(mem, 4096, *len) != 0) {
		perror("shard");
		exit(1);
	}
	memset(*mem, 0, *len);
	return msh_shard_init(*mem, *len, &sc, 1);
}

int
main(int argc, char **argv)
{
	uint64_t msgs = 10000000;
	unsigned int reps = 5;
	static const uint32_t sizes[] = {16, 64};
	int o;

	while ((o = getopt(argc, argv, "n:r:h")) != -1) {
		switch (o) {
		case 'n':
			msgs = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			reps = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: bench_arb [-n MESSAGES] [-r RUNS]\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (reps == 0 || reps > 100 || msgs == 0) {
		fprintf(stderr, "bench_arb: -r 1..100, -n > 0\n");
		return 2;
	}
	printf("%lu upstream messages per run, median of %u runs; ns and M msg/s per upstream "
	       "message.\n\n", (unsigned long)msgs, reps);
	printf("| msg B | scenario | arbitration only, ns | M msg/s | arbitration + shard append, "
	       "ns | M msg/s |\n|---:|---|---:|---:|---:|---:|\n");
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		struct feed f;

		feed_build(&f, msgs, sizes[z]);
		for (int sc = ONE_LINE; sc <= TWO_LOSSY; sc++) {
			double only[100], app[100];

			for (unsigned int r = 0; r < reps; r++) {
				void *smem;
				size_t slen;
				struct msh_shard *s = shard_new(&smem, &slen);

				only[r] = run(&f, (enum scenario)sc, NULL, 7 + r);
				app[r] = run(&f, (enum scenario)sc, s, 7 + r);
				free(smem);
			}
			qsort(only, reps, sizeof(double), cmp_double);
			qsort(app, reps, sizeof(double), cmp_double);
			printf("| %u | %s | %.1f | %.1f | %.1f | %.1f |\n", sizes[z], scenario_str[sc],
			       only[reps / 2], 1000.0 / only[reps / 2], app[reps / 2],
			       1000.0 / app[reps / 2]);
		}
		free(f.buf);
		free(f.len);
	}
	return 0;
}
