#pragma once
// Objects that are recycled and never freed: a Param's record and a tape's life. Whoever
// outlives the owner of one (a tape that read a destroyed Param, a Var whose tape is
// gone) can still read it, and finds a generation or epoch that tells it the owner is
// gone, instead of reading freed memory.

#include <mutex>
#include <vector>

namespace tapestry::detail {

template <class X>
class ImmortalPool {
public:
    // A recycled object, or nullptr if none is free (the caller makes a new one).
    static X* take() {
        const std::lock_guard<std::mutex> lock(mutex());
        auto& free = free_list();
        if (free.empty()) return nullptr;
        X* x = free.back();
        free.pop_back();
        return x;
    }

    // `x` is free for the next take(); it stays readable.
    static void give_back(X* x) {
        const std::lock_guard<std::mutex> lock(mutex());
        free_list().push_back(x);
    }

private:
    // Never destroyed, so that they outlive every static that may give objects back.
    static std::vector<X*>& free_list() {
        static auto* free = new std::vector<X*>();
        return *free;
    }
    static std::mutex& mutex() {
        static auto* mutex = new std::mutex();
        return *mutex;
    }
};

}  // namespace tapestry::detail
