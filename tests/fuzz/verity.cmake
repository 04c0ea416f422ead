basalt_add_fuzzer(verity_superblock ${CMAKE_CURRENT_LIST_DIR}/verity_superblock_fuzzer.cc
  LIBS basalt_verity)
