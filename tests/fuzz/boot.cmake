basalt_add_fuzzer(grubenv ${CMAKE_CURRENT_LIST_DIR}/boot/grubenv_fuzz.cc LIBS basalt_boot
  PRIVATE_OF basalt_boot)
basalt_add_fuzzer(boot_entry ${CMAKE_CURRENT_LIST_DIR}/boot/boot_entry_fuzz.cc LIBS basalt_boot
  PRIVATE_OF basalt_boot)
basalt_add_fuzzer(elf_deps ${CMAKE_CURRENT_LIST_DIR}/boot/elf_deps_fuzz.cc LIBS basalt_image
  PRIVATE_OF basalt_image)
