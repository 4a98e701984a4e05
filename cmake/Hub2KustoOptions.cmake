# Compiler warnings and the sanitizer switch, applied to every target of ours through the
# interface target hub2kusto::build_options (third-party headers are included as SYSTEM).

add_library(hub2kusto_build_options INTERFACE)
add_library(hub2kusto::build_options ALIAS hub2kusto_build_options)

target_compile_options(hub2kusto_build_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow
                                                          -Wnon-virtual-dtor -Wconversion
                                                          -Wno-sign-conversion)
if(HUB2KUSTO_WERROR)
  target_compile_options(hub2kusto_build_options INTERFACE -Werror)
endif()

if(HUB2KUSTO_SANITIZE)
  if(NOT HUB2KUSTO_SANITIZE MATCHES "^(address,undefined|undefined,address|address|undefined|thread)$")
    message(FATAL_ERROR
      "HUB2KUSTO_SANITIZE='${HUB2KUSTO_SANITIZE}': use 'address,undefined' or 'thread'")
  endif()
  set(_h2k_san -fsanitize=${HUB2KUSTO_SANITIZE} -fno-omit-frame-pointer)
  if(HUB2KUSTO_SANITIZE MATCHES "undefined")
    # vptr is off: cpprestsdk's stream-buffer templates, instantiated in our objects, call into
    # objects made in libcpprest.so, and UBSan's vptr check cannot match the two type_infos
    # ("member call on address ... which does not point to an object of type
    # 'basic_streambuf'" on every HTTP response body read). Every other check stays fatal.
    list(APPEND _h2k_san -fno-sanitize=vptr -fno-sanitize-recover=undefined)
  endif()
  if(HUB2KUSTO_SANITIZE STREQUAL "thread")
    # Boost.Asio's completion handlers end in std::atomic_thread_fence, which ThreadSanitizer
    # does not model (GCC's -Wtsan says so). Our Asio work crosses threads only through
    # asio::post, whose queue is guarded by a mutex that ThreadSanitizer does see.
    list(APPEND _h2k_san -Wno-tsan)
  endif()
  target_compile_options(hub2kusto_build_options INTERFACE ${_h2k_san})
  target_link_options(hub2kusto_build_options INTERFACE ${_h2k_san})
endif()

if(HUB2KUSTO_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "HUB2KUSTO_FUZZ needs clang (CXX=clang++)")
  endif()
  # Coverage instrumentation for every library a fuzz target links.
  target_compile_options(hub2kusto_build_options INTERFACE -fsanitize=fuzzer-no-link)
endif()
