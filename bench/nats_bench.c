/* nats-bench: NATS pub/sub roles against libnats, with the payload, pacing
 * and report of bench_common.h (the same as msgc-bench), for bench/compare.
 *
 *   nats-bench [--server nats://127.0.0.1:4222] sub --group SUBJ --count N
 *              [--json] [--timeout SEC]
 *   nats-bench [--server URL] pub --group SUBJ --count N --size S
 *              [--rate R] [--subscribers K] [--json]
 *
 * NATS has no membership, so the join race is closed the way NATS's own
 * latency test does it: the publisher sends PROBE messages on the subject
 * until K distinct subscribers answered each with an ACK on
 * "_bench_ack.<SUBJ>"; interest has then reached the publisher's server.
 * Subscriber pending limits are raised (10 M messages, 1 GiB) and the
 * messages the library still drops as a slow consumer are reported as
 * "slow_consumer_drops" (they also show up in "lost"). */
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"

static const char kUsage[] =
    "usage: nats-bench [--server URL] sub|pub --group SUBJECT --count N "
    "[--size S] [--rate R] [--subscribers K] [--json] [--timeout SEC]";

typedef struct {
  bench_sub_stats stats;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  atomic_int any;
  atomic_uint_fast64_t last_ns;
  atomic_uint_fast64_t slow_events;
  char ack_subject[300];
  uint64_t id;
} sub_ctx;

static void on_msg(natsConnection* nc, natsSubscription* sub, natsMsg* msg,
                   void* closure) {
  sub_ctx* c = (sub_ctx*)closure;
  uint64_t now = bench_now_ns();
  int kind, finished;
  (void)sub;
  /* The mutex is uncontended while the run lasts; it lets main() read the
   * stats safely once the subscription is gone. */
  pthread_mutex_lock(&c->mu);
  kind = bench_sub_on_payload(&c->stats, natsMsg_GetData(msg),
                              (size_t)natsMsg_GetDataLength(msg), now);
  finished = kind == BENCH_END || bench_sub_complete(&c->stats);
  if (finished) {
    c->done = 1;
    pthread_cond_signal(&c->cv);
  }
  pthread_mutex_unlock(&c->mu);
  natsMsg_Destroy(msg);
  if (kind == BENCH_DATA) {
    atomic_store(&c->last_ns, now); /* before `any`: see run_sub */
    atomic_store(&c->any, 1);
  } else if (kind == BENCH_PROBE) {
    char ack[BENCH_HEADER_SIZE];
    bench_encode(ack, BENCH_ACK, c->id, now);
    natsConnection_Publish(nc, c->ack_subject, ack, (int)sizeof(ack));
  }
}

static void on_error(natsConnection* nc, natsSubscription* sub, natsStatus err,
                     void* closure) {
  (void)nc;
  (void)sub;
  if (err == NATS_SLOW_CONSUMER) {
    atomic_fetch_add(&((sub_ctx*)closure)->slow_events, 1);
  }
}

static natsStatus connect_to(const bench_args* a, sub_ctx* ctx, int asap,
                             natsConnection** nc) {
  natsOptions* opts = NULL;
  natsStatus s = natsOptions_Create(&opts);
  if (s == NATS_OK) {
    s = natsOptions_SetURL(opts, a->server ? a->server : NATS_DEFAULT_URL);
  }
  if (s == NATS_OK && ctx != NULL) {
    s = natsOptions_SetErrorHandler(opts, on_error, ctx);
  }
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, 0);
  /* Paced runs measure latency: each publish goes out at once instead of
   * waiting for the library's buffer to fill. */
  if (s == NATS_OK && asap) s = natsOptions_SetSendAsap(opts, true);
  if (s == NATS_OK) s = natsConnection_Connect(nc, opts);
  natsOptions_Destroy(opts);
  return s;
}

static double since_s(uint64_t start) {
  return (double)(bench_now_ns() - start) / 1e9;
}

static int run_sub(const bench_args* a) {
  sub_ctx ctx;
  natsConnection* nc = NULL;
  natsSubscription* sub = NULL;
  natsStatus s;
  int64_t dropped = 0;
  uint64_t start;
  char extra[160];
  int rc;

  memset(&ctx, 0, sizeof(ctx));
  if (bench_sub_init(&ctx.stats, a->count) != 0) return 1;
  pthread_mutex_init(&ctx.mu, NULL);
  pthread_cond_init(&ctx.cv, NULL);
  ctx.id = (uint64_t)getpid();
  snprintf(ctx.ack_subject, sizeof(ctx.ack_subject), "_bench_ack.%s", a->group);
  s = connect_to(a, &ctx, 0, &nc);
  if (s == NATS_OK)
    s = natsConnection_Subscribe(&sub, nc, a->group, on_msg, &ctx);
  /* Raised far above the defaults (65536 messages, 64 MiB). */
  if (s == NATS_OK)
    s = natsSubscription_SetPendingLimits(sub, 10000000, 1 << 30);
  if (s == NATS_OK) s = natsConnection_Flush(nc);
  if (s != NATS_OK) {
    fprintf(stderr, "nats-bench sub: %s\n", natsStatus_GetText(s));
    return 1;
  }
  start = bench_now_ns();
  pthread_mutex_lock(&ctx.mu);
  while (!ctx.done) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&ctx.cv, &ctx.mu, &ts);
    if (!atomic_load(&ctx.any)) {
      if (since_s(start) > a->start_timeout) break;
    } else {
      /* Load `last` before reading the clock so the difference cannot wrap
       * when the callback stores a newer time meanwhile. */
      uint64_t last = atomic_load(&ctx.last_ns);
      uint64_t now = bench_now_ns();
      if (now > last && (double)(now - last) / 1e9 > a->idle_timeout) break;
    }
  }
  pthread_mutex_unlock(&ctx.mu);
  natsSubscription_GetDropped(sub, &dropped);
  natsSubscription_Unsubscribe(sub);
  pthread_mutex_lock(&ctx.mu); /* the callback is done with stats */
  snprintf(extra, sizeof(extra),
           "\"slow_consumer_drops\":%lld,\"slow_consumer_events\":%llu",
           (long long)dropped,
           (unsigned long long)atomic_load(&ctx.slow_events));
  bench_sub_report(&ctx.stats, "nats", a->json, extra, stdout);
  rc = ctx.stats.received == 0 ? 3 : ctx.stats.received < a->count ? 4 : 0;
  pthread_mutex_unlock(&ctx.mu);
  natsSubscription_Destroy(sub);
  natsConnection_Destroy(nc);
  bench_sub_free(&ctx.stats);
  return rc;
}

/* Sends probes until `want` distinct subscribers acknowledged one. */
static int wait_for_subscribers(const bench_args* a, natsConnection* nc,
                                char* buf) {
  natsSubscription* acks = NULL;
  char ack_subject[300];
  uint64_t ids[256];
  unsigned n = 0, probe = 0;
  uint64_t start = bench_now_ns();
  snprintf(ack_subject, sizeof(ack_subject), "_bench_ack.%s", a->group);
  if (natsConnection_SubscribeSync(&acks, nc, ack_subject) != NATS_OK ||
      natsConnection_Flush(nc) != NATS_OK) {
    return 1;
  }
  while (n < a->subscribers) {
    natsMsg* m = NULL;
    uint64_t deadline;
    if (since_s(start) > a->wait_timeout) {
      fprintf(stderr,
              "nats-bench pub: timed out waiting for %u subscriber(s) (saw "
              "%u)\n",
              a->subscribers, n);
      natsSubscription_Destroy(acks);
      return 3;
    }
    bench_fill(buf, a->size, BENCH_PROBE, probe++, bench_now_ns());
    natsConnection_Publish(nc, a->group, buf, (int)a->size);
    natsConnection_Flush(nc);
    deadline = bench_now_ns() + 20 * 1000 * 1000;
    while (n < a->subscribers && bench_now_ns() < deadline &&
           natsSubscription_NextMsg(&m, acks, 5) == NATS_OK) {
      uint32_t kind;
      uint64_t id, t;
      unsigned j;
      if (bench_decode(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m),
                       &kind, &id, &t) == 0 &&
          kind == BENCH_ACK) {
        for (j = 0; j < n && ids[j] != id; ++j) {
        }
        if (j == n && n < 256) ids[n++] = id;
      }
      natsMsg_Destroy(m);
    }
  }
  natsSubscription_Unsubscribe(acks);
  natsSubscription_Destroy(acks);
  return 0;
}

static int run_pub(const bench_args* a) {
  natsConnection* nc = NULL;
  natsStatus s;
  char* buf = (char*)malloc(a->size);
  uint64_t i, start, elapsed, max_late = 0, sent = 0, late;
  int rc, k;
  if (buf == NULL) return 1;
  s = connect_to(a, NULL, a->rate > 0, &nc);
  if (s != NATS_OK) {
    fprintf(stderr, "nats-bench pub: %s\n", natsStatus_GetText(s));
    return 1;
  }
  bench_fill(buf, a->size, BENCH_PROBE, 0, 0);
  rc = wait_for_subscribers(a, nc, buf);
  if (rc != 0) return rc;
  usleep(20 * 1000);
  start = bench_now_ns();
  for (i = 0; i < a->count; ++i) {
    late = bench_pace(start, i, a->rate);
    if (late > max_late) max_late = late;
    bench_encode(buf, BENCH_DATA, i, bench_now_ns());
    s = natsConnection_Publish(nc, a->group, buf, (int)a->size);
    if (s != NATS_OK) {
      fprintf(stderr, "nats-bench pub: publish %llu: %s\n",
              (unsigned long long)i, natsStatus_GetText(s));
      break;
    }
    ++sent;
  }
  natsConnection_FlushTimeout(nc, 60000);
  elapsed = bench_now_ns() - start;
  for (k = 0; k < 3; ++k) {
    usleep((useconds_t)(k * 100 * 1000));
    bench_fill(buf, a->size, BENCH_END, a->count, bench_now_ns());
    natsConnection_Publish(nc, a->group, buf, (int)a->size);
    natsConnection_FlushTimeout(nc, 5000);
  }
  bench_pub_report("nats", sent, a->size, a->rate, elapsed, max_late, a->json,
                   stdout);
  natsConnection_Destroy(nc);
  free(buf);
  return sent == a->count ? 0 : 1;
}

int main(int argc, char** argv) {
  bench_args a;
  int rc = bench_parse_args(argc, argv, &a, kUsage);
  if (rc != 0) return rc;
  if (nats_Open(-1) != NATS_OK) return 1;
  if (strcmp(a.role, "sub") == 0) {
    rc = run_sub(&a);
  } else if (strcmp(a.role, "pub") == 0) {
    rc = run_pub(&a);
  } else {
    fprintf(stderr, "%s\nunknown role '%s'\n", kUsage, a.role);
    rc = 2;
  }
  nats_CloseAndWait(2000);
  return rc;
}
