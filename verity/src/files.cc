#include "files.h"

#include <fcntl.h>
#include <sys/stat.h>

namespace basalt::verity {

Result<TreeFiles> OpenTreeFiles(const std::string& data_path, const std::string& hash_path,
                                bool writable) {
  TreeFiles f;
  f.data_name = data_path;
  f.hash_name = hash_path.empty() ? data_path : hash_path;
  struct stat data_st {};
  if (!hash_path.empty()) {
    BASALT_ASSIGN_OR_RETURN(f.data, OpenFile(data_path, O_RDONLY));
    if (::fstat(f.data.get(), &data_st) != 0) return FailErrno(fmt::format("stat {}", data_path));
    int flags = writable ? O_RDWR | O_CREAT : O_RDONLY;
    BASALT_ASSIGN_OR_RETURN(f.hash_owned, OpenFile(hash_path, flags));
    struct stat hash_st {};
    if (::fstat(f.hash_owned.get(), &hash_st) != 0) {
      return FailErrno(fmt::format("stat {}", hash_path));
    }
    f.hash_is_block_device = S_ISBLK(hash_st.st_mode);
    bool same = hash_st.st_dev == data_st.st_dev && hash_st.st_ino == data_st.st_ino &&
                S_ISREG(hash_st.st_mode);
    same = same || (S_ISBLK(hash_st.st_mode) && S_ISBLK(data_st.st_mode) &&
                    hash_st.st_rdev == data_st.st_rdev);
    if (same) {
      // One inode under two names: use one read-write fd so reads see our writes.
      f.shared = true;
      f.hash_owned.Reset();
      if (writable) {
        BASALT_ASSIGN_OR_RETURN(f.data, OpenFile(data_path, O_RDWR));
      }
    }
  } else {
    f.shared = true;
    BASALT_ASSIGN_OR_RETURN(f.data, OpenFile(data_path, writable ? O_RDWR : O_RDONLY));
    if (::fstat(f.data.get(), &data_st) != 0) return FailErrno(fmt::format("stat {}", data_path));
    f.hash_is_block_device = S_ISBLK(data_st.st_mode);
  }
  f.data_is_regular_file = S_ISREG(data_st.st_mode);
  BASALT_ASSIGN_OR_RETURN(f.data_size, FileOrDeviceSize(f.data.get(), data_path));
  if (f.shared) {
    f.hash_size = f.data_size;
  } else {
    BASALT_ASSIGN_OR_RETURN(f.hash_size, FileOrDeviceSize(f.hash_owned.get(), f.hash_name));
  }
  ::posix_fadvise(f.data.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  return f;
}

Status CheckNoOverlap(const TreeFiles& files, const VerityParams& params,
                      const TreeGeometry& geometry) {
  if (!files.shared) return {};
  const uint64_t data_end = params.data_blocks * params.data_block_size;
  const uint64_t hash_end = params.hash_offset + geometry.hash_area_size;
  if (params.hash_offset < data_end && hash_end > 0) {
    return Failf(ErrorKind::kInvalidInput,
                 "hash offset {} overlaps the data area (bytes 0..{} of {}); the hash area must "
                 "start at or after {}",
                 params.hash_offset, data_end, files.data_name, data_end);
  }
  return {};
}

}  // namespace basalt::verity
