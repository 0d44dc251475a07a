// RingDeque: a queue on one contiguous ring buffer, for the hot paths that
// append at the back, remove at the front and index from the front (a mesh
// member's stored items, docs/mesh.md §3). std::deque allocates and frees
// a block every few elements as such a queue moves along; a RingDeque
// allocates only when it grows past its capacity (doubling) or when its
// owner calls ShrinkToFit(), so a steady stream allocates nothing. Shrinking
// is the owner's call, from a timer say: a queue whose length swings by
// thousands (items collected in steps) would otherwise shrink and grow
// again on every swing.
//
// The elements live in slots that are reused: pop_front() move-assigns a
// T{} into the slot it leaves (what the element still owned is released
// then), and emplace_back() hands out such a default slot. T must be
// default-constructible and move-assignable.
//
// References to elements stay valid until the next emplace_back() or
// push_back() (which may reallocate) or ShrinkToFit(); pop_front()
// invalidates only the front's. Not thread-safe: one owner, as every
// container of a server's loop state.
#ifndef MSGC_BASE_RING_DEQUE_H_
#define MSGC_BASE_RING_DEQUE_H_

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <utility>
#include <vector>

namespace msgc {

template <typename T>
class RingDeque {
 public:
  // The smallest buffer (a power of two), kept once allocated.
  static constexpr size_t kMinCapacity = 16;

  RingDeque() = default;
  RingDeque(RingDeque&&) noexcept = default;
  RingDeque& operator=(RingDeque&&) noexcept = default;
  RingDeque(const RingDeque&) = delete;
  RingDeque& operator=(const RingDeque&) = delete;

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  size_t capacity() const { return slots_.size(); }

  // REQUIRES: i < size().
  T& operator[](size_t i) {
    assert(i < size_);
    return slots_[(head_ + i) & (slots_.size() - 1)];
  }
  const T& operator[](size_t i) const {
    assert(i < size_);
    return slots_[(head_ + i) & (slots_.size() - 1)];
  }
  // REQUIRES: !empty().
  T& front() { return (*this)[0]; }
  const T& front() const { return (*this)[0]; }
  T& back() { return (*this)[size_ - 1]; }
  const T& back() const { return (*this)[size_ - 1]; }

  // Appends a default-constructed element and returns it.
  T& emplace_back() {
    if (size_ == slots_.size()) Resize(std::max(kMinCapacity, 2 * size_));
    ++size_;
    return back();
  }
  void push_back(T value) { emplace_back() = std::move(value); }

  // REQUIRES: !empty().
  void pop_front() {
    assert(size_ > 0);
    slots_[head_] = T{};
    head_ = (head_ + 1) & (slots_.size() - 1);
    --size_;
    if (size_ == 0) head_ = 0;
  }

  // Gives back memory if at most a quarter of the buffer is in use: the
  // buffer becomes the smallest power of two, at least kMinCapacity, that
  // is at least twice the length.
  void ShrinkToFit() {
    if (slots_.size() <= kMinCapacity || size_ > slots_.size() / 4) return;
    size_t capacity = kMinCapacity;
    while (capacity < 2 * size_) capacity *= 2;
    Resize(capacity);
  }

  void clear() {
    std::vector<T>().swap(slots_);
    head_ = 0;
    size_ = 0;
  }

  // Forward iteration from the front, for range-for.
  template <typename Q, typename E>
  class Iter {
   public:
    Iter(Q* q, size_t i) : q_(q), i_(i) {}
    E& operator*() const { return (*q_)[i_]; }
    E* operator->() const { return &(*q_)[i_]; }
    Iter& operator++() {
      ++i_;
      return *this;
    }
    bool operator==(const Iter& o) const { return i_ == o.i_; }
    bool operator!=(const Iter& o) const { return i_ != o.i_; }

   private:
    Q* q_;
    size_t i_;
  };
  using iterator = Iter<RingDeque, T>;
  using const_iterator = Iter<const RingDeque, const T>;
  iterator begin() { return iterator(this, 0); }
  iterator end() { return iterator(this, size_); }
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, size_); }

 private:
  // Moves the elements, in order, to the front of a buffer of `capacity`
  // (a power of two, at least size_).
  void Resize(size_t capacity) {
    std::vector<T> next(capacity);
    for (size_t i = 0; i < size_; ++i) next[i] = std::move((*this)[i]);
    slots_.swap(next);
    head_ = 0;
  }

  std::vector<T> slots_;  // size 0 or a power of two
  size_t head_ = 0;       // slot of the front element
  size_t size_ = 0;
};

}  // namespace msgc

#endif  // MSGC_BASE_RING_DEQUE_H_
