basalt_add_gtest(payload_integration_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/payload_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/payload_fixture.cc
  LIBS basalt_payload_consumer basalt_payload_generator basalt_payload_codecs basalt_erofs
  PRIVATE_OF basalt_payload_generator
  LABELS integration
  ONE_PROCESS
  TIMEOUT 900)
add_dependencies(payload_integration_test basalt)

# Payloads of an earlier generator (tests/fixtures/payload) still apply and are still reproduced.
basalt_add_gtest(payload_compat_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/payload_compat_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/payload_fixture.cc
  LIBS basalt_payload_consumer basalt_payload_generator basalt_payload_codecs
       PkgConfig::ZSTD PkgConfig::LZMA PkgConfig::LZ4
  LABELS integration)

# Boot artifacts (signed UKIs) in payloads, and the host flow of a uki host over the fakes.
basalt_add_gtest(payload_uki_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/payload_uki_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/payload_fixture.cc
  LIBS basalt_payload_consumer basalt_payload_generator basalt_payload_codecs basalt_erofs
       basalt_daemon basalt_repo basalt_test_fakes
  LABELS integration)
