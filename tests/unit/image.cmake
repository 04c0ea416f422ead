basalt_add_gtest(image_unit_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/image_unit_test.cc
  LIBS basalt_image
  PRIVATE_OF basalt_image)
