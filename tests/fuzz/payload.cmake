basalt_add_fuzzer(payload ${CMAKE_CURRENT_LIST_DIR}/payload_fuzz.cc LIBS basalt_payload_consumer)
basalt_add_fuzzer(payload_decoders ${CMAKE_CURRENT_LIST_DIR}/payload_decoders_fuzz.cc
  LIBS basalt_payload_codecs)
