// Writes the shader string compiled into the library (kSource, from the
// generated zerowasm_metal_shaders.cpp) to a file, so check_embedded.cmake
// can compare it byte for byte with the combined .metal it came from.
#include <cstdio>
#include <cstring>

#include "backend/metal/metal_shader_source.h"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  using zw::metal_shaders::kSource;
  using zw::metal_shaders::kSourceSize;
  if (kSource[kSourceSize] != 0 || std::strlen(reinterpret_cast<const char*>(kSource)) != kSourceSize) {
    std::fprintf(stderr, "kSource is not one NUL-terminated string of kSourceSize bytes\n");
    return 1;
  }
  std::FILE* f = std::fopen(argv[1], "wb");
  if (f == nullptr || std::fwrite(kSource, 1, kSourceSize, f) != kSourceSize) return 1;
  return std::fclose(f) == 0 ? 0 : 1;
}
