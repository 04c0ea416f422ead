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
