#pragma once
// Deprecated: detail::Shared<X> was the name of detail::KeepAlive<X>, a std::shared_ptr
// whose copy and release are out-of-line calls. KeepAlive has since become a one-word
// handle to a counted block (core/keep_alive.hpp), so the old handle is kept here, as it
// was, until the next release. Include tapestry/tapestry.hpp for the library.

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

namespace tapestry::detail {

template <class X>
class SharedHandle {
public:
    SharedHandle() noexcept : ptr_() {}
    SharedHandle(std::nullptr_t) noexcept : ptr_() {}  // NOLINT(google-explicit-constructor): as std::shared_ptr
    template <class Y>
        requires std::is_convertible_v<Y*, X*>
    SharedHandle(std::shared_ptr<Y> p) noexcept : ptr_(std::move(p)) {}  // NOLINT(google-explicit-constructor)

    // An empty handle is copied inline, with no call.
    SharedHandle(const SharedHandle& other) noexcept {
        if (other.owns())
            share(other);
        else  // no control block, but maybe a pointer (aliasing an empty owner): keep it
            std::construct_at(&ptr_, std::shared_ptr<X>(), other.ptr_.get());
    }
    SharedHandle(SharedHandle&& other) noexcept : ptr_(std::move(other.ptr_)) {}
    [[gnu::noinline]] SharedHandle& operator=(const SharedHandle& other) noexcept {
        ptr_ = other.ptr_;
        return *this;
    }
    SharedHandle& operator=(SharedHandle&& other) noexcept {
        SharedHandle(std::move(other)).swap(*this);  // the old value is released with the temporary
        return *this;
    }
    // Inline, so that the compiler sees a moved-from handle has nothing to release.
    ~SharedHandle() {
        if (owns()) release();
    }

    X* get() const noexcept { return ptr_.get(); }
    X* operator->() const noexcept { return ptr_.get(); }
    explicit operator bool() const noexcept { return ptr_ != nullptr; }
    void swap(SharedHandle& other) noexcept { ptr_.swap(other.ptr_); }

private:
    // Whether there is a control block to release (a null pointer may still have one).
    bool owns() const noexcept { return std::shared_ptr<X>().owner_before(ptr_); }
    [[gnu::noinline]] void release() noexcept { std::destroy_at(&ptr_); }
    [[gnu::noinline]] void share(const SharedHandle& other) noexcept { std::construct_at(&ptr_, other.ptr_); }

    // In a union, so that its destructor runs only through release(), not inlined.
    union {
        std::shared_ptr<X> ptr_;
    };
};

template <class X>
using Shared [[deprecated("detail::Shared, a std::shared_ptr handle, goes in the next release")]] = SharedHandle<X>;

}  // namespace tapestry::detail
