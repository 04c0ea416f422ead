// The A/B slot model every backend shares. A backend only maps its on-disk state (grubenv
// variables, BLS entry file names, GPT attribute bits) to a SlotTable and back; the rules for
// set-next, mark-good, mark-bad, rollback and the boot-time choice live here once, as pure
// functions, so all three backends and the generated GRUB script agree by construction.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace basalt::boot {

enum class Slot { kA = 0, kB = 1 };

inline constexpr std::array<Slot, 2> kAllSlots = {Slot::kA, Slot::kB};
inline constexpr int kMaxPriority = 15;  // 4 bits, as in the gptprio attribute field
inline constexpr int kMaxTries = 15;
inline constexpr int kDefaultTries = 3;

std::string_view SlotName(Slot slot);           // "A" / "B"
Result<Slot> ParseSlot(std::string_view text);  // "A", "a", "B", "b"
inline Slot OtherSlot(Slot slot) {
  return slot == Slot::kA ? Slot::kB : Slot::kA;
}
inline size_t SlotIndex(Slot slot) {
  return static_cast<size_t>(slot);
}

// The gptprio triple. `successful` is "good": the slot booted and passed its health checks.
struct SlotAttributes {
  int priority = 0;
  int tries = 0;
  bool successful = false;
  bool operator==(const SlotAttributes&) const = default;
};

enum class SlotHealth { kGood, kPending, kBad };
std::string_view SlotHealthName(SlotHealth health);  // "good" / "pending" / "bad"
SlotHealth HealthOf(const SlotAttributes& attrs);

// Slot A is listed first: it is the lower partition number (USR-A is #3, USR-B is #4), which
// wins ties in gptprio.next.
using SlotTable = std::array<SlotAttributes, 2>;

// gptprio.next without the side effect: the highest priority among slots with tries left or
// marked successful; priority 0 never; ties go to the lower partition number (A).
std::optional<Slot> SelectNext(const SlotTable& table);

// What a bootloader does at boot: select, then decrement the chosen slot's tries if above 0.
std::optional<Slot> ConsumeBootAttempt(SlotTable& table);

// The verbs. Each returns the new table or a policy error; none of them can leave the table
// without a bootable slot unless it already had none.
Result<SlotTable> ApplySetNext(const SlotTable& table, Slot slot, int tries);
Result<SlotTable> ApplyMarkGood(const SlotTable& table, Slot slot);
Result<SlotTable> ApplyMarkBad(const SlotTable& table, Slot slot);
// Makes the other slot than `from` next, if it is good. `from` is the running slot on a host
// and the currently selected one offline.
Result<SlotTable> ApplyRollback(const SlotTable& table, Slot from);

}  // namespace basalt::boot
