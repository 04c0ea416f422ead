# basalt-updated's D-Bus files against the real daemon on a private bus (tests/integration/dbus):
# the installed interface XML matches what the daemon introspects (and the activation file the
# unit), and polkit (a real polkitd reading the installed policy) decides for non-root callers.
# The polkit test needs root.
set(_dbus_units ${CMAKE_SOURCE_DIR}/update-engine/daemon/units)
add_test(NAME daemon_interface_xml_test
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/dbus/daemon_interface_xml_test.sh
          $<TARGET_FILE:basalt-updated> $<TARGET_FILE:basalt> ${_dbus_units})
set_tests_properties(daemon_interface_xml_test PROPERTIES
  LABELS integration TIMEOUT 120 SKIP_RETURN_CODE 77)
# RUN_SERIAL: it installs a policy and a rule into the host's polkit directories for its duration.
add_test(NAME daemon_polkit_test
  COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/dbus/daemon_polkit_test.sh
          $<TARGET_FILE:basalt-updated> $<TARGET_FILE:basalt>
          ${_dbus_units}/org.basalt.update1.policy ${_dbus_units}/50-basalt.rules.example)
set_tests_properties(daemon_polkit_test PROPERTIES
  LABELS integration TIMEOUT 180 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
