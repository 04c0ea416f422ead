basalt_add_gtest(daemon_config_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/daemon_config_test.cc
  LIBS basalt_daemon)

basalt_add_gtest(daemon_flow_unit_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/daemon_flow_unit_test.cc
  LIBS basalt_daemon basalt_repo
  PRIVATE_OF basalt_daemon)

# UpdateManager over the fakes in tests/fakes: no root, no ESP, no server.
basalt_add_gtest(daemon_manager_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/daemon_manager_test.cc
  LIBS basalt_daemon basalt_test_fakes)

# The after-boot steps and the reboot slot as the offline commands use them.
basalt_add_gtest(daemon_after_boot_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/daemon_after_boot_test.cc
  LIBS basalt_daemon basalt_test_fakes)

basalt_add_gtest(daemon_measured_boot_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/daemon_measured_boot_test.cc
  LIBS basalt_daemon)
