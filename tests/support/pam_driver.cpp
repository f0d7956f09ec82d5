// SPDX-License-Identifier: Apache-2.0
//
// A long-lived PAM application for pam_cgm's tests: opens and closes sessions in one process, as
// sshd or a display manager does, and reports what the process holds afterwards.
//
//   pam_driver SERVICE USER COUNT THREADS
//
// THREADS threads each run COUNT rounds of pam_start / pam_open_session / pam_close_session /
// pam_end at once. Prints "failed N" (calls that did not return PAM_SUCCESS, each also on stderr),
// then "fds A B" and "rss A B" (KiB): the process's descriptor count and VmRSS after the first
// tenth of the rounds and after all of them. Exit status 0 when no call failed.
#include <dirent.h>
#include <security/pam_appl.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

int silent_conv(int n, const struct pam_message** msg, struct pam_response** resp, void*) {
    // No module in these stacks asks anything; answer every prompt with nothing.
    auto* r = static_cast<pam_response*>(std::calloc(static_cast<size_t>(n), sizeof(pam_response)));
    if (r == nullptr)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; ++i)
        if (msg[i]->msg_style == PAM_ERROR_MSG || msg[i]->msg_style == PAM_TEXT_INFO)
            std::fprintf(stderr, "pam says: %s\n", msg[i]->msg);
    *resp = r;
    return PAM_SUCCESS;
}

size_t fds() {
    size_t n = 0;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (const dirent* e = ::readdir(d))
            n += e->d_name[0] != '.';
        ::closedir(d);
        --n;  // the directory stream itself
    }
    return n;
}

long rss() {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("VmRSS:", 0) == 0)
            return std::atol(line.c_str() + 6);
    return -1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: pam_driver SERVICE USER COUNT THREADS\n");
        return 2;
    }
    const std::string service = argv[1], user = argv[2];
    const int count = std::atoi(argv[3]), threads = std::atoi(argv[4]);
    std::atomic<int> failed{0};
    auto rounds = [&](int n) {
        for (int i = 0; i < n; ++i) {
            const pam_conv conv{silent_conv, nullptr};
            pam_handle_t* h = nullptr;
            int rc = pam_start(service.c_str(), user.c_str(), &conv, &h);
            if (rc == PAM_SUCCESS && (rc = pam_open_session(h, 0)) == PAM_SUCCESS)
                rc = pam_close_session(h, 0);
            if (rc != PAM_SUCCESS) {
                ++failed;
                std::fprintf(stderr, "round %d: %s\n", i, h != nullptr ? pam_strerror(h, rc) : "pam_start failed");
            }
            if (h != nullptr)
                pam_end(h, rc);
        }
    };
    auto run = [&](int n) {
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t)
            pool.emplace_back(rounds, n);
        for (auto& t : pool)
            t.join();
    };
    const int warm = count / 10 > 0 ? count / 10 : 1;
    run(warm);
    const size_t fd0 = fds();
    const long rss0 = rss();
    run(count - warm);
    std::printf("failed %d\nfds %zu %zu\nrss %ld %ld\n", failed.load(), fd0, fds(), rss0, rss());
    return failed == 0 ? 0 : 1;
}
