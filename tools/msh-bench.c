/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright(c) 2026 memshard authors
 *
 * msh-bench: latency and throughput of a memshard appliance from kernel UDP
 * sockets. Owns the open-loop load generator (a fixed send timeline, so a
 * slow answer never delays the next send and latency is measured from the
 * scheduled time: no coordinated omission), the two measurements
 * (publish -> ACK, and publish -> delivery on the shard's MoldUDP64 feed to a
 * subscription made by the same process), the log-linear latency histogram,
 * and the human and JSON reports. Blocking sockets by default; --busy-poll
 * spins on non-blocking sockets.
 */
#include <getopt.h>
#include <jansson.h>
#include <sys/prctl.h>

#include "client.h"
#include "hist.h"

static const char usage_text[] =
        "NAME\n"
        "    msh-bench - latency and throughput of a memshard appliance\n"
        "\n"
        "SYNOPSIS\n"
        "    msh-bench [OPTIONS] ADDR[:PORT] NAME\n"
        "\n"
        "DESCRIPTION\n"
        "    Publishes generated messages (the msh-pub --gen layout: 8-byte index, 8-byte\n"
        "    CLOCK_MONOTONIC send time, filler) to shard NAME (1 to 10 printable ASCII\n"
        "    characters, no spaces) on the appliance at ADDR (IPv4 address or name; PORT\n"
        "    defaults to 9000) and measures:\n"
        "\n"
        "    --mode ack       publish -> ACK: every PUBLISH asks for an ACK; one latency sample\n"
        "                     per datagram, from its send time to the arrival of its ACK.\n"
        "    --mode deliver   publish -> delivery: the process also subscribes to NAME (token\n"
        "                     handshake, start at new messages, lease renewed every lease/3)\n"
        "                     and takes one sample per message of this run arriving on the\n"
        "                     MoldUDP64 feed, from the time inside the message. PUBLISH asks\n"
        "                     for no ACK. Gaps in the feed are counted, not re-requested.\n"
        "\n"
        "    Pacing (--rate N > 0) is open loop on a fixed timeline: datagram j, holding\n"
        "    messages j*K .. j*K+K-1 (K = --batch), is due at start + j*K/N seconds whatever\n"
        "    happened before, several late datagrams go out in one sendmmsg, and latency is\n"
        "    measured from the scheduled time (which is also the time written in the\n"
        "    messages), so a stall of the sender or the appliance counts against the\n"
        "    latency of every message it delayed instead of being omitted (no coordinated\n"
        "    omission). With --rate 0 the sender runs flat out, --burst datagrams per\n"
        "    sendmmsg, and measures from the actual send time; --window then bounds the\n"
        "    un-acked datagrams in --mode ack (closed loop).\n"
        "\n"
        "    The run is --warmup seconds, not measured, then --duration seconds or --count\n"
        "    messages, measured; then up to --drain-ms for the last answers. A message is\n"
        "    measured when its scheduled time falls after the warm-up. Lost = measured\n"
        "    messages sent and never acked OK/DUPLICATE (or never delivered) by the end of\n"
        "    the drain. Latencies go into a log-linear histogram (exact below 256 ns, then\n"
        "    128 sub-buckets per power of two: under 0.4% error) and are reported in\n"
        "    microseconds: p50, p90, p99, p99.9, p99.99, max. Throughput is measured\n"
        "    messages acked (or delivered) per second, from the end of the warm-up to the\n"
        "    last measured answer (or the end of sending, if later).\n"
        "\n"
        "    Blocking sockets (the default) sleep in ppoll until the next send is due or an\n"
        "    answer arrives (timer slack set to 1 ns); --busy-poll makes the sockets\n"
        "    non-blocking and spins without sleeping (one core at 100%).\n"
        "    SIGINT or SIGTERM ends the sending early; the report covers what was sent.\n"
        "\n"
        "OPTIONS\n"
        "    -m, --mode MODE       ack or deliver (default ack)\n"
        "    -r, --rate N          messages per second, 0 = unpaced (default 10000)\n"
        "    -s, --size BYTES      message size, 16..MTU-62 (default 64)\n"
        "    -b, --batch K         messages per datagram, at most what fits the MTU (default 1)\n"
        "        --burst B         datagrams per sendmmsg, 1..1024 (default 32; paced: at\n"
        "                          least 64, so a late sender catches up quickly)\n"
        "    -d, --duration SECS   measured sending time, decimal (default 10)\n"
        "    -n, --count N         measured messages to send, instead of --duration\n"
        "        --warmup SECS     unmeasured sending first, decimal (default 1)\n"
        "        --drain-ms MS     wait for the last answers after sending; in --mode ack\n"
        "                          also how long a datagram waits for its ACK before it\n"
        "                          counts as lost (default 1000)\n"
        "        --busy-poll       spin on non-blocking sockets instead of sleeping\n"
        "    -w, --window W        --mode ack and --rate 0: at most W datagrams un-acked\n"
        "                          (default 0 = no limit)\n"
        "        --mtu BYTES       IP MTU towards the appliance, 100..65535 (default 1500)\n"
        "        --lease-ms MS     --mode deliver: lease asked for (default 10000)\n"
        "    -p, --publisher-id ID publisher_id (default: the process id)\n"
        "        --json            print the report as one JSON object\n"
        "    -h, --help            this text\n"
        "    Numbers take a k, m or g suffix (x1000, x1000000, x1000000000).\n"
        "\n"
        "EXIT STATUS\n"
        "    0  the run completed (loss and latency are reported, never judged)\n"
        "    1  nothing was acked or delivered, the subscription failed, the session ended,\n"
        "       or a network error\n"
        "    2  usage error\n"
        "\n"
        "EXAMPLES\n"
        "    msh-bench --mode ack --rate 10k --duration 10 10.77.0.1 bench\n"
        "    msh-bench --mode deliver --rate 100k --size 128 --busy-poll --json 10.77.0.1 bench\n"
        "    msh-bench --mode ack --rate 0 --batch 16 --window 256 --count 10m 10.77.0.1 bench\n";

enum bench_mode { MODE_ACK, MODE_DELIVER };

struct bench_cfg {
	struct sockaddr_in dst;
	struct msh_name shard;
	enum bench_mode mode;
	uint64_t rate;
	uint32_t size, batch, burst, mtu, payload, window, lease_ms, publisher_id;
	uint64_t duration_ns, count, warmup_ns, drain_ns;
	bool busy, json;
};

/* State ----------------------------------------------------------------------------- */

#define RING_SIZE (1u << 20) /* datagrams awaiting an ACK */
#define HS_RETRY_NS (250 * MSH_NS_PER_MS)
#define HS_TIMEOUT_NS (3 * MSH_NS_PER_S)

struct inflight {
	uint64_t seq;
	uint64_t sched;
	uint16_t count;
	uint8_t pending;
	uint8_t measured;
};

struct bench {
	struct bench_cfg c;
	int pfd, sfd; /**< publish socket; subscription socket (deliver) */
	struct msh_cli_rx rx;
	/* sending */
	uint8_t *txbuf, *msg;
	struct mmsghdr *txm;
	struct iovec *txiov;
	unsigned int q_head, q_n; /**< built, not yet sent: [q_head, q_n) */
	uint64_t start_seq, next_seq, dgram_no;
	uint64_t t_start, t_measure, t_end, t_send_end;
	bool sending;
	uint64_t sent_msgs, sent_dgrams, sent_measured;
	/* ack mode */
	struct inflight *ring;
	uint64_t ring_head, ring_tail, inflight;
	uint64_t status[MSH_S_COUNT + 1];
	uint64_t acked_measured, acked_total, refused_measured, late_acks, expired;
	/* deliver mode */
	uint64_t token, renew_due;
	bool subscribed, eos;
	uint64_t delivered_measured, delivered_total, foreign, gaps, gap_msgs, dups, heartbeats;
	uint64_t feed_next;
	bool have_feed;
	bool net_error;
	uint64_t t_last_rx; /**< arrival of the last measured answer */
	struct hist h;
};

/* Sending ------------------------------------------------------------------------------ */

/* Scheduled time of datagram @p j on the fixed timeline. */
static uint64_t
due_time(const struct bench *b, uint64_t j)
{
	return b->t_start + (uint64_t)((double)j * (double)b->c.batch * (double)MSH_NS_PER_S /
	                               (double)b->c.rate);
}

/* Build the next datagram into queue slot @p q, scheduled at @p sched.
 * @return false when the run has sent all it should. */
static bool
build_one(struct bench *b, unsigned int q, uint64_t sched)
{
	uint8_t *buf = b->txbuf + (size_t)q * b->c.payload;
	bool measured = sched >= b->t_measure;
	uint32_t n = b->c.batch;
	int off = MSH_PUBLISH_HDR_LEN;

	if (b->c.count != 0 && measured) {
		if (b->sent_measured >= b->c.count)
			return false;
		n = (uint32_t)MSH_MIN((uint64_t)n, b->c.count - b->sent_measured);
	}
	if (b->c.count == 0 && sched >= b->t_end)
		return false;
	if (b->c.mode == MODE_ACK && b->ring_head - b->ring_tail >= RING_SIZE)
		return false; /* cannot happen: the sweep keeps room */
	msh_publish_hdr_build(buf, b->c.payload, &b->c.shard,
	                      b->c.mode == MODE_ACK ? MSH_PUB_F_ACK : 0, (uint16_t)n,
	                      b->c.publisher_id, b->next_seq);
	for (uint32_t k = 0; k < n; k++) {
		msh_gen_fill(b->msg, b->c.size, b->next_seq + k, sched);
		off = msh_block_put(buf, b->c.payload, (size_t)off, b->msg, (uint16_t)b->c.size);
	}
	b->txiov[q].iov_base = buf;
	b->txiov[q].iov_len = (size_t)off;
	if (b->c.mode == MODE_ACK) {
		struct inflight *e = &b->ring[b->ring_head & (RING_SIZE - 1)];

		e->seq = b->next_seq;
		e->sched = sched;
		e->count = (uint16_t)n;
		e->pending = 1;
		e->measured = measured;
		b->ring_head++;
		b->inflight++;
	}
	b->next_seq += n;
	b->dgram_no++;
	b->sent_msgs += n;
	b->sent_dgrams++;
	if (measured)
		b->sent_measured += n;
	return true;
}

/* Send what is queued. @return -1 on a fatal error. */
static int
flush_queue(struct bench *b)
{
	while (b->q_head < b->q_n) {
		int r = sendmmsg(b->pfd, b->txm + b->q_head, b->q_n - b->q_head, 0);

		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS ||
			    errno == EINTR)
				return 0; /* later */
			msh_cli_msg("sendmmsg: %s", strerror(errno));
			b->net_error = true;
			return -1;
		}
		b->q_head += (unsigned int)r;
	}
	b->q_head = b->q_n = 0;
	return 0;
}

/* Queue and send what is due. @return when the next datagram is due, or
 * UINT64_MAX when the sender waits for the window or has finished. */
static uint64_t
send_due(struct bench *b, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	bool more = false;

	if (b->q_n > 0 && flush_queue(b) < 0)
		return UINT64_MAX;
	if (b->q_n > 0 || !b->sending)
		return b->q_n > 0 ? now : UINT64_MAX;
	for (;;) {
		uint64_t sched;

		if (b->q_n == b->c.burst) {
			more = true; /* a full burst: maybe more is due already */
			break;
		}

		if (b->c.rate != 0) {
			sched = due_time(b, b->dgram_no);
			if (sched > now) {
				next = sched;
				break;
			}
		} else {
			if (b->c.window != 0 && b->inflight >= b->c.window)
				break;
			sched = now;
		}
		if (!build_one(b, b->q_n, sched)) {
			b->sending = false;
			b->t_send_end = now;
			break;
		}
		b->q_n++;
	}
	if (b->q_n > 0 && flush_queue(b) < 0)
		return UINT64_MAX;
	if (more ||
	    (b->c.rate == 0 && b->sending && (b->c.window == 0 || b->inflight < b->c.window)))
		next = now;
	return next;
}

/* ACKs ---------------------------------------------------------------------------------- */

static void
on_ack(struct bench *b, const uint8_t *buf, size_t len, uint64_t now)
{
	struct msh_ack a;
	struct inflight *e;
	uint64_t ord;
	unsigned int st;

	if (msh_ack_parse(buf, len, &a) != 0 || a.publisher_id != b->c.publisher_id ||
	    a.publisher_seq < b->start_seq)
		return;
	ord = (a.publisher_seq - b->start_seq) / b->c.batch;
	e = &b->ring[ord & (RING_SIZE - 1)];
	if (ord < b->ring_tail || ord >= b->ring_head || e->seq != a.publisher_seq || !e->pending) {
		b->late_acks++;
		return;
	}
	e->pending = 0;
	b->inflight--;
	st = a.hdr.flags;
	b->status[st < MSH_S_COUNT ? st : MSH_S_COUNT]++;
	if (st != MSH_S_OK && st != MSH_S_DUPLICATE) {
		if (e->measured)
			b->refused_measured += e->count;
		return;
	}
	b->acked_total += e->count;
	if (e->measured) {
		b->acked_measured += e->count;
		b->t_last_rx = now;
		hist_add(&b->h, now > e->sched ? now - e->sched : 0);
	}
}

/* Slide the ring past answered datagrams and give up on those older than the
 * drain time. */
static void
sweep_ring(struct bench *b, uint64_t now)
{
	while (b->ring_tail < b->ring_head) {
		struct inflight *e = &b->ring[b->ring_tail & (RING_SIZE - 1)];

		if (e->pending) {
			if (now - e->sched < b->c.drain_ns &&
			    b->ring_head - b->ring_tail < RING_SIZE - b->c.burst)
				break;
			e->pending = 0;
			b->inflight--;
			b->expired++;
		}
		b->ring_tail++;
	}
}

/* Subscription (deliver mode) ---------------------------------------------------------- */

static void
send_subscribe(struct bench *b, uint8_t flags, uint64_t start)
{
	struct msh_subscribe m;
	uint8_t buf[MSH_SUBSCRIBE_LEN];
	int len;

	memset(&m, 0, sizeof(m));
	m.hdr.shard = b->c.shard;
	m.hdr.flags = flags;
	m.lease_ms = b->c.lease_ms;
	m.start_seq = start;
	m.token = b->token;
	len = msh_subscribe_build(buf, sizeof(buf), &m);
	(void)msh_cli_send(b->sfd, buf, (size_t)len, &b->c.dst);
}

static void
on_sub_reply(struct bench *b, const uint8_t *buf, size_t len)
{
	struct msh_sub_reply r;

	if (msh_sub_reply_parse(buf, len, &r) != 0 || !msh_name_eq(&r.hdr.shard, &b->c.shard))
		return;
	if (r.hdr.flags == MSH_S_TOKEN_REQUIRED) {
		b->token = r.token;
		send_subscribe(b, b->subscribed ? 0 : MSH_SUB_F_RESTART,
		               b->have_feed ? b->feed_next : MSH_START_NEW);
		return;
	}
	if (r.hdr.flags != MSH_S_OK) {
		msh_cli_msg("SUBSCRIBE refused: %s (status %u)", msh_status_str(r.hdr.flags),
		            r.hdr.flags);
		b->net_error = true;
		return;
	}
	if (r.token != 0)
		b->token = r.token;
	if (!b->subscribed) {
		b->subscribed = true;
		b->feed_next = r.next_seq;
		b->have_feed = r.next_seq != 0;
	}
}

static void
on_mold(struct bench *b, const uint8_t *buf, size_t len, uint64_t now)
{
	struct msh_mold m;
	const uint8_t *p;
	uint64_t seq;

	if (msh_mold_parse(buf, len, &m) != 0 || !msh_name_eq(&m.session, &b->c.shard))
		return;
	if (m.count == MSH_MOLD_END_OF_SESSION) {
		b->eos = true;
		return;
	}
	if (!b->have_feed) {
		b->feed_next = m.seq;
		b->have_feed = true;
	}
	if (m.seq > b->feed_next) {
		b->gaps++;
		b->gap_msgs += m.seq - b->feed_next;
		b->feed_next = m.seq;
	}
	if (m.count == MSH_MOLD_HEARTBEAT) {
		b->heartbeats++;
		return;
	}
	p = m.blocks;
	seq = m.seq;
	for (uint16_t k = 0; k < m.count; k++, seq++) {
		uint32_t l = msh_load_be16(p);
		const uint8_t *d = p + MSH_BLOCK_HDR_LEN;
		uint64_t idx, ts;

		p += MSH_BLOCK_HDR_LEN + l;
		if (seq < b->feed_next) {
			b->dups++;
			continue;
		}
		b->feed_next = seq + 1;
		if (l < MSH_GEN_HDR_LEN) {
			b->foreign++;
			continue;
		}
		idx = msh_load_be64(d + MSH_GEN_OFF_INDEX);
		ts = msh_load_be64(d + MSH_GEN_OFF_TS);
		/* Only this run's messages: its index range and time span. */
		if (idx < b->start_seq || idx >= b->next_seq || ts < b->t_start || ts > now) {
			b->foreign++;
			continue;
		}
		b->delivered_total++;
		if (ts >= b->t_measure) {
			b->delivered_measured++;
			b->t_last_rx = now;
			hist_add(&b->h, now - ts);
		}
	}
}

static void
receive(struct bench *b, int fd)
{
	for (int burst = 0; burst < 16; burst++) {
		int n = msh_cli_rx_burst(&b->rx, fd);
		uint64_t now = msh_cli_now_ns();

		for (int i = 0; i < n; i++) {
			const uint8_t *d = msh_cli_rx_data(&b->rx, i);
			size_t len = b->rx.msg[i].msg_len;

			if (!msh_cli_is_native(d, len))
				on_mold(b, d, len, now);
			else if (d[3] == MSH_T_ACK)
				on_ack(b, d, len, now);
			else if (d[3] == MSH_T_SUB_REPLY)
				on_sub_reply(b, d, len);
		}
		if (n < MSH_CLI_RX_BURST)
			break;
	}
}

/* Wait (blocking mode) for an answer or @p until. */
static void
wait_until(struct bench *b, uint64_t until)
{
	struct pollfd fds[2] = {{.fd = b->pfd, .events = POLLIN}, {.fd = b->sfd, .events = POLLIN}};
	uint64_t now = msh_cli_now_ns();

	if (b->c.busy || until <= now)
		return;
	msh_cli_wait(fds, b->sfd >= 0 ? 2 : 1, MSH_MIN(until - now, 100 * MSH_NS_PER_MS));
}

/* Token handshake, start at new messages. @return 0 or -1 (printed). */
static int
subscribe(struct bench *b)
{
	uint64_t t0 = msh_cli_now_ns(), last = 0, now;
	char a[32];

	while (!b->subscribed && !b->net_error && !msh_cli_stop) {
		now = msh_cli_now_ns();
		if (now - t0 >= HS_TIMEOUT_NS) {
			msh_cli_msg("no SUB_REPLY OK from %s within %" PRIu64 " s",
			            msh_cli_addr_str(&b->c.dst, a, sizeof(a)),
			            HS_TIMEOUT_NS / MSH_NS_PER_S);
			return -1;
		}
		if (now - last >= HS_RETRY_NS) {
			send_subscribe(b, b->token != 0 ? MSH_SUB_F_RESTART : 0, MSH_START_NEW);
			last = now;
		}
		wait_until(b, last + HS_RETRY_NS);
		receive(b, b->sfd);
	}
	if (!b->subscribed)
		return -1;
	b->renew_due = msh_cli_now_ns() + (uint64_t)b->c.lease_ms * MSH_NS_PER_MS / 3;
	return 0;
}

static void
unsubscribe(struct bench *b)
{
	uint8_t buf[MSH_UNSUBSCRIBE_LEN];
	int len = msh_unsubscribe_build(buf, sizeof(buf), &b->c.shard);

	(void)msh_cli_send(b->sfd, buf, (size_t)len, &b->c.dst);
}

/* Report ------------------------------------------------------------------------------- */

static const double pcts[] = {50, 90, 99, 99.9, 99.99};
static const char *const pct_keys[] = {"p50", "p90", "p99", "p99_9", "p99_99"};
static const char *const pct_names[] = {"p50", "p90", "p99", "p99.9", "p99.99"};

static double
us(uint64_t ns)
{
	return (double)ns / 1000.0;
}

static void
report(const struct bench *b)
{
	uint64_t recv = b->c.mode == MODE_ACK ? b->acked_measured : b->delivered_measured;
	uint64_t lost = b->sent_measured > recv + b->refused_measured
	                        ? b->sent_measured - recv - b->refused_measured
	                        : 0;
	uint64_t t_end = b->t_send_end != 0 ? b->t_send_end : msh_cli_now_ns();
	/* Sending time for the send rate; up to the last answer for throughput,
	 * so answers that trail the sender are not crammed into its time. */
	uint64_t t_rx_end = MSH_MAX(t_end, b->t_last_rx);
	double secs = t_end > b->t_measure ? (double)(t_end - b->t_measure) / 1e9 : 0.0;
	double rx_secs = t_rx_end > b->t_measure ? (double)(t_rx_end - b->t_measure) / 1e9 : 0.0;
	double tput = rx_secs > 0 ? (double)recv / rx_secs : 0.0;
	double srate = secs > 0 ? (double)b->sent_measured / secs : 0.0;
	const char *mode = b->c.mode == MODE_ACK ? "ack" : "deliver";
	char name[MSH_NAME_LEN + 1], a[32];

	msh_name_to_str(&b->c.shard, name);
	msh_cli_addr_str(&b->c.dst, a, sizeof(a));
	if (b->c.json) {
		json_t *o = json_object(), *l = json_object(), *st = json_object();
		char *txt;

		json_object_set_new(o, "mode", json_string(mode));
		json_object_set_new(o, "appliance", json_string(a));
		json_object_set_new(o, "shard", json_string(name));
		json_object_set_new(o, "rate", json_integer((json_int_t)b->c.rate));
		json_object_set_new(o, "size", json_integer(b->c.size));
		json_object_set_new(o, "batch", json_integer(b->c.batch));
		json_object_set_new(o, "busy_poll", json_boolean(b->c.busy));
		json_object_set_new(o, "warmup_s", json_real((double)b->c.warmup_ns / 1e9));
		json_object_set_new(o, "measured_s", json_real(secs));
		json_object_set_new(o, "sent_messages", json_integer((json_int_t)b->sent_measured));
		json_object_set_new(o, "sent_total_messages",
		                    json_integer((json_int_t)b->sent_msgs));
		json_object_set_new(o, "sent_datagrams", json_integer((json_int_t)b->sent_dgrams));
		json_object_set_new(o,
		                    b->c.mode == MODE_ACK ? "acked_messages" : "delivered_messages",
		                    json_integer((json_int_t)recv));
		json_object_set_new(o, "lost", json_integer((json_int_t)lost));
		json_object_set_new(o, "send_rate_msgs_per_s", json_real(srate));
		json_object_set_new(o, "throughput_msgs_per_s", json_real(tput));
		if (b->c.mode == MODE_ACK) {
			for (unsigned int i = 0; i <= MSH_S_COUNT; i++)
				if (b->status[i] != 0)
					json_object_set_new(
					        st, i < MSH_S_COUNT ? msh_status_str(i) : "other",
					        json_integer((json_int_t)b->status[i]));
			json_object_set_new(o, "statuses", st);
			json_object_set_new(o, "refused_messages",
			                    json_integer((json_int_t)b->refused_measured));
			json_object_set_new(o, "late_acks", json_integer((json_int_t)b->late_acks));
		} else {
			json_decref(st);
			json_object_set_new(o, "gaps", json_integer((json_int_t)b->gaps));
			json_object_set_new(o, "gap_messages",
			                    json_integer((json_int_t)b->gap_msgs));
			json_object_set_new(o, "foreign_messages",
			                    json_integer((json_int_t)b->foreign));
		}
		json_object_set_new(l, "samples", json_integer((json_int_t)b->h.n));
		json_object_set_new(l, "min", json_real(us(b->h.min)));
		json_object_set_new(l, "mean",
		                    json_real(b->h.n ? b->h.sum / (double)b->h.n / 1000.0 : 0.0));
		for (unsigned int i = 0; i < MSH_ARRAY_SIZE(pcts); i++)
			json_object_set_new(l, pct_keys[i],
			                    json_real(us(hist_pct(&b->h, pcts[i]))));
		json_object_set_new(l, "max", json_real(us(b->h.max)));
		json_object_set_new(o, "latency_us", l);
		txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (txt != NULL)
			printf("%s\n", txt);
		free(txt);
		json_decref(o);
		return;
	}
	printf("%s: mode %s, %s shard %s, ", msh_cli_prog, mode, a, name);
	if (b->c.rate != 0)
		printf("rate %" PRIu64 " msg/s", b->c.rate);
	else
		printf("unpaced");
	printf(", size %u B, batch %u, %s, %.3f s measured after %.3f s warm-up\n", b->c.size,
	       b->c.batch, b->c.busy ? "busy-poll" : "blocking", secs,
	       (double)b->c.warmup_ns / 1e9);
	printf("  sent       %" PRIu64 " messages (%.0f msg/s); %" PRIu64
	       " in all with warm-up, %" PRIu64 " datagrams\n",
	       b->sent_measured, srate, b->sent_msgs, b->sent_dgrams);
	printf("  %-10s %" PRIu64 " messages (%.0f msg/s), lost %" PRIu64,
	       b->c.mode == MODE_ACK ? "acked" : "delivered", recv, tput, lost);
	if (b->c.mode == MODE_ACK) {
		printf(", refused %" PRIu64 "; statuses:", b->refused_measured);
		for (unsigned int i = 0; i <= MSH_S_COUNT; i++)
			if (b->status[i] != 0)
				printf(" %s %" PRIu64,
				       i < MSH_S_COUNT ? msh_status_str(i) : "other", b->status[i]);
	} else {
		printf(", feed gaps %" PRIu64 " (%" PRIu64 " messages)", b->gaps, b->gap_msgs);
	}
	printf("\n  latency    ");
	if (b->h.n == 0) {
		printf("no samples\n");
		return;
	}
	for (unsigned int i = 0; i < MSH_ARRAY_SIZE(pcts); i++)
		printf("%s %.1f, ", pct_names[i], us(hist_pct(&b->h, pcts[i])));
	printf("max %.1f us (min %.1f, mean %.1f; %" PRIu64 " samples, from the %s send time)\n",
	       us(b->h.max), us(b->h.min), b->h.sum / (double)b->h.n / 1000.0, b->h.n,
	       b->c.rate != 0 ? "scheduled" : "actual");
}

/* Main ------------------------------------------------------------------------------------ */

enum {
	OPT_BURST = 256,
	OPT_WARMUP,
	OPT_DRAIN_MS,
	OPT_BUSY,
	OPT_MTU,
	OPT_LEASE_MS,
	OPT_JSON,
};

static void
parse_args(int argc, char **argv, struct bench_cfg *c)
{
	static const struct option opts[] = {
	        {"mode", required_argument, NULL, 'm'},
	        {"rate", required_argument, NULL, 'r'},
	        {"size", required_argument, NULL, 's'},
	        {"batch", required_argument, NULL, 'b'},
	        {"burst", required_argument, NULL, OPT_BURST},
	        {"duration", required_argument, NULL, 'd'},
	        {"count", required_argument, NULL, 'n'},
	        {"warmup", required_argument, NULL, OPT_WARMUP},
	        {"drain-ms", required_argument, NULL, OPT_DRAIN_MS},
	        {"busy-poll", no_argument, NULL, OPT_BUSY},
	        {"window", required_argument, NULL, 'w'},
	        {"mtu", required_argument, NULL, OPT_MTU},
	        {"lease-ms", required_argument, NULL, OPT_LEASE_MS},
	        {"publisher-id", required_argument, NULL, 'p'},
	        {"json", no_argument, NULL, OPT_JSON},
	        {"help", no_argument, NULL, 'h'},
	        {NULL, 0, NULL, 0},
	};
	bool duration_set = false;
	uint32_t max_msg, fit;
	int o;

	memset(c, 0, sizeof(*c));
	c->mode = MODE_ACK;
	c->rate = 10000;
	c->size = 64;
	c->batch = 1;
	c->burst = 32;
	c->duration_ns = 10 * MSH_NS_PER_S;
	c->warmup_ns = MSH_NS_PER_S;
	c->drain_ns = MSH_NS_PER_S;
	c->mtu = 1500;
	c->lease_ms = 10000;
	c->publisher_id = (uint32_t)getpid();
	while ((o = getopt_long(argc, argv, "m:r:s:b:d:n:w:p:h", opts, NULL)) != -1) {
		switch (o) {
		case 'm':
			if (strcmp(optarg, "ack") == 0)
				c->mode = MODE_ACK;
			else if (strcmp(optarg, "deliver") == 0)
				c->mode = MODE_DELIVER;
			else
				msh_cli_usage_err("--mode: '%s' is not ack or deliver", optarg);
			break;
		case 'r':
			c->rate = msh_cli_opt_u64("--rate", optarg, 0, 1000000000);
			break;
		case 's':
			c->size = (uint32_t)msh_cli_opt_u64("--size", optarg, MSH_GEN_HDR_LEN,
			                                    MSH_MAX_MSG_ABS);
			break;
		case 'b':
			c->batch = (uint32_t)msh_cli_opt_u64("--batch", optarg, 1, 65535);
			break;
		case OPT_BURST:
			c->burst = (uint32_t)msh_cli_opt_u64("--burst", optarg, 1, 1024);
			break;
		case 'd':
			c->duration_ns = msh_cli_opt_seconds("--duration", optarg, 0.001, 1e6);
			duration_set = true;
			break;
		case 'n':
			c->count = msh_cli_opt_u64("--count", optarg, 1, UINT64_MAX / 2);
			break;
		case OPT_WARMUP:
			c->warmup_ns = msh_cli_opt_seconds("--warmup", optarg, 0, 1e6);
			break;
		case OPT_DRAIN_MS:
			c->drain_ns =
			        msh_cli_opt_u64("--drain-ms", optarg, 1, 3600000) * MSH_NS_PER_MS;
			break;
		case OPT_BUSY:
			c->busy = true;
			break;
		case 'w':
			c->window = (uint32_t)msh_cli_opt_u64("--window", optarg, 0, RING_SIZE / 2);
			break;
		case OPT_MTU:
			c->mtu = (uint32_t)msh_cli_opt_u64("--mtu", optarg, 100, 65535);
			break;
		case OPT_LEASE_MS:
			c->lease_ms =
			        (uint32_t)msh_cli_opt_u64("--lease-ms", optarg, 300, 86400000);
			break;
		case 'p':
			c->publisher_id =
			        (uint32_t)msh_cli_opt_u64("--publisher-id", optarg, 0, UINT32_MAX);
			break;
		case OPT_JSON:
			c->json = true;
			break;
		default: /* 'h' and what getopt refused */
			msh_cli_opt_help_or_fail(o, usage_text);
		}
	}
	msh_cli_addr_shard(argc, argv, optind, &c->dst, &c->shard);
	if (duration_set && c->count != 0)
		msh_cli_usage_err("--duration and --count both end the run; give one");
	c->payload = MSH_MIN(c->mtu - MSH_CLI_IP_UDP_HDR, MSH_CLI_UDP_MAX);
	max_msg = c->payload - MSH_PUBLISH_HDR_LEN - MSH_BLOCK_HDR_LEN;
	if (c->size > max_msg)
		msh_cli_usage_err("--size %u: the largest message for --mtu %u is %u bytes",
		                  c->size, c->mtu, max_msg);
	fit = (c->payload - MSH_PUBLISH_HDR_LEN) / (c->size + MSH_BLOCK_HDR_LEN);
	if (c->batch > fit)
		msh_cli_usage_err("--batch %u: only %u messages of %u bytes fit --mtu %u", c->batch,
		                  fit, c->size, c->mtu);
	if (c->window != 0 && (c->mode != MODE_ACK || c->rate != 0))
		msh_cli_usage_err("--window applies to --mode ack with --rate 0");
	if (c->rate != 0)
		c->burst = MSH_MAX(c->burst, 64u); /* room to catch up after a stall */
}

int
main(int argc, char **argv)
{
	static struct bench b;
	uint64_t now, drain_end;

	msh_cli_prog = "msh-bench";
	parse_args(argc, argv, &b.c);
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	b.sfd = -1;
	b.pfd = msh_cli_udp_socket(b.c.busy);
	if (b.pfd < 0)
		return MSH_CLI_EXIT_FAIL;
	if (b.c.mode == MODE_DELIVER) {
		b.sfd = msh_cli_udp_socket(b.c.busy);
		if (b.sfd < 0)
			return MSH_CLI_EXIT_FAIL;
	}
	b.txbuf = malloc((size_t)b.c.burst * b.c.payload);
	b.txm = calloc(b.c.burst, sizeof(*b.txm));
	b.txiov = calloc(b.c.burst, sizeof(*b.txiov));
	b.msg = malloc(MSH_MAX_MSG_ABS);
	b.ring = b.c.mode == MODE_ACK ? calloc(RING_SIZE, sizeof(*b.ring)) : NULL;
	if (b.txbuf == NULL || b.txm == NULL || b.txiov == NULL || b.msg == NULL ||
	    (b.c.mode == MODE_ACK && b.ring == NULL) || msh_cli_rx_init(&b.rx) != 0) {
		msh_cli_msg("out of memory");
		return MSH_CLI_EXIT_FAIL;
	}
	for (unsigned int i = 0; i < b.c.burst; i++) {
		b.txm[i].msg_hdr.msg_iov = &b.txiov[i];
		b.txm[i].msg_hdr.msg_iovlen = 1;
		b.txm[i].msg_hdr.msg_name = &b.c.dst;
		b.txm[i].msg_hdr.msg_namelen = sizeof(b.c.dst);
	}
	msh_cli_signals();
	if (b.c.mode == MODE_DELIVER && subscribe(&b) != 0) {
		if (b.subscribed)
			unsubscribe(&b);
		return MSH_CLI_EXIT_FAIL;
	}
	b.start_seq = b.next_seq = 1;
	b.t_start = msh_cli_now_ns();
	b.t_measure = b.t_start + b.c.warmup_ns;
	b.t_end = b.t_measure + b.c.duration_ns;
	b.sending = true;

	while (b.sending && !b.net_error && !b.eos) {
		uint64_t next;

		if (msh_cli_stop) {
			b.sending = false;
			b.t_send_end = msh_cli_now_ns();
			break;
		}
		/* Answers first: they may open the window for this round's sends. */
		receive(&b, b.pfd);
		now = msh_cli_now_ns();
		if (b.sfd >= 0) {
			receive(&b, b.sfd);
			if (now >= b.renew_due) {
				send_subscribe(&b, 0, b.feed_next);
				b.renew_due = now + (uint64_t)b.c.lease_ms * MSH_NS_PER_MS / 3;
			}
		}
		if (b.c.mode == MODE_ACK)
			sweep_ring(&b, now);
		next = send_due(&b, now);
		if (next > now)
			wait_until(&b, MSH_MIN(next, now + b.c.drain_ns));
	}
	/* Drain: the last answers, bounded by --drain-ms (a second signal cuts it). */
	now = msh_cli_now_ns();
	drain_end = now + b.c.drain_ns;
	while (!b.net_error && !b.eos && now < drain_end && msh_cli_stop < 2) {
		if (b.c.mode == MODE_ACK) {
			if (b.inflight == 0)
				break;
			receive(&b, b.pfd);
		} else {
			if (b.delivered_total >= b.sent_msgs)
				break;
			receive(&b, b.sfd);
		}
		wait_until(&b, drain_end);
		now = msh_cli_now_ns();
	}
	if (b.sfd >= 0)
		unsubscribe(&b);
	report(&b);
	fflush(stdout);
	if (b.eos)
		msh_cli_msg("the appliance ended the shard's session");
	if (b.net_error || b.eos || b.h.n == 0) {
		if (b.h.n == 0 && !b.net_error && !b.eos)
			msh_cli_msg("no %s arrived: is the appliance at %s serving shard %s?",
			            b.c.mode == MODE_ACK ? "ACK" : "message",
			            msh_cli_addr_str(&b.c.dst, (char[32]){0}, 32),
			            msh_name_to_str(&b.c.shard, (char[MSH_NAME_LEN + 1]){0}));
		return MSH_CLI_EXIT_FAIL;
	}
	return MSH_CLI_EXIT_OK;
}
