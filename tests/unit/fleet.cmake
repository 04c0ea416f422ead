basalt_add_gtest(fleet_unit_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/fleet_unit_test.cc
  LIBS basalt_fleet basalt_daemon
  PRIVATE_OF basalt_fleet basalt_daemon)
