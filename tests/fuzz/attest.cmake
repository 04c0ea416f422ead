# Measured boot and attestation (issue 20): what a host under attestation sends is hostile.
basalt_add_fuzzer(attest_event_log ${CMAKE_CURRENT_LIST_DIR}/attest_event_log_fuzz.cc
  LIBS basalt_attest_verify)
# Each execution with a parsable document verifies an ECDSA signature: slower.
basalt_add_fuzzer(attest_document ${CMAKE_CURRENT_LIST_DIR}/attest_document_fuzz.cc
  LIBS basalt_attest_verify RUNS 100000)
