// UndeliveredIndex: the mesh's undelivered items of one configuration in
// the agreed order (see docs/mesh.md §3), an internal piece of mesh.cc kept
// apart so that it can be tested against the std::set it replaced.
//
// Ownership: a value type; holds numbers only, no items.
// Thread-safety: none (the mesh's loop thread).
#ifndef MSGC_MESH_UNDELIVERED_INDEX_H_
#define MSGC_MESH_UNDELIVERED_INDEX_H_

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <tuple>
#include <vector>

namespace msgc::mesh {

// The undelivered items of the current configuration in the agreed order
// (ts, member index), as (ts, member index, oseq) entries; the same order
// and the same operations as the std::set it replaces, without a tree node
// allocated, rebalanced and freed per item.
//
// Each member's items arrive in its own order (FIFO links, stamps rising
// with oseq), so each member gets a queue sorted by (ts, oseq) that almost
// always grows at the back, and the first entry is the least of the queue
// fronts (one comparison per member). An entry that sorts before the back
// of its queue (a late body filling a number-only item) is inserted in
// place. Only the first entry can be erased, which is all delivery and the
// flush do.
class UndeliveredIndex {
 public:
  using Entry = std::tuple<uint64_t, int, uint32_t>;  // (ts, index, oseq)

  // Refers to the first entry (or is end()); valid until the next change.
  class Iterator {
   public:
    Entry operator*() const { return {ts_, idx_, oseq_}; }
    friend bool operator==(const Iterator&, const Iterator&) = default;

   private:
    friend class UndeliveredIndex;
    uint64_t ts_ = 0;
    int idx_ = -1;  // -1: end()
    uint32_t oseq_ = 0;
  };

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }

  // Adds (ts, idx, oseq) unless present (a set's emplace).
  void emplace(uint64_t ts, int idx, uint32_t oseq) {
    if (static_cast<size_t>(idx) >= queues_.size()) queues_.resize(idx + 1);
    auto& q = queues_[idx];
    const Slot e{ts, oseq};
    if (q.empty() || Less(q.back(), e)) {
      q.push_back(e);
    } else {
      auto at = std::lower_bound(q.begin(), q.end(), e, Less);
      if (at != q.end() && !Less(e, *at)) return;  // already there
      q.insert(at, e);
    }
    ++size_;
    if (first_valid_ && (first_.idx_ < 0 || Before(ts, idx, oseq, first_))) {
      first_.ts_ = ts;
      first_.idx_ = idx;
      first_.oseq_ = oseq;
    }
  }

  Iterator begin() const {
    if (first_valid_) return first_;
    Iterator best;
    for (size_t i = 0; i < queues_.size(); ++i) {
      if (queues_[i].empty()) continue;
      const Slot& f = queues_[i].front();
      if (best.idx_ < 0 || Before(f.ts, static_cast<int>(i), f.oseq, best)) {
        best.ts_ = f.ts;
        best.idx_ = static_cast<int>(i);
        best.oseq_ = f.oseq;
      }
    }
    first_ = best;
    first_valid_ = true;
    return best;
  }
  Iterator end() const { return Iterator(); }

  // Erases the first entry; returns the new first one.
  // REQUIRES: it == begin() != end().
  Iterator erase(Iterator it) {
    assert(first_valid_ && it == first_ && it.idx_ >= 0);
    queues_[it.idx_].pop_front();
    --size_;
    first_valid_ = false;
    return begin();
  }

  void clear() {
    for (auto& q : queues_) q.clear();
    size_ = 0;
    first_valid_ = false;
  }

 private:
  struct Slot {
    uint64_t ts;
    uint32_t oseq;
  };
  static bool Less(const Slot& a, const Slot& b) {
    return a.ts != b.ts ? a.ts < b.ts : a.oseq < b.oseq;
  }
  // (ts, idx, oseq) orders before *it (not end()).
  static bool Before(uint64_t ts, int idx, uint32_t oseq, const Iterator& it) {
    return std::tie(ts, idx, oseq) < std::tie(it.ts_, it.idx_, it.oseq_);
  }

  std::vector<std::deque<Slot>> queues_;  // by member index
  size_t size_ = 0;
  // The first entry, cached: delivery asks for it twice per item.
  mutable Iterator first_;
  mutable bool first_valid_ = false;
};

}  // namespace msgc::mesh

#endif  // MSGC_MESH_UNDELIVERED_INDEX_H_
