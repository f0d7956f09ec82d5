// SPDX-License-Identifier: Apache-2.0
//
// main() of the system-tier test binaries: re-run this very binary inside a fresh cgroup sandbox
// (tools/sandbox), so every test touches only cgroups of its own. Listing tests (ctest discovery)
// runs directly. Without root the tests run unsandboxed and skip themselves with the reason.
#include <unistd.h>

#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sandbox.h"
#include "support/system_env.h"

int main(int argc, char** argv) {
    bool listing = false;
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], "--gtest_list_tests", 18) == 0)
            listing = true;
    if (!listing && !cgm::sandbox::inside() && ::geteuid() == 0) {
        char exe[PATH_MAX];
        ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0) {
            std::perror("readlink /proc/self/exe");
            return 1;
        }
        exe[n] = '\0';
        cgm::sandbox::Options opt;
        opt.command.emplace_back(exe);
        for (int i = 1; i < argc; ++i)
            opt.command.emplace_back(argv[i]);
        return cgm::sandbox::run(opt);
    }
    testing::InitGoogleTest(&argc, argv);
    if (!listing && !cgm::sandbox::inside())
        cgm::test::set_skip_reason("system tests need root (they run in a cgroup sandbox)");
    return RUN_ALL_TESTS();
}
