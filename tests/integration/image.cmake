basalt_add_gtest(image_integration_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/image_build_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/image_input_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/image_test_util.cc
  LIBS basalt_image
  PRIVATE_OF basalt_image
  LABELS integration
  ONE_PROCESS
  TIMEOUT 600)
add_dependencies(image_integration_test basalt basalt-init)
