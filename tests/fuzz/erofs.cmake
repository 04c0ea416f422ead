basalt_add_fuzzer(erofs ${CMAKE_CURRENT_LIST_DIR}/erofs_fuzz.cc LIBS basalt_erofs)
