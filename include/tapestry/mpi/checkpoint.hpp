#pragma once
// Checkpoints of a job of several ranks. Every rank holds the same weights and optimizer
// state, so one file is enough: the root writes it (atomically, as io::save_checkpoint
// always does), and to resume, the root reads it and broadcasts it. So a run can stop
// on one number of ranks and resume on another (the same global batch gives the same
// training), and only the root needs the file.
//
// Both are collective: every rank calls them, and a file that cannot be written or read
// throws on every rank (io::file_error, with the root's message), not on the root alone.

#include <mpi.h>

#include <array>
#include <cstring>
#include <exception>
#include <string>

#include "tapestry/io/checkpoint.hpp"
#include "tapestry/mpi/session.hpp"

namespace tapestry::mpi::detail {

// Runs what(on the root), then tells every rank whether it worked: the root rethrows
// its own exception, the others throw file_error with its message.
template <class OnRoot>
void on_root_then_agree(const Session& session, OnRoot&& what) {
    std::exception_ptr failure;
    std::array<char, 1024> message{};
    if (session.is_root()) {
        try {
            what();
        } catch (...) {
            failure = std::current_exception();
            std::strncpy(message.data() + 1, message_of(failure).c_str(), message.size() - 2);
            message[0] = 1;
        }
    }
    check(MPI_Bcast(message.data(), static_cast<int>(message.size()), MPI_CHAR, 0, session.communicator()),
          "MPI_Bcast (checkpoint)");
    if (message[0] == 0) return;
    if (failure) std::rethrow_exception(failure);
    throw io::file_error(std::string(message.data() + 1) + " (on rank 0)");
}

template <class T>
void broadcast_matrix(const Session& session, T* data, Index elements) {
    broadcast(data, elements, 0, session.communicator(), max_elements_per_call<T>, "MPI_Bcast (state)");
}

// Throws on every rank if `ok` is false on any: a check that only some ranks fail must
// not leave the others waiting in the next collective call.
inline void agree(const Session& session, bool ok, const std::string& what) {
    int failed = ok ? 0 : 1;
    check(MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, session.communicator()), "MPI_Allreduce (state)");
    if (failed) throw distributed_error(what);
}

}  // namespace tapestry::mpi::detail

namespace tapestry::mpi {

// The root's (rank 0's) Params, optimizer state and counters, on every rank: after the
// root loaded a checkpoint, or to put ranks that drifted apart back in step. The
// optimizers must agree on their options (accumulate); otherwise every rank throws
// and nothing changes.
template <class T>
void broadcast_state(const Session& session, nn::Optimizer<T>& optimizer) {
    std::array<long, 3> shape{optimizer.iteration(), optimizer.pending(), optimizer.options().accumulate};
    detail::check(MPI_Bcast(shape.data(), 3, MPI_LONG, 0, session.communicator()), "MPI_Bcast (state)");
    detail::agree(session, shape[2] == optimizer.options().accumulate,
                  "mpi::broadcast_state: the ranks' optimizers accumulate different numbers of batches");
    tapestry::detail::OptimizerAccess::restore_counters(optimizer, shape[0], static_cast<int>(shape[1]));
    const auto& params = optimizer.params();
    for (std::size_t i = 0; i < params.size(); ++i) {
        detail::broadcast_matrix(session, params[i].value().data(), params[i].rows * params[i].cols);
        for (auto& state : tapestry::detail::OptimizerAccess::state(optimizer, i))
            detail::broadcast_matrix(session, state.data(), state.size());
        // Between updates the gradients hold a partial sum that is part of the state;
        // otherwise they are zero everywhere, whatever a rank held.
        if (shape[1] > 0)
            detail::broadcast_matrix(session, params[i].grad().data(), params[i].rows * params[i].cols);
        else
            params[i].zero_grad();
    }
}

// The root writes io::save_checkpoint(path, optimizer); every rank returns once it is
// written, or throws if it could not be.
template <class T>
void save_checkpoint(const Session& session, const std::string& path, const nn::Optimizer<T>& optimizer) {
    detail::on_root_then_agree(session, [&] { io::save_checkpoint(path, optimizer); });
}

// The root reads io::load_checkpoint(path, optimizer) (all of it validated first, as
// always) and every rank receives the Params and optimizer state it read. On a bad file
// every rank throws, and nothing changes on any rank.
template <class T>
void load_checkpoint(const Session& session, const std::string& path, nn::Optimizer<T>& optimizer) {
    detail::on_root_then_agree(session, [&] { io::load_checkpoint(path, optimizer); });
    broadcast_state(session, optimizer);
}

}  // namespace tapestry::mpi
