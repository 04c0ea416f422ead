basalt_add_gtest(erofs_image_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/erofs_image_test.cc
  LIBS basalt_erofs fmt::fmt
  LABELS integration)
