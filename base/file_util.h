// Small file helpers for metadata files (configs, KV tables): whole-file reads and crash-safe
// replacement. A replaced file is written to a temp file in the same folder, fsync'd, renamed over
// the old one and the folder fsync'd, so after a crash the path holds either the old or the new
// content, never a mix; the previous content is kept as `<path>.bak`, as RocketMQ does.
#pragma once
#include <optional>
#include <string>

namespace mq {

// Returns an error text naming the file, or empty on success. Creates missing folders.
std::string write_file_atomically(const std::string& path, const std::string& content);
// The whole file, or nothing when it cannot be read.
std::optional<std::string> read_whole_file(const std::string& path);

// Raises this process's soft limit on open files to its hard limit and returns the soft limit now
// in force. Every CommitLog and ConsumeQueue file keeps a descriptor open while it is mapped, so
// a container of several brokers passes the usual soft limit of 1024 long before it runs out of
// disk; RocketMQ asks operators for `ulimit -n 655350`, and the hard limit is what they granted.
long raise_open_file_limit();

}  // namespace mq
