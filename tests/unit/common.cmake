basalt_add_gtest(common_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/common_error_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/common_files_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/common_subprocess_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/common_hash_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/common_signing_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/common_root_dir_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/common_grammar_test.cc
  LIBS basalt_common)

# The curl fetcher's time rules (metadata deadline, payload throughput floor, cancel) against a
# dripping server on 127.0.0.1, and URL redaction.
basalt_add_gtest(http_fetcher_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/http_fetcher_test.cc
  LIBS basalt_http)
