foreach(target dpkg_status definition oci_layout)
  basalt_add_fuzzer(image_${target} ${CMAKE_CURRENT_LIST_DIR}/image_fuzzers.cc LIBS basalt_image PRIVATE_OF basalt_image)
  string(TOUPPER ${target} define)
  target_compile_definitions(fuzz_image_${target} PRIVATE FUZZ_${define})
endforeach()
# OCI layers over a fake tree next to a canary: whiteouts and links must never reach outside.
basalt_add_fuzzer(image_whiteout ${CMAKE_CURRENT_LIST_DIR}/image_whiteout_fuzz.cc
  LIBS basalt_image PkgConfig::ARCHIVE PRIVATE_OF basalt_image)
