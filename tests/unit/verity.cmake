basalt_add_gtest(verity_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/verity_test.cc
  LIBS basalt_verity)
basalt_add_gtest(verity_activation_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/verity_activation_test.cc
  LIBS basalt_verity PkgConfig::CRYPTSETUP)
