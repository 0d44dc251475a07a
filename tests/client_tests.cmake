# Client/tool integration tests (owner: client): libmsgc, its C API and the
# `msgc` tool against real msgcd processes on loopback (harness:
# tests/support, library msgc_test_support from server_tests.cmake).

if(NOT MSGC_BUILD_TESTS)
  return()
endif()

# msgc_client_test(NAME TIMEOUT SOURCES...): tests/NAME.cc (+ extra sources).
function(msgc_client_test name timeout)
  msgc_test(${name}
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/${name}.cc ${ARGN}
    LIBS msgc_client msgc_test_support
    TIMEOUT ${timeout}
    LABELS "integration;client")
  add_dependencies(${name} msgcd msgc)
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${MSGC_TEST_ENV}")
endfunction()

msgc_client_test(client_basic_test 60)
msgc_client_test(client_flow_test 90)
msgc_client_test(client_reconnect_test 90)
msgc_client_test(client_tool_test 90)
target_link_libraries(client_tool_test PRIVATE nlohmann_json::nlohmann_json)
# c_api_test.c is compiled as C (C11, -Wall -Wextra -Werror) to prove that
# msgc.h is valid C; the binary links as C++.
msgc_client_test(client_c_api_test 60 ${CMAKE_CURRENT_LIST_DIR}/c_api_test.c)
set_target_properties(client_c_api_test PROPERTIES LINKER_LANGUAGE CXX)
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/c_api_test.c
                            PROPERTIES COMPILE_OPTIONS "-std=c99;-pedantic")
