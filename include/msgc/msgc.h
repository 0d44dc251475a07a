/* msgc.h: the C API of libmsgc, the msgc group-communication bus client.
 *
 * It mirrors Momentum's msgc hooks (join, multicast_publish,
 * multicast_subscribe, membership_subscribe, get_private_name) on top of the
 * C++ msgc::Client (msgc/client.h). Plain C; usable from C99 and C++.
 *
 * Conventions
 * -----------
 * - Handles are opaque pointers: msgc_client_t (a connection to the bus),
 *   msgc_options_t (connection settings). Create and destroy them only with
 *   the functions below.
 * - Strings and payloads are pointer + length pairs; they need not be
 *   NUL-terminated and may contain any byte. The library copies what it
 *   needs before a call returns. A NULL pointer with length 0 is an empty
 *   string.
 * - Every call that can fail returns an msgc_err_t: MSGC_OK (0) or a
 *   positive error code. msgc_strerror() names a code; msgc_last_error()
 *   returns the detailed message of the last failed call on the calling
 *   thread (valid until that thread's next msgc call).
 * - Ownership: the caller owns what it creates (msgc_open, msgc_options_*,
 *   msgc_receive's events) and frees it with the matching function
 *   (msgc_close, msgc_options_destroy, msgc_event_free). Pointers passed to
 *   callbacks and fields of an msgc_event_t point into library memory that
 *   is valid only during the callback / until msgc_event_free.
 * - Threads: every msgc_client_t runs one internal I/O thread. All functions
 *   are thread-safe for a given handle except msgc_close, which must be the
 *   last call on it. Callbacks run on the I/O thread, one at a time; they
 *   may call msgc functions on the same handle (a send from a callback never
 *   blocks) but must not call msgc_close on it.
 * - Events that have a callback set go to the callback; all other events
 *   are queued for msgc_receive. msgc_event_fd() is readable while events
 *   are queued.
 * - Reconnection is automatic: after a lost connection the client waits
 *   reconnect_interval, tries the servers in order and re-joins every group
 *   it had joined (Momentum: "call join once").
 */
#ifndef MSGC_MSGC_H_
#define MSGC_MSGC_H_

#include <stddef.h>
#include <stdint.h>

#include "msgc/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes. The values equal msgc::Result::Code; never renumbered. */
typedef enum msgc_err {
  MSGC_OK = 0,
  MSGC_ERR_INVALID_ARGUMENT = 1, /* bad input (name, length, option, file) */
  MSGC_ERR_NOT_FOUND = 2,        /* e.g. leave of a group not joined */
  MSGC_ERR_IO = 3,               /* socket or file error */
  MSGC_ERR_PROTOCOL = 4,         /* the server broke the protocol */
  MSGC_ERR_TOO_LARGE = 5,        /* payload above the server's limit */
  MSGC_ERR_ALREADY_EXISTS = 6,   /* session name in use */
  MSGC_ERR_NOT_CONNECTED = 7,    /* no server connection, or closed */
  MSGC_ERR_TIMED_OUT = 8,        /* queue stayed full / nothing arrived */
  MSGC_ERR_REFUSED = 9,          /* the server refused */
  MSGC_ERR_INTERNAL = 10,
  MSGC_ERR_BUFFER_TOO_SHORT = 11 /* a caller's buffer is too small */
} msgc_err_t;

/* Delivery services (values on the wire). */
typedef enum msgc_service {
  MSGC_SERVICE_FIFO = 0,
  MSGC_SERVICE_AGREED = 1,
  MSGC_SERVICE_SAFE = 2
} msgc_service_t;

/* Flags of msgc_send. */
#define MSGC_SELF_DISCARD 0x01 /* do not deliver the message to ourselves */

/* Why a view changed (values on the wire). */
typedef enum msgc_cause {
  MSGC_CAUSE_JOIN = 1,
  MSGC_CAUSE_LEAVE = 2,
  MSGC_CAUSE_DISCONNECT = 3,
  MSGC_CAUSE_NETWORK = 4
} msgc_cause_t;

/* Modes of the membership_subscribe callback (Momentum's values). */
#define MSGC_MODE_LEAVE 0
#define MSGC_MODE_JOIN 1
#define MSGC_MODE_GID_UPDATE 2

typedef struct msgc_client msgc_client_t;
typedef struct msgc_options msgc_options_t;

/* "not connected", ... for any value (unknown values: "unknown error").
 * The string is static. */
MSGC_EXPORT const char* msgc_strerror(msgc_err_t err);
/* Detailed message of the last failed call on this thread ("" if none). */
MSGC_EXPORT const char* msgc_last_error(void);

/* ---- Options ---------------------------------------------------------- */

/* Defaults: server 127.0.0.1:4809, connect_timeout 60, reconnect_interval 5,
 * keepalive_interval 5, idle_timeout 30, send_timeout 30, tcpbuf_size
 * 131072, max_backlog 5000, wait_for_connection 1. */
MSGC_EXPORT msgc_err_t msgc_options_create(msgc_options_t** out);
/* Loads the msgc_client scope of a Momentum/msgc configuration file over the
 * defaults. On error *out is untouched and msgc_last_error() holds one
 * "file:line:column: message" line per problem. */
MSGC_EXPORT msgc_err_t msgc_options_from_config_file(const char* path,
                                                     msgc_options_t** out);
MSGC_EXPORT void msgc_options_destroy(msgc_options_t* options);
/* The server list is ordered (fail-over). The first add replaces the
 * default entry; clear empties it. */
MSGC_EXPORT msgc_err_t msgc_options_add_server(msgc_options_t* options,
                                               const char* host_port,
                                               size_t host_port_len);
MSGC_EXPORT void msgc_options_clear_servers(msgc_options_t* options);
/* Session name ("" = the server picks one). */
MSGC_EXPORT msgc_err_t msgc_options_set_name(msgc_options_t* options,
                                             const char* name, size_t name_len);
MSGC_EXPORT msgc_err_t msgc_options_set_bind_address(msgc_options_t* options,
                                                     const char* address,
                                                     size_t address_len);
/* Times in seconds. */
MSGC_EXPORT void msgc_options_set_connect_timeout(msgc_options_t* options,
                                                  double seconds);
MSGC_EXPORT void msgc_options_set_reconnect_interval(msgc_options_t* options,
                                                     double seconds);
MSGC_EXPORT void msgc_options_set_keepalive_interval(msgc_options_t* options,
                                                     double seconds);
MSGC_EXPORT void msgc_options_set_idle_timeout(msgc_options_t* options,
                                               double seconds);
MSGC_EXPORT void msgc_options_set_send_timeout(msgc_options_t* options,
                                               double seconds);
MSGC_EXPORT void msgc_options_set_tcpbuf_size(msgc_options_t* options,
                                              uint32_t bytes);
MSGC_EXPORT void msgc_options_set_max_backlog(msgc_options_t* options,
                                              uint32_t messages);
/* 1: msgc_open fails unless a server accepts the first session (default).
 * 0: msgc_open returns at once and connects in the background. */
MSGC_EXPORT void msgc_options_set_wait_for_connection(msgc_options_t* options,
                                                      int wait);

/* ---- Connection ------------------------------------------------------- */

/* Connects (options NULL = defaults). On success *out is a new client; free
 * it with msgc_close. */
MSGC_EXPORT msgc_err_t msgc_open(const msgc_options_t* options,
                                 msgc_client_t** out);
/* Clean close (flush, GOODBYE) and free. NULL is a no-op. */
MSGC_EXPORT msgc_err_t msgc_close(msgc_client_t* c);

/* Copies our private name "#session#node" and a NUL into buf.
 * MSGC_ERR_BUFFER_TOO_SHORT if it does not fit, MSGC_ERR_NOT_CONNECTED
 * before the first session. */
MSGC_EXPORT msgc_err_t msgc_get_private_name(msgc_client_t* c, char* buf,
                                             size_t buf_len);

/* ---- Groups and sending ------------------------------------------------ */

/* Joins a group, announcing capabilities to its members. Call once: the
 * group is re-joined after every reconnection. */
MSGC_EXPORT msgc_err_t msgc_join(msgc_client_t* c, const char* group,
                                 size_t group_len, const char* capabilities,
                                 size_t capabilities_len);
MSGC_EXPORT msgc_err_t msgc_leave(msgc_client_t* c, const char* group,
                                  size_t group_len);

/* Momentum's multicast_publish: FIFO multicast to one group. *result (may be
 * NULL) is set to 0 on success, else to the error code, which is also
 * returned. */
MSGC_EXPORT msgc_err_t msgc_multicast_publish(msgc_client_t* c,
                                              const char* group,
                                              size_t group_len,
                                              const unsigned char* data,
                                              size_t data_len, int* result);

/* One destination: a group name or a private name "#session#node". */
typedef struct msgc_dest {
  const char* name;
  size_t len;
} msgc_dest_t;

/* One message to 1..64 destinations (groups and/or private names), with a
 * service and flags (MSGC_SELF_DISCARD). Blocks while the outgoing queue is
 * full, up to send_timeout (then MSGC_ERR_TIMED_OUT). */
MSGC_EXPORT msgc_err_t msgc_send(msgc_client_t* c, const msgc_dest_t* dests,
                                 size_t num_dests, const unsigned char* data,
                                 size_t data_len, msgc_service_t service,
                                 int flags);
/* Waits until everything sent so far is written to the socket
 * (timeout_ms < 0: for ever). */
MSGC_EXPORT msgc_err_t msgc_flush(msgc_client_t* c, int timeout_ms);

/* ---- Callbacks (Momentum's subscribe hooks) ---------------------------- */

/* Called for every message. `group` is the message's first destination
 * (for a unicast: our private name). */
typedef void (*msgc_multicast_cb)(void* closure, const char* sender,
                                  size_t sender_len, const char* group,
                                  size_t group_len, const unsigned char* data,
                                  size_t data_len);
/* NULL cb: messages go to msgc_receive again. */
MSGC_EXPORT msgc_err_t msgc_set_multicast_subscribe(msgc_client_t* c,
                                                    msgc_multicast_cb cb,
                                                    void* closure);

/* Called once per member change: mode MSGC_MODE_LEAVE / MSGC_MODE_JOIN with
 * the member's private name and capabilities, or MSGC_MODE_GID_UPDATE (empty
 * sender and capabilities) when a group's view id changed without a member
 * change. gid is the new view's 32-bit id. A joiner first gets a join for
 * every current member, itself included. */
typedef void (*msgc_membership_cb)(void* closure, int mode, const char* sender,
                                   size_t sender_len, const char* group,
                                   size_t group_len, const char* capabilities,
                                   size_t capabilities_len, uint32_t gid);
MSGC_EXPORT msgc_err_t msgc_set_membership_subscribe(msgc_client_t* c,
                                                     msgc_membership_cb cb,
                                                     void* closure);

/* ---- Polling ------------------------------------------------------------ */

typedef enum msgc_event_type {
  MSGC_EVENT_MESSAGE = 1,
  MSGC_EVENT_MEMBERSHIP = 2,
  MSGC_EVENT_CONNECTED = 3,
  MSGC_EVENT_DISCONNECTED = 4,
  MSGC_EVENT_ERROR = 5 /* an ERROR from the server */
} msgc_event_type_t;

/* A string inside an event: `len` bytes at `data`, followed by a NUL. */
typedef struct msgc_str {
  const char* data;
  size_t len;
} msgc_str_t;

typedef struct msgc_member {
  msgc_str_t name;
  msgc_str_t capabilities;
} msgc_member_t;

/* Read-only; fields not meaningful for `type` are zero/empty. New fields are
 * only ever appended. */
typedef struct msgc_event {
  msgc_event_type_t type;
  /* MESSAGE */
  msgc_str_t sender;
  const msgc_str_t* groups; /* every destination */
  size_t num_groups;
  msgc_service_t service;
  int self_discard;
  msgc_str_t data;
  /* MEMBERSHIP */
  msgc_str_t group;
  msgc_cause_t cause;
  int transitional;
  int self_leave;
  msgc_str_t view; /* "<epoch hex16>.<seq>" */
  uint32_t gid;
  const msgc_member_t* changed;
  size_t num_changed;
  const msgc_member_t* members;
  size_t num_members;
  /* CONNECTED / DISCONNECTED */
  msgc_str_t server;       /* "host:port" */
  msgc_str_t private_name; /* ours */
  int reconnect;           /* CONNECTED: not the first session */
  msgc_err_t reason;       /* DISCONNECTED: MSGC_OK after msgc_close */
  uint64_t unsent_messages;
  /* ERROR (also DISCONNECTED: the reason's text) */
  uint16_t error_code;   /* protocol error code */
  msgc_str_t error_name; /* e.g. "NO_SUCH_RECIPIENT" */
  int fatal;
  uint64_t ref; /* failed send's msg_id, 0 if unknown */
  msgc_str_t subject;
  msgc_str_t text;
} msgc_event_t;

/* Takes the oldest queued event (timeout_ms 0: poll, < 0: wait for ever).
 * MSGC_ERR_TIMED_OUT if none; MSGC_ERR_NOT_CONNECTED once the client is
 * closed and the queue is empty. Free *event with msgc_event_free. */
MSGC_EXPORT msgc_err_t msgc_receive(msgc_client_t* c, msgc_event_t** event,
                                    int timeout_ms);
MSGC_EXPORT void msgc_event_free(msgc_event_t* event);
/* Readable while events are queued (for poll/select); do not read/close. */
MSGC_EXPORT int msgc_event_fd(msgc_client_t* c);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MSGC_MSGC_H_ */
