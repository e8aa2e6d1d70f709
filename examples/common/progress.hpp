#pragma once
// A one-line progress bar on stderr: epoch, bar, batches, running loss, examples/s.

#include <chrono>
#include <cstdio>

namespace examples {

class Progress {
public:
    Progress(int epoch, int epochs, long batches) : epoch_(epoch), epochs_(epochs), batches_(batches) {}

    // Redraws at most ~10 times a second, and always on the last batch.
    void update(long done, double mean_loss, long examples_seen) {
        const auto now = std::chrono::steady_clock::now();
        if (done != batches_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
        last_draw_ = now;
        const double seconds = std::chrono::duration<double>(now - start_).count();
        constexpr int width = 30;
        const int filled = static_cast<int>(width * done / batches_);
        char bar[width + 1];
        for (int i = 0; i < width; ++i) bar[i] = i < filled ? '#' : '.';
        bar[width] = '\0';
        std::fprintf(stderr, "\repoch %d/%d [%s] %ld/%ld  loss %.4f  %.0f examples/s ", epoch_, epochs_, bar, done,
                     batches_, mean_loss, seconds > 0 ? static_cast<double>(examples_seen) / seconds : 0.0);
        if (done == batches_) std::fprintf(stderr, "\n");
    }

private:
    int epoch_, epochs_;
    long batches_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace examples
