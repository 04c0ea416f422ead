basalt_add_gtest(boot_disk_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/boot/boot_disk_test.cc
  LIBS basalt_boot nlohmann_json::nlohmann_json
  LABELS integration
  TIMEOUT 300)
add_dependencies(boot_disk_test basalt)

basalt_add_gtest(boot_initramfs_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/boot/initramfs_test.cc
  LIBS basalt_initramfs
  LABELS integration)
add_dependencies(boot_initramfs_test basalt-init)

# The VM tests boot basalt-init as PID 1 of an initramfs, before /proc exists; a sanitizer
# runtime cannot start there (it reads /proc/self/maps before main), so they run in the
# unsanitized presets only. The code they exercise is unit-tested under ASan+UBSan above.
if(NOT BASALT_SANITIZE)
  # basalt-init in QEMU (TCG) with Debian's cloud kernel and real dm-verity; ~1-2 min.
  add_test(NAME boot_init_vm_test COMMAND bash ${CMAKE_SOURCE_DIR}/tests/vm/basalt_init_vm_test.sh)
  set_tests_properties(boot_init_vm_test PROPERTIES
    ENVIRONMENT "BASALT_BIN_DIR=${CMAKE_BINARY_DIR}/bin;BASALT_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    LABELS "vm" TIMEOUT 600 SKIP_RETURN_CODE 77)

  # GRUB fallback in QEMU (OVMF, grub-mkimage, our grub.cfg/grubenv, basalt-init, dm-verity).
  add_test(NAME boot_grub_fallback_vm_test
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/vm/grub_fallback_vm_test.sh)
  set_tests_properties(boot_grub_fallback_vm_test PROPERTIES
    ENVIRONMENT "BASALT_BIN_DIR=${CMAKE_BINARY_DIR}/bin;BASALT_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    LABELS "vm" TIMEOUT 900 SKIP_RETURN_CODE 77)

  # Good flip: B boots, mark-good (offline, between boots) makes it stick.
  add_test(NAME boot_grub_flip_vm_test
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/vm/grub_fallback_vm_test.sh flip)
  set_tests_properties(boot_grub_flip_vm_test PROPERTIES
    ENVIRONMENT "BASALT_BIN_DIR=${CMAKE_BINARY_DIR}/bin;BASALT_SOURCE_DIR=${CMAKE_SOURCE_DIR}"
    LABELS "vm" TIMEOUT 900 SKIP_RETURN_CODE 77)
endif()
