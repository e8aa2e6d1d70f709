#pragma once
// KeepAlive<X>: holding one keeps an X alive (a Var's tape record, a value computed
// without a tape). It is a std::shared_ptr whose copy and release are out-of-line calls,
// compiled once per pointee type: the many small per-shape functions that copy or drop
// Vars would otherwise each inline the atomic release again (docs/performance.md,
// "Compile time"). A move stays inline.

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

namespace tapestry::detail {

template <class X>
class KeepAlive {
public:
    KeepAlive() noexcept : ptr_() {}
    KeepAlive(std::nullptr_t) noexcept : ptr_() {}  // NOLINT(google-explicit-constructor): as std::shared_ptr
    template <class Y>
        requires std::is_convertible_v<Y*, X*>
    KeepAlive(std::shared_ptr<Y> p) noexcept : ptr_(std::move(p)) {}  // NOLINT(google-explicit-constructor)

    // An empty handle (a value on a tape holds one) is copied inline, with no call.
    KeepAlive(const KeepAlive& other) noexcept {
        if (other.owns())
            share(other);
        else  // no control block, but maybe a pointer (aliasing an empty owner): keep it
            std::construct_at(&ptr_, std::shared_ptr<X>(), other.ptr_.get());
    }
    KeepAlive(KeepAlive&& other) noexcept : ptr_(std::move(other.ptr_)) {}
    [[gnu::noinline]] KeepAlive& operator=(const KeepAlive& other) noexcept {
        ptr_ = other.ptr_;
        return *this;
    }
    KeepAlive& operator=(KeepAlive&& other) noexcept {
        KeepAlive(std::move(other)).swap(*this);  // the old value is released with the temporary
        return *this;
    }
    // Inline, so that the compiler sees a moved-from handle has nothing to release.
    ~KeepAlive() {
        if (owns()) release();
    }

    X* get() const noexcept { return ptr_.get(); }
    X* operator->() const noexcept { return ptr_.get(); }
    explicit operator bool() const noexcept { return ptr_ != nullptr; }
    void swap(KeepAlive& other) noexcept { ptr_.swap(other.ptr_); }

private:
    // Whether there is a control block to release (a null pointer may still have one).
    bool owns() const noexcept { return std::shared_ptr<X>().owner_before(ptr_); }
    [[gnu::noinline]] void release() noexcept { std::destroy_at(&ptr_); }
    [[gnu::noinline]] void share(const KeepAlive& other) noexcept { std::construct_at(&ptr_, other.ptr_); }

    // In a union, so that its destructor runs only through release(), not inlined.
    union {
        std::shared_ptr<X> ptr_;
    };
};

}  // namespace tapestry::detail
