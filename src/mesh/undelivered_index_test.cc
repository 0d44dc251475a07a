#include "mesh/undelivered_index.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <tuple>
#include <vector>

namespace msgc::mesh {
namespace {

using Entry = UndeliveredIndex::Entry;

// The first entry of both, or both empty.
void ExpectSameFirst(const UndeliveredIndex& index,
                     const std::set<Entry>& ref) {
  ASSERT_EQ(index.empty(), ref.empty());
  ASSERT_EQ(index.size(), ref.size());
  if (ref.empty()) {
    EXPECT_TRUE(index.begin() == index.end());
  } else {
    ASSERT_FALSE(index.begin() == index.end());
    EXPECT_EQ(*index.begin(), *ref.begin());
  }
}

TEST(UndeliveredIndexTest, MergesPerMemberQueuesByStampThenIndex) {
  UndeliveredIndex index;
  index.emplace(5, 1, 1);
  index.emplace(5, 0, 1);  // same stamp: the lower index first
  index.emplace(3, 2, 1);
  index.emplace(9, 0, 2);
  index.emplace(7, 1, 2);
  std::vector<Entry> got;
  for (auto it = index.begin(); it != index.end();) {
    got.push_back(*it);
    it = index.erase(it);
  }
  EXPECT_EQ(got, (std::vector<Entry>{
                     {3, 2, 1}, {5, 0, 1}, {5, 1, 1}, {7, 1, 2}, {9, 0, 2}}));
  EXPECT_TRUE(index.empty());
}

TEST(UndeliveredIndexTest, LateEntryGoesInPlaceAndDuplicatesAreIgnored) {
  UndeliveredIndex index;
  index.emplace(10, 0, 2);
  index.emplace(12, 0, 3);
  EXPECT_EQ(*index.begin(), Entry(10, 0, 2));
  index.emplace(4, 0, 1);  // a late body filling an earlier item
  EXPECT_EQ(*index.begin(), Entry(4, 0, 1));
  index.emplace(10, 0, 2);
  EXPECT_EQ(index.size(), 3u);
  index.erase(index.begin());
  EXPECT_EQ(*index.begin(), Entry(10, 0, 2));
  index.clear();
  EXPECT_TRUE(index.empty());
  EXPECT_TRUE(index.begin() == index.end());
  index.emplace(1, 3, 1);  // after clear, also for a member index not seen
  EXPECT_EQ(*index.begin(), Entry(1, 3, 1));
}

// Random traffic of several members, mostly in order per member (as links
// deliver it) with some late fills, duplicates, deliveries and clears: the
// index answers exactly like the std::set it replaced, step by step.
TEST(UndeliveredIndexTest, BehavesLikeAnOrderedSet) {
  std::mt19937_64 rng(20261127);
  for (int round = 0; round < 50; ++round) {
    UndeliveredIndex index;
    std::set<Entry> ref;
    const int members = 1 + static_cast<int>(rng() % 5);
    std::vector<uint32_t> next_oseq(members, 1);
    uint64_t clock = 0;
    for (int step = 0; step < 2000; ++step) {
      const int op = static_cast<int>(rng() % 100);
      const int idx = static_cast<int>(rng() % members);
      if (op < 55) {
        // The member's next item; stamps may tie across members.
        clock += rng() % 3;
        const Entry e{clock, idx, next_oseq[idx]++};
        index.emplace(std::get<0>(e), idx, std::get<2>(e));
        ref.insert(e);
      } else if (op < 62 && next_oseq[idx] > 1) {
        // A late body for an earlier number, or an entry already there.
        const uint32_t oseq =
            1 + static_cast<uint32_t>(rng() % (next_oseq[idx] - 1));
        const uint64_t ts = oseq;  // below the member's later stamps
        index.emplace(ts, idx, oseq);
        ref.insert({ts, idx, oseq});
      } else if (op < 98) {
        if (!ref.empty()) {
          ASSERT_EQ(*index.begin(), *ref.begin());
          index.erase(index.begin());
          ref.erase(ref.begin());
        }
      } else {
        index.clear();
        ref.clear();
      }
      ExpectSameFirst(index, ref);
    }
    // The flush's walk: erase returns the next entry.
    auto want = ref.begin();
    for (auto it = index.begin(); it != index.end(); ++want) {
      ASSERT_TRUE(want != ref.end());
      ASSERT_EQ(*it, *want);
      it = index.erase(it);
    }
    EXPECT_TRUE(want == ref.end());
  }
}

}  // namespace
}  // namespace msgc::mesh
