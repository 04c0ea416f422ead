#include "boot/slot_policy.h"

#include <algorithm>

namespace basalt::boot {

std::string_view SlotName(Slot slot) {
  return slot == Slot::kA ? "A" : "B";
}

Result<Slot> ParseSlot(std::string_view text) {
  if (text == "A" || text == "a") return Slot::kA;
  if (text == "B" || text == "b") return Slot::kB;
  return Failf(ErrorKind::kInvalidInput, "unknown slot '{}' (expected A or B)", text);
}

std::string_view SlotHealthName(SlotHealth health) {
  switch (health) {
    case SlotHealth::kGood:
      return "good";
    case SlotHealth::kPending:
      return "pending";
    case SlotHealth::kBad:
      return "bad";
  }
  return "bad";
}

SlotHealth HealthOf(const SlotAttributes& attrs) {
  if (attrs.priority == 0) return SlotHealth::kBad;
  if (attrs.successful) return SlotHealth::kGood;
  return attrs.tries > 0 ? SlotHealth::kPending : SlotHealth::kBad;
}

std::optional<Slot> SelectNext(const SlotTable& table) {
  std::optional<Slot> best;
  int best_priority = 0;
  for (Slot slot : kAllSlots) {
    const SlotAttributes& a = table[SlotIndex(slot)];
    if (a.priority <= best_priority) continue;  // strict: ties keep the lower partition
    if (a.tries == 0 && !a.successful) continue;
    best = slot;
    best_priority = a.priority;
  }
  return best;
}

std::optional<Slot> ConsumeBootAttempt(SlotTable& table) {
  std::optional<Slot> slot = SelectNext(table);
  if (slot && table[SlotIndex(*slot)].tries > 0) table[SlotIndex(*slot)].tries--;
  return slot;
}

namespace {

// Equal non-zero priorities are legal on disk (gptprio breaks the tie), but we never write
// them: the systemd-boot backend orders by entry name and cannot express that tie-break.
void BreakTies(SlotTable& t) {
  SlotAttributes& a = t[0];
  SlotAttributes& b = t[1];
  if (a.priority > 0 && a.priority == b.priority) {
    if (a.priority < kMaxPriority) {
      a.priority++;
    } else {
      b.priority--;
    }
  }
}

bool Bootable(const SlotAttributes& a) {
  return HealthOf(a) != SlotHealth::kBad;
}

}  // namespace

Result<SlotTable> ApplySetNext(const SlotTable& table, Slot slot, int tries) {
  if (tries < 1 || tries > kMaxTries) {
    return Failf(ErrorKind::kInvalidInput, "--tries must be between 1 and {}, not {}", kMaxTries,
                 tries);
  }
  SlotTable t = table;
  SlotAttributes& next = t[SlotIndex(slot)];
  SlotAttributes& other = t[SlotIndex(OtherSlot(slot))];
  // The other slot stays the fallback with priority 1 if it was bootable at all.
  other.priority = other.priority > 0 ? 1 : 0;
  next = SlotAttributes{.priority = 2, .tries = tries, .successful = false};
  return t;
}

Result<SlotTable> ApplyMarkGood(const SlotTable& table, Slot slot) {
  SlotTable t = table;
  SlotAttributes& s = t[SlotIndex(slot)];
  s.successful = true;
  s.tries = 0;
  if (s.priority == 0) s.priority = 1;
  BreakTies(t);
  return t;
}

Result<SlotTable> ApplyMarkBad(const SlotTable& table, Slot slot) {
  SlotTable t = table;
  t[SlotIndex(slot)] = SlotAttributes{};
  if (!Bootable(t[SlotIndex(OtherSlot(slot))]) && Bootable(table[SlotIndex(slot)])) {
    return Failf(ErrorKind::kPolicy,
                 "refusing to mark slot {} bad: slot {} is not bootable, so no slot would be left",
                 SlotName(slot), SlotName(OtherSlot(slot)));
  }
  return t;
}

Result<SlotTable> ApplyRollback(const SlotTable& table, Slot from) {
  Slot to = OtherSlot(from);
  const SlotAttributes& target = table[SlotIndex(to)];
  if (!target.successful) {
    return Failf(ErrorKind::kPolicy, "cannot roll back to slot {}: it was never marked good",
                 SlotName(to));
  }
  SlotTable t = table;
  SlotAttributes& f = t[SlotIndex(from)];
  f.priority = f.priority > 0 ? 1 : 0;
  t[SlotIndex(to)] = SlotAttributes{.priority = 2, .tries = 0, .successful = true};
  return t;
}

}  // namespace basalt::boot
