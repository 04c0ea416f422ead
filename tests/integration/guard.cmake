# `basalt rollout guard` against a real Prometheus scraping real prometheus-node-exporters whose
# textfile directories the daemon's own metrics writer fills (three simulated hosts).
basalt_add_gtest(guard_prometheus_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/guard_prometheus_test.cc
  LIBS basalt_daemon basalt_fleet basalt_repo basalt_http
  LABELS integration
  TIMEOUT 300)
add_dependencies(guard_prometheus_test basalt)
