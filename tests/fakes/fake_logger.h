// A Logger that keeps every line, so a test can check that an error the code chose to ignore
// was at least logged.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "common/log.h"

namespace basalt::fakes {

struct LogLine {
  LogLevel level;
  std::string message;
};

class RecordingLogger : public Logger {
 public:
  void Log(LogLevel level, std::string_view message, const std::vector<LogField>& fields) override;
  std::vector<LogLine> lines() const;
  // Whether a line at `level` or above contains `text`.
  bool Contains(const std::string& text, LogLevel level = LogLevel::kDebug) const;

 private:
  mutable std::mutex mu_;
  std::vector<LogLine> lines_;
};

}  // namespace basalt::fakes
