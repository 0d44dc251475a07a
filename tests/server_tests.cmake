# Server integration tests (owner: server), and the test harness shared with
# the client tests (tests/support, library msgc_test_support).
#
# Each test binary starts real msgcd processes (path in $MSGCD, from
# MSGC_TEST_ENV) on free loopback ports and talks to them with RawClient.

if(NOT MSGC_BUILD_TESTS)
  return()
endif()

add_library(msgc_test_support STATIC
  ${CMAKE_CURRENT_LIST_DIR}/support/test_support.cc
  ${CMAKE_CURRENT_LIST_DIR}/support/raw_client.cc
  ${CMAKE_CURRENT_LIST_DIR}/support/msgcd_process.cc)
# Tests include "support/raw_client.h" etc.
target_include_directories(msgc_test_support PUBLIC ${CMAKE_CURRENT_LIST_DIR}
                           ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(msgc_test_support PUBLIC msgc_wire msgc_base GTest::gtest
                      Threads::Threads)

# msgc_server_test(NAME TIMEOUT): tests/NAME.cc against msgcd.
function(msgc_server_test name timeout)
  msgc_test(${name}
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/${name}.cc
    LIBS msgc_test_support
    TIMEOUT ${timeout}
    LABELS "integration;server")
  add_dependencies(${name} msgcd)
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${MSGC_TEST_ENV}")
endfunction()

msgc_server_test(server_handshake_test 30)
msgc_server_test(server_membership_test 30)
msgc_server_test(server_messaging_test 60)
msgc_server_test(server_robustness_test 60)
msgc_server_test(server_reload_test 30)
msgc_server_test(server_mesh_smoke_test 60)
