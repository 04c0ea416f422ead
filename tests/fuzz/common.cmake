basalt_add_fuzzer(common_root_dir ${CMAKE_CURRENT_LIST_DIR}/common_root_dir_fuzz.cc LIBS basalt_common)
