/* See bench_common.h. */
#define _GNU_SOURCE
#include "bench_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The machines we run on are little-endian; memcpy keeps it portable to
 * unaligned buffers. */
void bench_encode(void* buf, uint32_t kind, uint64_t seq, uint64_t send_ns) {
  uint8_t* p = (uint8_t*)buf;
  uint32_t magic = BENCH_MAGIC;
  memcpy(p, &magic, 4);
  memcpy(p + 4, &kind, 4);
  memcpy(p + 8, &seq, 8);
  memcpy(p + 16, &send_ns, 8);
}

void bench_fill(void* buf, size_t size, uint32_t kind, uint64_t seq,
                uint64_t send_ns) {
  bench_encode(buf, kind, seq, send_ns);
  if (size > BENCH_HEADER_SIZE) {
    memset((uint8_t*)buf + BENCH_HEADER_SIZE, 'x', size - BENCH_HEADER_SIZE);
  }
}

int bench_decode(const void* buf, size_t len, uint32_t* kind, uint64_t* seq,
                 uint64_t* send_ns) {
  const uint8_t* p = (const uint8_t*)buf;
  uint32_t magic;
  if (len < BENCH_HEADER_SIZE) return -1;
  memcpy(&magic, p, 4);
  if (magic != BENCH_MAGIC) return -1;
  memcpy(kind, p + 4, 4);
  memcpy(seq, p + 8, 8);
  memcpy(send_ns, p + 16, 8);
  return 0;
}

int bench_sub_init(bench_sub_stats* s, uint64_t expected) {
  memset(s, 0, sizeof(*s));
  s->expected = expected;
  s->seen = (uint8_t*)calloc(expected ? expected : 1, 1);
  s->lat_ns = (int64_t*)malloc((expected ? expected : 1) * sizeof(int64_t));
  if (s->seen == NULL || s->lat_ns == NULL) {
    bench_sub_free(s);
    return -1;
  }
  return 0;
}

void bench_sub_free(bench_sub_stats* s) {
  free(s->seen);
  free(s->lat_ns);
  s->seen = NULL;
  s->lat_ns = NULL;
}

int bench_sub_on_payload(bench_sub_stats* s, const void* data, size_t len,
                         uint64_t recv_ns) {
  uint32_t kind;
  uint64_t seq, send_ns;
  if (bench_decode(data, len, &kind, &seq, &send_ns) != 0) {
    s->malformed++;
    return -1;
  }
  if (kind == BENCH_PROBE) {
    s->probes++;
    return BENCH_PROBE;
  }
  if (kind == BENCH_END) {
    s->end_seen = 1;
    return BENCH_END;
  }
  if (kind != BENCH_DATA) return (int)kind;
  if (seq >= s->expected) {
    s->malformed++;
    return -1;
  }
  if (s->seen[seq]) {
    s->duplicates++;
    return BENCH_DATA;
  }
  s->seen[seq] = 1;
  if (!s->any) {
    s->any = 1;
    s->first_send_ns = send_ns;
    s->max_seq = seq;
  } else if (seq < s->max_seq) {
    s->out_of_order++;
  } else {
    s->max_seq = seq;
  }
  s->lat_ns[s->received++] = (int64_t)(recv_ns - send_ns);
  s->bytes += len;
  s->last_recv_ns = recv_ns;
  return BENCH_DATA;
}

int bench_sub_complete(const bench_sub_stats* s) {
  return s->received >= s->expected;
}

static int cmp_i64(const void* a, const void* b) {
  int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
  return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array, in microseconds. */
static double pct_us(const int64_t* v, uint64_t n, double p) {
  uint64_t rank;
  if (n == 0) return 0;
  rank = (uint64_t)(p * (double)n + 0.999999999);
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return (double)v[rank - 1] / 1000.0;
}

double bench_cpu_seconds(void) {
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

void bench_sub_report(bench_sub_stats* s, const char* system, int json,
                      const char* extra_json, FILE* out) {
  double secs = 0, rate = 0, mib = 0;
  uint64_t n = s->received;
  uint64_t lost = s->expected > n ? s->expected - n : 0;
  uint64_t gaps = 0, first_lost = 0, i;
  char loss[96] = "";
  /* Where the losses are: how many runs of missing seqs, the first one. */
  for (i = 0; lost > 0 && i < s->expected; ++i) {
    if (!s->seen[i] && (i == 0 || s->seen[i - 1])) {
      if (gaps++ == 0) first_lost = i;
    }
  }
  if (lost > 0) {
    snprintf(loss, sizeof(loss), ",\"loss_gaps\":%llu,\"first_lost\":%llu",
             (unsigned long long)gaps, (unsigned long long)first_lost);
  }
  if (n > 0) {
    qsort(s->lat_ns, n, sizeof(int64_t), cmp_i64);
    if (s->last_recv_ns > s->first_send_ns) {
      secs = (double)(s->last_recv_ns - s->first_send_ns) / 1e9;
      rate = (double)n / secs;
      mib = (double)s->bytes / secs / (1024.0 * 1024.0);
    }
  }
  if (json) {
    fprintf(out,
            "{\"system\":\"%s\",\"received\":%llu,\"msgs_per_s\":%.0f,"
            "\"mib_per_s\":%.2f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
            "\"p999_us\":%.1f,\"max_us\":%.1f,\"lost\":%llu,"
            "\"duplicates\":%llu,\"out_of_order\":%llu,\"probes\":%llu,"
            "\"malformed\":%llu,\"elapsed_s\":%.3f,\"cpu_s\":%.3f%s%s%s}\n",
            system, (unsigned long long)n, rate, mib, pct_us(s->lat_ns, n, 0.5),
            pct_us(s->lat_ns, n, 0.99), pct_us(s->lat_ns, n, 0.999),
            n ? (double)s->lat_ns[n - 1] / 1000.0 : 0.0,
            (unsigned long long)lost, (unsigned long long)s->duplicates,
            (unsigned long long)s->out_of_order, (unsigned long long)s->probes,
            (unsigned long long)s->malformed, secs, bench_cpu_seconds(), loss,
            (extra_json && *extra_json) ? "," : "",
            extra_json ? extra_json : "");
  } else {
    fprintf(out,
            "%s: received %llu in %.3f s = %.0f msgs/s (%.2f MiB/s); latency "
            "p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us; lost %llu, "
            "duplicates %llu, out of order %llu; cpu %.3f s%s%s\n",
            system, (unsigned long long)n, secs, rate, mib,
            pct_us(s->lat_ns, n, 0.5), pct_us(s->lat_ns, n, 0.99),
            pct_us(s->lat_ns, n, 0.999),
            n ? (double)s->lat_ns[n - 1] / 1000.0 : 0.0,
            (unsigned long long)lost, (unsigned long long)s->duplicates,
            (unsigned long long)s->out_of_order, bench_cpu_seconds(),
            (extra_json && *extra_json) ? "; " : "",
            extra_json ? extra_json : "");
  }
  fflush(out);
}

uint64_t bench_pace(uint64_t start_ns, uint64_t i, double rate) {
  uint64_t due, now;
  struct timespec ts;
  if (rate <= 0) return 0;
  due = start_ns + (uint64_t)((double)i * 1e9 / rate);
  now = bench_now_ns();
  if (now >= due) return now - due;
  ts.tv_sec = (time_t)(due / 1000000000u);
  ts.tv_nsec = (long)(due % 1000000000u);
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
  return 0;
}

void bench_pub_report(const char* system, uint64_t sent, uint64_t size,
                      double rate, uint64_t elapsed_ns, uint64_t max_late_ns,
                      int json, FILE* out) {
  double secs = (double)elapsed_ns / 1e9;
  double achieved = secs > 0 ? (double)sent / secs : 0;
  if (json) {
    fprintf(out,
            "{\"system\":\"%s\",\"role\":\"pub\",\"sent\":%llu,\"size\":%llu,"
            "\"rate\":%.0f,\"msgs_per_s\":%.0f,\"elapsed_s\":%.3f,"
            "\"max_late_us\":%.1f,\"cpu_s\":%.3f}\n",
            system, (unsigned long long)sent, (unsigned long long)size, rate,
            achieved, secs, (double)max_late_ns / 1000.0, bench_cpu_seconds());
  } else {
    fprintf(out,
            "%s pub: sent %llu x %llu B in %.3f s = %.0f msgs/s (target %.0f, "
            "max pacing lag %.1f us); cpu %.3f s\n",
            system, (unsigned long long)sent, (unsigned long long)size, secs,
            achieved, rate, (double)max_late_ns / 1000.0, bench_cpu_seconds());
  }
  fflush(out);
}

static int parse_u64(const char* s, uint64_t* out) {
  char* end;
  unsigned long long v;
  if (s == NULL || *s == '\0') return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0') return -1;
  *out = (uint64_t)v;
  return 0;
}

static int parse_double(const char* s, double* out) {
  char* end;
  if (s == NULL || *s == '\0') return -1;
  errno = 0;
  *out = strtod(s, &end);
  return (errno != 0 || *end != '\0' || *out < 0) ? -1 : 0;
}

int bench_parse_args(int argc, char** argv, bench_args* a, const char* usage) {
  int i;
  memset(a, 0, sizeof(*a));
  a->size = 100;
  a->subscribers = 1;
  a->probes = 3;
  a->idle_timeout = 10;
  a->start_timeout = 120;
  a->wait_timeout = 30;
  a->service = "fifo";
  for (i = 1; i < argc; ++i) {
    const char* opt = argv[i];
    const char* val = i + 1 < argc ? argv[i + 1] : NULL;
    uint64_t u = 0;
    int bad = 0, used = 1;
    if (strcmp(opt, "--json") == 0) {
      a->json = 1;
      used = 0;
    } else if (strncmp(opt, "--", 2) != 0) {
      if (a->role != NULL) bad = 1;
      a->role = opt;
      used = 0;
    } else if (val == NULL) {
      bad = 1;
    } else if (strcmp(opt, "--server") == 0) {
      a->server = val;
    } else if (strcmp(opt, "--group") == 0) {
      a->group = val;
    } else if (strcmp(opt, "--service") == 0) {
      a->service = val;
    } else if (strcmp(opt, "--count") == 0) {
      bad = parse_u64(val, &a->count);
    } else if (strcmp(opt, "--size") == 0) {
      bad = parse_u64(val, &a->size);
    } else if (strcmp(opt, "--rate") == 0) {
      bad = parse_double(val, &a->rate);
    } else if (strcmp(opt, "--subscribers") == 0) {
      bad = parse_u64(val, &u);
      a->subscribers = (unsigned)u;
    } else if (strcmp(opt, "--probes") == 0) {
      bad = parse_u64(val, &u);
      a->probes = (unsigned)u;
    } else if (strcmp(opt, "--timeout") == 0) {
      bad = parse_double(val, &a->idle_timeout);
    } else if (strcmp(opt, "--start-timeout") == 0) {
      bad = parse_double(val, &a->start_timeout);
    } else if (strcmp(opt, "--wait") == 0) {
      bad = parse_double(val, &a->wait_timeout);
    } else {
      bad = 1;
    }
    if (bad) {
      fprintf(stderr, "%s\nbad or unknown argument '%s'\n", usage, opt);
      return 2;
    }
    i += used;
  }
  if (a->role == NULL || a->group == NULL || a->count == 0 ||
      a->size < BENCH_HEADER_SIZE) {
    fprintf(stderr, "%s\nneeds a role, --group, --count > 0, --size >= %u\n",
            usage, BENCH_HEADER_SIZE);
    return 2;
  }
  return 0;
}
