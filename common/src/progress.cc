#include "common/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace basalt {

bool ProgressBar::StderrIsTerminal() {
  return ::isatty(STDERR_FILENO) == 1;
}

ProgressBar::ProgressBar(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  Finish();
}

void ProgressBar::Update(uint64_t done) {
  last_done_ = done;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  Draw(done);
}

void ProgressBar::Draw(uint64_t done) {
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double mib = static_cast<double>(done) / (1 << 20);
  double rate = secs > 0 ? mib / secs : 0;
  std::string line;
  if (total_ > 0) {
    constexpr int kWidth = 30;
    double frac = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
    int fill = static_cast<int>(frac * kWidth);
    line = fmt::format("\r{} [{}{}] {:5.1f}% {:.0f} MiB/s", label_, std::string(fill, '#'),
                       std::string(kWidth - fill, '.'), frac * 100, rate);
  } else {
    line = fmt::format("\r{} {:.1f} MiB {:.0f} MiB/s", label_, mib, rate);
  }
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

void ProgressBar::Finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  Draw(total_ > 0 ? total_ : last_done_);
  std::fputs("\n", stderr);
}

}  // namespace basalt
