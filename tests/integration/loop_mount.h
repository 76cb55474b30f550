// A small ext4 image loop-mounted on a directory, for tests of full and failing disks (root only:
// the constructor says why not otherwise, and tests skip with that message). The mount goes with
// the object, even when a check fails.
#pragma once
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "process.h"

namespace mq::test {

// A system tool by name (run_command takes a path; these live in /usr/bin or /usr/sbin).
inline CommandResult sh(const std::string& command) { return run_command({"/bin/sh", "-c", command + " 2>&1"}); }

// A small ext4 image loop-mounted on `dir` (mount -o loop: the loop device goes with the unmount).
class LoopMount {
 public:
  LoopMount(const std::string& image, const std::string& dir, int size_mib) : dir_(dir) {
    if (::geteuid() != 0) {
      why_ = "not root";
      return;
    }
    std::filesystem::create_directories(dir);
    auto t = sh("truncate -s " + std::to_string(size_mib) + "M " + image);
    if (t.exit_code != 0) {
      why_ = "truncate: " + t.output;
      return;
    }
    // -m 0: no blocks reserved for root (the broker runs as root here), so "full" means full.
    auto m = sh("mkfs.ext4 -q -F -m 0 " + image);
    if (m.exit_code != 0) {
      why_ = "mkfs.ext4: " + m.output;
      return;
    }
    auto r = sh("mount -o loop " + image + " " + dir);
    if (r.exit_code != 0) {
      why_ = "mount -o loop: " + r.output;
      return;
    }
    mounted_ = true;
  }
  ~LoopMount() {
    if (!mounted_) return;
    auto r = sh("umount " + dir_);
    if (r.exit_code != 0) (void)sh("umount -l " + dir_);
  }
  bool ok() const { return mounted_; }
  const std::string& why() const { return why_; }

 private:
  std::string dir_;
  std::string why_;
  bool mounted_ = false;
};

inline int64_t available_bytes(const std::string& path) {
  struct statvfs st;
  if (::statvfs(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
}

}  // namespace mq::test
