basalt_add_gtest(verity_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/verity_test.cc
  LIBS basalt_verity
  PRIVATE_OF basalt_verity)
basalt_add_gtest(verity_activation_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/verity_activation_test.cc
  LIBS basalt_verity PkgConfig::CRYPTSETUP
  PRIVATE_OF basalt_verity)
