// Noticing that the client of a non-streaming request has gone. cpp-httplib (0.11, Debian 12)
// only reveals a closed connection when a write fails, and a non-streaming reply writes nothing
// until it is complete; so the watch finds the request's own socket (by its two endpoints among
// this process's descriptors) and peeks at it: end-of-stream or a reset means the client left.
// The handler thread owns that socket for the whole request, so the descriptor stays valid.
#pragma once
#include <optional>
#include <string>

namespace edgerun::server {

class ConnectionWatch {
 public:
  // The socket connecting local_addr:local_port with remote_addr:remote_port, if it can be found
  // (Linux /proc; elsewhere none, and requests simply run to completion).
  static std::optional<ConnectionWatch> find(const std::string& local_addr, int local_port,
                                             const std::string& remote_addr, int remote_port);
  // True once the peer has closed or reset the connection. Never blocks; bytes the client sent
  // ahead (a pipelined request) are left in place.
  bool peer_closed() const;

 private:
  explicit ConnectionWatch(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace edgerun::server
