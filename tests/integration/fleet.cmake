add_executable(fleet_lock_contender ${CMAKE_CURRENT_LIST_DIR}/fleet_lock_contender.cc)
target_link_libraries(fleet_lock_contender PRIVATE basalt_fleet basalt_test_util)

basalt_add_gtest(fleet_lock_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/fleet_lock_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/fleet_etcd_fixture.cc
  LIBS basalt_fleet basalt_disk
  LABELS integration
  TIMEOUT 300)
add_dependencies(fleet_lock_test basalt fleet_lock_contender)

basalt_add_gtest(fleet_omaha_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/fleet_omaha_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/fleet_http_server.cc
    ${CMAKE_CURRENT_LIST_DIR}/nginx_server.cc
    ${CMAKE_CURRENT_LIST_DIR}/payload_fixture.cc
  LIBS basalt_fleet basalt_daemon basalt_test_fakes basalt_payload_format basalt_payload_codecs
  PRIVATE_OF basalt_fleet
  LABELS integration
  TIMEOUT 300)
add_dependencies(fleet_omaha_test basalt)
