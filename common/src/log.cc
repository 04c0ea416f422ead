#include "common/log.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace basalt {

static const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

static int SyslogPriority(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return 7;
    case LogLevel::kInfo:
      return 6;
    case LogLevel::kWarning:
      return 4;
    case LogLevel::kError:
      return 3;
  }
  return 6;
}

void StderrLogger::Log(LogLevel level, std::string_view message,
                       const std::vector<LogField>& fields) {
  if (level < min_level_) return;
  std::string line = level >= LogLevel::kWarning
                         ? fmt::format("basalt: {}: {}", LevelName(level), message)
                         : fmt::format("basalt: {}", message);
  for (const auto& [k, v] : fields)
    line += fmt::format(" {}={}", k, v);
  line += '\n';
  std::lock_guard lock(mu_);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void JournalLogger::Log(LogLevel level, std::string_view message,
                        const std::vector<LogField>& fields) {
  std::vector<std::string> strings;
  strings.reserve(fields.size() + 3);
  strings.push_back(fmt::format("MESSAGE={}", message));
  strings.push_back(fmt::format("PRIORITY={}", SyslogPriority(level)));
  strings.push_back(fmt::format("SYSLOG_IDENTIFIER={}", identifier_));
  for (const auto& [k, v] : fields)
    strings.push_back(fmt::format("{}={}", k, v));
  std::vector<iovec> iov(strings.size());
  for (size_t i = 0; i < strings.size(); ++i) {
    iov[i].iov_base = strings[i].data();
    iov[i].iov_len = strings[i].size();
  }
  sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

std::unique_ptr<Logger> MakeDefaultLogger(std::string identifier) {
  // systemd sets JOURNAL_STREAM=dev:ino for services whose stderr is the journal.
  if (const char* js = std::getenv("JOURNAL_STREAM")) {
    struct stat st;
    if (::fstat(STDERR_FILENO, &st) == 0 && fmt::format("{}:{}", st.st_dev, st.st_ino) == js) {
      return std::make_unique<JournalLogger>(std::move(identifier));
    }
  }
  return std::make_unique<StderrLogger>();
}

}  // namespace basalt
