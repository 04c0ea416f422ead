#include "boot/boot_cli.h"

#include <memory>
#include <optional>

#include "boot/backends.h"
#include "boot/boot_target.h"
#include "esp_files.h"
#include "image/initramfs_stage.h"

namespace basalt {
namespace {

using boot::BootControl;
using boot::BootStatus;
using boot::Slot;

struct BootOptions {
  std::string disk;
  std::string backend;
  bool json = false;
};

void AddCommonOptions(CLI::App* app, const std::shared_ptr<BootOptions>& o) {
  app->add_option("--disk", o->disk, "work offline on this disk image (or device)");
  app->add_option("--backend", o->backend,
                  fmt::format("{} (default: detect)", boot::JoinBootBackendNames(" or ")))
      ->check(CLI::IsMember(boot::BootBackendNames()));
  app->add_flag("--json", o->json, "machine-readable output");
}

Result<std::unique_ptr<BootControl>> Open(const BootOptions& o) {
  boot::BootTarget target;
  if (!o.disk.empty()) target.disk = o.disk;
  if (!o.backend.empty()) target.backend = o.backend;
  return boot::OpenBootControl(target);
}

nlohmann::json StatusJson(const BootStatus& s) {
  nlohmann::json doc;
  doc["backend"] = s.backend;
  if (s.current) doc["current"] = std::string(boot::SlotName(*s.current));
  doc["next"] = s.next ? nlohmann::json(std::string(boot::SlotName(*s.next))) : nlohmann::json();
  nlohmann::json slots = nlohmann::json::object();
  for (Slot slot : boot::kAllSlots) {
    const boot::SlotStatus& st = s.slots[boot::SlotIndex(slot)];
    slots[std::string(boot::SlotName(slot))] = {
        {"priority", st.attributes.priority},
        {"tries", st.attributes.tries},
        {"successful", st.attributes.successful},
        {"good", st.health == boot::SlotHealth::kGood},
        {"bad", st.health == boot::SlotHealth::kBad},
        {"state", std::string(boot::SlotHealthName(st.health))},
        {"version", st.version},
        {"usr_root_hash", st.usrhash},
    };
  }
  doc["slots"] = std::move(slots);
  return doc;
}

void PrintStatus(const BootStatus& s) {
  fmt::print("backend: {}\n", s.backend);
  fmt::print("current: {}\n", s.current ? boot::SlotName(*s.current) : "(offline)");
  fmt::print("next:    {}\n", s.next ? boot::SlotName(*s.next) : "none (no bootable slot)");
  for (Slot slot : boot::kAllSlots) {
    const boot::SlotStatus& st = s.slots[boot::SlotIndex(slot)];
    fmt::print("slot {}: {:<7} priority {:>2}  tries {:>2}  version {}  usrhash {}\n",
               boot::SlotName(slot), boot::SlotHealthName(st.health), st.attributes.priority,
               st.attributes.tries, st.version.empty() ? "-" : st.version,
               st.usrhash.empty() ? "-" : st.usrhash);
  }
}

// Runs a verb, then prints the resulting status (JSON or text), so scripts see the outcome.
int RunVerb(const BootOptions& o, const std::function<Status(BootControl&)>& verb) {
  auto bc = Open(o);
  if (!bc) return ReportError(bc.error());
  if (Status st = verb(**bc); !st) return ReportError(st.error());
  auto status = (*bc)->GetStatus();
  if (!status) return ReportError(status.error());
  if (o.json) {
    PrintJson(StatusJson(*status));
  } else {
    PrintStatus(*status);
  }
  return kExitOk;
}

Result<Slot> SlotArg(const std::string& text, const BootControl& bc, std::string_view verb) {
  if (!text.empty()) return boot::ParseSlot(text);
  if (bc.current()) return *bc.current();
  return Failf(ErrorKind::kInvalidInput,
               "{}: no slot given and no running slot (offline); name the slot", verb);
}

}  // namespace

void AddBootCommands(CLI::App& app, CommandRunner& runner) {
  auto o = std::make_shared<BootOptions>();
  CLI::App* boot = app.add_subcommand("boot", "inspect and change which A/B slot boots next");
  boot->require_subcommand(1);
  AddCommonOptions(boot, o);

  CLI::App* status = boot->add_subcommand("status", "show both slots and the next boot");
  AddCommonOptions(status, o);
  status->callback([&runner, o] {
    runner.Set([o] { return RunVerb(*o, [](BootControl&) { return Status{}; }); });
  });

  auto slot = std::make_shared<std::string>();
  auto tries = std::make_shared<int>(boot::kDefaultTries);
  CLI::App* set_next = boot->add_subcommand("set-next", "boot SLOT next, with N tries");
  AddCommonOptions(set_next, o);
  set_next->add_option("SLOT", *slot, "A or B")->required();
  set_next->add_option("--tries", *tries, "boot attempts before falling back (1-15)")
      ->capture_default_str();
  set_next->callback([&runner, o, slot, tries] {
    runner.Set([o, slot, tries] {
      return RunVerb(*o, [&](BootControl& bc) -> Status {
        BASALT_ASSIGN_OR_RETURN(Slot s, boot::ParseSlot(*slot));
        return bc.SetNext(s, *tries);
      });
    });
  });

  CLI::App* mark_good = boot->add_subcommand("mark-good", "mark SLOT (default: running) good");
  AddCommonOptions(mark_good, o);
  mark_good->add_option("SLOT", *slot, "A or B");
  mark_good->callback([&runner, o, slot] {
    runner.Set([o, slot] {
      return RunVerb(*o, [&](BootControl& bc) -> Status {
        BASALT_ASSIGN_OR_RETURN(Slot s, SlotArg(*slot, bc, "mark-good"));
        return bc.MarkGood(s);
      });
    });
  });

  CLI::App* mark_bad = boot->add_subcommand("mark-bad", "mark SLOT bad: never boot it");
  AddCommonOptions(mark_bad, o);
  mark_bad->add_option("SLOT", *slot, "A or B")->required();
  mark_bad->callback([&runner, o, slot] {
    runner.Set([o, slot] {
      return RunVerb(*o, [&](BootControl& bc) -> Status {
        BASALT_ASSIGN_OR_RETURN(Slot s, boot::ParseSlot(*slot));
        return bc.MarkBad(s);
      });
    });
  });

  CLI::App* rollback = boot->add_subcommand("rollback", "make the other slot next, if it is good");
  AddCommonOptions(rollback, o);
  rollback->callback([&runner, o] {
    runner.Set([o] { return RunVerb(*o, [](BootControl& bc) { return bc.Rollback(); }); });
  });

  struct Install {
    boot::SlotEntry entry;
    std::string kernel, initrd, uki;
  };
  auto inst = std::make_shared<Install>();
  CLI::App* install = boot->add_subcommand(
      "install-slot",
      "write SLOT's kernel and initramfs (or its UKI, uki backend) and boot entry on the ESP");
  AddCommonOptions(install, o);
  install->add_option("SLOT", *slot, "A or B")->required();
  CLI::Option* kernel = install->add_option("--kernel", inst->kernel, "kernel image file");
  CLI::Option* initrd = install->add_option("--initrd", inst->initrd, "initramfs file");
  CLI::Option* uki = install->add_option("--uki", inst->uki,
                                         "the slot's signed Unified Kernel Image (uki backend)");
  uki->excludes(kernel)->excludes(initrd);
  kernel->needs(initrd);
  initrd->needs(kernel);
  install->add_option("--version", inst->entry.version, "OS version of the slot")->required();
  install->add_option("--usr-partuuid", inst->entry.usr_partuuid, "PARTUUID of the slot's USR")
      ->required();
  install->add_option("--usrhash", inst->entry.usrhash, "dm-verity root hash")->required();
  install->add_option("--cmdline", inst->entry.extra_cmdline, "extra kernel command line");
  install->callback([&runner, o, slot, inst] {
    runner.Set([o, slot, inst] {
      return RunVerb(*o, [&](BootControl& bc) -> Status {
        BASALT_ASSIGN_OR_RETURN(Slot s, boot::ParseSlot(*slot));
        if (inst->uki.empty() && inst->kernel.empty()) {
          return Fail(ErrorKind::kInvalidInput,
                      "install-slot needs --kernel and --initrd, or --uki");
        }
        return bc.InstallSlot(s, inst->entry,
                              {.kernel = inst->kernel, .initrd = inst->initrd, .uki = inst->uki});
      });
    });
  });

  struct Layout {
    std::string backend = std::string(boot::DefaultBootBackend().name);
    boot::SlotEntry entry;
    std::string dir;
  };
  auto lay = std::make_shared<Layout>();
  CLI::App* esp_layout = boot->add_subcommand(
      "esp-layout", "write the ESP text files of a fresh image (slot A good) into a directory");
  esp_layout->add_option("--backend", lay->backend, boot::JoinBootBackendNames(" or "))
      ->check(CLI::IsMember(boot::BootBackendNames()))
      ->capture_default_str();
  esp_layout->add_option("--version", lay->entry.version, "OS version of slot A")->required();
  esp_layout->add_option("--usr-partuuid", lay->entry.usr_partuuid, "PARTUUID of USR-A")
      ->required();
  esp_layout->add_option("--usrhash", lay->entry.usrhash, "dm-verity root hash of slot A")
      ->required();
  esp_layout->add_option("--cmdline", lay->entry.extra_cmdline, "extra kernel command line");
  esp_layout->add_option("--output-dir", lay->dir, "directory to write into")->required();
  esp_layout->callback([&runner, lay] {
    runner.Set([lay] {
      const boot::BootBackend* backend = boot::FindBootBackend(lay->backend);
      if (backend == nullptr) {  // CLI11 checked --backend; a default must be a row too
        return ReportError(Error(ErrorKind::kInvalidInput,
                                 fmt::format("unknown boot backend '{}'", lay->backend)));
      }
      auto files = backend->esp_text_files(lay->entry);
      if (!files) return ReportError(files.error());
      auto esp = boot::OpenEspDirectory(lay->dir);
      for (const boot::EspTextFile& f : *files) {
        size_t slash = f.path.rfind('/');
        if (Status st = esp->MakeDirs(f.path.substr(0, slash)); !st) return ReportError(st.error());
        if (Status st = esp->Write(f.path, f.content); !st) return ReportError(st.error());
        fmt::print("{}\n", f.path);
      }
      return static_cast<int>(kExitOk);
    });
  });

  auto ird = std::make_shared<boot::InitramfsSpec>();
  auto stage_dir = std::make_shared<std::string>();
  CLI::App* initramfs = boot->add_subcommand(
      "initramfs", "stage the initramfs contents (basalt-init, libraries, modules) in a directory");
  initramfs->add_option("--tree", ird->tree, "the image's root filesystem")->required();
  initramfs->add_option("--kernel-version", ird->kernel_version, "directory under lib/modules")
      ->required();
  initramfs->add_option("--init", ird->basalt_init, "the basalt-init binary")->required();
  initramfs->add_option("--output-dir", *stage_dir, "empty directory to fill")->required();
  initramfs->callback([&runner, ird, stage_dir] {
    runner.Set([ird, stage_dir] {
      auto plan = boot::PlanInitramfs(*ird);
      if (!plan) return ReportError(plan.error());
      if (Status st = boot::StageInitramfs(*plan, *stage_dir); !st) return ReportError(st.error());
      fmt::print("staged {} entries in {}\n", plan->size(), *stage_dir);
      return static_cast<int>(kExitOk);
    });
  });
}

}  // namespace basalt
