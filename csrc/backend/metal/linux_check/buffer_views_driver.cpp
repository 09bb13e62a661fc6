// Answers buffer_views.hpp queries for tests/test_metal_buffer_views.py,
// which checks them independently in Python.
//
// Reads cases "committed max_len page n_queries" followed by n_queries lines
// "off bytes"; prints "guaranteed G", "views N" + N lines "offset length",
// then per query "find INDEX" and "fit OK OFFSET LENGTH".
#include <cstdio>
#include <vector>

#include "backend/metal/buffer_views.hpp"

using namespace zw::mtl;

int main() {
  unsigned long long committed, max_len, page, queries;
  while (std::scanf("%llu %llu %llu %llu", &committed, &max_len, &page, &queries) == 4) {
    std::vector<ViewSpan> views = plan_views(committed, max_len, page);
    std::printf("guaranteed %llu\nviews %zu\n", (unsigned long long)guaranteed_range(max_len, page), views.size());
    for (const ViewSpan& v : views) {
      std::printf("%llu %llu\n", (unsigned long long)v.offset, (unsigned long long)v.length);
    }
    for (unsigned long long q = 0; q < queries; ++q) {
      unsigned long long off, bytes;
      if (std::scanf("%llu %llu", &off, &bytes) != 2) return 1;
      ViewSpan fitted{};
      bool ok = fitted_span(off, bytes, committed, max_len, page, &fitted);
      std::printf("find %d\nfit %d %llu %llu\n", find_span(views, off, bytes), ok ? 1 : 0,
                  (unsigned long long)fitted.offset, (unsigned long long)fitted.length);
    }
  }
  return 0;
}
