// Which page-aligned windows of a linear memory the Metal executor wraps as
// MTLBuffers (pure C++: no Metal types, so it is tested on every platform).
//
// A no-copy MTLBuffer may not exceed device.maxBufferLength. When the
// committed memory is larger, it is covered by a grid of overlapping views,
// one starting every `step` bytes, so every range of up to
// guaranteed_range() bytes lies entirely inside one view and each kernel
// argument binds as (view, offset). A longer range gets a view fitted around
// it (fitted_span), as long as that fits under the limit.
#pragma once

#include <cstdint>
#include <vector>

namespace zw {
namespace mtl {

struct ViewSpan {
  uint64_t offset;  // bytes from the memory base; a multiple of the page size
  uint64_t length;  // bytes; a multiple of the page size
  uint64_t end() const { return offset + length; }
  bool contains(uint64_t off, uint64_t bytes) const {
    return off >= offset && off <= end() && bytes <= end() - off;
  }
};

constexpr uint64_t round_up(uint64_t value, uint64_t align) {
  return (value + align - 1) / align * align;
}

// Grid of views covering [0, round_up(committed, page)). Empty when nothing is
// committed or when max_len is smaller than one page.
std::vector<ViewSpan> plan_views(uint64_t committed, uint64_t max_len, uint64_t page);

// Every range of at most this many bytes lies inside one view of the grid
// plan_views builds for any committed size.
uint64_t guaranteed_range(uint64_t max_len, uint64_t page);

// Index of the first span containing [off, off + bytes), or -1.
int find_span(const std::vector<ViewSpan>& spans, uint64_t off, uint64_t bytes);

// The page-aligned span around [off, off + bytes), clipped to the committed
// pages. False when it would be longer than max_len or leave the committed
// memory.
bool fitted_span(uint64_t off, uint64_t bytes, uint64_t committed, uint64_t max_len,
                 uint64_t page, ViewSpan* out);

}  // namespace mtl
}  // namespace zw
