basalt_add_fuzzer(attest_measure ${CMAKE_CURRENT_LIST_DIR}/attest_measure_fuzz.cc LIBS basalt_measure)
