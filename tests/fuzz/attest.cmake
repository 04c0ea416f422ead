# Measured boot and attestation (issue 20): what a host under attestation sends is hostile.
basalt_add_fuzzer(attest_event_log ${CMAKE_CURRENT_LIST_DIR}/attest_event_log_fuzz.cc
  LIBS basalt_attest_verify)
# Each execution with a parsable document verifies an ECDSA signature: slower.
basalt_add_fuzzer(attest_document ${CMAKE_CURRENT_LIST_DIR}/attest_document_fuzz.cc
  LIBS basalt_attest_verify RUNS 100000)
# The UKI a release's predictions are computed from (the Authenticode hash and PCR 11).
basalt_add_fuzzer(attest_measure ${CMAKE_CURRENT_LIST_DIR}/attest_measure_fuzz.cc
  LIBS basalt_measure)
