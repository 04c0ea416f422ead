basalt_add_gtest(boot_disk_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/boot/boot_disk_test.cc
  LIBS basalt_boot nlohmann_json::nlohmann_json
  LABELS integration
  TIMEOUT 300)
add_dependencies(boot_disk_test basalt)
