// Python bindings: a thin layer over the public C++ API (zerowasm.hpp).
// Argument conversion and the buffer protocol live here; everything else is
// in python/zerowasm/*.py or the C++ core.
#include <atomic>
#if !defined(_WIN32)
#include <csignal>
#endif

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include "python/dlpack.hpp"
#include "zerowasm/zerowasm.hpp"

namespace nb = nanobind;

namespace {

nb::object error_class(const char* name) {
  return nb::module_::import_("zerowasm.errors").attr(name);
}

void translate_errors(const std::exception_ptr& p, void*) {
  try {
    std::rethrow_exception(p);
  } catch (const zw::Timeout& e) {
    nb::object exc = error_class("Timeout")(e.what(), e.elapsed(), e.timeout());
    PyErr_SetObject(exc.type().ptr(), exc.ptr());
  } catch (const zw::Interrupted& e) {
    nb::object exc = error_class("Interrupted")(e.what(), e.elapsed());
    PyErr_SetObject(exc.type().ptr(), exc.ptr());
  } catch (const zw::OutOfFuel& e) {
    nb::object exc = error_class("OutOfFuel")(e.what(), e.code());
    PyErr_SetObject(exc.type().ptr(), exc.ptr());
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

// Ctrl-C during a call on Python's main thread: while the guest runs (GIL
// released) our SIGINT handler interrupts the instance, then chains to
// Python's own handler, which marks the signal for PyErr_CheckSignals. The call
// returns zw::Interrupted at the guest's next epoch check or op boundary and
// the caller gets KeyboardInterrupt, like from any long numpy call.
unsigned long g_main_thread = 0;

#if !defined(_WIN32)
std::atomic<const zw::Instance*> g_sigint_target{nullptr};
struct sigaction g_python_sigint {};

void on_sigint(int sig) {
  if (const zw::Instance* inst = g_sigint_target.load()) inst->interrupt();
  if (g_python_sigint.sa_flags & SA_SIGINFO) {
    if (g_python_sigint.sa_sigaction) g_python_sigint.sa_sigaction(sig, nullptr, nullptr);
  } else if (g_python_sigint.sa_handler != SIG_DFL && g_python_sigint.sa_handler != SIG_IGN) {
    g_python_sigint.sa_handler(sig);
  }
}

class SigintInterrupts {
 public:
  // Call with the GIL held (it decides by the calling thread).
  explicit SigintInterrupts(const zw::Instance& inst) {
    if (PyThread_get_thread_ident() != g_main_thread || g_sigint_target.load()) return;
    struct sigaction current {};
    if (sigaction(SIGINT, nullptr, &current) != 0) return;
    // Python did not install its handler (SIG_IGN / SIG_DFL): leave SIGINT alone.
    if (!(current.sa_flags & SA_SIGINFO) && (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN)) return;
    g_python_sigint = current;
    g_sigint_target.store(&inst);
    struct sigaction ours {};
    ours.sa_handler = on_sigint;
    sigemptyset(&ours.sa_mask);
    ours.sa_flags = current.sa_flags & SA_ONSTACK;
    installed_ = sigaction(SIGINT, &ours, nullptr) == 0;
    if (!installed_) g_sigint_target.store(nullptr);
  }
  ~SigintInterrupts() {
    if (!installed_) return;
    sigaction(SIGINT, &g_python_sigint, nullptr);
    g_sigint_target.store(nullptr);
  }
  SigintInterrupts(const SigintInterrupts&) = delete;
  SigintInterrupts& operator=(const SigintInterrupts&) = delete;

 private:
  bool installed_ = false;
};
#else
struct SigintInterrupts {
  explicit SigintInterrupts(const zw::Instance&) {}
};
#endif

std::vector<zw::Value> run_call(const zw::Function& f, const std::vector<zw::Value>& values,
                                const zw::CallOptions& options) {
  zw::Instance inst = f.instance();
  try {
    SigintInterrupts sigint(inst);
    nb::gil_scoped_release release;  // a guest may run for long; other Python threads go on
    return f.call(values, options);
  } catch (const zw::Interrupted&) {
    // Ctrl-C (Python's handler ran and queued KeyboardInterrupt) wins over
    // an interrupt() from another thread.
    if (PyErr_CheckSignals() != 0) throw nb::python_error();
    throw;
  }
}

nb::object call_function(const zw::Function& f, nb::args args, std::optional<double> timeout) {
  const auto& params = f.type().params;
  if (args.size() != params.size())
    throw nb::type_error((f.name() + " takes " + std::to_string(params.size()) + " arguments, got " +
                          std::to_string(args.size())).c_str());
  std::vector<zw::Value> values;
  values.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) values.push_back(to_value(args[i], params[i]));
  zw::CallOptions options;
  options.timeout = timeout;
  std::vector<zw::Value> results = run_call(f, values, options);
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
  g_main_thread = nb::cast<unsigned long>(nb::module_::import_("threading").attr("main_thread")().attr("ident"));

  m.def("backends", [] {
    nb::list out;
    for (const auto& b : zw::Runtime::backends()) out.append(nb::make_tuple(b.name, b.available, b.detail));
    return out;
  }, nb::sig("def backends() -> list[tuple[str, bool, str]]"));
  m.def("op_names", &zw::op_names);
  bind_dlpack(m);
  m.def("abi", [] {
    nb::dict constants;
    for (const auto& [name, value] : zw::abi_constants()) constants[name.c_str()] = value;
    return constants;
  }, nb::sig("def abi() -> dict[str, int]"));

  nb::class_<zw::Runtime>(m, "Runtime")
      .def("__init__", [](zw::Runtime* self, const std::string& backend, const std::string& memory,
                          const std::string& library, const std::string& default_library,
                          std::optional<double> timeout, std::optional<uint64_t> memory_limit) {
             zw::RuntimeOptions o;
             o.backend = backend;
             o.memory = zw::memory_mode_from_string(memory);
             o.wasmtime_library = library;
             o.default_wasmtime_library = default_library;
             o.timeout = timeout;
             o.memory_limit = memory_limit;
             new (self) zw::Runtime(o);
           },
           nb::arg("backend"), nb::arg("memory"), nb::arg("wasmtime_library"),
           nb::arg("default_wasmtime_library") = "", nb::arg("timeout").none() = nb::none(),
           nb::arg("memory_limit").none() = nb::none())
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
      }, nb::for_getter(nb::sig("def imports(self) -> list[tuple[str, str, str, list[str], list[str]]]")))
      .def_prop_ro("exports", [](const zw::Module& mod) {
        nb::list out;
        for (const auto& e : mod.exports())
          out.append(nb::make_tuple(e.name, e.kind, kinds_list(e.type.params), kinds_list(e.type.results)));
        return out;
      }, nb::for_getter(nb::sig("def exports(self) -> list[tuple[str, str, list[str], list[str]]]")))
      .def("instantiate",
           [](const zw::Module& mod, std::optional<uint64_t> max_memory, std::optional<std::string> memory, bool wasi,
              std::optional<uint64_t> fuel) {
             zw::InstanceOptions o;
             o.max_memory = max_memory;
             if (memory) o.memory = zw::memory_mode_from_string(*memory);
             o.wasi = wasi;
             o.fuel = fuel;
             nb::gil_scoped_release release;  // _initialize may run for long
             return mod.instantiate(o);
           },
           nb::arg("max_memory").none(), nb::arg("memory").none(), nb::arg("wasi"), nb::arg("fuel").none() = nb::none());

  nb::class_<zw::Function>(m, "Function")
      .def("__call__", &call_function, nb::arg("args"), nb::arg("timeout").none() = nb::none(),
           nb::sig("def __call__(self, *args: int | float, timeout: float | None = None) -> typing.Any"))
      .def_prop_ro("name", &zw::Function::name)
      .def_prop_ro("params", [](const zw::Function& f) { return kinds_list(f.type().params); },
                   nb::for_getter(nb::sig("def params(self) -> list[str]")))
      .def_prop_ro("results", [](const zw::Function& f) { return kinds_list(f.type().results); },
                   nb::for_getter(nb::sig("def results(self) -> list[str]")));

  nb::class_<zw::Instance>(m, "Instance")
      .def("function", &zw::Instance::function)
      .def("has_memory", &zw::Instance::has_memory)
      .def("sync", &zw::Instance::sync)
      .def("interrupt", &zw::Instance::interrupt)  // no GIL needed, never blocks
      .def_prop_ro("fuel_remaining", [](const zw::Instance& inst) {
        nb::gil_scoped_release release;  // waits for a call running on another thread
        return inst.fuel_remaining();
      })
      .def("add_fuel", &zw::Instance::add_fuel, nb::arg("fuel"), nb::call_guard<nb::gil_scoped_release>())
      .def("stats", &stats_dict, nb::sig("def stats(self) -> dict[str, typing.Any]"))
      .def("reset_stats", &zw::Instance::reset_stats)
      .def("device_address", &zw::Instance::device_address)
      .def_prop_ro("device_ordinal", &zw::Instance::device_ordinal)
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
