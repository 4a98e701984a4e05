# Every dependency comes from a Debian 12 package; scripts/bootstrap installs them.
# Each one is found here once and exposed as an imported target.

find_package(Threads REQUIRED)
find_package(OpenSSL REQUIRED)   # libssl-dev: HMAC-SHA256 for SAS tokens, TLS for cpprestsdk
find_package(ZLIB REQUIRED)      # zlib1g-dev
find_package(nlohmann_json 3.11 REQUIRED) # nlohmann-json3-dev
find_package(spdlog REQUIRED)    # libspdlog-dev (with libfmt-dev)
find_package(cpprestsdk REQUIRED) # libcpprest-dev
# cpprestsdk's headers define a function-like macro U(x) that breaks any later header with a
# template parameter named U (Proton's, GoogleTest's, fmt's) once sources share a translation
# unit (unity builds); on Linux utility::string_t is std::string and needs no U().
set_property(TARGET cpprestsdk::cpprest APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS
             _TURN_OFF_PLATFORM_STRING)
find_package(simdjson REQUIRED) # libsimdjson-dev: the mapping engine's JSON parser (bench/REPORT.md)
# Boost.Beast and Boost.Asio (libboost-dev, header-only here): AMQP over WebSockets and the
# HTTP CONNECT proxy tunnel (connector/hub/README.md, docs/decisions.md "WebSockets").
find_package(Boost 1.74 REQUIRED)

# libdeflate (libdeflate-dev): whole-buffer gzip for ingest bodies, 1.6-2.1x zlib's speed at
# level 1 and 2.8x when inflating (common/gzip.hpp, bench/REPORT.md). zlib stays for streams.
find_path(LIBDEFLATE_INCLUDE_DIR libdeflate.h)
find_library(LIBDEFLATE_LIBRARY deflate)
if(NOT LIBDEFLATE_INCLUDE_DIR OR NOT LIBDEFLATE_LIBRARY)
  message(FATAL_ERROR "libdeflate not found: run scripts/bootstrap (Debian package libdeflate-dev)")
endif()
add_library(hub2kusto_libdeflate INTERFACE)
add_library(hub2kusto::libdeflate ALIAS hub2kusto_libdeflate)
target_include_directories(hub2kusto_libdeflate SYSTEM INTERFACE ${LIBDEFLATE_INCLUDE_DIR})
target_link_libraries(hub2kusto_libdeflate INTERFACE ${LIBDEFLATE_LIBRARY})

# civetweb (libcivetweb-dev): the ops endpoints' HTTP server, with bounds on request size,
# time and connections (connector/ops/ops_server.hpp, docs/decisions.md). Its CMake package
# names the civetweb program, which the -dev package does not ship: located directly.
find_path(CIVETWEB_INCLUDE_DIR civetweb.h)
find_library(CIVETWEB_LIBRARY civetweb)
if(NOT CIVETWEB_INCLUDE_DIR OR NOT CIVETWEB_LIBRARY)
  message(FATAL_ERROR "civetweb not found: run scripts/bootstrap (Debian package libcivetweb-dev)")
endif()
add_library(hub2kusto_civetweb INTERFACE)
add_library(hub2kusto::civetweb ALIAS hub2kusto_civetweb)
target_include_directories(hub2kusto_civetweb SYSTEM INTERFACE ${CIVETWEB_INCLUDE_DIR})
target_link_libraries(hub2kusto_civetweb INTERFACE ${CIVETWEB_LIBRARY})

# Qpid Proton C++ (libqpid-proton-cpp12-dev). Debian's libqpid-proton-cpp.pc names .pc files
# that the package does not ship, so the libraries are located directly.
find_path(PROTON_CPP_INCLUDE_DIR proton/container.hpp)
find_library(PROTON_CPP_LIBRARY qpid-proton-cpp)
find_library(PROTON_CORE_LIBRARY NAMES qpid-proton-core qpid-proton-core.so.10)
find_library(PROTON_PROACTOR_LIBRARY NAMES qpid-proton-proactor qpid-proton-proactor.so.1)
if(NOT PROTON_CPP_INCLUDE_DIR OR NOT PROTON_CPP_LIBRARY)
  message(FATAL_ERROR "Qpid Proton C++ not found: run scripts/bootstrap "
                      "(Debian package libqpid-proton-cpp12-dev)")
endif()
add_library(hub2kusto_proton INTERFACE)
add_library(hub2kusto::proton ALIAS hub2kusto_proton)
target_include_directories(hub2kusto_proton SYSTEM INTERFACE ${PROTON_CPP_INCLUDE_DIR})
target_link_libraries(hub2kusto_proton INTERFACE ${PROTON_CPP_LIBRARY})
foreach(_lib PROTON_CORE_LIBRARY PROTON_PROACTOR_LIBRARY)
  if(${_lib})
    target_link_libraries(hub2kusto_proton INTERFACE ${${_lib}})
  endif()
endforeach()

# The C API (proactor, raw deliveries), used where the C++ API hides what a test server must
# see (tests/emulators/eventhubs/server.hpp).
find_library(PROTON_C_LIBRARY qpid-proton)
if(NOT PROTON_C_LIBRARY)
  message(FATAL_ERROR "Qpid Proton C not found: run scripts/bootstrap (libqpid-proton11-dev)")
endif()
add_library(hub2kusto_proton_c INTERFACE)
add_library(hub2kusto::proton_c ALIAS hub2kusto_proton_c)
target_link_libraries(hub2kusto_proton_c INTERFACE ${PROTON_C_LIBRARY})

if(HUB2KUSTO_BUILD_TESTS)
  find_package(GTest REQUIRED)   # googletest, libgtest-dev, libgmock-dev
endif()
