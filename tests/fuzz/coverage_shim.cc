// Lets gcc-built code drive the real libFuzzer engine. Debian's clang 14 cannot compile
// libstdc++ 12's <expected>, so the fuzz preset uses g++ with -fsanitize-coverage=trace-pc,
// which libFuzzer 14 no longer consumes directly. This shim turns each trace-pc callback into
// an AFL-style hashed 8-bit edge counter that libFuzzer reads as coverage; trace-cmp hooks go
// to libFuzzer unchanged. The build links a copy of libclang_rt.fuzzer in which libFuzzer's
// own (aborting) __sanitizer_cov_trace_pc is weakened so this definition wins.
#include <cstddef>
#include <cstdint>

extern "C" void __sanitizer_cov_8bit_counters_init(uint8_t* start, uint8_t* stop);

namespace {

constexpr size_t kCounters = 1 << 16;
uint8_t counters[kCounters];

struct RegisterCounters {
  RegisterCounters() { __sanitizer_cov_8bit_counters_init(counters, counters + kCounters); }
} register_counters;

}  // namespace

extern "C" __attribute__((no_sanitize("address", "undefined"))) void __sanitizer_cov_trace_pc() {
  uintptr_t pc = reinterpret_cast<uintptr_t>(__builtin_return_address(0));
  counters[(pc ^ (pc >> 15)) & (kCounters - 1)]++;
}
