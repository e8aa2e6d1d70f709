#pragma once
// Whether a layer that trains differently from how it predicts (dropout) runs as in
// training: Mode::Auto (the default) does while a tape is recording and not under
// InferenceMode or without a tape; Mode::Train and Mode::Eval decide it explicitly.

namespace tapestry {

enum class Mode { Auto, Train, Eval };

}  // namespace tapestry
