/* redis-bench: Redis pub/sub roles against hiredis, with the payload,
 * pacing and report of bench_common.h, for bench/compare.
 *
 *   redis-bench [--server 127.0.0.1:6379] sub --group CHANNEL --count N
 *               [--json] [--timeout SEC]
 *   redis-bench [--server HOST:PORT] pub --group CHANNEL --count N --size S
 *               [--rate R] [--subscribers K] [--json]
 *
 * The publisher PUBLISHes PROBE messages until a PUBLISH reports K
 * receivers (no join race), then pipelines PUBLISH commands: up to
 * kWindow outstanding, replies read in batches. Paced runs (--rate) write
 * every command at once and still read replies in batches. */
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"

static const char kUsage[] =
    "usage: redis-bench [--server HOST:PORT] sub|pub --group CHANNEL "
    "--count N [--size S] [--rate R] [--subscribers K] [--json] "
    "[--timeout SEC]";

enum { kWindow = 256 };

static redisContext* connect_to(const bench_args* a) {
  char host[256] = "127.0.0.1";
  int port = 6379;
  redisContext* c;
  if (a->server != NULL) {
    const char* colon = strrchr(a->server, ':');
    size_t n = colon ? (size_t)(colon - a->server) : strlen(a->server);
    if (n >= sizeof(host)) n = sizeof(host) - 1;
    memcpy(host, a->server, n);
    host[n] = '\0';
    if (colon) port = atoi(colon + 1);
  }
  c = redisConnect(host, port);
  if (c == NULL || c->err) {
    fprintf(stderr, "redis-bench: connect %s:%d: %s\n", host, port,
            c ? c->errstr : "out of memory");
    if (c) redisFree(c);
    return NULL;
  }
  return c;
}

static double since_s(uint64_t start) {
  return (double)(bench_now_ns() - start) / 1e9;
}

static int run_sub(const bench_args* a) {
  bench_sub_stats st;
  redisContext* c = connect_to(a);
  redisReply* r;
  uint64_t start, last = 0;
  int done = 0, rc;
  if (c == NULL || bench_sub_init(&st, a->count) != 0) return 1;
  r = (redisReply*)redisCommand(c, "SUBSCRIBE %s", a->group);
  if (r == NULL) {
    fprintf(stderr, "redis-bench sub: subscribe: %s\n", c->errstr);
    return 1;
  }
  freeReplyObject(r);
  start = bench_now_ns();
  /* Non-blocking from here on, so one wake-up drains everything the socket
   * holds (hiredis reads at most 16 KiB per redisBufferRead). */
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  c->flags &= ~REDIS_BLOCK;
  while (!done) {
    struct pollfd pfd = {c->fd, POLLIN, 0};
    if (poll(&pfd, 1, 100) > 0) {
      int got = 1, rounds = 0;
      while (!done && got > 0 && rounds++ < 256) {
        void* reply = NULL;
        got = 0;
        if (redisBufferRead(c) != REDIS_OK) {
          fprintf(stderr, "redis-bench sub: read: %s\n", c->errstr);
          done = -1;
          break;
        }
        while (!done && redisGetReplyFromReader(c, &reply) == REDIS_OK &&
               reply != NULL) {
          redisReply* m = (redisReply*)reply;
          uint64_t now = bench_now_ns();
          ++got;
          if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 &&
              m->element[2]->type == REDIS_REPLY_STRING) {
            int kind = bench_sub_on_payload(&st, m->element[2]->str,
                                            m->element[2]->len, now);
            if (kind == BENCH_DATA) last = now;
            if (kind == BENCH_END || bench_sub_complete(&st)) done = 1;
          }
          freeReplyObject(m);
          reply = NULL;
        }
      }
    }
    if (!st.any) {
      if (since_s(start) > a->start_timeout) break;
    } else if ((double)(bench_now_ns() - last) / 1e9 > a->idle_timeout) {
      break;
    }
  }
  bench_sub_report(&st, "redis", a->json, "", stdout);
  rc = st.received == 0 ? 3 : st.received < a->count ? 4 : 0;
  bench_sub_free(&st);
  redisFree(c);
  return rc;
}

/* Reads `n` PUBLISH replies; returns the smallest receiver count seen, or
 * -1 on error. */
static long long read_replies(redisContext* c, unsigned n) {
  long long min_receivers = -1;
  unsigned i;
  for (i = 0; i < n; ++i) {
    void* reply = NULL;
    redisReply* r;
    if (redisGetReply(c, &reply) != REDIS_OK || reply == NULL) return -1;
    r = (redisReply*)reply;
    if (r->type == REDIS_REPLY_INTEGER &&
        (min_receivers < 0 || r->integer < min_receivers)) {
      min_receivers = r->integer;
    }
    freeReplyObject(r);
  }
  return min_receivers;
}

static int run_pub(const bench_args* a) {
  redisContext* c = connect_to(a);
  char* buf = (char*)malloc(a->size);
  uint64_t i, start, elapsed, max_late = 0, late, probe = 0, wait_start;
  unsigned outstanding = 0;
  int k;
  if (c == NULL || buf == NULL) return 1;
  /* PUBLISH answers how many subscribers got the message. */
  wait_start = bench_now_ns();
  for (;;) {
    long long got;
    bench_fill(buf, a->size, BENCH_PROBE, probe++, bench_now_ns());
    redisAppendCommand(c, "PUBLISH %s %b", a->group, buf, (size_t)a->size);
    got = read_replies(c, 1);
    if (got < 0) {
      fprintf(stderr, "redis-bench pub: %s\n", c->errstr);
      return 1;
    }
    if (got >= (long long)a->subscribers && probe >= a->probes) break;
    if (since_s(wait_start) > a->wait_timeout) {
      fprintf(stderr,
              "redis-bench pub: timed out waiting for %u subscriber(s) (saw "
              "%lld)\n",
              a->subscribers, got);
      return 3;
    }
    usleep(got >= (long long)a->subscribers ? 0 : 10 * 1000);
  }
  usleep(20 * 1000);
  start = bench_now_ns();
  for (i = 0; i < a->count; ++i) {
    late = bench_pace(start, i, a->rate);
    if (late > max_late) max_late = late;
    bench_encode(buf, BENCH_DATA, i, bench_now_ns());
    redisAppendCommand(c, "PUBLISH %s %b", a->group, buf, (size_t)a->size);
    ++outstanding;
    if (a->rate > 0) {
      int done = 0;
      while (!done) {
        if (redisBufferWrite(c, &done) != REDIS_OK) {
          fprintf(stderr, "redis-bench pub: write: %s\n", c->errstr);
          return 1;
        }
      }
    }
    if (outstanding >= kWindow) {
      if (read_replies(c, outstanding) < 0) {
        fprintf(stderr, "redis-bench pub: %s\n", c->errstr);
        return 1;
      }
      outstanding = 0;
    }
  }
  if (outstanding > 0 && read_replies(c, outstanding) < 0) return 1;
  elapsed = bench_now_ns() - start;
  for (k = 0; k < 3; ++k) {
    usleep((useconds_t)(k * 100 * 1000));
    bench_fill(buf, a->size, BENCH_END, a->count, bench_now_ns());
    redisAppendCommand(c, "PUBLISH %s %b", a->group, buf, (size_t)a->size);
    read_replies(c, 1);
  }
  bench_pub_report("redis", a->count, a->size, a->rate, elapsed, max_late,
                   a->json, stdout);
  redisFree(c);
  free(buf);
  return 0;
}

int main(int argc, char** argv) {
  bench_args a;
  int rc = bench_parse_args(argc, argv, &a, kUsage);
  if (rc != 0) return rc;
  if (strcmp(a.role, "sub") == 0) return run_sub(&a);
  if (strcmp(a.role, "pub") == 0) return run_pub(&a);
  fprintf(stderr, "%s\nunknown role '%s'\n", kUsage, a.role);
  return 2;
}
