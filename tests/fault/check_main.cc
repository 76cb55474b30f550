// mqfault-check <history.jsonl> [--json]: judges a fault-harness history (checker.h) and prints the
// report (or its JSON). Exit 0: no lost, moved or order violation and no malformed row; 1: any;
// 2: bad usage.
#include <cstdio>
#include <cstring>
#include <string>

#include "tests/fault/checker.h"

int main(int argc, char** argv) {
  std::string path;
  bool as_json = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--json") == 0) {
      as_json = true;
    } else if (path.empty() && argv[i][0] != '-') {
      path = argv[i];
    } else {
      path.clear();
      break;
    }
  }
  if (path.empty()) {
    std::fprintf(stderr, "usage: mqfault-check <history.jsonl> [--json]\n");
    return 2;
  }
  mq::fault::Report r = mq::fault::check_history(path);
  std::string out = as_json ? r.to_json().dump(2) + "\n" : r.text();
  std::fwrite(out.data(), 1, out.size(), stdout);
  return r.ok() ? 0 : 1;
}
