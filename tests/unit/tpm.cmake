# The TPM side of measured boot and attestation (issue 20), against a real swtpm on 127.0.0.1.
add_library(basalt_test_swtpm STATIC ${CMAKE_CURRENT_LIST_DIR}/attest/swtpm.cc)
target_include_directories(basalt_test_swtpm PUBLIC ${CMAKE_CURRENT_LIST_DIR}/attest)
target_link_libraries(basalt_test_swtpm PUBLIC GTest::gtest fmt::fmt)

basalt_add_gtest(tpm_context_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/attest/tpm_context_test.cc
  LIBS basalt_tpm basalt_test_swtpm)

basalt_add_gtest(pcr_policy_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/attest/pcr_policy_test.cc
  LIBS basalt_tpm basalt_test_swtpm)

basalt_add_gtest(seal_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/attest/seal_test.cc
  LIBS basalt_tpm basalt_test_swtpm)

basalt_add_gtest(seal_cli_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/attest/seal_cli_test.cc
  LIBS basalt_tpm basalt_test_swtpm)
add_dependencies(seal_cli_test basalt)  # runs the binary
