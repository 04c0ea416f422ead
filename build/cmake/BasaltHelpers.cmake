# basalt_add_gtest(NAME SOURCES... LIBS ... [LABELS ...])
# One GoogleTest binary registered with ctest as a single test per binary; keeps ctest's
# summary readable and each binary's start-up cost paid once.
function(basalt_add_gtest name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
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

# basalt_add_fuzzer(NAME SOURCE LIBS ...)
# With BASALT_FUZZ this is a real libFuzzer binary (g++ coverage through
# tests/fuzz/coverage_shim.cc; see the comment there). Otherwise the same
# LLVMFuzzerTestOneInput is linked with a standalone driver that replays the seed corpus in
# tests/fuzz/corpus/NAME plus deterministic mutations of it, and runs in ctest, so every
# preset (ASan+UBSan included) exercises the parser on hostile input.
function(basalt_add_fuzzer name source)
  cmake_parse_arguments(ARG "" "" "LIBS" ${ARGN})
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
