basalt_add_gtest(repo_nginx_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/repo_nginx_test.cc ${CMAKE_CURRENT_LIST_DIR}/nginx_server.cc
  LIBS basalt_repo basalt_cli_support basalt_payload_format
  LABELS integration
  ONE_PROCESS
  TIMEOUT 300)
# The test drives the CLI it ships with.
add_dependencies(repo_nginx_test basalt)

basalt_add_gtest(repo_channel_cli_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/repo_channel_cli_test.cc
  LIBS basalt_repo basalt_cli_support basalt_payload_format
  LABELS integration
  TIMEOUT 120)
# The test drives the CLI it ships with.
add_dependencies(repo_channel_cli_test basalt)
