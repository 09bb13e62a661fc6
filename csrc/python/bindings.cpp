// Python bindings: a thin layer over the public C++ API (zerowasm.hpp).
// Argument conversion and the buffer protocol live here; everything else is
// in python/zerowasm/*.py or the C++ core.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include "zerowasm/zerowasm.hpp"

namespace nb = nanobind;

namespace {

nb::object error_class(const char* name) {
  return nb::module_::import_("zerowasm.errors").attr(name);
}

void translate_errors(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const zw::Trap& e) {
    nb::object exc = error_class("Trap")(e.what(), e.code());
    PyErr_SetObject(exc.type().ptr(), exc.ptr());
  } catch (const zw::CompileError& e) {
    PyErr_SetString(error_class("CompileError").ptr(), e.what());
  } catch (const zw::LinkError& e) {
    PyErr_SetString(error_class("LinkError").ptr(), e.what());
  } catch (const zw::Error& e) {
    PyErr_SetString(error_class("Error").ptr(), e.what());
  }
}

zw::Value to_value(nb::handle arg, zw::ValueKind kind) {
  switch (kind) {
    case zw::ValueKind::i32:
    case zw::ValueKind::i64: {
      PyObject* index = PyNumber_Index(arg.ptr());
      if (!index) throw nb::python_error();
      long long v = PyLong_AsLongLong(index);
      Py_DECREF(index);
      if (v == -1 && PyErr_Occurred()) throw nb::python_error();
      return zw::Value::from_i64(v);
    }
    case zw::ValueKind::f32:
    case zw::ValueKind::f64: {
      double v = PyFloat_AsDouble(arg.ptr());
      if (v == -1.0 && PyErr_Occurred()) throw nb::python_error();
      return zw::Value::from_f64(v);
    }
  }
  return {};
}

nb::object from_value(const zw::Value& v) {
  switch (v.kind) {
    case zw::ValueKind::i32: return nb::int_(v.of.i32);
    case zw::ValueKind::i64: return nb::int_(v.of.i64);
    case zw::ValueKind::f32: return nb::float_(v.of.f32);
    case zw::ValueKind::f64: return nb::float_(v.of.f64);
  }
  return nb::none();
}

nb::object call_function(const zw::Function& f, nb::args args) {
  const auto& params = f.type().params;
  if (args.size() != params.size())
    throw nb::type_error((f.name() + " takes " + std::to_string(params.size()) + " arguments, got " +
                          std::to_string(args.size())).c_str());
  std::vector<zw::Value> values;
  values.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) values.push_back(to_value(args[i], params[i]));
  std::vector<zw::Value> results;
  {
    nb::gil_scoped_release release;  // a guest may run for long; other Python threads go on
    results = f.call(values);
  }
  if (results.empty()) return nb::none();
  if (results.size() == 1) return from_value(results[0]);
  nb::list out;
  for (const auto& r : results) out.append(from_value(r));
  return nb::tuple(out);
}

nb::list kinds_list(const std::vector<zw::ValueKind>& kinds) {
  nb::list out;
  for (auto k : kinds) out.append(zw::to_string(k));
  return out;
}

nb::dict stats_dict(const zw::Instance& inst) {
  zw::Stats s = inst.stats();
  nb::dict ops;
  for (const auto& op : s.ops) {
    nb::dict d;
    d["calls"] = op.calls;
    d["bytes"] = op.bytes;
    d["seconds"] = op.seconds;
    d["rejected"] = op.rejected;
    ops[op.name.c_str()] = d;
  }
  nb::dict out;
  out["ops"] = ops;
  out["copies"] = s.copies;
  out["syncs"] = s.syncs;
  out["backend"] = inst.backend();
  return out;
}

// Buffer protocol over the committed memory: memoryview(mem), np.asarray(mem).
int memory_getbuffer(PyObject* self, Py_buffer* view, int flags) {
  zw::Memory* mem = nullptr;
  if (!nb::try_cast<zw::Memory*>(nb::handle(self), mem) || !mem) {
    PyErr_SetString(PyExc_BufferError, "not a zerowasm memory");
    return -1;
  }
  try {
    return PyBuffer_FillInfo(view, self, mem->data(), Py_ssize_t(mem->size()), 0, flags);
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_BufferError, e.what());
    return -1;
  }
}

PyType_Slot memory_slots[] = {{Py_bf_getbuffer, reinterpret_cast<void*>(memory_getbuffer)}, {0, nullptr}};

}  // namespace

NB_MODULE(_zerowasm, m) {
  nb::register_exception_translator(translate_errors);

  m.def("backends", [] {
    nb::list out;
    for (const auto& b : zw::Runtime::backends()) out.append(nb::make_tuple(b.name, b.available, b.detail));
    return out;
  });
  m.def("op_names", &zw::op_names);
  m.def("abi", [] {
    nb::dict constants;
    for (const auto& [name, value] : zw::abi_constants()) constants[name.c_str()] = value;
    return constants;
  });

  nb::class_<zw::Runtime>(m, "Runtime")
      .def("__init__", [](zw::Runtime* self, const std::string& backend, const std::string& memory,
                          const std::string& library) {
             zw::RuntimeOptions o;
             o.backend = backend;
             o.memory = zw::memory_mode_from_string(memory);
             o.wasmtime_library = library;
             new (self) zw::Runtime(o);
           },
           nb::arg("backend"), nb::arg("memory"), nb::arg("wasmtime_library"))
      .def("load_bytes", [](const zw::Runtime& rt, nb::bytes data) {
             return rt.load({static_cast<const uint8_t*>(data.data()), data.size()});
           })
      .def("load_wat", [](const zw::Runtime& rt, const std::string& wat) { return rt.load_wat(wat); })
      .def_prop_ro("backend", &zw::Runtime::backend)
      .def_prop_ro("memory_mode", [](const zw::Runtime& rt) { return zw::to_string(rt.memory_mode()); })
      .def_prop_ro("wasmtime_library", &zw::Runtime::wasmtime_library);

  nb::class_<zw::Module>(m, "Module")
      .def_prop_ro("imports", [](const zw::Module& mod) {
        nb::list out;
        for (const auto& i : mod.imports())
          out.append(nb::make_tuple(i.module, i.name, i.kind, kinds_list(i.type.params), kinds_list(i.type.results)));
        return out;
      })
      .def_prop_ro("exports", [](const zw::Module& mod) {
        nb::list out;
        for (const auto& e : mod.exports())
          out.append(nb::make_tuple(e.name, e.kind, kinds_list(e.type.params), kinds_list(e.type.results)));
        return out;
      })
      .def("instantiate",
           [](const zw::Module& mod, std::optional<uint64_t> max_memory, std::optional<std::string> memory, bool wasi) {
             zw::InstanceOptions o;
             o.max_memory = max_memory;
             if (memory) o.memory = zw::memory_mode_from_string(*memory);
             o.wasi = wasi;
             return mod.instantiate(o);
           },
           nb::arg("max_memory").none(), nb::arg("memory").none(), nb::arg("wasi"));

  nb::class_<zw::Function>(m, "Function")
      .def("__call__", &call_function)
      .def_prop_ro("name", &zw::Function::name)
      .def_prop_ro("params", [](const zw::Function& f) { return kinds_list(f.type().params); })
      .def_prop_ro("results", [](const zw::Function& f) { return kinds_list(f.type().results); });

  nb::class_<zw::Instance>(m, "Instance")
      .def("function", &zw::Instance::function)
      .def("has_memory", &zw::Instance::has_memory)
      .def("sync", &zw::Instance::sync)
      .def("stats", &stats_dict)
      .def("reset_stats", &zw::Instance::reset_stats)
      .def("device_address", &zw::Instance::device_address)
      .def_prop_ro("backend", &zw::Instance::backend);

  nb::class_<zw::Memory>(m, "Memory", nb::type_slots(memory_slots))
      .def("__init__", [](zw::Memory* self, const zw::Instance& inst) { new (self) zw::Memory(inst.memory()); })
      .def_prop_ro("address", &zw::Memory::address)
      .def_prop_ro("size", &zw::Memory::size)
      .def_prop_ro("max_size", &zw::Memory::max_size)
      .def_prop_ro("mode", [](const zw::Memory& mem) { return zw::to_string(mem.mode()); })
      .def("grow", &zw::Memory::grow, nb::arg("pages"))
      .def("map_file", &zw::Memory::map_file, nb::arg("offset"), nb::arg("path"), nb::arg("file_offset"),
           nb::arg("length"));
}
