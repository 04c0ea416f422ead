basalt_add_fuzzer(guard_prometheus_answer ${CMAKE_CURRENT_LIST_DIR}/guard_prometheus_fuzz.cc
  LIBS basalt_rollout_guard)
