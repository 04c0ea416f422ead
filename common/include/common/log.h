// Structured logging. Components take a Logger& rather than reaching for a global, so tests can
// capture output and the daemon can route everything to journald with its fields intact.
#pragma once

#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace basalt {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// A journald-style field: upper-case KEY and a value, e.g. {"BASALT_VERSION", "1.2.0"}.
using LogField = std::pair<std::string, std::string>;

class Logger {
 public:
  virtual ~Logger() = default;
  virtual void Log(LogLevel level, std::string_view message,
                   const std::vector<LogField>& fields) = 0;

  void Info(std::string_view m, const std::vector<LogField>& f = {}) { Log(LogLevel::kInfo, m, f); }
  void Warn(std::string_view m, const std::vector<LogField>& f = {}) {
    Log(LogLevel::kWarning, m, f);
  }
  void Error(std::string_view m, const std::vector<LogField>& f = {}) {
    Log(LogLevel::kError, m, f);
  }
  void Debug(std::string_view m, const std::vector<LogField>& f = {}) {
    Log(LogLevel::kDebug, m, f);
  }
};

// "basalt: message [KEY=value ...]" on stderr. Messages below min_level are dropped.
class StderrLogger : public Logger {
 public:
  explicit StderrLogger(LogLevel min_level = LogLevel::kInfo) : min_level_(min_level) {}
  void Log(LogLevel level, std::string_view message, const std::vector<LogField>& fields) override;

 private:
  LogLevel min_level_;
  std::mutex mu_;
};

// sd_journal_send with MESSAGE, PRIORITY and the given fields.
class JournalLogger : public Logger {
 public:
  explicit JournalLogger(std::string identifier) : identifier_(std::move(identifier)) {}
  void Log(LogLevel level, std::string_view message, const std::vector<LogField>& fields) override;

 private:
  std::string identifier_;
};

// Journald when stderr is connected to it (JOURNAL_STREAM matches), stderr otherwise.
std::unique_ptr<Logger> MakeDefaultLogger(std::string identifier);

}  // namespace basalt
