// Walks text line by line, counting lines so parsers can name the line an error is on. Shared by
// the line-oriented formats we parse (update.conf, modules.dep, BLS entries, GRUB slot configs).
#pragma once

#include <string_view>
#include <vector>

namespace basalt {

class LineReader {
 public:
  explicit LineReader(std::string_view text) : rest_(text) {}

  // Sets *line to the next line without its '\n'. A final line without '\n' counts; the empty
  // string after a trailing '\n' does not.
  bool Next(std::string_view* line) {
    if (rest_.empty()) return false;
    size_t nl = rest_.find('\n');
    *line = rest_.substr(0, nl);
    rest_.remove_prefix(nl == std::string_view::npos ? rest_.size() : nl + 1);
    ++line_no_;
    return true;
  }

  int line_no() const { return line_no_; }  // of the line Next() returned last, from 1

 private:
  std::string_view rest_;
  int line_no_ = 0;
};

// Splits on spaces, dropping empty words (so runs of spaces separate like one).
inline std::vector<std::string_view> SplitWords(std::string_view text) {
  std::vector<std::string_view> words;
  while (!text.empty()) {
    size_t sp = text.find(' ');
    if (sp != 0) words.push_back(text.substr(0, sp));
    text.remove_prefix(sp == std::string_view::npos ? text.size() : sp + 1);
  }
  return words;
}

}  // namespace basalt
