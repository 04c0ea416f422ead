# basalt_generate_build_info(): writes build_info.h for basalt_cli_support, which both `basalt
# --version` and `basalt-updated --version` print from (docs/cli.md). Called from the top-level
# CMakeLists.txt after every area's subdirectory, so each feature is read off what this build
# actually has (a library target, a found package) instead of being written down a second time.
#
# The describe string is taken at configure time: a commit without a re-configure keeps the
# older one. -DBASALT_BUILD_DESCRIBE=... overrides it (a distribution's package version).
function(basalt_generate_build_info)
  set(BASALT_BUILD_DESCRIBE "" CACHE STRING "Version detail in --version (default: git describe)")
  set(describe "${BASALT_BUILD_DESCRIBE}")
  if(describe STREQUAL "")
    find_package(Git QUIET)
    if(GIT_FOUND)
      execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty --tags
                      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
                      OUTPUT_VARIABLE describe OUTPUT_STRIP_TRAILING_WHITESPACE
                      RESULT_VARIABLE rc ERROR_QUIET)
      if(NOT rc EQUAL 0)
        set(describe "")
      endif()
    endif()
  endif()
  if(describe STREQUAL "")
    set(describe "${PROJECT_VERSION}")
  endif()

  # Token, then the condition under which this build has it. The order and the names are the
  # documented list in docs/cli.md (the version_format test checks every token against it).
  set(features "")
  macro(feature token)
    if(${ARGN})
      list(APPEND features "+${token}")
    else()
      list(APPEND features "-${token}")
    endif()
  endmacro()
  feature(TPM2 TARGET basalt_tpm)              # attest: TPM2 quotes and sealing (tss2-esys)
  feature(UKI TARGET basalt_boot)              # bootloader/src/backends/uki
  feature(SECUREBOOT OpenSSL_FOUND)            # keys secure-boot, signed UKIs (OpenSSL)
  feature(EROFS TARGET basalt_erofs)           # /usr images read and written without mounting
  feature(ZSTD ZSTD_FOUND)                     # payload codecs
  feature(LZ4 LZ4_FOUND)
  feature(XZ LZMA_FOUND)
  feature(BZIP2 BZip2_FOUND)
  feature(DBUS SYSTEMD_FOUND)                  # sd-bus: org.basalt.Update1
  feature(CURL CURL_FOUND)                     # http(s) repositories and Omaha
  feature(ETCD TARGET basalt_fleet)            # REBOOT_STRATEGY=etcd-lock
  feature(OMAHA pugixml_FOUND)                 # PROTOCOL=omaha (pugixml)
  feature(ASAN BASALT_SANITIZE)                # built with AddressSanitizer/UBSan
  list(JOIN features " " BASALT_BUILD_FEATURES)

  set(BASALT_BUILD_VERSION "${PROJECT_VERSION}")
  set(BASALT_BUILD_DESCRIBE_VALUE "${describe}")
  configure_file(${CMAKE_SOURCE_DIR}/common/cli/src/build_info.h.in
                 ${CMAKE_BINARY_DIR}/generated/cli/build_info.h @ONLY)
  target_include_directories(basalt_cli_support PRIVATE ${CMAKE_BINARY_DIR}/generated/cli)
  set(BASALT_BUILD_FEATURES "${BASALT_BUILD_FEATURES}" PARENT_SCOPE)
endfunction()
