// `basalt image build`: root filesystem in, disk.img + usr.img + image.json + sbom.spdx.json out.
// All work happens in a temp directory next to the output, renamed into place only when every
// step succeeded.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "common/error.h"
#include "common/log.h"
#include "image/definition.h"
#include "image/secure_boot.h"

namespace basalt::image {

struct BuildRequest {
  std::string rootfs;
  std::string output;
  ImageDefinition definition;  // with CLI overrides applied
  std::string builder_version;
  std::string basalt_init;  // the basalt-init binary of this Basalt build (the initramfs's /init)
  // Signs the UKIs and systemd-boot (uki backend only); unset: they are built unsigned.
  std::optional<SecureBootSigner> secure_boot;
  // Signs each UKI's PCR 11 values as TPM2 policies (uki backend only; docs/attestation.md).
  std::optional<std::string> pcr_policy_key = {};
};

// Returns the image.json document that was written.
Result<nlohmann::json> BuildImage(const BuildRequest& request, Logger& log);

}  // namespace basalt::image
