basalt_add_gtest(boot_unit_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/boot/slot_policy_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/boot/grubenv_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/boot/backends_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/boot/uki_backend_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/boot/init_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/boot/init_steps_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/boot/registry_test.cc
  LIBS basalt_boot basalt_init_lib basalt_disk basalt_image basalt_boot_cli basalt_image_cli
       PkgConfig::CRYPTSETUP
  PRIVATE_OF basalt_boot basalt_init_lib)
