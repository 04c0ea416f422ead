# Who may call basalt-updated's privileged methods (polkit_check.h), over a fake authority.
basalt_add_gtest(daemon_polkit_unit_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/daemon_polkit_unit_test.cc
  LIBS basalt_daemon
  PRIVATE_OF basalt_daemon)
