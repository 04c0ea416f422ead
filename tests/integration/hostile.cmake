# The hostile-input suite (docs/hostile-inputs.md): one ctest test per case, each building its
# input in every form as root and as an unprivileged user.
basalt_add_gtest(hostile_input_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/hostile_input_test.cc
    ${CMAKE_CURRENT_LIST_DIR}/image_test_util.cc
  LIBS basalt_common PkgConfig::ARCHIVE nlohmann_json::nlohmann_json
  LABELS integration
  TIMEOUT 900)
add_dependencies(hostile_input_test basalt basalt-init)
