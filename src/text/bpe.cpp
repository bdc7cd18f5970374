#include "text/bpe.h"

#include <queue>

namespace edgerun::text {

void BpeMerges::add(int32_t a, int32_t b, int32_t merged, int32_t rank, bool overwrite) {
  auto [it, inserted] = map_.try_emplace(key(a, b), Entry{rank, merged});
  if (!inserted && overwrite) it->second = Entry{rank, merged};
}

void BpeMerges::apply(std::vector<int32_t>& symbols) const {
  const int n = static_cast<int>(symbols.size());
  if (n < 2) return;
  struct Sym {
    int32_t id;
    int prev, next;
    bool alive;
  };
  struct Cand {
    int32_t rank;
    int pos;
    int32_t merged;
    bool operator<(const Cand& o) const {  // priority_queue is a max-heap: invert
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::vector<Sym> syms(n);
  for (int i = 0; i < n; ++i) syms[i] = Sym{symbols[i], i - 1, i + 1 < n ? i + 1 : -1, true};
  std::priority_queue<Cand> queue;
  for (int i = 0; i + 1 < n; ++i) {
    if (const Entry* e = find(syms[i].id, syms[i + 1].id)) queue.push(Cand{e->rank, i, e->merged});
  }
  while (!queue.empty()) {
    const Cand top = queue.top();
    queue.pop();
    Sym& left = syms[top.pos];
    if (!left.alive || left.next < 0) continue;
    Sym& right = syms[left.next];
    // Stale entry: one side changed since this candidate was queued.
    const Entry* e = find(left.id, right.id);
    if (!e || e->merged != top.merged) continue;
    left.id = top.merged;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) syms[right.next].prev = top.pos;
    if (left.prev >= 0) {
      if (const Entry* p = find(syms[left.prev].id, left.id))
        queue.push(Cand{p->rank, left.prev, p->merged});
    }
    if (left.next >= 0) {
      if (const Entry* p = find(left.id, syms[left.next].id))
        queue.push(Cand{p->rank, top.pos, p->merged});
    }
  }
  symbols.clear();
  for (int i = 0; i >= 0; i = syms[i].next) symbols.push_back(syms[i].id);
}

std::optional<std::vector<int32_t>> BpeCache::get(std::string_view word) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = map_.find(std::string(word));
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

void BpeCache::put(std::string_view word, const std::vector<int32_t>& ids) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (map_.size() >= capacity_) map_.clear();
  map_.emplace(std::string(word), ids);
}

}  // namespace edgerun::text
