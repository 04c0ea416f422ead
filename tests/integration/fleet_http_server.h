// A tiny HTTP/1.1 server on 127.0.0.1 for the Omaha tests: it answers each POST with the next
// queued response (as a Nebraska server would) and records the request bodies so tests can
// check them field by field; GETs serve files from a directory (the payloads). One connection
// at a time, Connection: close. Test-only.
#pragma once

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace basalt::fleet::testing {

struct RecordedRequest {
  std::string method;
  std::string path;
  std::string content_type;
  std::string body;
};

class RecordingHttpServer {
 public:
  explicit RecordingHttpServer(std::string static_dir);
  ~RecordingHttpServer();
  RecordingHttpServer(const RecordingHttpServer&) = delete;
  RecordingHttpServer& operator=(const RecordingHttpServer&) = delete;

  std::string Url(const std::string& path) const;  // path starts with '/'
  void QueuePostResponse(std::string body);
  std::vector<RecordedRequest> Requests();

 private:
  void Serve();
  void Handle(int fd);

  std::string dir_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::deque<std::string> responses_;
  std::vector<RecordedRequest> requests_;
  std::thread thread_;
};

}  // namespace basalt::fleet::testing
