basalt_add_fuzzer(fleet_omaha_response ${CMAKE_CURRENT_LIST_DIR}/fleet_omaha_fuzz.cc
  LIBS basalt_fleet PRIVATE_OF basalt_fleet)
basalt_add_fuzzer(fleet_etcd_response ${CMAKE_CURRENT_LIST_DIR}/fleet_etcd_fuzz.cc
  LIBS basalt_fleet)
basalt_add_fuzzer(fleet_omaha_offer ${CMAKE_CURRENT_LIST_DIR}/fleet_omaha_offer_fuzz.cc
  LIBS basalt_fleet basalt_repo PRIVATE_OF basalt_fleet)
