#include "base/ring_deque.h"

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <random>
#include <string>

namespace msgc {
namespace {

TEST(RingDequeTest, KeepsOrderAcrossWrapAndGrowth) {
  RingDeque<int> q;
  EXPECT_TRUE(q.empty());
  int next_in = 0, next_out = 0;
  // Interleave so the head wraps around before each growth.
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < 40 << round; ++i) q.emplace_back() = next_in++;
    for (int i = 0; i < 30 << round; ++i) {
      ASSERT_EQ(q.front(), next_out++);
      q.pop_front();
    }
    ASSERT_EQ(q.size(), static_cast<size_t>(next_in - next_out));
    for (size_t i = 0; i < q.size(); ++i) {
      ASSERT_EQ(q[i], next_out + static_cast<int>(i));
    }
    EXPECT_EQ(q.back(), next_in - 1);
  }
  int expect = next_out;
  for (int v : q) EXPECT_EQ(v, expect++);
  EXPECT_EQ(expect, next_in);
}

TEST(RingDequeTest, SteadyStreamDoesNotReallocate) {
  RingDeque<int> q;
  for (int i = 0; i < 100; ++i) q.push_back(i);
  const size_t cap = q.capacity();
  const int* first_slot = &q[0];
  for (int i = 100; i < 100000; ++i) {
    q.push_back(i);
    q.pop_front();
  }
  EXPECT_EQ(q.capacity(), cap);
  EXPECT_EQ(q.size(), 100u);
  EXPECT_EQ(q.front(), 99900);
  // Same buffer: the slots were reused, not reallocated.
  bool same_buffer = false;
  for (size_t i = 0; i < q.size(); ++i) same_buffer |= &q[i] == first_slot;
  EXPECT_TRUE(same_buffer);
}

TEST(RingDequeTest, ShrinksOnlyWhenAskedAndOnlyWhenMostlyEmpty) {
  RingDeque<int> q;
  for (int i = 0; i < 5000; ++i) q.push_back(i);
  EXPECT_EQ(q.capacity(), 8192u);
  while (q.size() > 3000) q.pop_front();
  EXPECT_EQ(q.capacity(), 8192u);  // pops never reallocate
  q.ShrinkToFit();
  EXPECT_EQ(q.capacity(), 8192u);  // more than a quarter in use
  while (q.size() > 1500) q.pop_front();
  q.ShrinkToFit();
  EXPECT_EQ(q.capacity(), 4096u);  // the smallest power of two >= 2 x 1500
  for (size_t i = 0; i < q.size(); ++i) {
    ASSERT_EQ(q[i], 3500 + static_cast<int>(i));
  }
  while (!q.empty()) q.pop_front();
  q.ShrinkToFit();
  EXPECT_EQ(q.capacity(), RingDeque<int>::kMinCapacity);
  q.push_back(42);
  EXPECT_EQ(q.front(), 42);
  q.clear();
  EXPECT_EQ(q.capacity(), 0u);
}

TEST(RingDequeTest, PopReleasesWhatTheSlotOwnedAndHandsOutDefaultSlots) {
  RingDeque<std::shared_ptr<int>> q;
  auto p = std::make_shared<int>(7);
  q.push_back(p);
  EXPECT_EQ(p.use_count(), 2);
  q.pop_front();
  EXPECT_EQ(p.use_count(), 1);
  // The reused slot is default, not a stale element.
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(q.emplace_back(), nullptr);
    q.back() = p;
    q.pop_front();
  }
  EXPECT_EQ(p.use_count(), 1);
}

TEST(RingDequeTest, MatchesStdDequeUnderRandomOperations) {
  RingDeque<std::string> q;
  std::deque<std::string> ref;
  std::mt19937 rng(12345);
  for (int step = 0; step < 200000; ++step) {
    // Phases of growth and of draining, so it grows and shrinks repeatedly.
    const bool grow = (step / 5000) % 2 == 0;
    if (ref.empty() || rng() % 10 < (grow ? 7u : 3u)) {
      std::string v = "v" + std::to_string(step);
      q.emplace_back() = v;
      ref.push_back(v);
    } else {
      ASSERT_EQ(q.front(), ref.front()) << "step " << step;
      q.pop_front();
      ref.pop_front();
    }
    ASSERT_EQ(q.size(), ref.size());
    if (step % 1000 == 0) q.ShrinkToFit();
    if (!ref.empty() && step % 97 == 0) {
      const size_t i = rng() % ref.size();
      ASSERT_EQ(q[i], ref[i]) << "step " << step;
    }
  }
}

}  // namespace
}  // namespace msgc
