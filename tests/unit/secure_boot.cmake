# The signed boot chain's pieces (issue 19): the PE section reader, UKI assembly, Secure Boot
# signing and key creation.
basalt_add_gtest(pe_sections_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/secure_boot/pe_sections_test.cc
  LIBS basalt_common)
basalt_add_gtest(secure_boot_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/secure_boot/uki_test.cc
  LIBS basalt_image)
basalt_add_gtest(secure_boot_keys_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/secure_boot/secure_boot_keys_test.cc
  LIBS basalt_image nlohmann_json::nlohmann_json)
add_dependencies(secure_boot_keys_test basalt)  # the CLI case runs the binary
