/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * Fan-out packet build: copy vs zero-copy mbufs (issue 10). On one lcore, no
 * port, no network: builds MoldUDP64 feed packets of 64..1400 bytes of message
 * blocks taken from a retained-data buffer (rte_malloc, 16 MiB by default) at
 * a random offset per packet, as fan-out to many subscribers and catch-up
 * reads do, and times each way of building them with rte_rdtsc:
 *
 *   copy+csum   what app/worker.c feed_packet() does: rte_pktmbuf_alloc,
 *               append, Ethernet/IPv4/UDP + MoldUDP64 header, rte_memcpy of
 *               the blocks, msh_udp_csum_fill() (software, whole payload).
 *   copy        the same with UDP checksum 0 ("none", legal on IPv4).
 *   extbuf      a header mbuf (headers only) chained to a second mbuf that
 *               rte_pktmbuf_attach_extbuf() points at the blocks where they
 *               are stored. Each attached mbuf carries its own
 *               rte_mbuf_ext_shared_info (in the mbuf's private area) whose
 *               free callback drops a per-segment count of packets in flight,
 *               as a real implementation needs so that a segment slot is not
 *               reused (evicted, or sealed and recycled) while a NIC still
 *               reads from it. UDP checksum 0.
 *   extbuf+csum the same with the UDP checksum computed in software over the
 *               header mbuf and the stored blocks (the CPU reads the payload
 *               again; only a NIC checksum offload would avoid it).
 *   ... -> af_packet: the copy+csum and extbuf+csum packets then copied once
 *               more the way net_af_packet's TX does (DPDK 22.11
 *               eth_af_packet_tx: memcpy of every segment of the chain into
 *               a TPACKET_V2 ring frame), into a ring of 4096 x 2 KiB frames
 *               as tests/bench uses (framecnt=4096). This is what a packet
 *               costs on the PMD memshard runs on in its tests, minus the
 *               system call.
 *
 * Indirect mbufs (rte_pktmbuf_attach of a clone) are not measured: they can
 * only point into another mbuf's buffer, and a segment is not an mbuf (it is a
 * slot of a memzone arena of up to hundreds of MiB with its own header and
 * index, and an mbuf buffer is at most 64 KiB, buf_len being 16 bits). They
 * would only serve to send one already-copied payload mbuf to several
 * subscribers, which costs what extbuf costs plus a share of one copy.
 *
 * "TX completes" is modelled by holding each packet in a FIFO of -q packets
 * (1024 = the TX descriptors memshard gives a queue) and freeing it when it
 * falls out, so that mbufs cycle through the pool as they do behind a real
 * TX ring rather than one mbuf staying hot in L1.
 *
 * Two regimes: "spread" (the offset is random over the whole buffer: catch-up
 * subscribers, retransmission, replay) and "live edge" (random within the
 * newest 64 KiB: every live subscriber is sent the same few recent spans,
 * which are still in cache).
 *
 * Prints Markdown tables of ns per packet (median of -r runs of -n packets).
 * Timings never fail anything; a self-check that both builds give the same
 * bytes and checksum, and that every free callback ran, does (exit 1).
 *
 * EAL runs on one lcore on the first CPU of the process's affinity (so
 * `taskset -c 1` is honoured), with --no-pci, --no-telemetry, --no-shconf and
 * its own --file-prefix; on 2 MiB hugepages (--in-memory: no files) when
 * enough are free, as the appliance's arena is, else --no-huge (-H and -N
 * force either). Under --no-huge EAL 22.11 maps a memfd, which gets no
 * transparent hugepages, so the blocks then sit on 4 KiB pages and every
 * figure that reads them pays TLB misses the appliance would not; the first
 * line of the output says which. The run directory EAL leaves is removed.
 */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>

#include "fileio.h"
#include "net.h"
#include "wire.h"

#define FILE_PREFIX "msh_bench_fanout"
#define HDRS_LEN (MSH_UDP_HDRS_LEN + MSH_MOLD_HDR_LEN) /* 62: what the header mbuf holds */
#define UDP_OFF (MSH_ETH_HDR_LEN + MSH_IPV4_HDR_LEN)   /* 34 */
#define UDP_CSUM_OFF (UDP_OFF + 6)
#define SEG_SHIFT 20 /* 1 MiB "segments" for the in-flight counts */
#define N_SUBS 64    /* destinations cycled through, as fan-out to many subscribers */
#define LIVE_WINDOW (64u << 10)
#define AFP_FRAMES 4096u
#define AFP_FRAME 2048u
#define AFP_HDR 32u /* TPACKET2_HDRLEN - sizeof(struct sockaddr_ll): where the PMD copies to */
#define MAX_DEPTH 8192u
#define MAX_REPS 15

static const uint16_t sizes[] = {64, 256, 512, 1024, 1400};

enum variant { V_COPY_CSUM, V_COPY, V_EXT, V_EXT_CSUM, V_COPY_CSUM_AFP, V_EXT_CSUM_AFP, V_N };

static const char *const vname[V_N] = {
        "copy+csum ns",
        "copy ns",
        "extbuf ns",
        "extbuf+csum ns",
        "copy+csum → af_packet ns",
        "extbuf+csum → af_packet ns",
};

/* Per-segment count of packets a NIC may still be reading from. */
struct seg_ref {
	uint32_t in_flight;
	uint32_t released; /* callbacks seen, for the self-check */
} __rte_cache_aligned;

struct ctx {
	struct rte_mempool *pool;     /* header / whole-packet mbufs, as the port's pool */
	struct rte_mempool *ext_pool; /* no data room; private area = shared info */
	uint8_t *buf;                 /* retained message blocks */
	rte_iova_t buf_iova;
	size_t buf_len;
	struct seg_ref *segs;
	uint32_t n_segs;
	uint8_t *afp_ring;
	uint32_t afp_next;
	struct msh_udp_flow flows[N_SUBS];
	struct msh_name session;
	struct rte_mbuf *fifo[MAX_DEPTH];
	uint32_t depth, head;
	uint64_t rng;
	uint64_t seq;
	uint64_t sink;
};

static inline uint64_t
rnd(struct ctx *c)
{
	/* xorshift64*: a few cycles, the same in every variant */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1Dull;
}

/* Offset of a span of @p len bytes: uniform over [base, base + window - len]. */
static inline uint32_t
pick_off(struct ctx *c, size_t base, size_t window, uint16_t len)
{
	uint64_t range = window - len + 1;

	return (uint32_t)(base + (((rnd(c) >> 32) * range) >> 32));
}

static void
seg_release(void *addr, void *opaque)
{
	struct seg_ref *s = opaque;

	RTE_SET_USED(addr);
	/* One lcore builds and frees here; a design where another lcore (or a
	 * TX completion on another queue) frees would need an atomic. */
	s->in_flight--;
	s->released++;
}

/* Hand the packet to "TX": it completes (is freed) -q packets later. */
static inline void
tx(struct ctx *c, struct rte_mbuf *m)
{
	struct rte_mbuf *old = c->fifo[c->head];

	c->fifo[c->head] = m;
	if (++c->head == c->depth)
		c->head = 0;
	if (old != NULL)
		rte_pktmbuf_free(old);
}

static void
tx_drain(struct ctx *c)
{
	for (uint32_t i = 0; i < c->depth; i++) {
		if (c->fifo[i] != NULL)
			rte_pktmbuf_free(c->fifo[i]);
		c->fifo[i] = NULL;
	}
	c->head = 0;
}

/* What net_af_packet's TX does with each packet: copy the chain into the
 * next ring frame and set its length. */
static inline void
afp_copy(struct ctx *c, const struct rte_mbuf *m)
{
	uint8_t *f = c->afp_ring + (size_t)c->afp_next * AFP_FRAME;
	uint8_t *p = f + AFP_HDR;

	if (++c->afp_next == AFP_FRAMES)
		c->afp_next = 0;
	for (const struct rte_mbuf *s = m; s != NULL; s = s->next) {
		memcpy(p, rte_pktmbuf_mtod(s, const void *), rte_pktmbuf_data_len(s));
		p += rte_pktmbuf_data_len(s);
	}
	memcpy(f, &m->pkt_len, sizeof(m->pkt_len));
}

/* (a) and (a'): one mbuf, blocks copied in. */
static inline struct rte_mbuf *
build_copy(struct ctx *c, const struct msh_udp_flow *fl, uint32_t off, uint16_t len, bool csum)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(c->pool);
	uint8_t *p;

	if (unlikely(m == NULL))
		return NULL;
	p = (uint8_t *)rte_pktmbuf_append(m, HDRS_LEN + len);
	if (unlikely(p == NULL || msh_udp_hdr_build(p, HDRS_LEN + (size_t)len, fl,
	                                            MSH_MOLD_HDR_LEN + len) < 0)) {
		rte_pktmbuf_free(m);
		return NULL;
	}
	msh_mold_hdr_build(p + MSH_UDP_HDRS_LEN, MSH_MOLD_HDR_LEN, &c->session, c->seq++, 1);
	rte_memcpy(p + HDRS_LEN, c->buf + off, len);
	if (csum)
		msh_udp_csum_fill(p, rte_pktmbuf_data_len(m));
	return m;
}

/* (b): header mbuf + an mbuf attached to the stored blocks. */
static inline struct rte_mbuf *
build_ext(struct ctx *c, const struct msh_udp_flow *fl, uint32_t off, uint16_t len, bool csum)
{
	struct rte_mbuf *h = rte_pktmbuf_alloc(c->pool), *e;
	struct rte_mbuf_ext_shared_info *shi;
	struct seg_ref *s;
	uint8_t *p;

	if (unlikely(h == NULL))
		return NULL;
	e = rte_pktmbuf_alloc(c->ext_pool);
	if (unlikely(e == NULL)) {
		rte_pktmbuf_free(h);
		return NULL;
	}
	p = (uint8_t *)rte_pktmbuf_append(h, HDRS_LEN);
	if (unlikely(p == NULL ||
	             msh_udp_hdr_build(p, MSH_UDP_HDRS_LEN + (size_t)MSH_MOLD_HDR_LEN + len, fl,
	                               MSH_MOLD_HDR_LEN + len) < 0)) {
		rte_pktmbuf_free(h);
		rte_pktmbuf_free(e);
		return NULL;
	}
	msh_mold_hdr_build(p + MSH_UDP_HDRS_LEN, MSH_MOLD_HDR_LEN, &c->session, c->seq++, 1);

	s = &c->segs[off >> SEG_SHIFT];
	s->in_flight++;
	shi = (struct rte_mbuf_ext_shared_info *)rte_mbuf_to_priv(e);
	shi->free_cb = seg_release;
	shi->fcb_opaque = s;
	rte_mbuf_ext_refcnt_set(shi, 1);
	rte_pktmbuf_attach_extbuf(e, c->buf + off, c->buf_iova + off, len, shi);
	e->data_len = len;
	e->pkt_len = len;
	if (unlikely(rte_pktmbuf_chain(h, e) != 0)) {
		rte_pktmbuf_free(h);
		rte_pktmbuf_free(e);
		return NULL;
	}
	if (csum) {
		/* pseudo-header + UDP header (checksum 0) + MoldUDP64 header (28
		 * bytes, even) in the header mbuf, then the stored blocks. */
		uint8_t *ip = p + MSH_ETH_HDR_LEN;
		uint32_t ulen = MSH_UDP_HDR_LEN + MSH_MOLD_HDR_LEN + len;
		uint32_t sum = msh_ipv4_pseudo_sum(msh_load_be32(ip + 12), msh_load_be32(ip + 16),
		                                   MSH_IPPROTO_UDP, (uint16_t)ulen);
		uint16_t ck;

		sum = msh_csum_partial(p + UDP_OFF, MSH_UDP_HDR_LEN + MSH_MOLD_HDR_LEN, sum);
		sum = msh_csum_partial(c->buf + off, len, sum);
		ck = msh_csum_fold(sum);
		msh_store_be16(p + UDP_CSUM_OFF, ck ? ck : 0xFFFF);
	}
	return h;
}

static inline struct rte_mbuf *
build(struct ctx *c, enum variant v, const struct msh_udp_flow *fl, uint32_t off, uint16_t len)
{
	struct rte_mbuf *m;

	switch (v) {
	case V_COPY_CSUM:
		return build_copy(c, fl, off, len, true);
	case V_COPY:
		return build_copy(c, fl, off, len, false);
	case V_EXT:
		return build_ext(c, fl, off, len, false);
	case V_EXT_CSUM:
		return build_ext(c, fl, off, len, true);
	case V_COPY_CSUM_AFP:
		m = build_copy(c, fl, off, len, true);
		break;
	case V_EXT_CSUM_AFP:
		m = build_ext(c, fl, off, len, true);
		break;
	default:
		return NULL;
	}
	if (m != NULL)
		afp_copy(c, m);
	return m;
}

/* One timed run: @p n packets; returns TSC cycles, or 0 if an mbuf ran out. */
static uint64_t
run(struct ctx *c, enum variant v, uint16_t len, size_t base, size_t window, uint64_t n)
{
	uint64_t t0, t1;
	uint32_t sub = 0;

	t0 = rte_rdtsc();
	for (uint64_t i = 0; i < n; i++) {
		uint32_t off = pick_off(c, base, window, len);
		struct rte_mbuf *m = build(c, v, &c->flows[sub], off, len);

		if (unlikely(m == NULL))
			return 0;
		sub = (sub + 1) & (N_SUBS - 1);
		tx(c, m);
	}
	t1 = rte_rdtsc();
	tx_drain(c);
	return t1 - t0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Both builds of one span give the same frame bytes and checksum; every
 * attached mbuf's callback runs when its packet is freed. */
static int
self_check(struct ctx *c)
{
	static uint8_t a[2048], b[2048];

	for (unsigned int i = 0; i < RTE_DIM(sizes); i++) {
		uint32_t off = pick_off(c, 0, c->buf_len, sizes[i]);
		uint64_t seq = c->seq;
		struct rte_mbuf *m1, *m2;
		struct msh_frame f;
		struct msh_iface ifc = {.ip = c->flows[0].dst_ip, .prefix_len = 24};
		int ok;

		memcpy(ifc.mac, c->flows[0].dst_mac, MSH_ETH_ALEN);
		m1 = build_copy(c, &c->flows[0], off, sizes[i], true);
		c->seq = seq;
		m2 = build_ext(c, &c->flows[0], off, sizes[i], true);
		if (m1 == NULL || m2 == NULL || m2->nb_segs != 2 || m1->pkt_len != m2->pkt_len ||
		    rte_pktmbuf_read(m2, 0, m2->pkt_len, b) != b) {
			fprintf(stderr, "bench_fanout: self-check: build failed at %u B\n",
			        sizes[i]);
			return -1;
		}
		memcpy(a, rte_pktmbuf_mtod(m1, void *), m1->pkt_len);
		ok = memcmp(a, b, m1->pkt_len) == 0;
		ok = ok && msh_frame_parse(a, m1->pkt_len, &ifc, &f) == MSH_FRAME_UDP &&
		     f.payload_len == (uint32_t)MSH_MOLD_HDR_LEN + sizes[i] &&
		     msh_load_be16(a + UDP_CSUM_OFF) != 0;
		rte_pktmbuf_free(m1);
		rte_pktmbuf_free(m2);
		if (!ok) {
			fprintf(stderr,
			        "bench_fanout: self-check: copy and extbuf frames differ or "
			        "fail to parse at %u B\n",
			        sizes[i]);
			return -1;
		}
	}
	for (uint32_t i = 0; i < c->n_segs; i++)
		if (c->segs[i].in_flight != 0)
			return -1;
	return 0;
}

/* Free 2 MiB hugepages, in MiB (0 without a hugetlbfs mount). */
static uint64_t
hugepages_free_mb(void)
{
	uint64_t page_kb;
	bool mounted;
	uint64_t mb = msh_hugepages_free_mb(&mounted, &page_kb);

	return mounted && page_kb == 2048 ? mb : 0;
}

static void
usage(void)
{
	fprintf(stderr,
	        "usage: bench_fanout [-n packets] [-r runs] [-b buffer_MiB] [-q in_flight] "
	        "[-H|-N]\n"
	        "  -n  packets per timed run (default 2000000)\n"
	        "  -r  runs per figure, median reported (default 5, at most %d)\n"
	        "  -b  MiB of retained blocks to read from (default 16)\n"
	        "  -q  packets in flight before a TX completes and frees (default 1024)\n"
	        "  -H  EAL on hugepages; -N  EAL with --no-huge (default: hugepages if free)\n",
	        MAX_REPS);
}

/* --no-shconf and --no-telemetry leave only the directory; remove what else
 * may be there. Called after rte_eal_cleanup(). */
static void
remove_run_dir(const char *dir)
{
	static const char *const files[] = {"config", "mp_socket", "dpdk_telemetry.v2"};
	char path[512];

	if (strstr(dir, FILE_PREFIX) == NULL)
		return;
	for (unsigned int i = 0; i < RTE_DIM(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

int
main(int argc, char **argv)
{
	uint64_t n = 2000000, mib = 16;
	unsigned int reps = 5, depth = 1024, pool_n;
	int huge = -1; /* auto */
	char lcores[32], mem[32], run_dir[256];
	uint64_t need_mb;
	char *eal[16];
	int ea = 0, opt, rc = 0;
	cpu_set_t cs;
	int cpu = 0;
	static struct ctx c;
	static uint64_t cyc[2][RTE_DIM(sizes)][V_N][MAX_REPS];
	static double spreads[2 * RTE_DIM(sizes) * V_N];
	unsigned int n_spread = 0;
	double hz;

	while ((opt = getopt(argc, argv, "n:r:b:q:HNh")) != -1) {
		switch (opt) {
		case 'n':
			n = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			reps = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'b':
			mib = strtoull(optarg, NULL, 0);
			break;
		case 'q':
			depth = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'H':
			huge = 1;
			break;
		case 'N':
			huge = 0;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (n == 0 || reps == 0 || reps > MAX_REPS || mib == 0 || mib > 4096 || depth == 0 ||
	    depth > MAX_DEPTH) {
		usage();
		return 2;
	}

	/* One lcore on the first CPU we may run on, so taskset is honoured. */
	if (sched_getaffinity(0, sizeof(cs), &cs) == 0)
		for (cpu = 0; cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &cs); cpu++)
			;
	snprintf(lcores, sizeof(lcores), "0@%d", cpu);
	need_mb = mib + 128; /* blocks, pools, the af_packet ring, EAL's own */
	if (huge < 0)
		huge = hugepages_free_mb() >= need_mb + 64;
	snprintf(mem, sizeof(mem), "%lu", (unsigned long)need_mb);
	eal[ea++] = argv[0];
	eal[ea++] = "--lcores";
	eal[ea++] = lcores;
	eal[ea++] = "--no-pci";
	eal[ea++] = "--no-shconf";
	eal[ea++] = "--no-telemetry";
	eal[ea++] = "--file-prefix";
	eal[ea++] = FILE_PREFIX;
	eal[ea++] = "--log-level=error";
	eal[ea++] = "-m";
	eal[ea++] = mem;
	eal[ea++] = huge ? "--in-memory" : "--no-huge";
	eal[ea] = NULL;
	if (rte_eal_init(ea, eal) < 0) {
		fprintf(stderr, "bench_fanout: rte_eal_init: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	snprintf(run_dir, sizeof(run_dir), "%s", rte_eal_get_runtime_dir());

	c.depth = depth;
	c.rng = 0x9E3779B97F4A7C15ull;
	msh_name_from_str(&c.session, "bench");
	for (int i = 0; i < N_SUBS; i++) {
		struct msh_udp_flow *f = &c.flows[i];
		static const uint8_t smac[6] = {0x02, 0, 0, 0, 0, 1};

		memcpy(f->src_mac, smac, 6);
		memcpy(f->dst_mac, (uint8_t[6]){0x02, 0, 0, 0, 1, (uint8_t)(i + 2)}, 6);
		f->src_ip = 0x0A000001u;
		f->dst_ip = 0x0A000002u + (uint32_t)i;
		f->src_port = 30001;
		f->dst_port = (uint16_t)(40000 + i);
		f->ttl = 0;
	}

	/* As drivers/net/ethdev.c: cache 256, 2 KiB data room; enough mbufs for
	 * what is in flight plus the cache, 2^n - 1. */
	pool_n = 1023;
	while (pool_n < depth + 1024)
		pool_n = pool_n * 2 + 1;
	c.pool = rte_pktmbuf_pool_create("fan_pool", pool_n, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
	                                 (int)rte_socket_id());
	c.ext_pool = rte_pktmbuf_pool_create(
	        "fan_ext", pool_n, 256,
	        RTE_ALIGN(sizeof(struct rte_mbuf_ext_shared_info), RTE_MBUF_PRIV_ALIGN), 0,
	        (int)rte_socket_id());
	c.buf_len = mib << 20;
	c.buf = rte_malloc("fan_blocks", c.buf_len, 2u << 20);
	c.n_segs = (uint32_t)(c.buf_len >> SEG_SHIFT);
	c.segs = rte_zmalloc("fan_segs", sizeof(*c.segs) * c.n_segs, RTE_CACHE_LINE_SIZE);
	c.afp_ring = rte_malloc("fan_afp", (size_t)AFP_FRAMES * AFP_FRAME, 2u << 20);
	if (c.pool == NULL || c.ext_pool == NULL || c.buf == NULL || c.segs == NULL ||
	    c.afp_ring == NULL) {
		fprintf(stderr, "bench_fanout: allocation: %s\n", rte_strerror(rte_errno));
		rc = 1;
		goto out;
	}
	for (size_t i = 0; i < c.buf_len; i += 8) {
		uint64_t r = rnd(&c);

		memcpy(c.buf + i, &r, 8);
	}
	memset(c.afp_ring, 0, (size_t)AFP_FRAMES * AFP_FRAME);
	c.buf_iova = rte_malloc_virt2iova(c.buf);

	if (self_check(&c) != 0) {
		fprintf(stderr, "bench_fanout: self-check failed\n");
		rc = 1;
		goto out;
	}

	hz = (double)rte_get_tsc_hz();
	printf("One lcore on CPU %d; TSC %.3f GHz; %lu MiB of blocks, mbufs and the af_packet "
	       "ring on %s; %u packets in flight before a TX completes; %lu packets per run, "
	       "median of %u runs; %d destinations cycled.\n\n",
	       cpu, hz / 1e9, (unsigned long)mib,
	       huge ? "2 MiB hugepages (as the appliance's arena)"
	            : "4 KiB pages (EAL --no-huge: the appliance would use hugepages)",
	       depth, (unsigned long)n, reps, N_SUBS);

	/* Every run of every figure in turn (size, then run, then regime and
	 * variant), so that a slow spell of the host (other tenants, the other
	 * CPU) lands on all variants alike rather than on one column. */
	for (unsigned int i = 0; i < RTE_DIM(sizes); i++)
		for (unsigned int r = 0; r < reps; r++)
			for (int g = 0; g < 2; g++)
				for (int v = 0; v < V_N; v++) {
					size_t window =
					        g == 0 ? c.buf_len
					               : RTE_MIN((size_t)LIVE_WINDOW, c.buf_len);
					size_t base = c.buf_len - window;

					/* warm-up: fill the in-flight FIFO and the caches */
					run(&c, (enum variant)v, sizes[i], base, window,
					    n / 20 + depth);
					cyc[g][i][v][r] =
					        run(&c, (enum variant)v, sizes[i], base, window, n);
					if (cyc[g][i][v][r] == 0) {
						fprintf(stderr, "bench_fanout: out of mbufs\n");
						rc = 1;
						goto out;
					}
				}

	for (int g = 0; g < 2; g++) {
		if (g == 0)
			printf("Spread: each packet's blocks at a random offset in the %lu MiB "
			       "buffer (catch-up, retransmission, replay).\n\n",
			       (unsigned long)mib);
		else
			printf("Live edge: random offsets within the newest %u KiB (every live "
			       "subscriber is sent the same recent spans, still in cache).\n\n",
			       LIVE_WINDOW >> 10);
		printf("| payload B |");
		for (int v = 0; v < V_N; v++)
			printf(" %s |", vname[v]);
		printf(" extbuf+csum / copy+csum |\n|---:|");
		for (int v = 0; v <= V_N; v++)
			printf("---:|");
		printf("\n");
		for (unsigned int i = 0; i < RTE_DIM(sizes); i++) {
			double med[V_N];

			printf("| %u |", sizes[i]);
			for (int v = 0; v < V_N; v++) {
				uint64_t *x = cyc[g][i][v];

				qsort(x, reps, sizeof(x[0]), cmp_u64);
				med[v] = (double)x[reps / 2] * 1e9 / hz / (double)n;
				spreads[n_spread++] = (double)x[reps - 1] / (double)x[0] - 1;
				printf(" %.1f |", med[v]);
			}
			printf(" %.2f |\n", med[V_EXT_CSUM] / med[V_COPY_CSUM]);
		}
		printf("\n");
	}
	qsort(spreads, n_spread, sizeof(spreads[0]), cmp_double);
	printf("Run-to-run spread of a figure (slowest run / fastest - 1): median %.0f%%, worst "
	       "%.0f%%.\n\n",
	       100 * spreads[n_spread / 2], 100 * spreads[n_spread - 1]);
	for (uint32_t i = 0; i < c.n_segs; i++)
		if (c.segs[i].in_flight != 0) {
			fprintf(stderr, "bench_fanout: segment %u still has %u packets in flight\n",
			        i, c.segs[i].in_flight);
			rc = 1;
		}
out:
	rte_mempool_free(c.pool);
	rte_mempool_free(c.ext_pool);
	rte_free(c.buf);
	rte_free(c.segs);
	rte_free(c.afp_ring);
	rte_eal_cleanup();
	remove_run_dir(run_dir);
	return rc;
}
