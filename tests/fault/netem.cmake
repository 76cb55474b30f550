# Packet delay, jitter, loss and reordering for the fault harness on kernels without sch_netem:
# iptables' NFQUEUE target hands a host's outgoing packets to mqfault-netem, which holds them and
# gives verdicts (netem.h; Network::impair in netns.h installs both).
#
# mq_fault_netem: the scheduler alone (pure; no root, no libnetfilter_queue).
add_library(mq_fault_netem STATIC ${CMAKE_CURRENT_LIST_DIR}/netem.cc)
target_include_directories(mq_fault_netem PUBLIC ${PROJECT_SOURCE_DIR})

mq_test(test_fault_netem_scheduler SOURCES ${CMAKE_CURRENT_LIST_DIR}/netem_test.cc LIBS mq_fault_netem
        LABELS fault TIMEOUT 60)

# The daemon needs libnetfilter_queue (scripts/setup.sh installs libnetfilter-queue-dev); without
# it only the scheduler and its test are built, and Network::impair reports the program missing.
pkg_check_modules(NETFILTER_QUEUE IMPORTED_TARGET libnetfilter_queue)
if(NETFILTER_QUEUE_FOUND)
  mq_executable(mqfault-netem SOURCES ${CMAKE_CURRENT_LIST_DIR}/netem_main.cc
                LIBS mq_fault_netem PkgConfig::NETFILTER_QUEUE)
  # Hosts in namespaces with impaired links (root only; exit 77 = skipped where the kernel refuses).
  # Not mq_test: a plain program, so that it can answer "skipped" with ctest's code.
  add_executable(test_fault_netem ${CMAKE_CURRENT_LIST_DIR}/netem_integration_test.cc)
  target_link_libraries(test_fault_netem PRIVATE mq_fault_hosts Threads::Threads)
  target_compile_definitions(test_fault_netem PRIVATE MQ_BINARY_DIR="${CMAKE_BINARY_DIR}")
  set_target_properties(test_fault_netem PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_dependencies(test_fault_netem mqfault-netem)
  add_test(NAME test_fault_netem COMMAND test_fault_netem)
  set_tests_properties(test_fault_netem PROPERTIES LABELS "fault;integration" SKIP_RETURN_CODE 77 TIMEOUT 180)
else()
  message(STATUS "libnetfilter_queue not found: mqfault-netem and test_fault_netem are not built")
endif()
