#pragma once
// Shared<X>: a std::shared_ptr whose copy and release are compiled once per pointee type.
//
// Why: a Var holds two shared pointers (its tape's life record and, without a tape, its
// value's owner) and a product operand one, and every per-shape function that copies
// or drops them (a product's glue, a leaf's constructor, a Var's conversion) inlined
// std::shared_ptr's atomic release again, with its branches and unwinding: most of
// those functions' object code, and compile time of a model's training step. Here a
// copy and a release are calls to one out-of-line function; a move stays inline.

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

namespace tapestry::detail {

template <class X>
class Shared {
public:
    Shared() noexcept : ptr_() {}
    Shared(std::nullptr_t) noexcept : ptr_() {}  // NOLINT(google-explicit-constructor): as std::shared_ptr
    template <class Y>
        requires std::is_convertible_v<Y*, X*>
    Shared(std::shared_ptr<Y> p) noexcept : ptr_(std::move(p)) {}  // NOLINT(google-explicit-constructor)

    [[gnu::noinline]] Shared(const Shared& other) noexcept : ptr_(other.ptr_) {}
    Shared(Shared&& other) noexcept : ptr_(std::move(other.ptr_)) {}
    [[gnu::noinline]] Shared& operator=(const Shared& other) noexcept {
        ptr_ = other.ptr_;
        return *this;
    }
    Shared& operator=(Shared&& other) noexcept {
        Shared(std::move(other)).swap(*this);  // the old value is released with the temporary
        return *this;
    }
    // Inline, so that the compiler sees a moved-from handle has nothing to release.
    ~Shared() {
        if (owns()) release();
    }

    X* get() const noexcept { return ptr_.get(); }
    X* operator->() const noexcept { return ptr_.get(); }
    explicit operator bool() const noexcept { return ptr_ != nullptr; }
    void swap(Shared& other) noexcept { ptr_.swap(other.ptr_); }

private:
    // Whether there is a control block to release (a null pointer may still have one).
    bool owns() const noexcept { return std::shared_ptr<X>().owner_before(ptr_); }
    [[gnu::noinline]] void release() noexcept { std::destroy_at(&ptr_); }

    // In a union, so that its destructor runs only through release(), not inlined.
    union {
        std::shared_ptr<X> ptr_;
    };
};

}  // namespace tapestry::detail
