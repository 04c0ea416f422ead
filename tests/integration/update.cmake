# The update flow (basalt-updated's engine) end to end against real nginx, loop devices and
# `basalt image build` images. Needs root (loop devices); CI runs as root.
basalt_add_gtest(update_flow_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/update_flow_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/fault_proxy.cc
    ${CMAKE_CURRENT_LIST_DIR}/nginx_server.cc
    ${CMAKE_CURRENT_LIST_DIR}/image_test_util.cc
    ${CMAKE_CURRENT_LIST_DIR}/fleet_etcd_fixture.cc
    ${CMAKE_CURRENT_LIST_DIR}/fleet_http_server.cc
  LIBS basalt_common basalt_erofs basalt_fleet basalt_http basalt_repo nlohmann_json::nlohmann_json
  LABELS integration
  ONE_PROCESS
  TIMEOUT 1800)
add_dependencies(update_flow_test basalt)
add_dependencies(update_flow_test basalt-updated basalt-init)
