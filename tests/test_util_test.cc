// The suite's own machinery: port reservations (test_util.h) and the skip protocol of
// gtest_main.cc (driven by ctest test gtest_skip_protocol, see tests/CMakeLists.txt).
#include "test_util.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <set>
#include <stdexcept>
#include <vector>

namespace basalt::testing {
namespace {

TEST(PortReservation, ReservationsNeverShareAPort) {
  std::vector<std::unique_ptr<PortReservation>> held;
  std::set<int> ports;
  for (int i = 0; i < 64; ++i) {
    held.push_back(std::make_unique<PortReservation>());
    EXPECT_TRUE(ports.insert(held.back()->port()).second) << "port handed out twice";
  }
}

// Whether a child process can reserve `port` (the reservation is between processes).
bool OtherProcessCanReserve(int port) {
  pid_t pid = ::fork();
  if (pid == 0) {
    try {
      PortReservation r(port);
      ::_exit(0);
    } catch (...) {
      ::_exit(1);
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(PortReservation, AnotherProcessCannotTakeAReservedPort) {
  int port;
  {
    PortReservation r;
    port = r.port();
    EXPECT_FALSE(OtherProcessCanReserve(port));
    EXPECT_THROW(PortReservation again(port), std::runtime_error);
  }
  EXPECT_TRUE(OtherProcessCanReserve(port)) << "released with its owner";
}

TEST(PortReservation, TheServerCanListenOnTheReservedPort) {
  PortReservation r;
  EXPECT_FALSE(PortOpen(r.port()));
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(r.port()));
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  EXPECT_EQ(::listen(fd, 1), 0);
  EXPECT_TRUE(PortOpen(r.port()));
  ::close(fd);
}

// Skips when BASALT_SKIP_PROBE is set: gtest_skip_protocol checks that the binary then exits 77
// and names the case on a BASALT-SKIP line. Without the variable it passes.
TEST(SkipProtocol, SkipsWhenAsked) {
  if (std::getenv("BASALT_SKIP_PROBE") != nullptr) GTEST_SKIP() << "asked to skip";
}

}  // namespace
}  // namespace basalt::testing
