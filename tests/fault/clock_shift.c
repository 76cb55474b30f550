// libmqclockshift.so: a preload library that steps a process's wall clock, for the fault harness's
// clock-jump faults (deployment.h). CLOCK_REALTIME (and its coarse variant), gettimeofday() and
// time() read real time plus an offset in seconds taken from the file named by
// $MQ_CLOCK_OFFSET_FILE ("+3600", "-600", "0"); the file is read again at most once a second, so
// the harness steps a running process's clock by rewriting it. Monotonic clocks are untouched: an
// NTP step or `date -s` moves only CLOCK_REALTIME.
//
// Why not libfaketime: its initialisation resolves symbols with dlsym, which can allocate, and
// jemalloc (which every program here links) reads the clock while it initialises its first arena:
// the two recurse into each other and libfaketime gives up. This library never allocates and
// never resolves a symbol: it asks the kernel directly (the vDSO is skipped, which costs a
// system call per clock read; fine for a test).
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static _Atomic int64_t g_offset_s = 0;
static _Atomic int64_t g_next_read_ns = 0;  // monotonic time of the next read of the file

static int raw_clock_gettime(clockid_t clk, struct timespec* ts) {
  return (int)syscall(SYS_clock_gettime, clk, ts);
}

static int64_t monotonic_ns(void) {
  struct timespec ts;
  if (raw_clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return 0;
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void refresh_offset(void) {
  const int64_t now = monotonic_ns();
  int64_t due = atomic_load(&g_next_read_ns);
  if (now < due) return;
  // One thread reads; the others keep the previous offset meanwhile.
  if (!atomic_compare_exchange_strong(&g_next_read_ns, &due, now + 1000000000)) return;
  const char* path = getenv("MQ_CLOCK_OFFSET_FILE");
  if (!path) return;
  int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[32];
  long n = (long)syscall(SYS_read, fd, buf, sizeof buf - 1);
  syscall(SYS_close, fd);
  if (n <= 0) return;
  buf[n] = 0;
  int64_t sign = 1, v = 0;
  const char* p = buf;
  while (*p == ' ' || *p == '\t') ++p;
  if (*p == '+' || *p == '-') sign = *p++ == '-' ? -1 : 1;
  if (*p < '0' || *p > '9') return;  // not a number: keep the previous offset
  while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
  atomic_store(&g_offset_s, sign * v);
}

int clock_gettime(clockid_t clk, struct timespec* ts) {
  int r = raw_clock_gettime(clk, ts);
  if (r == 0 && (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE)) {
    refresh_offset();
    ts->tv_sec += atomic_load(&g_offset_s);
  }
  return r;
}

int gettimeofday(struct timeval* tv, void* tz) {
  (void)tz;
  struct timespec ts;
  int r = clock_gettime(CLOCK_REALTIME, &ts);
  if (r == 0) {  // tv is nonnull (glibc's declaration)
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
  }
  return r;
}

time_t time(time_t* out) {
  struct timespec ts;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return (time_t)-1;
  if (out) *out = ts.tv_sec;
  return ts.tv_sec;
}
