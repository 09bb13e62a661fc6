# Installs the C++ API as a CMake package:
#   find_package(zerowasm CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE zerowasm::zerowasm)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(ZEROWASM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/zerowasm)

install(TARGETS zerowasm EXPORT zerowasmTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY csrc/include/zerowasm DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The guest SDK header, for building guests next to the app.
install(FILES guest/include/zerowasm.h guest/include/zerowasm_abi.h DESTINATION ${CMAKE_INSTALL_DATADIR}/zerowasm/guest/include)
install(EXPORT zerowasmTargets NAMESPACE zerowasm:: DESTINATION ${ZEROWASM_CMAKE_DIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/zerowasmConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/zerowasmConfig.cmake INSTALL_DESTINATION ${ZEROWASM_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/zerowasmConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/zerowasmConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/zerowasmConfigVersion.cmake
        DESTINATION ${ZEROWASM_CMAKE_DIR})
