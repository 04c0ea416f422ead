basalt_add_fuzzer(pe_sections ${CMAKE_CURRENT_LIST_DIR}/pe_sections_fuzz.cc LIBS basalt_common)
