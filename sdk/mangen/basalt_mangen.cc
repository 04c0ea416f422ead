// basalt-mangen: writes basalt(1), basalt-updated(8) and the bash completions of both from the
// CLI11 trees the binaries themselves build (AddBasaltCommands, AddDaemonOptions), so a new
// subcommand or option reaches the man page and the completion without anyone writing it down
// again. A build-time tool only; nothing of it is installed.
//
// Usage: basalt-mangen OUTDIR  (writes OUTDIR/man/{basalt.1,basalt-updated.8} and
// OUTDIR/completions/{basalt,basalt-updated})
#include <CLI/CLI.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "basalt_app.h"
#include "daemon/daemon_options.h"

namespace {

namespace fs = std::filesystem;

// Text for roff: a backslash is \e, and a line must not start with a control character.
std::string Roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";  // an ASCII hyphen-minus, so options can be copied from the page
    } else {
      out += c;
    }
    line_start = c == '\n';
  }
  return out;
}

bool Hidden(const CLI::App* app) {
  return app->get_group().empty();
}
bool Hidden(const CLI::Option* opt) {
  return opt->get_group().empty();
}

std::vector<const CLI::App*> Subcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* sub) { return !Hidden(sub); });
}

std::vector<const CLI::Option*> Options(const CLI::App& app) {
  std::vector<const CLI::Option*> out;
  for (const CLI::Option* opt : app.get_options()) {
    if (!Hidden(opt)) out.push_back(opt);
  }
  return out;
}

// A flag expects no items; anything else reads the next word (or `=value`) as its value.
bool TakesValue(const CLI::Option* opt) {
  return opt->get_items_expected_max() > 0;
}

bool IsHelp(const CLI::App& app, const CLI::Option* opt) {
  return opt == app.get_help_ptr();
}

std::string Description(const CLI::App& app) {
  std::string d = app.get_description();
  // The root description reads "basalt: ..." in --help; NAME already says the program.
  if (auto colon = d.find(": "); colon != std::string::npos && d.find(' ') > colon) {
    d = d.substr(colon + 2);
  }
  return d;
}

// " [OPTIONS] COMMAND" or the positionals, the rest of one command's synopsis line. It goes on
// the line of the command's name: a roff text line that starts with a space breaks the line.
std::string Usage(const CLI::App& app) {
  std::string usage;
  bool has_options = false;
  for (const CLI::Option* opt : Options(app)) {
    if (opt->nonpositional()) has_options = true;
  }
  if (has_options) usage += " [\\fIOPTIONS\\fR]";
  for (const CLI::Option* opt : Options(app)) {
    if (opt->nonpositional()) continue;
    std::string name = Roff(opt->get_name(true));
    if (opt->get_expected_max() > 1) name += "...";
    usage += opt->get_required() ? " \\fI" + name + "\\fR" : " [\\fI" + name + "\\fR]";
  }
  if (!Subcommands(app).empty()) usage += " \\fICOMMAND\\fR";
  return usage;
}

void WriteOption(std::ostream& out, const CLI::Option* opt) {
  out << ".TP\n";
  if (opt->nonpositional()) {
    std::string names;
    for (const auto& s : opt->get_snames())
      names += (names.empty() ? "" : ", ") + ("-" + s);
    for (const auto& l : opt->get_lnames())
      names += (names.empty() ? "" : ", ") + ("--" + l);
    out << "\\fB" << Roff(names) << "\\fR";
    if (TakesValue(opt)) out << " \\fI" << Roff(opt->get_type_name()) << "\\fR";
    out << "\n";
  } else {
    out << "\\fI" << Roff(opt->get_name(true)) << "\\fR\n";
  }
  std::string text = opt->get_description();
  std::vector<std::string> notes;
  if (opt->get_required()) notes.push_back("required");
  if (!opt->get_default_str().empty()) notes.push_back("default: " + opt->get_default_str());
  if (opt->get_expected_max() > 1) notes.push_back("may be repeated");
  if (!opt->get_envname().empty()) notes.push_back("environment: " + opt->get_envname());
  if (!notes.empty()) {
    std::string joined;
    for (const auto& n : notes)
      joined += (joined.empty() ? "" : "; ") + n;
    text += (text.empty() ? "(" : " (") + joined + ")";
  }
  out << Roff(text.empty() ? "\n" : text) << "\n";
}

// One .SS per command that does something or groups others, depth first in definition order.
void WriteCommands(std::ostream& out, const CLI::App& app, const std::string& path) {
  for (const CLI::App* sub : Subcommands(app)) {
    std::string sub_path = path + " " + sub->get_name();
    out << ".SS \"" << Roff(sub_path) << "\"\n";
    out << "\\fB" << Roff(sub_path) << "\\fR" << Usage(*sub) << "\n.PP\n";
    out << Roff(Description(*sub)) << "\n";
    if (auto subs = Subcommands(*sub); !subs.empty()) {
      std::string names;
      for (const CLI::App* s : subs)
        names += (names.empty() ? "" : ", ") + s->get_name();
      out << ".PP\nCommands: " << Roff(names) << ".\n";
    }
    for (const CLI::Option* opt : Options(*sub)) {
      if (!IsHelp(*sub, opt)) WriteOption(out, opt);
    }
    WriteCommands(out, *sub, sub_path);
  }
}

void WriteHeader(std::ostream& out, const std::string& name, int section, const CLI::App& app) {
  std::string upper = name;
  for (char& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  // Generated; the version in the footer instead of a date keeps the output reproducible.
  out << ".\\\" Generated by basalt-mangen from the CLI definitions; do not edit.\n"
      << ".TH " << Roff(upper) << " " << section << " \"\" \"basalt " BASALT_VERSION
      << "\" \"Basalt\"\n"
      << ".SH NAME\n"
      << Roff(name) << " \\- " << Roff(Description(app)) << "\n"
      << ".SH SYNOPSIS\n"
      << "\\fB" << Roff(name) << "\\fR" << Usage(app) << "\n";
}

void WriteBasaltPage(std::ostream& out, const CLI::App& app) {
  WriteHeader(out, "basalt", 1, app);
  out << ".SH DESCRIPTION\n"
         "\\fBbasalt\\fR builds disk images and /usr slot images, signs and publishes releases "
         "to a static repository, points channels at them, and applies updates to a host (through "
         "\\fBbasalt\\-updated\\fR(8)) or to a disk image.\n"
         ".PP\n"
         "Every command has \\fB\\-\\-help\\fR. \\fB\\-\\-json\\fR prints one JSON document on "
         "standard output; diagnostics go to standard error. A failure prints one line, "
         "\\fBbasalt: error:\\fR followed by what failed and why, and exits with one of the "
         "codes under EXIT STATUS.\n"
         ".SH OPTIONS\n";
  for (const CLI::Option* opt : Options(app))
    WriteOption(out, opt);
  out << ".SH COMMANDS\n";
  WriteCommands(out, app, "basalt");
  out << ".SH EXIT STATUS\n";
  for (const auto& e : basalt::kExitCodes) {
    out << ".TP\n.B " << static_cast<int>(e.code) << "\n" << Roff(e.meaning) << "\n";
  }
  out << ".PP\nScripts may depend on these codes; new ones are only ever appended.\n"
         ".SH SEE ALSO\n"
         ".BR basalt\\-updated (8),\n"
         ".BR update.conf (5),\n"
         ".BR systemd\\-boot (7),\n"
         ".BR veritysetup (8)\n";
}

void WriteDaemonPage(std::ostream& out, const CLI::App& app) {
  WriteHeader(out, "basalt-updated", 8, app);
  out << ".SH DESCRIPTION\n"
         "\\fBbasalt\\-updated\\fR is the host update daemon. It reads \\fBupdate.conf\\fR(5), "
         "serves the D\\-Bus interface \\fBorg.basalt.Update1\\fR (object "
         "\\fB/org/basalt/Update1\\fR) on the system bus, checks its channel periodically, "
         "stages updates into the inactive /usr slot, reboots according to "
         "\\fBREBOOT_STRATEGY\\fR, and after boot marks the new slot good or records the "
         "rollback. \\fBbasalt update\\fR(1) is its client.\n"
         ".SH OPTIONS\n";
  for (const CLI::Option* opt : Options(app))
    WriteOption(out, opt);
  out << ".SH D\\-BUS INTERFACE\n"
         "Methods \\fBCheck\\fR, \\fBApply\\fR(s version), \\fBCancel\\fR, \\fBRollback\\fR and "
         "\\fBMarkGood\\fR need root; the properties (\\fBState\\fR, \\fBProgress\\fR, "
         "\\fBCurrentVersion\\fR, \\fBNextVersion\\fR, \\fBLastError\\fR, \\fBWaitReason\\fR, "
         "and the counters) may be read by anyone. The bus policy is "
         "\\fI/usr/share/dbus\\-1/system.d/org.basalt.Update1.conf\\fR.\n"
         ".SH UNITS\n"
         ".TP\n.B basalt\\-updated.service\n"
         "Runs the daemon (\\fIType=notify\\fR, with a watchdog).\n"
         ".TP\n.B basalt\\-health\\-usr\\-verity.service\n"
         "The example health check before \\fBboot\\-complete.target\\fR: /usr must be a "
         "dm\\-verity device.\n"
         ".TP\n.B basalt\\-mark\\-good.service\n"
         "After \\fBboot\\-complete.target\\fR, runs \\fBbasalt update mark\\-good\\fR.\n"
         ".SH FILES\n"
         ".TP\n.I /usr/share/basalt/update.conf, /etc/basalt/update.conf, "
         "/etc/basalt/update.conf.d/*.conf\n"
         "Configuration, read in this order, later files winning (\\fBupdate.conf\\fR(5)).\n"
         ".TP\n.I /usr/share/basalt/root.json, /usr/share/basalt/keys/\n"
         "The trusted root document, or the trusted release keys without one.\n"
         ".TP\n.I /var/lib/basalt/state.json\n"
         "The update state (mode 0600).\n"
         ".SH EXIT STATUS\n"
         "0 when stopped normally, otherwise the codes of \\fBbasalt\\fR(1).\n"
         ".SH SEE ALSO\n"
         ".BR basalt (1),\n"
         ".BR update.conf (5),\n"
         ".BR systemd.service (5)\n";
}

// The bash completion: per command path, its subcommands, its options, and the options that
// take a value (whose next word is not a subcommand). One generic function walks COMP_WORDS.
struct CompletionNode {
  std::string subs, opts, args;
};

void CollectCompletion(const CLI::App& app, const std::string& path,
                       std::map<std::string, CompletionNode>& nodes) {
  CompletionNode& node = nodes[path];
  for (const CLI::Option* opt : Options(app)) {
    std::vector<std::string> names;
    for (const auto& s : opt->get_snames())
      names.push_back("-" + s);
    for (const auto& l : opt->get_lnames())
      names.push_back("--" + l);
    for (const auto& n : names) {
      node.opts += (node.opts.empty() ? "" : " ") + n;
      if (TakesValue(opt)) node.args += (node.args.empty() ? "" : " ") + n;
    }
  }
  for (const CLI::App* sub : Subcommands(app)) {
    node.subs += (node.subs.empty() ? "" : " ") + sub->get_name();
    CollectCompletion(*sub, path + " " + sub->get_name(), nodes);
  }
}

void WriteCompletion(std::ostream& out, const std::string& program, const CLI::App& app) {
  std::map<std::string, CompletionNode> nodes;
  CollectCompletion(app, program, nodes);
  std::string fn = "_" + program;
  for (char& c : fn)
    c = c == '-' ? '_' : c;
  out << "# bash completion for " << program
      << "; generated by basalt-mangen from the CLI definitions, do not edit.\n"
      << "# -g: bash-completion sources this file from inside a function.\n";
  for (const char* table : {"subs", "opts", "args"}) {
    out << "declare -gA " << fn << "_" << table << "=(\n";
    for (const auto& [path, node] : nodes) {
      const std::string& v = std::string(table) == "subs"   ? node.subs
                             : std::string(table) == "opts" ? node.opts
                                                            : node.args;
      out << "  [\"" << path << "\"]=\"" << v << "\"\n";
    }
    out << ")\n";
  }
  // Words after an option that takes a value are its value, never a subcommand. Values and
  // positionals are left to bash's default (file names) by returning nothing.
  out << fn << "() {\n"
      << "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" path=\"" << program << "\" w i skip=0\n"
      << "  COMPREPLY=()\n"
      << "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      << "    w=\"${COMP_WORDS[i]}\"\n"
      << "    if ((skip)); then skip=0; continue; fi\n"
      << "    if [[ $w == -* ]]; then\n"
      << "      [[ $w != *=* && \" ${" << fn << "_args[$path]} \" == *\" $w \"* ]] && skip=1\n"
      << "      continue\n"
      << "    fi\n"
      << "    [[ \" ${" << fn << "_subs[$path]} \" == *\" $w \"* ]] && path=\"$path $w\"\n"
      << "  done\n"
      << "  ((skip)) && return 0\n"
      << "  if [[ $cur == -* ]]; then\n"
      << "    mapfile -t COMPREPLY < <(compgen -W \"${" << fn << "_opts[$path]}\" -- \"$cur\")\n"
      << "  elif [[ -n ${" << fn << "_subs[$path]} ]]; then\n"
      << "    mapfile -t COMPREPLY < <(compgen -W \"${" << fn << "_subs[$path]}\" -- \"$cur\")\n"
      << "  fi\n"
      << "  return 0\n"
      << "}\n"
      << "complete -o bashdefault -o default -F " << fn << " " << program << "\n";
}

bool WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) {
    std::cerr << "basalt-mangen: cannot write " << path.string() << "\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: basalt-mangen OUTDIR\n";
    return basalt::kExitUsage;
  }
  fs::path dir(argv[1]);
  std::error_code ec;
  fs::create_directories(dir / "man", ec);
  fs::create_directories(dir / "completions", ec);

  CLI::App basalt_app{basalt::kBasaltDescription, "basalt"};
  basalt::CommandRunner runner;
  basalt::AddBasaltCommands(basalt_app, runner);
  CLI::App daemon_app{basalt::daemon::kDaemonDescription, "basalt-updated"};
  basalt::daemon::DaemonArgs args;
  basalt::daemon::AddDaemonOptions(daemon_app, args);

  std::ostringstream page1, page8, comp, comp_daemon;
  WriteBasaltPage(page1, basalt_app);
  WriteDaemonPage(page8, daemon_app);
  WriteCompletion(comp, "basalt", basalt_app);
  WriteCompletion(comp_daemon, "basalt-updated", daemon_app);
  bool ok = WriteFile(dir / "man" / "basalt.1", page1.str()) &&
            WriteFile(dir / "man" / "basalt-updated.8", page8.str()) &&
            WriteFile(dir / "completions" / "basalt", comp.str()) &&
            WriteFile(dir / "completions" / "basalt-updated", comp_daemon.str());
  return ok ? basalt::kExitOk : basalt::kExitFailure;
}
