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

# basalt_add_gtest(NAME SOURCES... LIBS ... [PRIVATE_OF libs...] [LABELS ...])
# One GoogleTest binary registered with ctest as a single test per binary; keeps ctest's
# summary readable and each binary's start-up cost paid once.
function(basalt_add_gtest name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS;PRIVATE_OF" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  basalt_private_access(${name} ${ARG_PRIVATE_OF})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} basalt_test_util GTest::gtest GTest::gtest_main
    GTest::gmock)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "BASALT_BIN_DIR=${CMAKE_BINARY_DIR}/bin;BASALT_SOURCE_DIR=${CMAKE_SOURCE_DIR}")
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
  if(ARG_TIMEOUT)
    set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT})
  endif()
endfunction()

# basalt_add_fuzzer(NAME SOURCE LIBS ... [PRIVATE_OF libs...])
# With BASALT_FUZZ this is a real libFuzzer binary (g++ coverage through
# tests/fuzz/coverage_shim.cc; see the comment there). Otherwise the same
# LLVMFuzzerTestOneInput is linked with a standalone driver that replays the seed corpus in
# tests/fuzz/corpus/NAME plus deterministic mutations of it, and runs in ctest, so every
# preset (ASan+UBSan included) exercises the parser on hostile input.
function(basalt_add_fuzzer name source)
  cmake_parse_arguments(ARG "" "" "LIBS;PRIVATE_OF" ${ARGN})
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
      $<TARGET_FILE:${target}> ${corpus} ${BASALT_FUZZ_RUNS})
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
