// The `edgerun` binary as a test sees it: run it with arguments, capture exit status, stdout and
// stderr, and check the one-line error rule. Shared by the CLI test files.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "test_util.h"

namespace edgerun::test {

namespace fs = std::filesystem;

struct Result {
  int status;  // exit code, or 128+signal
  std::string out, err;
};

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_ = fs::temp_directory_path() / ("edgerun_cli_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(tmp_);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  // Runs `edgerun ARGS` with `input` on stdin (none: /dev/null).
  Result run(const std::string& args, const std::string* input = nullptr) {
    const std::string in = input ? write("stdin.txt", *input).string() : "/dev/null";
    const std::string cmd = test::edgerun_binary() + " " + args + " > " + (tmp_ / "out").string() + " 2> " +
                            (tmp_ / "err").string() + " < " + in;
    const int raw = std::system(cmd.c_str());
    Result r;
    r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
    r.out = slurp(tmp_ / "out");
    r.err = slurp(tmp_ / "err");
    return r;
  }

  // A failure must exit 1 (not a signal) with exactly one line on stderr that mentions `needle`.
  void expect_clean_error(const std::string& args, const std::string& needle) {
    const Result r = run(args);
    EXPECT_EQ(r.status, 1) << args << "\nstderr: " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << "\nstderr: " << r.err;
    EXPECT_NE(r.err.find("error"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << args << "\nstderr: " << r.err << "\nshould mention " << needle;
  }

  fs::path write(const std::string& name, const std::string& bytes) {
    const fs::path p = tmp_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }

  std::string golden(const std::string& rel) { return test::golden_dir() + "/" + rel; }
  fs::path tmp_;
};

}  // namespace edgerun::test
