#include "net/tcp_stats.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

namespace msgc::net {
namespace {

constexpr int kMiB = 1 << 20;
constexpr uint32_t kMinRtt = 1000;

TcpStats Stats(uint32_t rtt_us, uint64_t busy_us, uint64_t limited_us) {
  TcpStats s;
  s.rtt_us = rtt_us;
  s.busy_us = busy_us;
  s.sndbuf_limited_us = limited_us;
  return s;
}

// Limited a quarter of the busy time or more at a long round trip: the
// buffer doubles, within the ceiling and the maximum.
TEST(SendBufferToGrowToTest, DoublesWhenLimitedOverALongPath) {
  const TcpStats last = Stats(20000, 1000000, 100000);
  const TcpStats now = Stats(20000, 1050000, 112500);  // 25 % of 50 ms
  EXPECT_EQ(
      SendBufferToGrowTo(last, now, 4 * kMiB, 8 * kMiB, 64 * kMiB, kMinRtt),
      8 * kMiB);
  EXPECT_EQ(
      SendBufferToGrowTo(last, now, 4 * kMiB, 6 * kMiB, 64 * kMiB, kMinRtt),
      6 * kMiB)
      << "capped by 2 x net.core.wmem_max";
  EXPECT_EQ(
      SendBufferToGrowTo(last, now, 4 * kMiB, 64 * kMiB, 5 * kMiB, kMinRtt),
      5 * kMiB)
      << "capped by max_bytes";
}

TEST(SendBufferToGrowToTest, LeavesItAlone) {
  const TcpStats last = Stats(20000, 1000000, 100000);
  // Limited less than a quarter of the time.
  EXPECT_EQ(SendBufferToGrowTo(last, Stats(20000, 1050000, 112000), 4 * kMiB,
                               8 * kMiB, 64 * kMiB, kMinRtt),
            0);
  // Not busy since the last check.
  EXPECT_EQ(
      SendBufferToGrowTo(last, last, 4 * kMiB, 8 * kMiB, 64 * kMiB, kMinRtt),
      0);
  // A short path (a LAN): autotuning is plenty there.
  EXPECT_EQ(SendBufferToGrowTo(last, Stats(900, 1050000, 150000), 4 * kMiB,
                               8 * kMiB, 64 * kMiB, kMinRtt),
            0);
  // At the ceiling, or above it (setting it would shrink the buffer: a
  // stock net.core.wmem_max of 212992 below an autotuned 4 MiB).
  EXPECT_EQ(SendBufferToGrowTo(last, Stats(20000, 1050000, 150000), 8 * kMiB,
                               8 * kMiB, 64 * kMiB, kMinRtt),
            0);
  EXPECT_EQ(SendBufferToGrowTo(last, Stats(20000, 1050000, 150000), 4 * kMiB,
                               2 * 212992, 64 * kMiB, kMinRtt),
            0);
  // Totals that went down are not this connection's.
  EXPECT_EQ(SendBufferToGrowTo(last, Stats(20000, 10, 5), 4 * kMiB, 8 * kMiB,
                               64 * kMiB, kMinRtt),
            0);
}

// The real socket call.
TEST(ReadTcpStatsTest, ReadsASocket) {
  // An unconnected TCP socket answers TCP_INFO too (all zero).
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  TcpStats st;
  EXPECT_TRUE(ReadTcpStats(fd, &st));
  EXPECT_EQ(st.busy_us, 0u);
  close(fd);
  EXPECT_FALSE(ReadTcpStats(-1, &st));
}

}  // namespace
}  // namespace msgc::net
