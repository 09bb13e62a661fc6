// DLPack capsules over guest memory (python/zerowasm/interop.py decides what
// to export: device, dtype, shape, copies; this file only builds the capsule).
//
// Struct layouts are the DLPack ABI (dlpack.h v1.1): versioned capsules are
// "dltensor_versioned" holding a DLManagedTensorVersioned, legacy ones
// "dltensor" holding a DLManagedTensor. A consumer renames the capsule
// ("used_dltensor[_versioned]") and later calls the deleter; a capsule never
// consumed is cleaned up by its own destructor. The deleter drops the
// reference to `owner` (the Python tensor, which keeps the instance alive).
#include "python/dlpack.hpp"

#include <cstdint>
#include <vector>

#include <nanobind/stl/vector.h>

namespace nb = nanobind;

namespace {

struct DLDevice {
  int32_t device_type;
  int32_t device_id;
};
struct DLDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor*);
};
struct DLPackVersion {
  uint32_t major;
  uint32_t minor;
};
struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned*);
  uint64_t flags;
  DLTensor dl_tensor;
};
constexpr DLPackVersion kVersion{1, 1};
constexpr uint64_t kFlagReadOnly = 1ull << 0;
constexpr uint64_t kFlagIsCopied = 1ull << 1;
constexpr const char* kVersionedName = "dltensor_versioned";
constexpr const char* kLegacyName = "dltensor";

// What a capsule owns besides the DLPack struct: the shape/strides arrays and a
// strong reference to the Python object whose memory it describes.
struct Context {
  PyObject* owner;
  std::vector<int64_t> shape, strides;
};

void release(Context* ctx) {
  // Consumers may call the deleter from any thread, or after interpreter shutdown began.
  if (Py_IsInitialized()) {
    PyGILState_STATE gil = PyGILState_Ensure();
    Py_DECREF(ctx->owner);
    PyGILState_Release(gil);
  }
  delete ctx;
}

template <typename Managed>
void delete_managed(Managed* managed) {
  release(static_cast<Context*>(managed->manager_ctx));
  delete managed;
}

template <typename Managed>
void capsule_destructor(PyObject* capsule, const char* name) {
  // Renamed capsules were consumed: the consumer owns (and deletes) the tensor.
  if (!PyCapsule_IsValid(capsule, name)) return;
  auto* managed = static_cast<Managed*>(PyCapsule_GetPointer(capsule, name));
  if (managed && managed->deleter) managed->deleter(managed);
}

void versioned_destructor(PyObject* capsule) { capsule_destructor<DLManagedTensorVersioned>(capsule, kVersionedName); }
void legacy_destructor(PyObject* capsule) { capsule_destructor<DLManagedTensor>(capsule, kLegacyName); }

nb::object make_capsule(nb::handle owner, uint64_t address, const std::vector<int64_t>& shape,
                        const std::vector<int64_t>& strides, uint8_t code, uint8_t bits, int32_t device_type,
                        int32_t device_id, bool versioned, bool read_only, bool copied) {
  if (shape.size() != strides.size()) throw nb::value_error("dlpack: shape and strides differ in length");
  auto* ctx = new Context{owner.ptr(), shape, strides};
  Py_INCREF(ctx->owner);
  DLTensor tensor{};
  tensor.data = reinterpret_cast<void*>(static_cast<uintptr_t>(address));
  tensor.device = {device_type, device_id};
  tensor.ndim = static_cast<int32_t>(shape.size());
  tensor.dtype = {code, bits, 1};
  tensor.shape = ctx->shape.data();
  tensor.strides = ctx->strides.data();
  PyObject* capsule = nullptr;
  if (versioned) {
    auto* managed = new DLManagedTensorVersioned{kVersion, ctx, &delete_managed<DLManagedTensorVersioned>,
                                                 (read_only ? kFlagReadOnly : 0) | (copied ? kFlagIsCopied : 0),
                                                 tensor};
    capsule = PyCapsule_New(managed, kVersionedName, versioned_destructor);
    if (!capsule) delete_managed(managed);
  } else {
    auto* managed = new DLManagedTensor{tensor, ctx, &delete_managed<DLManagedTensor>};
    capsule = PyCapsule_New(managed, kLegacyName, legacy_destructor);
    if (!capsule) delete_managed(managed);
  }
  if (!capsule) throw nb::python_error();
  return nb::steal(capsule);
}

}  // namespace

void bind_dlpack(nb::module_& m) {
  m.def("dlpack_capsule", &make_capsule, nb::arg("owner"), nb::arg("address"), nb::arg("shape"),
        nb::arg("strides"), nb::arg("code"), nb::arg("bits"), nb::arg("device_type"), nb::arg("device_id"),
        nb::arg("versioned"), nb::arg("read_only") = false, nb::arg("copied") = false,
        nb::sig("def dlpack_capsule(owner: object, address: int, shape: list[int], strides: list[int], code: int, "
                "bits: int, device_type: int, device_id: int, versioned: bool, read_only: bool = False, "
                "copied: bool = False) -> object"),
        "A DLPack capsule over `address` whose deleter drops a reference to `owner`.");
}
