// Parsing an Omaha v3 response from a Nebraska-style server for one app. Untrusted input: every
// problem is an error naming the element or attribute. The result says *what* the server
// offers; whether the payload is trusted is decided later by its Basalt signature.
//
// Package hashes: Nebraska and Google's Omaha put the payload's SHA-256 in the package's
// `hash_sha256` attribute as hex; older CoreOS servers put it in the postinstall action's
// `sha256` attribute as base64. The package's plain `hash` attribute is base64 SHA-1, which
// Basalt does not accept as the only hash.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace basalt::fleet {

struct OmahaUpdate {
  std::string version;            // <manifest version>
  std::vector<std::string> urls;  // codebase + package name, in the server's order
  std::string package_name;
  uint64_t size = 0;
  std::string sha256;       // hex, lower case
  std::string sha1_base64;  // the legacy `hash`, if given (informational)
  // Attributes of <action event="postinstall">, e.g. DisablePayloadBackoff, IsDeltaPayload,
  // MetadataSize, deadline. Empty when the server sends no postinstall action.
  std::map<std::string, std::string> postinstall;
};

struct OmahaResponse {
  std::string server;  // <response server=...>, e.g. "nebraska"
  bool update = false;
  OmahaUpdate offer;  // when update
  // How many <event> acknowledgements (status="ok") the app element carried.
  int events_acknowledged = 0;
};

// Finds the <app> whose appid equals app_id (case-insensitively, as GUIDs are). An
// <updatecheck> is required when expect_updatecheck, else (event replies) optional.
Result<OmahaResponse> ParseOmahaResponse(std::string_view xml, std::string_view app_id,
                                         bool expect_updatecheck = true);

}  // namespace basalt::fleet
