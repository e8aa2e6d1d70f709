#pragma once
// Objects that are recycled and never freed: a Param's record and a tape's life. Whoever
// outlives the owner of one (a tape that read a destroyed Param, a Var whose tape is
// gone) can still read it, and finds a generation or epoch that tells it the owner is
// gone, instead of reading freed memory.

#include <cstddef>
#include <mutex>
#include <vector>

namespace tapestry::detail {

template <class X>
class ImmortalPool {
public:
    // A recycled object, or a new one from `make()` when none is free.
    template <class Make>
    static X* take_or_make(Make make) {
        const std::lock_guard<std::mutex> lock(mutex());
        auto& free = free_list();
        if (!free.empty()) {
            X* x = free.back();
            free.pop_back();
            return x;
        }
        // Room for every object ever made, so that give_back never allocates: it runs in
        // destructors, where a bad_alloc would terminate the program.
        free.reserve(made() + 1);
        X* x = make();
        ++made();
        return x;
    }

    // `x` is free for the next take_or_make(); it stays readable.
    static void give_back(X* x) noexcept {
        const std::lock_guard<std::mutex> lock(mutex());
        free_list().push_back(x);  // within the capacity reserved when x was made
    }

private:
    // Never destroyed, so that they outlive every static that may give objects back.
    static std::vector<X*>& free_list() {
        static auto* free = new std::vector<X*>();
        return *free;
    }
    static std::size_t& made() {
        static std::size_t count = 0;
        return count;
    }
    static std::mutex& mutex() {
        static auto* mutex = new std::mutex();
        return *mutex;
    }
};

}  // namespace tapestry::detail
