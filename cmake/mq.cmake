# Helpers shared by every module's CMakeLists.txt.

# The reference fixtures (bytes Java RocketMQ wrote) live in ../shared/fixtures beside the checkout.
# A clone made elsewhere (git clone <checkout> /tmp/x/c) finds them beside the checkout it was
# cloned from (its origin, when that is a local path). MQ_FIXTURES_DIR, as a cache variable or in
# the environment, overrides both.
if(NOT MQ_FIXTURES_DIR AND DEFINED ENV{MQ_FIXTURES_DIR})
  set(MQ_FIXTURES_DIR "$ENV{MQ_FIXTURES_DIR}")
endif()
if(NOT MQ_FIXTURES_DIR)
  set(MQ_FIXTURES_DIR "${PROJECT_SOURCE_DIR}/../shared/fixtures")
  if(NOT IS_DIRECTORY "${MQ_FIXTURES_DIR}")
    execute_process(COMMAND git -C "${PROJECT_SOURCE_DIR}" config --get remote.origin.url
                    OUTPUT_VARIABLE origin OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(origin AND IS_DIRECTORY "${origin}/../shared/fixtures")
      get_filename_component(MQ_FIXTURES_DIR "${origin}/../shared/fixtures" ABSOLUTE)
    endif()
  endif()
endif()
if(NOT IS_DIRECTORY "${MQ_FIXTURES_DIR}")
  message(WARNING "reference fixtures not found at ${MQ_FIXTURES_DIR}: the fixture tests will fail "
                  "(set MQ_FIXTURES_DIR)")
endif()

# mq_executable(<name> SOURCES ... LIBS ...): a program; jemalloc is linked into every one
# (not under sanitizers, which bring their own allocator).
function(mq_executable name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS})
  if(NOT MQ_SANITIZE)
    target_link_libraries(${name} PRIVATE PkgConfig::JEMALLOC)
  endif()
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/bin)
endfunction()

# mq_test(<name> SOURCES ... LIBS ... [LABELS ...] [TIMEOUT s]): a doctest binary registered with
# ctest. The doctest main comes from tests/doctest_main.cc.
function(mq_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES} ${PROJECT_SOURCE_DIR}/tests/doctest_main.cc)
  target_link_libraries(${name} PRIVATE doctest::doctest ${ARG_LIBS})
  target_compile_definitions(${name} PRIVATE
    MQ_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    MQ_BINARY_DIR="${CMAKE_BINARY_DIR}"
    MQ_FIXTURES_DIR="${MQ_FIXTURES_DIR}")
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT})
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()
