#pragma once
// What the MPI layer throws, the check every MPI call goes through, and the helpers
// its calls share. The Session makes MPI report errors to us (MPI_ERRORS_RETURN)
// instead of killing the job, so that a failed call says which call and why.

#include <mpi.h>

#include <algorithm>
#include <exception>
#include <string>
#include <type_traits>

#include "tapestry/core/errors.hpp"

namespace tapestry {

// An MPI call that failed, or a step that failed on one of the ranks: the message names
// the rank and what happened there. Every rank throws it, so the ranks stay in step.
struct distributed_error : error {
    using error::error;
};

}  // namespace tapestry

namespace tapestry::mpi::detail {

inline void check(int code, const char* call) {
    if (code == MPI_SUCCESS) [[likely]]
        return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) length = 0;
    throw distributed_error(std::string(call) + " failed: " + std::string(text, static_cast<std::size_t>(length)));
}

template <class T>
MPI_Datatype datatype_of() {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "MPI: float or double Params only");
    return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}

// MPI counts are ints: a longer array goes in pieces of at most 1 GB, whose byte
// offsets fit an int too (some MPI libraries' nonblocking collectives count bytes in one).
template <class T>
inline constexpr Index max_elements_per_call = (Index{1} << 30) / Index{sizeof(T)};

// Calls send(offset, count) for consecutive pieces of `elements`, each at most `most` long.
template <class Send>
void in_pieces(Index elements, Index most, Send&& send) {
    for (Index done = 0; done < elements; done += most) send(done, static_cast<int>(std::min(most, elements - done)));
}

// `elements` values at `data`, the root's on every rank, in pieces of at most `most`.
template <class T>
void broadcast(T* data, Index elements, int root, MPI_Comm communicator, Index most, const char* call) {
    in_pieces(elements, most, [&](Index offset, int count) {
        check(MPI_Bcast(data + offset, count, datatype_of<T>(), root, communicator), call);
    });
}

// What a failure says, to send to the ranks that did not see it.
inline std::string message_of(const std::exception_ptr& failure) {
    try {
        std::rethrow_exception(failure);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "an exception that is not a std::exception";
    }
}

}  // namespace tapestry::mpi::detail
