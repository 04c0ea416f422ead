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

# SIGTERM/SIGINT during image build and release publish clean up their work (issue #21).
basalt_add_gtest(termination_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/termination_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/image_test_util.cc
  LIBS basalt_image
  PRIVATE_OF basalt_image
  LABELS integration
  TIMEOUT 600)
add_dependencies(termination_test basalt basalt-init)
