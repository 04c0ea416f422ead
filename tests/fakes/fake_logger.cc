#include "fakes/fake_logger.h"

namespace basalt::fakes {

void RecordingLogger::Log(LogLevel level, std::string_view message, const std::vector<LogField>&) {
  std::lock_guard lock(mu_);
  lines_.push_back(LogLine{level, std::string(message)});
}

std::vector<LogLine> RecordingLogger::lines() const {
  std::lock_guard lock(mu_);
  return lines_;
}

bool RecordingLogger::Contains(const std::string& text, LogLevel level) const {
  for (const auto& l : lines()) {
    if (l.level >= level && l.message.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace basalt::fakes
