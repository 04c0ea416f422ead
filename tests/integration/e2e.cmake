# Issue #8's end-to-end scenario on the reference OS (docs/e2e.md): build v1..v4, publish, boot
# v1 in QEMU (TCG, OVMF, GRUB) against nginx on 127.0.0.1, update by delta, automatic rollback,
# tamper, operator rollback and pin. Unsanitized presets only, like the boot VM tests: the images
# carry this build's basalt-init, which runs as PID 1 before /proc exists.
# Not RUN_SERIAL: the guest is one QEMU thread, so the rest of the suite shares the other core
# instead of waiting the scenario out; every wait in the script has its own bound.
if(NOT BASALT_SANITIZE)
  add_test(NAME e2e_reference_vm
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/e2e/reference_vm_test.sh ${CMAKE_BINARY_DIR}
            ${CMAKE_BINARY_DIR}/e2e-work)
  set_tests_properties(e2e_reference_vm PROPERTIES LABELS "vm;e2e" TIMEOUT 3600
    SKIP_RETURN_CODE 77)
endif()
