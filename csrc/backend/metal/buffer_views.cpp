#include "backend/metal/buffer_views.hpp"

#include <algorithm>

namespace zw {
namespace mtl {

namespace {

// Longest page multiple a view may have, and the distance between views.
uint64_t view_cap(uint64_t max_len, uint64_t page) { return max_len / page * page; }
uint64_t view_step(uint64_t cap, uint64_t page) { return std::max(page, cap / 2 / page * page); }

}  // namespace

std::vector<ViewSpan> plan_views(uint64_t committed, uint64_t max_len, uint64_t page) {
  std::vector<ViewSpan> spans;
  const uint64_t total = round_up(committed, page);
  const uint64_t cap = view_cap(max_len, page);
  if (total == 0 || cap == 0) return spans;
  if (total <= cap) {
    spans.push_back({0, total});
    return spans;
  }
  // Views of `cap` bytes every `step` bytes: a range starting in
  // [start, start + step) and at most cap - step long ends inside the view at
  // `start`. The last view is cut at the end of the committed pages.
  const uint64_t step = view_step(cap, page);
  for (uint64_t start = 0;; start += step) {
    const uint64_t length = std::min(cap, total - start);
    spans.push_back({start, length});
    if (start + length >= total) break;
  }
  return spans;
}

uint64_t guaranteed_range(uint64_t max_len, uint64_t page) {
  const uint64_t cap = view_cap(max_len, page);
  if (cap == 0) return 0;
  const uint64_t step = view_step(cap, page);
  return cap > step ? cap - step : 0;
}

int find_span(const std::vector<ViewSpan>& spans, uint64_t off, uint64_t bytes) {
  for (size_t i = 0; i < spans.size(); ++i) {
    if (spans[i].contains(off, bytes)) return static_cast<int>(i);
  }
  return -1;
}

bool fitted_span(uint64_t off, uint64_t bytes, uint64_t committed, uint64_t max_len,
                 uint64_t page, ViewSpan* out) {
  const uint64_t total = round_up(committed, page);
  if (off > total || bytes > total - off) return false;
  const uint64_t start = off / page * page;
  const uint64_t end = std::min(round_up(off + bytes, page), total);
  const uint64_t length = std::max(end - start, std::min(page, total - start));
  if (length == 0 || length > max_len) return false;
  *out = ViewSpan{start, length};
  return true;
}

}  // namespace mtl
}  // namespace zw
