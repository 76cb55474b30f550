# The producer/consumer client library's sources, added to mq_client by client/CMakeLists.txt:
#   include(sources.cmake)
#   target_sources(mq_client PRIVATE ${MQ_CLIENT_EXTRA_SOURCES})
set(MQ_CLIENT_EXTRA_SOURCES client_common.cc topic_route_cache.cc producer.cc consumer.cc shared_producer.cc
    transaction_producer.cc)
