#include "repo/image_info.h"

#include "common/fd.h"
#include "common/kernel_cmdline.h"
#include "measurements_json.h"
#include "repo/json_fields.h"
#include "repo/names.h"

namespace basalt::repo {
namespace {

// image.json's `uki`: both slots, each exactly {file, size, sha256} and, from images built since
// it was recorded, `measurements`.
Result<std::map<std::string, UkiFileInfo>> LoadUkis(const nlohmann::json& v) {
  BASALT_ASSIGN_OR_RETURN(FieldReader u, FieldReader::Open(v, "image.uki"));
  std::map<std::string, UkiFileInfo> out;
  for (const char* slot : {"A", "B"}) {
    BASALT_ASSIGN_OR_RETURN(const nlohmann::json* obj, u.Object(slot));
    BASALT_ASSIGN_OR_RETURN(FieldReader f, FieldReader::Open(*obj, u.Name(slot)));
    UkiFileInfo info;
    BASALT_ASSIGN_OR_RETURN(info.file, f.String("file"));
    BASALT_RETURN_IF_ERROR(CheckRelativeUrl(info.file, f.Name("file")));
    BASALT_ASSIGN_OR_RETURN(info.size, f.Uint("size"));
    BASALT_ASSIGN_OR_RETURN(info.sha256, f.String("sha256"));
    BASALT_RETURN_IF_ERROR(CheckHex(info.sha256, 32, f.Name("sha256")));
    BASALT_ASSIGN_OR_RETURN(const nlohmann::json* m, f.OptionalObject("measurements"));
    if (m != nullptr) {
      BASALT_ASSIGN_OR_RETURN(info.measurements, ParseUkiMeasurements(*m, f.Name("measurements"),
                                                                      UnknownFields::kRefuse));
    }
    BASALT_RETURN_IF_ERROR(f.Finish());
    out[slot] = std::move(info);
  }
  BASALT_RETURN_IF_ERROR(u.Finish());
  return out;
}

}  // namespace

Result<ImageInfo> LoadImageInfo(const std::string& image_dir) {
  std::string path = image_dir + "/image.json";
  auto text = ReadFileToString(path);
  if (!text) {
    return Failf(ErrorKind::kNotFound, "{} is not a `basalt image build` output: {}", image_dir,
                 text.error().message());
  }
  auto parsed = [&]() -> Result<ImageInfo> {
    BASALT_ASSIGN_OR_RETURN(nlohmann::json doc, ParseJson(*text, "image.json"));
    BASALT_ASSIGN_OR_RETURN(FieldReader r, FieldReader::Open(doc, "image"));
    ImageInfo info;
    info.dir = image_dir;
    BASALT_ASSIGN_OR_RETURN(info.version, r.String("version"));
    BASALT_RETURN_IF_ERROR(CheckVersion(info.version, r.Name("version")));
    BASALT_ASSIGN_OR_RETURN(const nlohmann::json* usr, r.Object("usr"));
    BASALT_ASSIGN_OR_RETURN(FieldReader u, FieldReader::Open(*usr, "image.usr"));
    BASALT_ASSIGN_OR_RETURN(info.usr_root_hash, u.String("root_hash"));
    BASALT_RETURN_IF_ERROR(CheckHex(info.usr_root_hash, 32, u.Name("root_hash")));
    BASALT_ASSIGN_OR_RETURN(info.usr_salt, u.String("salt"));
    BASALT_RETURN_IF_ERROR(CheckHex(info.usr_salt, 0, u.Name("salt")));
    BASALT_ASSIGN_OR_RETURN(info.usr_hash_algorithm, u.String("hash_algorithm"));
    BASALT_ASSIGN_OR_RETURN(info.usr_data_block_size, u.Uint("data_block_size"));
    BASALT_ASSIGN_OR_RETURN(info.usr_hash_block_size, u.Uint("hash_block_size"));
    BASALT_ASSIGN_OR_RETURN(info.usr_data_blocks, u.Uint("data_blocks"));
    BASALT_ASSIGN_OR_RETURN(info.usr_hash_offset, u.Uint("hash_offset"));
    BASALT_ASSIGN_OR_RETURN(info.usr_size, u.Uint("size"));
    BASALT_ASSIGN_OR_RETURN(const nlohmann::json* kernel, r.Object("kernel"));
    BASALT_ASSIGN_OR_RETURN(FieldReader k, FieldReader::Open(*kernel, "image.kernel"));
    BASALT_ASSIGN_OR_RETURN(info.kernel_version, k.String("version"));
    BASALT_ASSIGN_OR_RETURN(info.kernel_sha256, k.String("sha256"));
    BASALT_RETURN_IF_ERROR(CheckHex(info.kernel_sha256, 32, k.Name("sha256")));
    BASALT_ASSIGN_OR_RETURN(info.kernel_cmdline, k.OptionalString("cmdline"));
    if (info.kernel_cmdline) {
      BASALT_RETURN_IF_ERROR(CheckImageKernelArgs(*info.kernel_cmdline, k.Name("cmdline")));
    }
    BASALT_ASSIGN_OR_RETURN(const nlohmann::json* sbom, r.Object("sbom"));
    BASALT_ASSIGN_OR_RETURN(FieldReader s, FieldReader::Open(*sbom, "image.sbom"));
    BASALT_ASSIGN_OR_RETURN(info.sbom_path, s.String("path"));
    BASALT_RETURN_IF_ERROR(CheckRelativeUrl(info.sbom_path, s.Name("path")));
    BASALT_ASSIGN_OR_RETURN(info.sbom_sha256, s.String("sha256"));
    BASALT_RETURN_IF_ERROR(CheckHex(info.sbom_sha256, 32, s.Name("sha256")));
    BASALT_ASSIGN_OR_RETURN(info.input_digest, r.String("input_digest"));
    BASALT_ASSIGN_OR_RETURN(const nlohmann::json* uki, r.OptionalObject("uki"));
    if (uki != nullptr) {
      BASALT_ASSIGN_OR_RETURN(info.uki, LoadUkis(*uki));
    }
    return info;
  }();
  if (!parsed) return std::unexpected(std::move(parsed).error().WithContext(path));
  return parsed;
}

}  // namespace basalt::repo
