basalt_add_gtest(repo_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/repo_attack_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/repo_channel_ops_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/repo_decision_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/repo_document_format_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/repo_format_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/repo_repository_test.cc
  LIBS basalt_repo basalt_payload_format
  PRIVATE_OF basalt_repo)

basalt_add_gtest(repo_root_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/repo_root_test.cc
  LIBS basalt_repo)
