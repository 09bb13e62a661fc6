// DLPack export for the Python extension (dlpack.cpp).
#pragma once

#include <nanobind/nanobind.h>

// Adds _zerowasm.dlpack_capsule(owner, address, shape, strides, code, bits,
// device_type, device_id, versioned, read_only=False, copied=False).
void bind_dlpack(nanobind::module_& m);
