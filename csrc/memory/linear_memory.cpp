#include "memory/linear_memory.hpp"

#include <algorithm>

#include "zerowasm/error.hpp"

namespace zw {

LinearMemory::LinearMemory(std::unique_ptr<Region> region, size_t initial_bytes, size_t max_bytes)
    : region_(std::move(region)), base_(region_->base()), max_bytes_(max_bytes) {
  if (max_bytes_ > region_->reserved_bytes())
    throw Error("linear memory maximum " + std::to_string(max_bytes_) +
                " bytes exceeds its reservation of " + std::to_string(region_->reserved_bytes()));
  grow_to(initial_bytes);
}

LinearMemory::~LinearMemory() {
  // Listeners (device registrations) must let go before the pages do.
  for (MemoryListener* l : listeners_) l->on_release(base_, committed_);
}

void LinearMemory::grow_to(size_t new_bytes) {
  last_grow_failure_.clear();
  try {
    commit_to(new_bytes);
  } catch (const std::exception& e) {
    last_grow_failure_ = e.what();
    throw;
  }
}

void LinearMemory::commit_to(size_t new_bytes) {
  if (new_bytes <= committed_) return;
  if (new_bytes > max_bytes_)
    throw Error("cannot grow linear memory to " + std::to_string(new_bytes) +
                " bytes: its maximum is " + std::to_string(max_bytes_));
  size_t old = committed_;
  region_->commit(old, new_bytes);
  // Publish the new size only once every listener (device registration) took
  // it: if one throws, wasmtime reports the grow as failed and the guest and
  // the op validation keep agreeing on the old size.
  for (MemoryListener* l : listeners_) l->on_commit(base_, old, new_bytes);
  committed_ = new_bytes;
}

void LinearMemory::add_listener(MemoryListener* listener) {
  listeners_.push_back(listener);
  if (committed_ > 0) listener->on_commit(base_, 0, committed_);
}

void LinearMemory::remove_listener(MemoryListener* listener) {
  auto it = std::find(listeners_.begin(), listeners_.end(), listener);
  if (it == listeners_.end()) return;
  listeners_.erase(it);
  listener->on_release(base_, committed_);
}

}  // namespace zw
