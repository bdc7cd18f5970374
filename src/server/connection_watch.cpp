#include "server/connection_watch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace edgerun::server {

namespace {

// "127.0.0.1" / "::1" and a port, as getsockname/getpeername report them.
bool endpoint_is(const sockaddr_storage& a, const std::string& addr, int port) {
  char text[INET6_ADDRSTRLEN] = {};
  int got_port = -1;
  if (a.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(a);
    inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
    got_port = ntohs(in.sin_port);
  } else if (a.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(a);
    inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
    got_port = ntohs(in6.sin6_port);
  } else {
    return false;
  }
  return got_port == port && addr == text;
}

}  // namespace

std::optional<ConnectionWatch> ConnectionWatch::find(const std::string& local_addr, int local_port,
                                                     const std::string& remote_addr, int remote_port) {
  if (local_port <= 0 || remote_port <= 0) return std::nullopt;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    try {
      fd = std::stoi(entry.path().filename().string());
    } catch (...) {
      continue;
    }
    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) continue;
    if (endpoint_is(local, local_addr, local_port) && endpoint_is(peer, remote_addr, remote_port))
      return ConnectionWatch(fd);
  }
  return std::nullopt;
}

bool ConnectionWatch::peer_closed() const {
  char byte;
  const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return false;  // data waiting: still there
  if (n == 0) return true;  // orderly shutdown by the client
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace edgerun::server
