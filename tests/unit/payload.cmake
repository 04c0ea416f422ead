basalt_add_gtest(payload_unit_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/payload_unit_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/payload_gzip_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/payload_operations_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/payload_bsdiff_runner_test.cc
  LIBS basalt_payload_consumer basalt_payload_generator basalt_payload_codecs basalt_erofs
  PRIVATE_OF basalt_payload_generator)
