# Multi-process cluster tests (issue 3): several msgcd processes forming a
# mesh on loopback (distinct 127.0.0.x addresses with one port, or distinct
# ports) and in network namespaces the tests create (skipped unless root).
# Harness: tests/support/cluster.{h,cc} and netns.{h,cc}, added to
# msgc_test_support (server_tests.cmake).

if(NOT MSGC_BUILD_TESTS)
  return()
endif()

target_sources(msgc_test_support PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/support/cluster.cc
  ${CMAKE_CURRENT_LIST_DIR}/support/netns.cc)
# ClusterMember is a libmsgc client.
target_link_libraries(msgc_test_support PUBLIC msgc_client)

# msgc_cluster_test(NAME TIMEOUT): tests/NAME.cc against msgcd.
function(msgc_cluster_test name timeout)
  msgc_test(${name}
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/${name}.cc
    LIBS msgc_test_support msgc_client
    TIMEOUT ${timeout}
    LABELS "integration;cluster")
  add_dependencies(${name} msgcd)
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${MSGC_TEST_ENV}")
endfunction()

msgc_cluster_test(cluster_mesh_test 120)
msgc_cluster_test(cluster_failure_test 120)
msgc_cluster_test(cluster_config_test 90)
msgc_cluster_test(cluster_netns_test 120)
msgc_cluster_test(cluster_scale_test 120)
msgc_cluster_test(cluster_routing_test 120)
