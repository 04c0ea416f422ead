// A progress bar for long work, drawn on stderr only when stderr is a terminal, so pipelines
// and logs stay clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace basalt {

class ProgressBar {
 public:
  // kBytes shows the amount and the throughput in B/KiB/MiB/GiB per second; kFraction (done
  // out of total steps, e.g. a daemon's progress in thousandths) shows the time left instead.
  enum class Unit { kBytes, kFraction };
  // total may be 0 when unknown; then only the count and rate are shown.
  ProgressBar(std::string label, uint64_t total, bool enabled, Unit unit = Unit::kBytes);

  // "0 B/s", "512 KiB/s", "86.3 MiB/s": never rounds a slow transfer to "0 MiB/s".
  static std::string FormatRate(double bytes_per_second);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Redraws at most ten times a second; cheap to call per block.
  void Update(uint64_t done);
  void Finish();

  static bool StderrIsTerminal();

 private:
  void Draw(uint64_t done);
  std::string label_;
  uint64_t total_;
  bool enabled_;
  Unit unit_;
  bool finished_ = false;
  uint64_t last_done_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace basalt
