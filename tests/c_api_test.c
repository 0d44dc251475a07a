/* The C API (msgc/msgc.h) used from plain C against a running msgcd whose
 * address the C++ wrapper (client_c_api_test.cc) passes in. Compiled as C
 * to prove the header is valid C. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msgc/msgc.h"

int msgc_c_api_test_run(const char* server, char* err, size_t err_len);

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      snprintf(err, err_len, "%s:%d: CHECK(%s) failed; last error: %s", \
               __FILE__, __LINE__, #cond, msgc_last_error());           \
      goto done;                                                        \
    }                                                                   \
  } while (0)

#define STR_EQ(s, lit) \
  ((s).len == strlen(lit) && memcmp((s).data, lit, (s).len) == 0)

/* Written by callbacks on the I/O thread, read by the test under `mu`. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

struct seen {
  int messages;
  char data[64];
  char group[64];
  char sender[64];
  int mode;
  int memberships;
  char member[64];
  char caps[64];
  uint32_t gid;
};

static void copy(char* dst, const char* src, size_t len) {
  if (len > 63) len = 63;
  memcpy(dst, src, len);
  dst[len] = '\0';
}

static void on_message(void* closure, const char* sender, size_t sender_len,
                       const char* group, size_t group_len,
                       const unsigned char* data, size_t data_len) {
  struct seen* s = (struct seen*)closure;
  pthread_mutex_lock(&mu);
  copy(s->sender, sender, sender_len);
  copy(s->group, group, group_len);
  copy(s->data, (const char*)data, data_len);
  s->messages++;
  pthread_mutex_unlock(&mu);
}

static void on_membership(void* closure, int mode, const char* sender,
                          size_t sender_len, const char* group,
                          size_t group_len, const char* caps, size_t caps_len,
                          uint32_t gid) {
  struct seen* s = (struct seen*)closure;
  pthread_mutex_lock(&mu);
  s->mode = mode;
  copy(s->member, sender, sender_len);
  copy(s->group, group, group_len);
  copy(s->caps, caps, caps_len);
  s->gid = gid;
  s->memberships++;
  pthread_mutex_unlock(&mu);
}

/* Next event that is not a connection event (freed by the caller). */
static msgc_err_t next_event(msgc_client_t* c, msgc_event_t** ev) {
  for (;;) {
    msgc_err_t e = msgc_receive(c, ev, 5000);
    if (e != MSGC_OK) return e;
    if ((*ev)->type != MSGC_EVENT_CONNECTED) return MSGC_OK;
    msgc_event_free(*ev);
    *ev = NULL;
  }
}

static int read_count(const int* counter) {
  int v;
  pthread_mutex_lock(&mu);
  v = *counter;
  pthread_mutex_unlock(&mu);
  return v;
}

/* Waits (bounded) until *counter reaches want. The callbacks that follow
 * are triggered by the test itself, so the fields they wrote are stable
 * once the count is reached. */
static int wait_count(msgc_client_t* c, const int* counter, int want) {
  int i;
  for (i = 0; i < 100 && read_count(counter) < want; ++i) {
    msgc_event_t* ev = NULL;
    if (msgc_receive(c, &ev, 50) == MSGC_OK) msgc_event_free(ev);
  }
  return read_count(counter) >= want;
}

int msgc_c_api_test_run(const char* server, char* err, size_t err_len) {
  int ok = 0;
  msgc_options_t* o = NULL;
  msgc_options_t* bad = NULL;
  msgc_client_t* c = NULL;
  msgc_client_t* c2 = NULL;
  msgc_event_t* ev = NULL;
  char name[64];
  char tiny[4];
  int result = -1;
  uint32_t gid_g;
  unsigned char* big = NULL;
  struct seen seen;
  msgc_dest_t dests[2];
  memset(&seen, 0, sizeof(seen));

  /* Error strings. */
  CHECK(strcmp(msgc_strerror(MSGC_OK), "OK") == 0);
  CHECK(strcmp(msgc_strerror(MSGC_ERR_NOT_CONNECTED), "not connected") == 0);
  CHECK(strcmp(msgc_strerror(MSGC_ERR_TOO_LARGE), "too large") == 0);
  CHECK(strcmp(msgc_strerror((msgc_err_t)999), "unknown error") == 0);

  /* Options, and errors from them. */
  CHECK(msgc_options_from_config_file("/nonexistent/msgc.conf", &bad) ==
        MSGC_ERR_INVALID_ARGUMENT);
  CHECK(bad == NULL);
  CHECK(strstr(msgc_last_error(), "/nonexistent/msgc.conf") != NULL);
  CHECK(msgc_options_create(&bad) == MSGC_OK);
  CHECK(msgc_options_add_server(bad, "nohost", 6) == MSGC_OK);
  CHECK(msgc_open(bad, &c) == MSGC_ERR_INVALID_ARGUMENT);
  CHECK(c == NULL);
  CHECK(strlen(msgc_last_error()) > 0);

  CHECK(msgc_options_create(&o) == MSGC_OK);
  CHECK(msgc_options_add_server(o, server, strlen(server)) == MSGC_OK);
  CHECK(msgc_options_set_name(o, "capi", 4) == MSGC_OK);
  msgc_options_set_connect_timeout(o, 5);
  CHECK(msgc_open(o, &c) == MSGC_OK);
  CHECK(msgc_event_fd(c) >= 0);

  CHECK(msgc_get_private_name(c, tiny, sizeof(tiny)) ==
        MSGC_ERR_BUFFER_TOO_SHORT);
  CHECK(msgc_get_private_name(c, name, sizeof(name)) == MSGC_OK);
  CHECK(strcmp(name, "#capi#n1") == 0);

  /* Join: our own join event, polled. */
  CHECK(msgc_join(c, "g", 1, "cap", 3) == MSGC_OK);
  CHECK(next_event(c, &ev) == MSGC_OK);
  CHECK(ev->type == MSGC_EVENT_MEMBERSHIP);
  CHECK(STR_EQ(ev->group, "g"));
  CHECK(ev->cause == MSGC_CAUSE_JOIN);
  CHECK(!ev->transitional && !ev->self_leave);
  CHECK(ev->num_members == 1 && ev->num_changed == 1);
  CHECK(STR_EQ(ev->members[0].name, "#capi#n1"));
  CHECK(STR_EQ(ev->members[0].capabilities, "cap"));
  CHECK(ev->view.len > 0 && ev->view.data[ev->view.len] == '\0');
  gid_g = ev->gid;
  CHECK(gid_g != 0);
  msgc_event_free(ev);
  ev = NULL;

  /* Publish and receive our own message. */
  CHECK(msgc_multicast_publish(c, "g", 1, (const unsigned char*)"hello", 5,
                               &result) == MSGC_OK);
  CHECK(result == 0);
  CHECK(next_event(c, &ev) == MSGC_OK);
  CHECK(ev->type == MSGC_EVENT_MESSAGE);
  CHECK(STR_EQ(ev->sender, "#capi#n1"));
  CHECK(ev->num_groups == 1 && STR_EQ(ev->groups[0], "g"));
  CHECK(STR_EQ(ev->data, "hello"));
  CHECK(ev->service == MSGC_SERVICE_FIFO);
  msgc_event_free(ev);
  ev = NULL;

  /* Multi-destination send; self-discard suppresses the first. */
  dests[0].name = "g";
  dests[0].len = 1;
  dests[1].name = name;
  dests[1].len = strlen(name);
  CHECK(msgc_send(c, dests, 2, (const unsigned char*)"gone", 4,
                  MSGC_SERVICE_FIFO, MSGC_SELF_DISCARD) == MSGC_OK);
  CHECK(msgc_send(c, dests, 2, (const unsigned char*)"both", 4,
                  MSGC_SERVICE_AGREED, 0) == MSGC_OK);
  CHECK(next_event(c, &ev) == MSGC_OK);
  CHECK(ev->type == MSGC_EVENT_MESSAGE);
  CHECK(STR_EQ(ev->data, "both"));
  CHECK(ev->num_groups == 2 && STR_EQ(ev->groups[1], "#capi#n1"));
  CHECK(ev->service == MSGC_SERVICE_AGREED);
  msgc_event_free(ev);
  ev = NULL;
  CHECK(msgc_receive(c, &ev, 100) == MSGC_ERR_TIMED_OUT);
  CHECK(msgc_flush(c, 5000) == MSGC_OK);

  /* Local errors. */
  big = (unsigned char*)calloc((64u << 20) + 1, 1);
  CHECK(big != NULL);
  CHECK(msgc_multicast_publish(c, "g", 1, big, (64u << 20) + 1, &result) ==
        MSGC_ERR_TOO_LARGE);
  CHECK(result == MSGC_ERR_TOO_LARGE);
  CHECK(strstr(msgc_last_error(), "max_message_size") != NULL);
  CHECK(msgc_leave(c, "nope", 4) == MSGC_ERR_NOT_FOUND);
  CHECK(msgc_join(c, "", 0, NULL, 0) == MSGC_ERR_INVALID_ARGUMENT);
  CHECK(msgc_join(c, NULL, 3, NULL, 0) == MSGC_ERR_INVALID_ARGUMENT);
  CHECK(msgc_send(c, dests, 1, NULL, 0, (msgc_service_t)7, 0) ==
        MSGC_ERR_INVALID_ARGUMENT);
  CHECK(msgc_send(c, dests, 0, NULL, 0, MSGC_SERVICE_FIFO, 0) ==
        MSGC_ERR_INVALID_ARGUMENT);

  /* Hooks: membership_subscribe and multicast_subscribe. */
  CHECK(msgc_set_membership_subscribe(c, on_membership, &seen) == MSGC_OK);
  CHECK(msgc_set_multicast_subscribe(c, on_message, &seen) == MSGC_OK);
  CHECK(msgc_join(c, "h", 1, "hc", 2) == MSGC_OK);
  CHECK(wait_count(c, &seen.memberships, 1));
  CHECK(seen.mode == MSGC_MODE_JOIN);
  CHECK(strcmp(seen.member, "#capi#n1") == 0);
  CHECK(strcmp(seen.group, "h") == 0);
  CHECK(strcmp(seen.caps, "hc") == 0);
  CHECK(seen.gid != 0 && seen.gid != gid_g);

  /* A second client joins h: a join (mode 1) for it, with the gid of the
   * view that client sees. */
  CHECK(msgc_options_set_name(o, "capi2", 5) == MSGC_OK);
  CHECK(msgc_open(o, &c2) == MSGC_OK);
  CHECK(msgc_join(c2, "h", 1, "c2", 2) == MSGC_OK);
  CHECK(next_event(c2, &ev) == MSGC_OK);
  CHECK(ev->type == MSGC_EVENT_MEMBERSHIP && ev->num_members == 2);
  CHECK(wait_count(c, &seen.memberships, 2));
  CHECK(seen.mode == MSGC_MODE_JOIN);
  CHECK(strcmp(seen.member, "#capi2#n1") == 0);
  CHECK(strcmp(seen.caps, "c2") == 0);
  CHECK(seen.gid == ev->gid);
  msgc_event_free(ev);
  ev = NULL;

  CHECK(msgc_multicast_publish(c2, "h", 1, (const unsigned char*)"cb", 2,
                               NULL) == MSGC_OK);
  CHECK(wait_count(c, &seen.messages, 1));
  CHECK(strcmp(seen.sender, "#capi2#n1") == 0);
  CHECK(strcmp(seen.group, "h") == 0);
  CHECK(strcmp(seen.data, "cb") == 0);

  /* c2 leaves: mode 0 for it. */
  CHECK(msgc_leave(c2, "h", 1) == MSGC_OK);
  CHECK(wait_count(c, &seen.memberships, 3));
  CHECK(seen.mode == MSGC_MODE_LEAVE);
  CHECK(strcmp(seen.member, "#capi2#n1") == 0);

  CHECK(msgc_close(c2) == MSGC_OK);
  c2 = NULL;
  CHECK(msgc_close(c) == MSGC_OK);
  c = NULL;
  ok = 1;

done:
  if (ev != NULL) msgc_event_free(ev);
  free(big);
  msgc_close(c2);
  msgc_close(c);
  msgc_options_destroy(o);
  msgc_options_destroy(bad);
  return ok ? 0 : 1;
}
