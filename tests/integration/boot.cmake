basalt_add_gtest(boot_disk_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/boot/boot_disk_test.cc
  LIBS basalt_boot basalt_disk nlohmann_json::nlohmann_json
  PRIVATE_OF basalt_boot
  LABELS integration
  TIMEOUT 300)
add_dependencies(boot_disk_test basalt)

basalt_add_gtest(boot_initramfs_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/boot/initramfs_test.cc
  LIBS basalt_image
  PRIVATE_OF basalt_image
  LABELS integration)
add_dependencies(boot_initramfs_test basalt-init)

# The VM scenarios of issue #4 on `basalt image build` output (tests/vm/, docs/boot.md). They
# boot basalt-init as PID 1 of an initramfs, before /proc exists; a sanitizer runtime cannot
# start there (it reads /proc/self/maps before main), so they run in the unsanitized presets
# only. The code they exercise is unit-tested under ASan+UBSan above.
if(NOT BASALT_SANITIZE)
  set(_vm_env "BASALT_BIN_DIR=${CMAKE_BINARY_DIR}/bin;BASALT_SOURCE_DIR=${CMAKE_SOURCE_DIR};BASALT_VM_FIXTURE=${CMAKE_BINARY_DIR}/vm-fixture")
  add_test(NAME boot_vm_fixture COMMAND bash ${CMAKE_SOURCE_DIR}/tests/vm/fixture.sh)
  set_tests_properties(boot_vm_fixture PROPERTIES ENVIRONMENT "${_vm_env}"
    FIXTURES_SETUP boot_vm LABELS "vm" TIMEOUT 600 SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
  add_test(NAME boot_vm_fixture_cleanup COMMAND rm -rf ${CMAKE_BINARY_DIR}/vm-fixture)
  set_tests_properties(boot_vm_fixture_cleanup PROPERTIES FIXTURES_CLEANUP boot_vm LABELS "vm")
  # name;script;argument;timeout
  foreach(scenario "boot_grub;boot_vm_test.sh;grub;300" "boot_systemd_boot;boot_vm_test.sh;systemd-boot;300"
                   "fallback;fallback_vm_test.sh;;300" "flip;flip_vm_test.sh;;300"
                   "verity;verity_vm_test.sh;;300" "uki;uki_vm_test.sh;;600"
                   "uki_update;uki_update_vm_test.sh;;900")
    list(GET scenario 0 name)
    list(GET scenario 1 script)
    list(GET scenario 2 arg)
    list(GET scenario 3 timeout)
    add_test(NAME boot_vm_${name} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/vm/${script} ${arg})
    set_tests_properties(boot_vm_${name} PROPERTIES ENVIRONMENT "${_vm_env}"
      FIXTURES_REQUIRED boot_vm LABELS "vm" TIMEOUT ${timeout} SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
  endforeach()
endif()
