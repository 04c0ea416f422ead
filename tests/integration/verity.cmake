basalt_add_gtest(verity_interop_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/verity_interop_test.cc
  LIBS basalt_verity nlohmann_json::nlohmann_json
  PRIVATE_OF basalt_verity
  LABELS integration
  TIMEOUT 300)
# The test drives the CLI binary.
add_dependencies(verity_interop_test basalt)
basalt_add_gtest(verity_blockdev_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/verity_blockdev_test.cc
  LIBS basalt_verity nlohmann_json::nlohmann_json
  PRIVATE_OF basalt_verity
  LABELS integration
  TIMEOUT 120)
add_dependencies(verity_blockdev_test basalt)
