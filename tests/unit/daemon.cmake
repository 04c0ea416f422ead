basalt_add_gtest(daemon_config_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/daemon_config_test.cc
  LIBS basalt_daemon)

basalt_add_gtest(daemon_flow_unit_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/daemon_flow_unit_test.cc
  LIBS basalt_daemon basalt_repo
  PRIVATE_OF basalt_daemon)
