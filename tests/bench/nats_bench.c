/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * The NATS side of the side-by-side benchmark: the same work msh-bench
 * --mode deliver does against memshard, done against nats-server with the
 * NATS C client (libnats). One connection publishes messages of the same
 * layout (8-byte index, 8-byte CLOCK_MONOTONIC time, filler) on a fixed
 * timeline (--rate N, latency measured from the scheduled time: no
 * coordinated omission) or flat out (--rate 0); a second connection
 * subscribes and takes one publish-to-delivery sample per message into the
 * same log-linear histogram (lib/hist.h). Output: one JSON object with the
 * keys msh-bench --json uses for latency and throughput.
 *
 * Latency runs set SendAsap (no client-side batching), as a NATS user tuning
 * for latency would; throughput runs leave libnats' batching on.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include <nats/nats.h>

#include "hist.h"

struct bench {
	const char *url, *subject;
	uint64_t rate, count, warmup;
	uint32_t size;
	natsConnection *pub, *sub_conn;
	natsSubscription *sub;
	struct hist h;
	uint64_t received, first_recv, last_recv, t0;
	volatile int done;
};

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *
receiver(void *arg)
{
	struct bench *b = arg;
	uint64_t want = b->warmup + b->count;

	while (b->received < want) {
		natsMsg *m = NULL;
		natsStatus s = natsSubscription_NextMsg(&m, b->sub, 2000);

		if (s == NATS_TIMEOUT)
			break; /* the rest is lost */
		if (s != NATS_OK)
			continue;
		if (natsMsg_GetDataLength(m) >= 16) {
			const uint8_t *d = (const uint8_t *)natsMsg_GetData(m);
			uint64_t idx = msh_load_be64(d), ts = msh_load_be64(d + 8), now = mono_ns();

			if (idx >= b->warmup) {
				hist_add(&b->h, now > ts ? now - ts : 0);
				if (b->first_recv == 0)
					b->first_recv = now;
				b->last_recv = now;
			}
			b->received++;
		}
		natsMsg_Destroy(m);
	}
	b->done = 1;
	return NULL;
}

static natsConnection *
connect_to(const char *url, bool asap)
{
	natsOptions *o = NULL;
	natsConnection *c = NULL;

	natsOptions_Create(&o);
	natsOptions_SetURL(o, url);
	natsOptions_SetSendAsap(o, asap);
	natsOptions_SetMaxPendingMsgs(o, 10000000);
	if (natsConnection_Connect(&c, o) != NATS_OK) {
		fprintf(stderr, "nats_bench: cannot connect to %s: %s\n", url, nats_GetLastError(NULL));
		exit(1);
	}
	natsOptions_Destroy(o);
	return c;
}

int
main(int argc, char **argv)
{
	static const double pcts[] = {50, 90, 99, 99.9, 99.99};
	static const char *const keys[] = {"p50", "p90", "p99", "p99_9", "p99_99"};
	static struct bench b = {.url = "nats://127.0.0.1:4222", .subject = "ticks",
				 .rate = 10000, .count = 100000, .warmup = 10000, .size = 64};
	uint8_t *msg;
	pthread_t th;
	int opt;
	uint64_t start, sent_end;

	while ((opt = getopt(argc, argv, "u:r:n:w:s:h")) != -1) {
		switch (opt) {
		case 'u': b.url = optarg; break;
		case 'r': b.rate = strtoull(optarg, NULL, 10); break;
		case 'n': b.count = strtoull(optarg, NULL, 10); break;
		case 'w': b.warmup = strtoull(optarg, NULL, 10); break;
		case 's': b.size = (uint32_t)strtoul(optarg, NULL, 10); break;
		default:
			printf("usage: nats_bench [-u URL] [-r msgs/s, 0 = flat out] [-n measured msgs] "
			       "[-w warm-up msgs] [-s size >= 16]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (b.size < 16 || b.count == 0) {
		fprintf(stderr, "nats_bench: -s takes 16 or more, -n a positive count\n");
		return 2;
	}
	prctl(PR_SET_TIMERSLACK, 1UL); /* wake on time, as msh-bench does */
	b.pub = connect_to(b.url, b.rate != 0);
	b.sub_conn = connect_to(b.url, true);
	if (natsConnection_SubscribeSync(&b.sub, b.sub_conn, b.subject) != NATS_OK ||
	    natsSubscription_SetPendingLimits(b.sub, -1, -1) != NATS_OK ||
	    natsConnection_Flush(b.sub_conn) != NATS_OK) {
		fprintf(stderr, "nats_bench: subscribe: %s\n", nats_GetLastError(NULL));
		return 1;
	}
	pthread_create(&th, NULL, receiver, &b);
	msg = calloc(1, b.size);
	start = mono_ns();
	for (uint64_t i = 0; i < b.warmup + b.count; i++) {
		uint64_t due = b.rate ? start + i * 1000000000ull / b.rate : 0, now;

		if (b.rate) {
			/* Sleep until just before the due time, as msh-bench's blocking
			 * mode does, then spin the last microseconds: a pacer spinning
			 * the whole time would take a core from nats-server on a
			 * 2-core host and make NATS look worse than it is. */
			now = mono_ns();
			if (due > now + 60000) {
				struct timespec ts = {.tv_sec = (time_t)((due - 30000) / 1000000000ull),
						      .tv_nsec = (long)((due - 30000) % 1000000000ull)};

				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
			}
			while ((now = mono_ns()) < due)
				; /* the send time written is the due time */
		}
		for (uint32_t j = 16; j < b.size; j++)
			msg[j] = (uint8_t)(i * 131 + (j - 16) * 7);
		msh_store_be64(msg, i);
		msh_store_be64(msg + 8, b.rate ? due : mono_ns());
		if (i == b.warmup)
			b.t0 = mono_ns();
		natsConnection_Publish(b.pub, b.subject, msg, (int)b.size);
	}
	natsConnection_Flush(b.pub);
	sent_end = mono_ns();
	pthread_join(th, NULL);
	{
		uint64_t measured = b.h.n, end = b.last_recv > sent_end ? b.last_recv : sent_end;
		double secs = (double)(end - b.t0) / 1e9;

		printf("{\"system\":\"nats-server\",\"rate\":%lu,\"size\":%u,\"sent_messages\":%lu,"
		       "\"lost\":%lu,\"throughput_msgs_per_s\":%.1f,\"latency_us\":{\"samples\":%lu",
		       (unsigned long)b.rate, b.size, (unsigned long)b.count,
		       (unsigned long)(b.count - measured), (double)measured / secs,
		       (unsigned long)measured);
		for (size_t i = 0; i < MSH_ARRAY_SIZE(pcts); i++)
			printf(",\"%s\":%.2f", keys[i], (double)hist_pct(&b.h, pcts[i]) / 1000.0);
		printf(",\"max\":%.2f}}\n", (double)b.h.max / 1000.0);
	}
	natsSubscription_Destroy(b.sub);
	natsConnection_Destroy(b.pub);
	natsConnection_Destroy(b.sub_conn);
	free(msg);
	return 0;
}
