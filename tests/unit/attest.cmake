# Measured boot predictions (issue 20): the Authenticode image hash and systemd-stub's PCR 11, by
# hand-made PE images and against pesign, sbsign and systemd-measure on a real UKI.
basalt_add_gtest(attest_measure_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/attest/authenticode_test.cc
          ${CMAKE_CURRENT_LIST_DIR}/attest/uki_measurements_test.cc
  LIBS basalt_measure)
basalt_add_gtest(attest_peer_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/attest/uki_peer_test.cc
  LIBS basalt_measure basalt_image)
add_dependencies(attest_peer_test basalt)  # the CLI case runs the binary
basalt_add_gtest(attest_uki_step_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/attest/uki_step_test.cc
  LIBS basalt_measure basalt_image basalt_boot basalt_tpm nlohmann_json::nlohmann_json
  PRIVATE_OF basalt_image)
