basalt_add_gtest(guard_unit_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/guard_unit_test.cc
  LIBS basalt_rollout_guard basalt_repo)
