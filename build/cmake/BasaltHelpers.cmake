# basalt_library(NAME [INTERFACE] SOURCES src... [PUBLIC libs...] [PRIVATE libs...]
#                [PRIVATE_OF area_lib])
# One library per directory: public headers in include/<prefix>/ (on the include path of every
# target that links it), sources and private headers in src/ (on this target's include path
# only). There is no global include path, so a header outside a library's include/ cannot be
# reached from another library: the build fails. SOURCES are relative to src/. PRIVATE_OF is for
# an area's own front end (its CLI layer, its executable), which may read the area's private
# headers; no other library may.
function(basalt_library name)
  cmake_parse_arguments(ARG "INTERFACE" "PRIVATE_OF" "SOURCES;PUBLIC;PRIVATE" ${ARGN})
  if(ARG_INTERFACE)
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${CMAKE_CURRENT_SOURCE_DIR}/include)
    target_link_libraries(${name} INTERFACE ${ARG_PUBLIC})
    return()
  endif()
  list(TRANSFORM ARG_SOURCES PREPEND ${CMAKE_CURRENT_SOURCE_DIR}/src/)
  add_library(${name} STATIC ${ARG_SOURCES})
  if(IS_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include)
    target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  endif()
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  set_target_properties(${name} PROPERTIES BASALT_PRIVATE_DIR ${CMAKE_CURRENT_SOURCE_DIR}/src)
  if(ARG_PRIVATE_OF)
    basalt_private_access(${name} ${ARG_PRIVATE_OF})
  endif()
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC} PRIVATE ${ARG_PRIVATE})
endfunction()

# basalt_private_access(TARGET LIB...): TARGET may include LIB's private headers (src/). For
# an area's own front ends and for tests only.
function(basalt_private_access target)
  foreach(lib ${ARGN})
    target_include_directories(${target} PRIVATE $<TARGET_PROPERTY:${lib},BASALT_PRIVATE_DIR>)
  endforeach()
endfunction()

include(GoogleTest)

# basalt_add_gtest(NAME SOURCES... LIBS ... [PRIVATE_OF libs...] [LABELS ...] [TIMEOUT s]
#                  [ONE_PROCESS])
# One GoogleTest binary. Its main() (tests/gtest_main.cc) exits 77 when a case was skipped and
# none failed, and names each skipped case on a "BASALT-SKIP" line, so ctest reports a skip as
# skipped instead of passed.
# By default each case is its own ctest test (NAME.Suite.Case, found by running the binary with
# --gtest_list_tests after it links), so a skip or a failure shows which case it was.
# ONE_PROCESS registers the binary as a single ctest test NAME instead: for binaries whose suite
# fixture (images, repositories, servers built in SetUpTestSuite) would otherwise be rebuilt for
# every case, at a cost of minutes per CI run (docs/development.md has the figures). Such a
# binary shows as skipped when any of its cases skipped; its BASALT-SKIP lines say which.
function(basalt_add_gtest name)
  cmake_parse_arguments(ARG "ONE_PROCESS" "TIMEOUT" "SOURCES;LIBS;LABELS;PRIVATE_OF" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  basalt_private_access(${name} ${ARG_PRIVATE_OF})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} basalt_test_util basalt_gtest_main
    GTest::gtest GTest::gmock)
  # No ENVIRONMENT: BASALT_BIN_DIR and BASALT_SOURCE_DIR default in main() to the binary's own
  # directory and the source tree (a list-valued property does not survive
  # gtest_discover_tests), which also makes a binary run by hand find them.
  set(props SKIP_RETURN_CODE 77)
  if(ARG_LABELS)
    list(APPEND props LABELS "${ARG_LABELS}")
  endif()
  if(ARG_TIMEOUT)
    list(APPEND props TIMEOUT ${ARG_TIMEOUT})
  endif()
  if(ARG_ONE_PROCESS)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES ${props})
  else()
    gtest_discover_tests(${name} TEST_PREFIX "${name}." PROPERTIES ${props}
      DISCOVERY_TIMEOUT 60)
  endif()
endfunction()

# basalt_add_fuzzer(NAME SOURCE LIBS ... [PRIVATE_OF libs...] [RUNS N])
# With BASALT_FUZZ this is a real libFuzzer binary (g++ coverage through
# tests/fuzz/coverage_shim.cc; see the comment there). Otherwise the same
# LLVMFuzzerTestOneInput is linked with a standalone driver that replays the seed corpus in
# tests/fuzz/corpus/NAME plus deterministic mutations of it, and runs in ctest, so every
# preset (ASan+UBSan included) exercises the parser on hostile input. RUNS lowers the libFuzzer
# run count of a target whose executions are slow (signature checks), so CI stays in budget.
function(basalt_add_fuzzer name source)
  cmake_parse_arguments(ARG "" "RUNS" "LIBS;PRIVATE_OF" ${ARGN})
  set(runs ${BASALT_FUZZ_RUNS})
  if(ARG_RUNS)
    set(runs ${ARG_RUNS})
  endif()
  set(target fuzz_${name})
  if(BASALT_FUZZ)
    add_executable(${target} ${source} ${CMAKE_SOURCE_DIR}/tests/fuzz/coverage_shim.cc)
    set_source_files_properties(${CMAKE_SOURCE_DIR}/tests/fuzz/coverage_shim.cc
      PROPERTIES COMPILE_OPTIONS "-fno-sanitize-coverage=trace-pc,trace-cmp")
    target_link_libraries(${target} PRIVATE ${BASALT_LIBFUZZER_ARCHIVE})
  else()
    add_executable(${target} ${source} ${CMAKE_SOURCE_DIR}/tests/fuzz/standalone_driver.cc)
  endif()
  target_link_libraries(${target} PRIVATE ${ARG_LIBS})
  basalt_private_access(${target} ${ARG_PRIVATE_OF})
  if(NOT TARGET fuzzers)
    add_custom_target(fuzzers)
  endif()
  add_dependencies(fuzzers ${target})
  set(corpus ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${name})
  if(BASALT_FUZZ)
    # A fresh writable corpus per run: libFuzzer adds new inputs to the first directory.
    add_test(NAME ${target} COMMAND ${CMAKE_SOURCE_DIR}/tests/fuzz/run-libfuzzer.sh
      $<TARGET_FILE:${target}> ${corpus} ${runs})
  else()
    add_test(NAME ${target} COMMAND ${target} --mutations 2000 ${corpus})
  endif()
  set_tests_properties(${target} PROPERTIES LABELS fuzz)
endfunction()

# The libFuzzer runtime from libclang-rt-14-dev, with __sanitizer_cov_trace_pc weakened so the
# coverage shim's definition is used.
function(basalt_prepare_libfuzzer)
  file(GLOB candidates /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a)
  if(NOT candidates)
    message(FATAL_ERROR "BASALT_FUZZ needs libclang_rt.fuzzer-x86_64.a (apt-get install libclang-rt-14-dev)")
  endif()
  list(GET candidates 0 archive)
  set(out ${CMAKE_BINARY_DIR}/libfuzzer-gcc.a)
  execute_process(COMMAND objcopy --weaken-symbol=__sanitizer_cov_trace_pc ${archive} ${out}
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "objcopy of ${archive} failed")
  endif()
  set(BASALT_LIBFUZZER_ARCHIVE ${out} PARENT_SCOPE)
endfunction()

# basalt_check_library_cycles(): every basalt_* library's dependencies must form a DAG; a cycle
# (a library that needs, through others, itself) stops the configure step with the path.
function(basalt_check_library_cycles)
  set(dirs ${CMAKE_SOURCE_DIR})
  set(libs)
  while(dirs)
    list(POP_FRONT dirs dir)
    get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
    foreach(t ${targets})
      get_target_property(type ${t} TYPE)
      if(t MATCHES "^basalt_" AND type MATCHES "STATIC_LIBRARY|INTERFACE_LIBRARY")
        list(APPEND libs ${t})
      endif()
    endforeach()
    get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
    list(APPEND dirs ${subdirs})
  endwhile()
  foreach(t ${libs})
    set(deps)
    get_target_property(type ${t} TYPE)
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(direct ${t} LINK_LIBRARIES)
      if(direct)
        list(APPEND deps ${direct})
      endif()
    endif()
    get_target_property(iface ${t} INTERFACE_LINK_LIBRARIES)
    if(iface)
      list(APPEND deps ${iface})
    endif()
    set(edges)
    foreach(d ${deps})
      string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" d "${d}")
      if(d IN_LIST libs AND NOT d IN_LIST edges)
        list(APPEND edges ${d})
      endif()
    endforeach()
    set(_edges_${t} ${edges})
  endforeach()
  # Depth-first search from every library, with the path so far.
  foreach(start ${libs})
    set(stack "${start}")
    set(paths "${start}")
    while(stack)
      list(POP_BACK stack node)
      list(POP_BACK paths path)
      string(REPLACE ">" ";" on_path "${path}")
      foreach(next ${_edges_${node}})
        if(next STREQUAL start)
          message(FATAL_ERROR "library cycle: ${path}>${next}")
        endif()
        if(NOT next IN_LIST on_path)
          list(APPEND stack ${next})
          list(APPEND paths "${path}>${next}")
        endif()
      endforeach()
    endwhile()
  endforeach()
endfunction()
