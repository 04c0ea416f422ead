basalt_add_gtest(common_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/common_error_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/common_files_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/common_subprocess_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/common_hash_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/common_signing_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/common_root_dir_test.cc
  LIBS basalt_common)
