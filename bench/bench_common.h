/* Shared by every benchmark client of bench/ (msgc, NATS, Redis, floor):
 * the payload format, the subscriber's accounting and its JSON report, and
 * the publisher's pacing. Plain C so the libnats and hiredis clients use the
 * very same code as the msgc roles, and the numbers stay comparable.
 *
 * Payload (little-endian, at least BENCH_HEADER_SIZE bytes, the rest is
 * filler up to --size):
 *   u32 magic (BENCH_MAGIC) | u32 kind | u64 seq | u64 send_ns
 * send_ns is CLOCK_MONOTONIC at the publish call; publisher and subscribers
 * run on one machine (loopback), so receive - send is the one-way latency.
 *
 * Thread-safety: a bench_sub_stats is used by one thread at a time. */
#ifndef MSGC_BENCH_COMMON_H_
#define MSGC_BENCH_COMMON_H_

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BENCH_MAGIC 0x42434d53u /* "SMCB" */
#define BENCH_HEADER_SIZE 24u

/* Kinds of payload. Only DATA is counted. */
enum bench_kind {
  BENCH_DATA = 0,
  BENCH_PROBE = 1, /* before the data: proves the path, not counted */
  BENCH_END = 2,   /* after the data: the publisher is done */
  BENCH_ACK = 3,   /* subscriber -> publisher: "I got a probe" (seq = id) */
};

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Writes the header into buf (size >= BENCH_HEADER_SIZE). */
void bench_encode(void* buf, uint32_t kind, uint64_t seq, uint64_t send_ns);
/* Fills a whole payload of `size` bytes: header + filler. */
void bench_fill(void* buf, size_t size, uint32_t kind, uint64_t seq,
                uint64_t send_ns);
/* 0 and the fields on success, -1 when it is not a bench payload. */
int bench_decode(const void* buf, size_t len, uint32_t* kind, uint64_t* seq,
                 uint64_t* send_ns);

/* Subscriber accounting for `expected` data messages with seq 0..N-1. */
typedef struct {
  uint64_t expected;
  uint64_t received;     /* distinct data messages */
  uint64_t duplicates;   /* data messages seen again */
  uint64_t out_of_order; /* seq below the highest seen before */
  uint64_t malformed;    /* not a bench payload, or seq >= expected */
  uint64_t probes;
  uint64_t bytes;         /* payload bytes of counted messages */
  uint64_t first_send_ns; /* send time of the first data message received */
  uint64_t last_recv_ns;  /* receive time of the last data message */
  uint64_t max_seq;
  int any;
  int end_seen;
  uint8_t* seen;   /* expected flags */
  int64_t* lat_ns; /* one latency per distinct message */
} bench_sub_stats;

/* 0 on success, -1 when out of memory. */
int bench_sub_init(bench_sub_stats* s, uint64_t expected);
void bench_sub_free(bench_sub_stats* s);
/* Accounts one received payload; returns its kind (or -1 if malformed). */
int bench_sub_on_payload(bench_sub_stats* s, const void* data, size_t len,
                         uint64_t recv_ns);
/* True when every expected message arrived. */
int bench_sub_complete(const bench_sub_stats* s);

/* Prints the report: one JSON object on one line when json != 0, else a
 * readable line. `system` names the bus; `extra_json` is "" or more members
 * without braces, e.g. "\"slow_consumer_drops\":0". Includes this process's
 * CPU time (user + system) as "cpu_s". */
void bench_sub_report(bench_sub_stats* s, const char* system, int json,
                      const char* extra_json, FILE* out);

/* Publisher pacing: when rate > 0, sleeps until message `i` is due
 * (start_ns + i / rate); returns at once when behind. Returns the number of
 * nanoseconds the call was late (0 when early or rate <= 0). */
uint64_t bench_pace(uint64_t start_ns, uint64_t i, double rate);

/* User + system CPU seconds of this process. */
double bench_cpu_seconds(void);

/* Prints the publisher's report (one JSON line when json != 0). */
void bench_pub_report(const char* system, uint64_t sent, uint64_t size,
                      double rate, uint64_t elapsed_ns, uint64_t max_late_ns,
                      int json, FILE* out);

/* Command line shared by the C roles (nats-bench, redis-bench, msgc-floor):
 *   PROG [--server ADDR] ROLE --group G --count N [--size S] [--rate R]
 *        [--subscribers K] [--probes P] [--json] [--timeout SEC]
 *        [--start-timeout SEC] [--wait SEC] [--service NAME]
 * ROLE is the first word that is not an option. */
typedef struct {
  const char* role;
  const char* server; /* NULL when not given */
  const char* group;
  const char* service;
  uint64_t count;
  uint64_t size;
  double rate;
  unsigned subscribers;
  unsigned probes;
  int json;
  double idle_timeout;  /* sub: seconds without a message once one came */
  double start_timeout; /* sub: seconds to wait for the first message */
  double wait_timeout;  /* pub: seconds to wait for the subscribers */
} bench_args;

/* Returns 0, or 2 after printing `usage` and the error to stderr. */
int bench_parse_args(int argc, char** argv, bench_args* a, const char* usage);

#ifdef __cplusplus
}
#endif

#endif /* MSGC_BENCH_COMMON_H_ */
