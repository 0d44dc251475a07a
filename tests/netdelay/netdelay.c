// msgc-netdelay: delays every packet of one NFQUEUE queue by D milliseconds,
// in arrival order (this kernel has no tc netem; it does have the xtables
// NFQUEUE target and nfnetlink_queue). Used by tests/fault/run.sh (the
// `delay` fault) and for the benchmark's delayed 3-node fan-out.
//
// Usage:
//   msgc-netdelay --delay MS [--queue N] [--max-held K] [--delay-file PATH]
//
//   --delay MS       hold each packet MS milliseconds (0..60000, fractions
//                    allowed: 0.5), then accept it. Default 10.
//   --queue N        NFQUEUE number to bind (0..65535). Default 0.
//   --max-held K     at most K packets held (1..1000000, default 65536); when
//                    full, the oldest is released early (order is kept,
//                    nothing is dropped, memory stays bounded).
//   --delay-file F   on SIGHUP, read the new delay (ms) from F. SIGUSR1: delay
//                    0 (pass through); SIGUSR2: back to the --delay value.
// SIGTERM / SIGINT: every held packet is accepted (in order), the queue is
// unbound, exit 0. Prints "msgc-netdelay: queue N delay D ms ready" on
// stderr once bound; exit 2 on a usage or set-up error.
//
// Packets reach it through an iptables rule in the SAME network namespace
// (nfnetlink queues are per namespace), so run both under `ip netns exec NS`.
// Put the rule on the RECEIVING side (INPUT): a packet held on the OUTPUT
// hook still belongs to its socket and counts against TCP's small-queue
// budget, which throttles a bulk sender to a few packets per delay (measured:
// 1 MiB/s through a 5 ms OUTPUT delay, 458 MiB/s through a 5 ms INPUT delay).
//
//   ip netns exec NS msgc-netdelay --queue 0 --delay 5 &     (wait for "ready")
//   ip netns exec NS iptables-legacy -A INPUT -i eth0 -j NFQUEUE
//       --queue-num 0 --queue-bypass                       (one line)
//   ...
//   ip netns exec NS iptables-legacy -D INPUT -i eth0 -j NFQUEUE
//       --queue-num 0 --queue-bypass                       (one line)
//   kill -TERM $PID
//
// This delays every packet NS receives on eth0 by D (data and ACKs alike):
// with the same in every namespace, the one-way delay between any two is D.
// `--queue-bypass` lets packets pass while no msgc-netdelay is bound (before
// start, after exit or a crash). `iptables` (the nft flavour) works too where
// the kernel has nft_compat; this kernel has no native nft `queue`
// expression (CONFIG_NFT_QUEUE unset), so an nft rule `queue num 0` does not
// work here. Needs root (CAP_NET_ADMIN in the namespace). See
// docs/fault-injection.md.
//
// How: the queue is bound in copy-meta mode (no payload is copied). Each
// packet's id and arrival time go into a ring; when the oldest is due, one
// batch verdict accepts every packet up to it (NFQNL_MSG_VERDICT_BATCH:
// "all ids <= X"), so the kernel re-injects them in arrival order, and a
// packet whose queue message was lost (ENOBUFS) is released with its
// neighbours instead of being stuck.
#define _GNU_SOURCE  // ppoll
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  uint32_t id;
  int64_t arrival_ns;
} Held;

typedef struct {
  Held* ring;
  size_t cap, head, len;
  int64_t delay_ns;
  struct nfq_q_handle* qh;
  uint64_t n_packets, n_early, n_errors;
} Delayer;

static volatile sig_atomic_t g_stop = 0;
static volatile sig_atomic_t g_hup = 0;
static volatile sig_atomic_t g_usr = 0;  // 1: pass through, 2: restore

static void OnSignal(int sig) {
  if (sig == SIGHUP) {
    g_hup = 1;
  } else if (sig == SIGUSR1) {
    g_usr = 1;
  } else if (sig == SIGUSR2) {
    g_usr = 2;
  } else {
    g_stop = 1;
  }
}

static int64_t NowNs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int ParseMs(const char* s, int64_t* out_ns) {
  char* end = NULL;
  errno = 0;
  double ms = strtod(s, &end);
  if (errno || end == s || (*end && *end != '\n') || ms < 0 || ms > 60000) {
    return -1;
  }
  *out_ns = (int64_t)(ms * 1e6);
  return 0;
}

static int ReadDelayFile(const char* path, int64_t* out_ns) {
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  char buf[64] = {0};
  int rc = fgets(buf, sizeof buf, f) ? ParseMs(buf, out_ns) : -1;
  fclose(f);
  return rc;
}

// Accepts every held packet up to and including ring position `n - 1`.
static void Release(Delayer* d, size_t n) {
  if (n == 0) return;
  uint32_t last = d->ring[(d->head + n - 1) % d->cap].id;
  if (nfq_set_verdict_batch(d->qh, last, NF_ACCEPT) < 0) ++d->n_errors;
  d->head = (d->head + n) % d->cap;
  d->len -= n;
}

// Releases every packet that is due at `now` (all of them when `all`).
static void ReleaseDue(Delayer* d, int64_t now, int all) {
  size_t n = 0;
  while (n < d->len &&
         (all ||
          d->ring[(d->head + n) % d->cap].arrival_ns + d->delay_ns <= now)) {
    ++n;
  }
  Release(d, n);
}

static int OnPacket(struct nfq_q_handle* qh, struct nfgenmsg* msg,
                    struct nfq_data* nfa, void* data) {
  (void)qh;
  (void)msg;
  Delayer* d = data;
  struct nfqnl_msg_packet_hdr* ph = nfq_get_msg_packet_hdr(nfa);
  if (!ph) return 0;
  if (d->len == d->cap) {  // full: the oldest goes now (order is kept)
    Release(d, 1);
    ++d->n_early;
  }
  Held* h = &d->ring[(d->head + d->len) % d->cap];
  h->id = ntohl(ph->packet_id);
  h->arrival_ns = NowNs();
  ++d->len;
  ++d->n_packets;
  if (d->delay_ns == 0) ReleaseDue(d, h->arrival_ns, 1);
  return 0;
}

static void Usage(const char* argv0) {
  fprintf(stderr,
          "usage: %s --delay MS [--queue N] [--max-held K] "
          "[--delay-file PATH]\n",
          argv0);
}

int main(int argc, char** argv) {
  int64_t delay_ns = 10 * 1000000LL;
  long queue = 0, max_held = 65536;
  const char* delay_file = NULL;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (i + 1 >= argc) {
      Usage(argv[0]);
      return 2;
    }
    const char* v = argv[++i];
    char* end = NULL;
    if (strcmp(a, "--delay") == 0) {
      if (ParseMs(v, &delay_ns) < 0) {
        fprintf(stderr, "bad --delay %s (0..60000 ms)\n", v);
        return 2;
      }
    } else if (strcmp(a, "--queue") == 0) {
      queue = strtol(v, &end, 10);
      if (*end || queue < 0 || queue > 65535) {
        fprintf(stderr, "bad --queue %s\n", v);
        return 2;
      }
    } else if (strcmp(a, "--max-held") == 0) {
      max_held = strtol(v, &end, 10);
      if (*end || max_held < 1 || max_held > 1000000) {
        fprintf(stderr, "bad --max-held %s\n", v);
        return 2;
      }
    } else if (strcmp(a, "--delay-file") == 0) {
      delay_file = v;
    } else {
      Usage(argv[0]);
      return 2;
    }
  }
  const int64_t base_delay_ns = delay_ns;

  Delayer d;
  memset(&d, 0, sizeof d);
  d.cap = (size_t)max_held;
  d.ring = calloc(d.cap, sizeof(Held));
  d.delay_ns = delay_ns;
  if (!d.ring) {
    fprintf(stderr, "out of memory\n");
    return 2;
  }

  // Signals are blocked except inside ppoll(), so none is missed between
  // the flag checks and the wait.
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  const int sigs[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};
  sigset_t block, orig;
  sigemptyset(&block);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; ++i) {
    sigaction(sigs[i], &sa, NULL);
    sigaddset(&block, sigs[i]);
  }
  sigprocmask(SIG_BLOCK, &block, &orig);

  struct nfq_handle* h = nfq_open();
  if (!h) {
    perror("nfq_open (needs root / CAP_NET_ADMIN)");
    return 2;
  }
  d.qh = nfq_create_queue(h, (uint16_t)queue, OnPacket, &d);
  if (!d.qh) {
    fprintf(stderr, "cannot bind queue %ld (in use, or no nfnetlink_queue)\n",
            queue);
    nfq_close(h);
    return 2;
  }
  if (nfq_set_mode(d.qh, NFQNL_COPY_META, 0) < 0) {
    fprintf(stderr, "cannot set copy-meta mode\n");
    nfq_destroy_queue(d.qh);
    nfq_close(h);
    return 2;
  }
  // Kernel-side queue as long as ours; GSO super-packets are passed whole
  // (the payload is not looked at, so they need not be segmented).
  nfq_set_queue_maxlen(d.qh, (uint32_t)max_held);
  nfq_set_queue_flags(d.qh, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 8u << 20);
  int fd = nfq_fd(h);
  fprintf(stderr, "msgc-netdelay: queue %ld delay %.3f ms ready\n", queue,
          (double)d.delay_ns / 1e6);

  char buf[65536] __attribute__((aligned));
  while (!g_stop) {
    if (g_hup) {
      g_hup = 0;
      int64_t ns;
      if (delay_file && ReadDelayFile(delay_file, &ns) == 0) {
        d.delay_ns = ns;
        fprintf(stderr, "msgc-netdelay: delay %.3f ms\n", (double)ns / 1e6);
      } else {
        fprintf(stderr, "msgc-netdelay: SIGHUP: no valid delay in %s\n",
                delay_file ? delay_file : "(no --delay-file)");
      }
    }
    if (g_usr) {
      d.delay_ns = g_usr == 1 ? 0 : base_delay_ns;
      g_usr = 0;
      fprintf(stderr, "msgc-netdelay: delay %.3f ms\n",
              (double)d.delay_ns / 1e6);
    }
    int64_t now = NowNs();
    ReleaseDue(&d, now, 0);
    struct timespec timeout = {1, 0};
    if (d.len) {
      int64_t wait = d.ring[d.head].arrival_ns + d.delay_ns - now;
      if (wait < 0) wait = 0;
      timeout.tv_sec = wait / 1000000000;
      timeout.tv_nsec = wait % 1000000000;
    }
    struct pollfd pfd = {fd, POLLIN, 0};
    int pr = ppoll(&pfd, 1, &timeout, &orig);
    if (pr < 0) {
      if (errno == EINTR) continue;
      perror("ppoll");
      break;
    }
    if (pr == 0) continue;
    // Drain what is readable now (bounded: at most 256 reads per turn).
    for (int k = 0; k < 256; ++k) {
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0) {
        // ENOBUFS: queue messages were lost; those packets are released by
        // the next batch verdict (ids <= a later one).
        if (errno == ENOBUFS) {
          ++d.n_errors;
          continue;
        }
        break;
      }
      nfq_handle_packet(h, buf, (int)n);
    }
  }
  ReleaseDue(&d, 0, 1);
  fprintf(stderr,
          "msgc-netdelay: exit: %llu packets delayed, %llu released early "
          "(queue full), %llu errors\n",
          (unsigned long long)d.n_packets, (unsigned long long)d.n_early,
          (unsigned long long)d.n_errors);
  nfq_destroy_queue(d.qh);
  nfq_close(h);
  free(d.ring);
  return 0;
}
