// Session: the server-side state of one client connection. (A connection
// whose HELLO says role=peer is handed to the mesh and its Session dropped.)
//
// A session starts in kHandshake and becomes kActive after a good HELLO, when
// it gets its private name "#<session>#<node>". Its memberships live in the
// server's replicated GroupTable under the private name, changed only by
// delivered items; `groups` is the local view including requests still on
// their way through the mesh, used to answer LEAVE/JOIN at once.
//
// Ownership: the Server owns every Session (by unique_ptr, keyed by id) and
// the Session holds one reference to its Connection; the connection's
// context() points back at the Session. The Server erases the Session in
// ConnectionHandler::OnClose, after which the connection never calls back.
//
// Thread-safety: none; used only on the server's loop thread.
#ifndef MSGC_SERVER_SESSION_H_
#define MSGC_SERVER_SESSION_H_

#include <asio.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "net/connection.h"
#include "server/group_table.h"

namespace msgc::server {

struct Session {
  enum class State { kHandshake, kActive };

  Session(MemberId id, std::shared_ptr<net::Connection> conn)
      : id(id), conn(std::move(conn)) {}

  const MemberId id;
  const std::shared_ptr<net::Connection> conn;
  State state = State::kHandshake;
  std::string name;                         // session name ("a"), once active
  std::string private_name;                 // "#a#node", once active
  asio::ip::tcp::endpoint remote_endpoint;  // checked by the mesh for peers
  // Groups joined or being joined (JOIN submitted), minus those being left.
  std::set<std::string, std::less<>> groups;
  // Fan-out de-duplication: the number of the last route (Server::Route)
  // this session was picked as a recipient of, so a message to several
  // groups reaches it once without building a set.
  uint64_t delivery_mark = 0;
};

}  // namespace msgc::server

#endif  // MSGC_SERVER_SESSION_H_
