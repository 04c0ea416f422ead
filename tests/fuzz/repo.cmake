basalt_add_fuzzer(repo_dsse ${CMAKE_CURRENT_LIST_DIR}/repo_dsse_fuzz.cc LIBS basalt_repo)
basalt_add_fuzzer(repo_release ${CMAKE_CURRENT_LIST_DIR}/repo_release_fuzz.cc LIBS basalt_repo)
basalt_add_fuzzer(repo_channel ${CMAKE_CURRENT_LIST_DIR}/repo_channel_fuzz.cc LIBS basalt_repo)
# Each execution verifies Ed25519 signatures and walks a root update: ~400 execs/s.
basalt_add_fuzzer(repo_root ${CMAKE_CURRENT_LIST_DIR}/repo_root_fuzz.cc LIBS basalt_repo RUNS 30000)
