# The TPM side of measured boot and attestation (issue 20), against a real swtpm on 127.0.0.1.
add_library(basalt_test_swtpm STATIC ${CMAKE_CURRENT_LIST_DIR}/attest/swtpm.cc)
target_include_directories(basalt_test_swtpm PUBLIC ${CMAKE_CURRENT_LIST_DIR}/attest)
target_link_libraries(basalt_test_swtpm PUBLIC GTest::gtest fmt::fmt)

basalt_add_gtest(tpm_context_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/attest/tpm_context_test.cc
  LIBS basalt_tpm basalt_test_swtpm)

# The attestation verifier (no TPM: quotes from a software key in the TPM's formats), and the
# quote path against swtpm end to end.
add_library(basalt_test_quote_fixture STATIC ${CMAKE_CURRENT_LIST_DIR}/attest/quote_fixture.cc)
target_include_directories(basalt_test_quote_fixture PUBLIC ${CMAKE_CURRENT_LIST_DIR}/attest)
target_link_libraries(basalt_test_quote_fixture PUBLIC basalt_attest_verify basalt_tpm)
basalt_add_gtest(attest_verify_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/attest/attest_verify_test.cc
  LIBS basalt_attest_verify basalt_test_quote_fixture)
basalt_add_gtest(attest_quote_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/attest/attest_quote_test.cc
  LIBS basalt_tpm basalt_attest_verify basalt_test_swtpm basalt_test_quote_fixture)
add_dependencies(attest_quote_test basalt)  # the CLI case runs the binary

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
