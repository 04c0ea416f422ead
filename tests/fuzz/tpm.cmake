basalt_add_fuzzer(tpm_pcr_signature ${CMAKE_CURRENT_LIST_DIR}/tpm_pcr_signature_fuzz.cc
  LIBS basalt_tpm)
